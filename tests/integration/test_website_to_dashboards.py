"""A visit to the demo site, end to end on the real engines this machine runs:

    Chromium (headless) on the demo site ─► the tracker ─► the collector ─► Kafka (pageviews v2)
    ─► the real Flink job ─► Kafka insight topics ─► the stack's ClickHouse server (the shipped
    schema, consuming in the background) ─► the views the dashboards read

The visit's events are in the raw table exactly (partition, offset, event time, visitor, path) and
the visitor is in the dashboards' views: one unique user, the pages visited, one session.
"""
from __future__ import annotations

import uuid

import pytest

from collector.schemas import COMPATIBILITY, V1_PATH, schema_text
from components.clients.flink_rest import FlinkClient
from components.clients.migrations import Migrator, discover
from components.clients.schema_registry import SchemaRegistryClient
from components.config import parse_config
from components.spec import Endpoints, job_arguments, migration_params
from tests.collector.conftest import V2_READER, delivered_all, read_topic
from tests.flink_job.pageviews import create_topics
from tests.integration.test_pipeline_chain import DB, SCHEMA_DIR, SOURCES
from tests.support.browser import DESKTOP_CHROME, Chromium, chromium_path
from tests.support.clock import utc_text
from tests.support.collector import CollectorProcess
from tests.support.kafka_ingest import wait_consumed
from tests.support.maven import REPO_ROOT
from tests.support.processes import wait_for
from tests.support.schema_registry import SchemaRegistryTestServer

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="Debian's chromium is not installed (scripts/install-system-packages.sh)")


def test_a_visit_to_the_demo_site_reaches_the_dashboard_views(kafka, flink, stack_clickhouse, tmp_path):
    if flink.udf_error:
        pytest.fail(f"the job's Java functions did not build: {flink.udf_error}")
    run = uuid.uuid4().hex[:8]
    source = f"pageviews.web.{run}"
    topics = {role: f"clickstream.{role}.web.{run}" for role in ("events", "page_stats", "user_activity", "sessions",
                                                                  "malformed")}
    create_topics(kafka.bootstrap, {source: 2, **{t: 1 for t in topics.values()}})
    with SchemaRegistryTestServer.start() as registry:
        client = SchemaRegistryClient(registry.url)
        client.register(f"{source}-value", schema_text(V1_PATH))
        client.set_compatibility(f"{source}-value", COMPATIBILITY)
        client.register(f"{source}-value", schema_text())

        collector = CollectorProcess.start(tmp_path / "collector", kafka.bootstrap, registry.url, source,
                                           {"sites": "127.0.0.1"})
        try:
            def arrived(count: int) -> None:
                wait_for(f"{count} events in {source}", lambda: len(read_topic(kafka.bootstrap, source)) >= count, 30)

            with Chromium.start(tmp_path / "chromium", automation_visible=False, user_agent=DESKTOP_CHROME) as browser:
                page = browser.page()
                page.navigate(f"{collector.url}/demo/")
                arrived(1)
                page.evaluate("location.href = '/demo/app/'")
                page.wait_loaded()
                arrived(3)  # the home page's engagement, the app's page view
                page.evaluate("document.querySelector('a[href=\"/demo/app/settings\"]').click()")
                arrived(5)
                browser.new_tab()
                arrived(6)
            wait_for("the visit acknowledged by Kafka", lambda: delivered_all(collector), 30)
        finally:
            collector.stop()

        visit = sorted(((r.partition, r.offset, r.decode(registry, V2_READER)) for r in read_topic(kafka.bootstrap, source)),
                       key=lambda item: item[2]["event_time"])
        assert [(v["event_name"], v["pageid"]) for _, _, v in visit] == [
            ("pageview", "/demo/"), ("engagement", "/demo/"), ("pageview", "/demo/app/"),
            ("engagement", "/demo/app/"), ("pageview", "/demo/app/settings"), ("engagement", "/demo/app/settings")]
        visitor = visit[0][2]["userid"]

        # The job as the pipeline submits it, bounded so that it finishes and every window fires.
        cfg = parse_config({"kafka": {"pageviewsTopic": source}, "flink": {"parallelism": 1}})
        args = [*job_arguments(cfg, Endpoints(kafka.bootstrap, registry.url, clickhouse_host="unused"), topics),
                "--bounded", "--startup-mode", "earliest-offset", "--group-id", f"web-{run}"]
        flink_client = FlinkClient(flink.rest_url)
        job_id = flink_client.submit_python(str(REPO_ROOT / "flink_job" / "job.py"), args)
        assert flink_client.wait_state(job_id, ["FINISHED"], timeout=240).state == "FINISHED"

    cfg = parse_config({"kafka": {"pageviewsTopic": source}, "retention": {"rawEventsDays": 3650}})
    params = {**migration_params(cfg, Endpoints(kafka.bootstrap, "", ""), topics), "kafka_group": f"clickhouse-{run}"}
    owner = stack_clickhouse.owner()
    Migrator(owner, DB).apply(discover(SCHEMA_DIR), params)
    wait_consumed(kafka.bootstrap, {f"{params['kafka_group']}.{s}": params[f"topic_{s}"] for s in SOURCES})
    ex = stack_clickhouse.reader()  # what Grafana reads, as Grafana's user

    raw = ex.rows(f"SELECT kafka_partition, kafka_offset, toString(event_time), viewtime, user_id, page_id "
                  f"FROM {DB}.pageviews FINAL ORDER BY kafka_partition, kafka_offset")
    assert raw == sorted((p, o, utc_text(v["event_time"]), v["viewtime"], v["userid"], v["pageid"])
                         for p, o, v in visit), "the raw table holds the visit's events exactly"
    assert ex.rows(f"SELECT DISTINCT user_id FROM {DB}.v_sessions") == [(visitor,)]
    assert {row[0] for row in ex.rows(f"SELECT page_id FROM {DB}.v_page_stats_1m")} == \
        {"/demo/", "/demo/app/", "/demo/app/settings"}
    assert {row[0] for row in ex.rows(f"SELECT unique_users FROM {DB}.v_users_1m")} == {1}, \
        "one browser is one unique user in every minute"
    assert ex.rows(f"SELECT kafka_partition, kafka_offset FROM {DB}.malformed_events FINAL") == []
    owner.close()
    stack_clickhouse.drop_databases([DB])
