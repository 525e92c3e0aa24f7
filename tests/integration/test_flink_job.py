"""FlinkJob against a real Flink 1.20.3 session cluster (from the apache-flink wheel): the provider
driven the way the Pulumi engine drives it, with small PyFlink test jobs (tests/integration/jobs/).

Submission is the REST route: an uploaded stub jar, `POST /jars/{id}/run` with the PythonDriver
entry class and `-py <job.py>`; every test here that starts a job proves it on this Flink version.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse

import pytest

from components.clients.flink_rest import FlinkClient
from components.clients.kafka_admin import KafkaAdmin, TopicSpec
from components.errors import JobFailedToStart, RequestRejected, WaitTimedOut
from components.resources.flink_job import FlinkJobProvider
from tests.integration.helpers import JOBS, read_json_topic, unique
from tests.support.processes import wait_for

COUNTING_JOB = str(JOBS / "counting_job.py")
FAILING_JOB = str(JOBS / "failing_job.py")


@pytest.fixture
def counts_topic(kafka):
    topic = unique("counts")
    KafkaAdmin(kafka.bootstrap).create(TopicSpec(topic, 1, 1))
    return topic


def counting(flink, kafka, topic, tag, parallelism=1, code_hash="code-v1", **extra):
    return {
        "rest_url": flink.rest_url, "job_path": COUNTING_JOB,
        "args": ["--bootstrap-servers", kafka.bootstrap, "--topic", topic, "--tag", tag, "--parallelism", str(parallelism)],
        "code_hash": code_hash, "savepoint_dir": f"file://{flink.savepoint_dir}",
        "on_destroy": "savepoint", "wait_timeout": 120, **extra,
    }


def checked(provider, olds, news):
    result = provider.check(olds, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def counts_by_tag(kafka, topic) -> dict[str, dict[int, list[int]]]:
    """{tag: {key: [counts in the order written]}} from the job's upsert topic."""
    found: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for record in read_json_topic(kafka.bootstrap, topic):
        found[record["tag"]][record["k"]].append(record["cnt"])
    return found


def wait_counts(kafka, topic, tag, at_least):
    return wait_for(f"counts tagged {tag} reaching {at_least} for both keys in {topic}",
                    lambda: (c := counts_by_tag(kafka, topic)[tag]) and len(c) == 2
                    and all(len(v) >= at_least for v in c.values()) and c, 60)


def savepoint_path(uri: str) -> Path:
    return Path(urlparse(uri).path)


def test_upgrade_stops_with_a_savepoint_and_the_new_job_continues_the_counts(flink, kafka, counts_topic):
    provider, client = FlinkJobProvider(), FlinkClient(flink.rest_url)
    created = provider.create(checked(provider, {}, counting(flink, kafka, counts_topic, "v1")))
    first = created.outs["job_id"]
    assert (created.outs["state"], client.job(first).state, client.job(first).parallelism) == ("RUNNING", "RUNNING", 1)
    wait_counts(kafka, counts_topic, "v1", 5)
    # The job owns its parallelism: a new `--parallelism` argument alone is an upgrade.
    wider = checked(provider, created.outs, counting(flink, kafka, counts_topic, "v1", parallelism=2))
    assert provider.diff(created.id, created.outs, wider).changes is True

    news = checked(provider, created.outs, counting(flink, kafka, counts_topic, "v2", parallelism=2, code_hash="code-v2"))
    diff = provider.diff(created.id, created.outs, news)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = provider.update(created.id, created.outs, news)

    second = updated.outs["job_id"]
    assert second != first and client.job(first).state == "FINISHED"
    assert (client.job(second).state, client.job(second).parallelism) == ("RUNNING", 2)
    savepoint = updated.outs["last_savepoint"]
    assert savepoint and updated.outs["restored_from"] == savepoint
    assert (savepoint_path(savepoint) / "_metadata").is_file()
    v2 = wait_counts(kafka, counts_topic, "v2", 3)
    v1 = counts_by_tag(kafka, counts_topic)["v1"]
    for key in (0, 1):
        # The state carried over: the new job's first count of a key follows the old job's last one.
        assert v2[key][0] == v1[key][-1] + 1, (key, v1[key][-5:], v2[key][:5])

    assert provider.read(created.id, updated.outs).outs["state"] == "RUNNING"
    assert provider.diff(created.id, updated.outs, news).changes is False

    before = set(flink.savepoint_dir.iterdir())
    provider.delete(created.id, updated.outs)
    assert client.job(second).state == "FINISHED"
    assert len(set(flink.savepoint_dir.iterdir()) - before) == 1  # destroy kept a savepoint


