"""The program arguments the Pulumi pipeline passes (components.spec.job_arguments, computed in
the program's environment) are exactly what the job's parser accepts, with the values intended.

The two live in different Python environments (apache-flink cannot share one with Pulumi), so the
arguments are produced by the program's interpreter in a subprocess and parsed here by the job's.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from flink_job.job import parse_args

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"

PRODUCE = """
import json
from components.config import parse_config
from components.spec import Endpoints, job_arguments
cfg = parse_config({"flink": {"sessionGapMinutes": 7, "checkpointIntervalSeconds": 15,
                              "watermarkDelaySeconds": 3, "sourceIdleTimeoutSeconds": 45,
                              "deliveryGuarantee": "exactly-once", "parallelism": 2}})
print(json.dumps(job_arguments(cfg, Endpoints("kafka:29092", "http://schema-registry:8081", "clickhouse"))))
"""


def test_the_pipelines_job_arguments_parse_to_the_configured_values():
    done = subprocess.run([str(PROGRAM_PYTHON), "-c", PRODUCE], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    args = json.loads(done.stdout.strip().splitlines()[-1])

    job = parse_args(args, environ={})

    assert job.bootstrap_servers == "kafka:29092"
    assert job.schema_registry_url == "http://schema-registry:8081"
    assert (job.source_topic, job.events_topic, job.page_stats_topic, job.user_activity_topic,
            job.sessions_topic, job.malformed_topic) == (
        "pageviews", "clickstream.events", "clickstream.page_stats_1m", "clickstream.user_activity_1m",
        "clickstream.sessions", "clickstream.malformed")
    assert job.session_gap == 7 * 60
    assert job.checkpoint_interval == 15
    assert job.watermark_delay == 3
    assert job.idle_timeout == 45
    assert job.delivery_guarantee == "exactly-once"
    assert job.parallelism == 2


OUTPUT_TOPIC_OPTIONS = ("--events-topic", "--page-stats-topic", "--user-activity-topic", "--sessions-topic",
                        "--malformed-topic")
REQUIRED = ["--bootstrap-servers", "k:9092", "--schema-registry-url", "http://r:8081",
            *(arg for option in OUTPUT_TOPIC_OPTIONS for arg in (option, f"t{option}"))]


def test_output_topics_are_required_options_without_defaults(capsys):
    # Their names belong to the contract (components/contract.py); the job keeps no copy of them.
    try:
        parse_args(REQUIRED[:4], environ={})
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("the job accepted no output topics")
    error = capsys.readouterr().err
    for option in OUTPUT_TOPIC_OPTIONS:
        env = "CLICKSTREAM_" + option.removeprefix("--").replace("-", "_").upper()
        assert f"{option} (or {env}) is required" in error
    job = parse_args(REQUIRED[:4], environ={"CLICKSTREAM_EVENTS_TOPIC": "e", "CLICKSTREAM_PAGE_STATS_TOPIC": "p",
                                            "CLICKSTREAM_USER_ACTIVITY_TOPIC": "u", "CLICKSTREAM_SESSIONS_TOPIC": "s",
                                            "CLICKSTREAM_MALFORMED_TOPIC": "m"})
    assert (job.events_topic, job.page_stats_topic, job.user_activity_topic, job.sessions_topic,
            job.malformed_topic) == ("e", "p", "u", "s", "m")


def test_events_message_bytes_is_bounded_by_what_a_broker_accepts(capsys):
    required = REQUIRED
    assert parse_args(required, environ={}).events_message_bytes == 65536
    assert parse_args(required, environ={"CLICKSTREAM_EVENTS_MESSAGE_BYTES": "1"}).events_message_bytes == 1
    for value, bound in (("0", "at least 1"), ("1000001", "at most 1000000")):
        try:
            parse_args([*required, "--events-message-bytes", value], environ={})
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"--events-message-bytes {value} was accepted")
        assert f"--events-message-bytes is {value}; it must be {bound}" in capsys.readouterr().err
