"""The data path of the whole pipeline, on the real engines this machine runs:

    Confluent-Avro pageviews ─► Kafka ─► the real Flink job (flink_job/job.py, submitted by the
    FlinkJob provider's REST client with the pipeline's own job_arguments) ─► Kafka insight topics
    ─► ClickHouse (chdb 2.1.1): the shipped schema's Kafka-engine tables and materialized views
    ─► the views the dashboards read

Known events in; exact per-minute counts, unique users, hourly rollups and sessions out of the
dashboard views. Only ClickHouse's background consumption is not the server's: chdb runs each
ingest view's real SELECT over its Kafka table with a direct select (tests/schema/test_kafka_ingest.py).
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from components.clients.flink_rest import FlinkClient
from components.clients.migrations import Migrator, discover
from components.config import parse_config
from components.spec import Endpoints, job_arguments
from tests.flink_job.pageviews import (PAGEVIEWS_SCHEMA, PAGEVIEWS_SUBJECT, PageView, Record, create_topics,
                                       expected_insights, pageview_record, produce)
from tests.schema.test_kafka_ingest import run_view
from tests.support.chdb_executor import ChdbExecutor
from tests.support.clock import at, epoch_ms, utc_text
from tests.support.schema_registry import SchemaRegistryTestServer

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO_ROOT / "clickhouse_schema"
DB = "clickstream"
BASE_MS = epoch_ms("13:00:00")  # on the tests' known day (tests/support/clock.py)
SOURCES = ("events", "page_stats_1m", "user_activity_1m", "sessions", "malformed")


# Three users over four pages in three minutes, on two partitions, and a second session for User_1
# fifteen minutes in (the default session gap is five minutes): (seconds after 13:00, user, page).
PLAN = [
    (1, "User_1", "Page_10"), (5, "User_2", "Page_10"), (12, "User_1", "Page_11"), (30, "User_3", "Page_12"),
    (44, "User_1", "Page_10"), (59, "User_2", "Page_13"), (61, "User_2", "Page_10"), (75, "User_3", "Page_10"),
    (90, "User_3", "Page_11"), (119, "User_1", "Page_12"), (121, "User_2", "Page_12"), (150, "User_2", "Page_12"),
    (170, "User_3", "Page_13"), (179, "User_1", "Page_10"), (900, "User_1", "Page_13"), (905, "User_1", "Page_11"),
]


@pytest.fixture(scope="module")
def registry():
    server = SchemaRegistryTestServer.start()
    yield server
    server.stop()


def test_known_pageviews_reach_the_dashboard_views_exactly(kafka, flink, registry, tmp_path):
    if flink.udf_error:
        pytest.fail(f"the job's Java functions did not build: {flink.udf_error}")
    run = uuid.uuid4().hex[:8]
    source = f"pageviews.{run}"
    topics = {role: f"clickstream.{role}.{run}" for role in ("events", "page_stats", "user_activity", "sessions",
                                                              "malformed")}
    create_topics(kafka.bootstrap, {source: 2, **{t: 1 for t in topics.values()}})
    schema_id = registry.register(PAGEVIEWS_SUBJECT, PAGEVIEWS_SCHEMA)
    records = [pageview_record(schema_id, i % 2, BASE_MS + second * 1000, 1 + 10 * i, user, page)
               for i, (second, user, page) in enumerate(PLAN)]
    placed = produce(kafka.bootstrap, source, [*records, Record(0, BASE_MS + 3_000, b"\x00not avro", b"bad")])
    views = [PageView(partition, offset, BASE_MS + second * 1000, 1 + 10 * i, user, page)
             for i, ((second, user, page), (partition, offset)) in enumerate(zip(PLAN, placed))]
    malformed_at = placed[-1]

    # The job as the pipeline submits it, bounded so that it finishes and every window fires.
    cfg = parse_config({"kafka": {"pageviewsTopic": source}, "flink": {"parallelism": 1}})
    args = [*job_arguments(cfg, Endpoints(kafka.bootstrap, registry.url, clickhouse_host="unused"), topics),
            "--bounded", "--startup-mode", "earliest-offset", "--group-id", f"chain-{run}"]
    client = FlinkClient(flink.rest_url)
    job_id = client.submit_python(str(REPO_ROOT / "flink_job" / "job.py"), args)
    finished = client.wait_state(job_id, ["FINISHED"], timeout=240)
    assert finished.state == "FINISHED"

    ex = ChdbExecutor(tmp_path / "clickhouse")
    Migrator(ex, DB).apply(discover(SCHEMA_DIR), {
        "kafka_brokers": kafka.bootstrap, "kafka_group": f"clickhouse-{run}", "raw_ttl_days": 3650,
        "topic_events": topics["events"], "topic_page_stats_1m": topics["page_stats"],
        "topic_user_activity_1m": topics["user_activity"], "topic_sessions": topics["sessions"],
        "topic_malformed": topics["malformed"],
    })
    for name in SOURCES:
        run_view(ex, f"ingest_{name}_mv")

    expected = expected_insights(views, session_gap_s=cfg.flink.session_gap_minutes * 60, watermark_ms=2**62)

    raw = ex.rows(f"SELECT kafka_partition, kafka_offset, toString(event_time), viewtime, user_id, page_id "
                  f"FROM {DB}.pageviews FINAL ORDER BY kafka_partition, kafka_offset")
    assert raw == sorted((e["kafka_partition"], e["kafka_offset"], e["event_time"], e["viewtime"], e["user_id"],
                          e["page_id"]) for e in expected["events"].values())

    page_minutes = ex.rows(f"SELECT toString(minute), page_id, views, unique_users FROM {DB}.v_page_stats_1m "
                           "ORDER BY minute, page_id")
    assert page_minutes == sorted((r["window_start"], r["page_id"], r["views"], r["unique_users"])
                                  for r in expected["page_stats"].values())

    per_minute = defaultdict(list)
    for v in views:
        per_minute[utc_text(v.timestamp_ms - v.timestamp_ms % 60_000)[:19]].append(v)  # to the second
    assert ex.rows(f"SELECT toString(toDateTime(minute)), views FROM {DB}.v_views_1m ORDER BY minute") == \
        [(m, len(vs)) for m, vs in sorted(per_minute.items())], "views per minute, through the hourly rollup"
    assert ex.rows(f"SELECT toString(toDateTime(minute)), unique_users, views FROM {DB}.v_users_1m ORDER BY minute") == \
        [(m, len({v.user_id for v in vs}), len(vs)) for m, vs in sorted(per_minute.items())]

    hour = at("13:00:00")
    per_page = defaultdict(list)
    for v in views:
        per_page[v.page_id].append(v)
    assert ex.rows(f"SELECT toString(toDateTime(hour)), page_id, views, unique_users FROM {DB}.v_page_stats_1h ORDER BY page_id") == \
        [(hour, page, len(vs), len({v.user_id for v in vs})) for page, vs in sorted(per_page.items())], \
        "hourly views and unique users per page: from user ids, never summed"
    assert ex.rows(f"SELECT toString(toDateTime(hour)), unique_users FROM {DB}.v_users_1h") == [(hour, 3)]

    sessions = ex.rows(f"SELECT user_id, toString(session_start), toString(session_end), views, page_ids "
                       f"FROM {DB}.v_sessions ORDER BY user_id, session_start")
    assert sessions == sorted((s["user_id"], s["session_start"], s["session_end"], s["views"], s["page_ids"])
                              for s in expected["sessions"].values())
    assert [s[0] for s in sessions].count("User_1") == 2, "User_1's view twelve minutes later opens a new session"

    assert ex.rows(f"SELECT kafka_partition, kafka_offset FROM {DB}.malformed_events FINAL") == [malformed_at]