def test_a_job_the_cluster_forgot_reads_missing_and_is_resubmitted_from_its_last_savepoint(flink, kafka, counts_topic):
    provider, client = FlinkJobProvider(), FlinkClient(flink.rest_url)
    props = checked(provider, {}, counting(flink, kafka, counts_topic, "v1"))
    created = provider.create(props)
    wait_counts(kafka, counts_topic, "v1", 3)
    savepoint = client.stop_with_savepoint(created.outs["job_id"], props["savepoint_dir"])
    # A JobManager restarted without HA answers 404 for every job it ran before: that is this state.
    forgotten = {**created.outs, "job_id": uuid.uuid4().hex, "last_savepoint": savepoint}

    assert provider.diff(created.id, forgotten, props).changes is True  # the live check sees it gone
    refreshed = provider.read(created.id, forgotten)
    assert (refreshed.id, refreshed.outs["state"], refreshed.outs["last_savepoint"]) == (created.id, "MISSING", savepoint)
    assert provider.diff(created.id, refreshed.outs, props).changes is True

    news = checked(provider, props, counting(flink, kafka, counts_topic, "v2"))
    updated = provider.update(created.id, refreshed.outs, news)
    assert updated.outs["restored_from"] == savepoint
    v2 = wait_counts(kafka, counts_topic, "v2", 2)
    v1 = counts_by_tag(kafka, counts_topic)["v1"]
    assert all(v2[key][0] == v1[key][-1] + 1 for key in (0, 1)), (v1, v2)
    provider.delete(created.id, {**updated.outs, "on_destroy": "cancel"})
    assert client.job(updated.outs["job_id"]).state == "CANCELED"


def test_a_job_stopped_by_a_failed_upgrade_is_resubmitted_from_the_savepoint_flink_still_reports(flink, kafka, counts_topic):
    provider, client = FlinkJobProvider(), FlinkClient(flink.rest_url)
    props = checked(provider, {}, counting(flink, kafka, counts_topic, "v1"))
    created = provider.create(props)
    wait_counts(kafka, counts_topic, "v1", 3)
    broken = checked(provider, props, {**props, "job_path": FAILING_JOB, "args": ["--fail-at", "submit"],
                                       "code_hash": "broken"})
    with pytest.raises(JobFailedToStart) as raised:
        provider.update(created.id, created.outs, broken)
    stopped_with = raised.value.context["savepoint"]
    assert "resumes from there" in raised.value.context["hint"] and stopped_with in raised.value.context["hint"]
    assert client.job(created.outs["job_id"]).state == "FINISHED"

    # Pulumi keeps the old outputs after a failed update; the fixed job must still start from the new savepoint.
    fixed = checked(provider, props, counting(flink, kafka, counts_topic, "v2", code_hash="fixed"))
    updated = provider.update(created.id, created.outs, fixed)
    assert updated.outs["restored_from"] == stopped_with
    v2 = wait_counts(kafka, counts_topic, "v2", 2)
    v1 = counts_by_tag(kafka, counts_topic)["v1"]
    assert all(v2[key][0] == v1[key][-1] + 1 for key in (0, 1)), (v1, v2)
    provider.delete(created.id, {**updated.outs, "on_destroy": "cancel"})


def test_a_crash_looping_job_is_not_upgraded_and_a_chosen_savepoint_brings_the_state_back(flink, kafka, counts_topic):
    provider, client = FlinkJobProvider(), FlinkClient(flink.rest_url)
    props = checked(provider, {}, counting(flink, kafka, counts_topic, "v1"))
    created = provider.create(props)
    wait_counts(kafka, counts_topic, "v1", 3)
    savepoint = client.stop_with_savepoint(created.outs["job_id"], props["savepoint_dir"])
    # The job in the state now fails on every record and Flink keeps restarting it.
    looping = client.submit_python(FAILING_JOB, ["--fail-at", "runtime"], flink_config={
        "restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "1000",
        "restart-strategy.fixed-delay.delay": "1 s"})
    wait_for("the looping job to fail once", lambda: client.failure(looping)[0], 60)
    outs = {**created.outs, "job_id": looping}

    upgrade = checked(provider, props, counting(flink, kafka, counts_topic, "v2", code_hash="code-v2"))
    with pytest.raises(RequestRejected, match="savepoint"):
        provider.update(created.id, outs, upgrade)
    assert client.job(looping).state in ("RUNNING", "RESTARTING")  # refused, not stopped half-way

    client.cancel(looping)  # what the hint says to do, then choose the state to start from
    chosen = checked(provider, props, {**upgrade, "initial_savepoint": savepoint})
    updated = provider.update(created.id, outs, chosen)
    assert updated.outs["restored_from"] == savepoint
    v2 = wait_counts(kafka, counts_topic, "v2", 2)
    v1 = counts_by_tag(kafka, counts_topic)["v1"]
    assert all(v2[key][0] == v1[key][-1] + 1 for key in (0, 1)), (v1, v2)
    provider.delete(created.id, {**updated.outs, "on_destroy": "cancel"})


