"""The data path of the whole pipeline, on the real engines this machine runs:

    Confluent-Avro pageviews ─► Kafka ─► the real Flink job (flink_job/job.py, submitted by the
    FlinkJob provider's REST client with the pipeline's own job_arguments) ─► Kafka insight topics
    ─► a real ClickHouse 24.8.4 server configured as the stack's (tests/support/clickhouse_stack.py):
       the shipped schema, applied by the owner through the production HTTP executor, its Kafka-engine
       tables and materialized views consuming in the background
    ─► the views the dashboards read, read as the reader user

Known events in; exact per-minute counts, unique users, hourly rollups and sessions out of the
dashboard views, once the server's consumer groups have committed the end of every insight topic
(polled with a deadline: tests/support/kafka_ingest.py).
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.clients.flink_rest import FlinkClient
from components.clients.migrations import Migrator, discover
from components.config import parse_config
from components.spec import Endpoints, job_arguments, migration_params
from tests.flink_job.pageviews import (PAGEVIEWS_SCHEMA, PAGEVIEWS_SUBJECT, PageView, Record, create_topics,
                                       expected_insights, pageview_record, produce)
from tests.support.clock import at, epoch_ms, utc_text
from tests.support.kafka_ingest import wait_consumed
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


@dataclass
class Chain:
    """One run of the chain over known pageviews, its input and how it was deployed."""
    views: list
    malformed_at: tuple
    cfg: object
    job_args: list
    params: dict
    client: FlinkClient


def run_job(chain_client: FlinkClient, args: list[str], group_id: str) -> None:
    """The job as the pipeline submits it, bounded so that it finishes and every window fires."""
    job_id = chain_client.submit_python(str(REPO_ROOT / "flink_job" / "job.py"), [*args, "--group-id", group_id])
    assert chain_client.wait_state(job_id, ["FINISHED"], timeout=240).state == "FINISHED"


@pytest.fixture(scope="module")
def chain(kafka, flink, registry, stack_clickhouse):
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

    # ClickHouse consumes the insight topics from the start, as the stack's schema renders it (the
    # server reaches the broker at its loopback address), while the job runs.
    cfg = parse_config({"kafka": {"pageviewsTopic": source}, "flink": {"parallelism": 1},
                        "retention": {"rawEventsDays": 3650}})
    endpoints = Endpoints(kafka.bootstrap, registry.url, clickhouse_host="unused")
    params = {**migration_params(cfg, endpoints, topics), "kafka_group": f"clickhouse-{run}"}
    owner = stack_clickhouse.owner()
    Migrator(owner, DB).apply(discover(SCHEMA_DIR), params)
    owner.close()

    args = [*job_arguments(cfg, endpoints, topics), "--bounded", "--startup-mode", "earliest-offset"]
    client = FlinkClient(flink.rest_url)
    run_job(client, args, f"chain-{run}")
    wait_consumed(kafka.bootstrap, {f"{params['kafka_group']}.{s}": params[f"topic_{s}"] for s in SOURCES})
    yield Chain(views, malformed_at, cfg, args, params, client)
    stack_clickhouse.drop_databases([DB])


def test_known_pageviews_reach_the_dashboard_views_exactly(chain, stack_clickhouse):
    ex = stack_clickhouse.reader()  # what Grafana reads, as Grafana's user
    assert_dashboard_views(ex, chain)


def test_a_replay_of_the_whole_output_changes_no_view_before_or_after_the_servers_merges(
        chain, kafka, stack_clickhouse):
    """The job run again over the same input under a new consumer group re-emits every insight (as a
    restore from an early checkpoint does): the server consumes the copies, the views stay exact, and
    once the server has merged every table the copies are gone."""
    owner = stack_clickhouse.owner()
    tables = [name for (name,) in owner.rows(
        f"SELECT name FROM system.tables WHERE database = '{DB}' AND engine LIKE '%MergeTree' ORDER BY name")]
    for table in tables:  # held off, so the copies are seen before the server merges them
        owner.command(f"SYSTEM STOP MERGES {DB}.{table}")
    try:
        run_job(chain.client, chain.job_args, f"chain-replay-{uuid.uuid4().hex[:8]}")
        wait_consumed(kafka.bootstrap,
                      {f"{chain.params['kafka_group']}.{s}": chain.params[f"topic_{s}"] for s in SOURCES})
        assert owner.rows(f"SELECT count() FROM {DB}.pageviews")[0][0] == 2 * len(chain.views), \
            "every event arrived twice"
        reader = stack_clickhouse.reader()
        assert_dashboard_views(reader, chain)
    finally:
        for table in tables:
            owner.command(f"SYSTEM START MERGES {DB}.{table}")

    for table in tables:
        owner.command(f"OPTIMIZE TABLE {DB}.{table} FINAL")
    assert owner.rows(f"SELECT count() FROM {DB}.pageviews")[0][0] == len(chain.views), "one row per event once merged"
    assert_dashboard_views(reader, chain)


def assert_dashboard_views(ex, chain: Chain) -> None:
    views, cfg = chain.views, chain.cfg
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

    assert ex.rows(f"SELECT kafka_partition, kafka_offset FROM {DB}.malformed_events FINAL") == [chain.malformed_at]
