"""The website's events through the real job: datagen's v1 records and the collector's v2 records
in one `pageviews` topic, read by flink_job/job.py (its Java decoder resolves each record's writer
schema from the registry into ksql.pageviews), come out as `clickstream.events` lines with exactly
their partition, offset, viewtime, user and page; none is set aside as malformed."""
from __future__ import annotations

import json
import time
import uuid

import requests

from collector.schemas import COMPATIBILITY, V1_PATH, schema_text
from components.clients.kafka_admin import KafkaAdmin, TopicSpec
from components.clients.schema_registry import SchemaRegistryClient
from components.resources.flink_job import FlinkJobProvider
from tests.collector.conftest import V2_READER, delivered_all, read_topic
from tests.flink_job.pageviews import produce, random_pageviews
from tests.integration.helpers import read_json_topic, unique
from tests.support.collector import CollectorProcess
from tests.support.maven import REPO_ROOT
from tests.support.processes import wait_for
from tests.support.schema_registry import SchemaRegistryTestServer

ROLES = ("source", "events", "page_stats", "user_activity", "sessions", "malformed")
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")


def test_v1_and_v2_records_in_one_topic_become_exact_events(flink, kafka, tmp_path):
    assert flink.udf_error is None, f"the job's Java functions did not build: {flink.udf_error}"
    admin = KafkaAdmin(kafka.bootstrap)
    topics = {role: unique(role.replace("_", "-")) for role in ROLES}
    for role, topic in topics.items():
        admin.create(TopicSpec(topic, 2 if role == "source" else 1, 1))
    with SchemaRegistryTestServer.start() as registry:
        subject = f"{topics['source']}-value"
        client = SchemaRegistryClient(registry.url)
        v1_id = client.register(subject, schema_text(V1_PATH)).id  # as datagen's converter does
        client.set_compatibility(subject, COMPATIBILITY)  # the stack's step
        client.register(subject, schema_text())
        now = int(time.time() * 1000)
        datagen = produce(kafka.bootstrap, topics["source"], random_pageviews(v1_id, 10, now, 100, 2, seed=3))

        collector = CollectorProcess.start(tmp_path / "collector", kafka.bootstrap, registry.url, topics["source"],
                                           {"sites": "localhost"})
        try:
            for i in range(10):
                response = requests.post(collector.endpoint, timeout=10, data=json.dumps(
                    {"name": "pageview", "url": f"http://localhost/web/{i}", "id": uuid.uuid4().hex}),
                    headers={"Content-Type": "text/plain", "User-Agent": CHROME})
                assert response.status_code == 202
            wait_for("the collector's events acknowledged", lambda: delivered_all(collector), 30)
        finally:
            collector.stop()

        expected = set()
        for record in read_topic(kafka.bootstrap, topics["source"]):
            value = record.decode(registry, V2_READER)
            expected.add((record.partition, record.offset, value["viewtime"], value["userid"], value["pageid"]))
        assert len(expected) == 20 and len(datagen) == 10
        assert sum(1 for e in expected if e[4].startswith("/web/")) == 10

        provider = FlinkJobProvider()
        args = ["--bootstrap-servers", kafka.bootstrap, "--schema-registry-url", registry.url,
                "--source-topic", topics["source"], "--events-topic", topics["events"],
                "--page-stats-topic", topics["page_stats"], "--user-activity-topic", topics["user_activity"],
                "--sessions-topic", topics["sessions"], "--malformed-topic", topics["malformed"],
                "--group-id", unique("insights"), "--checkpoint-interval", "2", "--parallelism", "1"]
        props = {"rest_url": flink.rest_url, "job_path": str(REPO_ROOT / "flink_job" / "job.py"), "args": args,
                 "code_hash": "web", "savepoint_dir": f"file://{flink.savepoint_dir}", "on_destroy": "cancel",
                 "wait_timeout": 180}
        checked = provider.check({}, props)
        assert checked.failures == []
        created = provider.create(checked.inputs)
        try:
            def events():
                return {(e["kafka_partition"], e["kafka_offset"], e["viewtime"], e["user_id"], e["page_id"])
                        for e in read_json_topic(kafka.bootstrap, topics["events"])}

            wait_for("all 20 records as events", lambda: len(events()) >= 20, 120)
            assert events() == expected
            assert read_json_topic(kafka.bootstrap, topics["malformed"]) == []
        finally:
            provider.delete(created.id, created.outs)