def test_a_python_error_at_submission_is_reported_from_the_jobmanager_log(flink):
    provider = FlinkJobProvider()
    props = checked(provider, {}, {"rest_url": flink.rest_url, "job_path": FAILING_JOB, "args": ["--fail-at", "submit"],
                                   "code_hash": "x", "savepoint_dir": f"file://{flink.savepoint_dir}",
                                   "wait_timeout": 60})
    with pytest.raises(JobFailedToStart) as raised:
        provider.create(props)
    assert raised.value.context["root_cause"] == "RuntimeError: the test job refuses to build its pipeline"
    assert "raise RuntimeError(SUBMIT_ERROR)" in raised.value.context["python_output"]


def test_a_job_refusing_its_arguments_reports_the_usage_error(flink):
    props = checked(FlinkJobProvider(), {}, {"rest_url": flink.rest_url, "job_path": FAILING_JOB, "args": ["--fail-at", "later"],
                                            "code_hash": "x", "savepoint_dir": f"file://{flink.savepoint_dir}",
                                            "wait_timeout": 60})
    with pytest.raises(JobFailedToStart) as raised:
        FlinkJobProvider().create(props)
    assert raised.value.context["root_cause"] == (
        "failing_job.py: error: argument --fail-at: invalid choice: 'later' (choose from 'submit', 'runtime')")


def test_a_job_failing_at_runtime_reports_the_root_cause_from_its_exceptions(flink):
    provider, client = FlinkJobProvider(), FlinkClient(flink.rest_url)
    props = checked(provider, {}, {"rest_url": flink.rest_url, "job_path": FAILING_JOB, "args": ["--fail-at", "runtime"],
                                   "code_hash": "x", "savepoint_dir": f"file://{flink.savepoint_dir}",
                                   "wait_timeout": 60})
    with pytest.raises(JobFailedToStart) as raised:
        provider.create(props)
    assert "NumberFormatException" in raised.value.context["root_cause"], raised.value
    job_id = raised.value.context["url"].split("/jobs/")[1].split("/")[0]
    assert client.job(job_id).state == "FAILED"


def test_more_parallelism_than_slots_times_out_naming_the_slots_and_leaves_no_job(flink, kafka, counts_topic):
    provider, client = FlinkJobProvider(), FlinkClient(flink.rest_url)
    props = checked(provider, {}, counting(flink, kafka, counts_topic, "v1", parallelism=3, wait_timeout=6))
    with pytest.raises(WaitTimedOut) as raised:
        provider.create(props)
    assert "of 2 slots on 1 TaskManager(s); the job needs 3" in raised.value.context["hint"]
    job_id = raised.value.context["url"].rsplit("/", 1)[1]
    assert client.job(job_id).state == "CANCELED"  # create is transactional


def test_driver_jar_is_uploaded_once_and_reused(flink):
    client = FlinkClient(flink.rest_url)
    assert client.driver_jar_id() == client.driver_jar_id()
    names = [f["name"] for f in client.http.call("GET", "/jars").json()["files"]]
    assert names.count("clickstreamer-pydriver.jar") == 1


def test_check_rejects_bad_inputs_naming_them(flink):
    result = FlinkJobProvider().check({}, {
        "rest_url": "localhost:8081", "job_path": "job.py", "args": ["--db-password", "x"], "wait_timeout": 0,
        "savepoint_dir": "/no/scheme", "on_destroy": "keep", "code_hash": "x"})
    assert sorted(f.property for f in result.failures) == \
        ["args", "job_path", "on_destroy", "rest_url", "savepoint_dir", "wait_timeout"]


def test_check_without_a_reachable_cluster_says_so(closed_port_url, capsys):
    result = FlinkJobProvider().check({}, {"rest_url": closed_port_url, "job_path": "/opt/job.py",
                                           "savepoint_dir": "file:///sp", "code_hash": "x"})
    assert result.failures == []
    assert "not reachable yet" in capsys.readouterr().err
