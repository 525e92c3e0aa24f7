"""The project's own job (flink_job/job.py) through FlinkJob: submitted over REST, upgraded through a
savepoint, stopped with a savepoint on destroy, on the real session cluster with the job's Java
functions in lib/ (as in the image), a real broker and the test Schema Registry stand-in."""
from __future__ import annotations

import time

from components.clients.flink_rest import FlinkClient
from components.clients.kafka_admin import KafkaAdmin, TopicSpec
from components.resources.flink_job import FlinkJobProvider
from tests.flink_job.pageviews import PAGEVIEWS_SCHEMA, produce, random_pageviews
from tests.integration.helpers import read_json_topic, unique
from tests.support.maven import REPO_ROOT
from tests.support.processes import wait_for
from tests.support.schema_registry import SchemaRegistryTestServer

ROLES = ("source", "events", "page_stats", "user_activity", "sessions", "malformed")


def event_positions(kafka, topic) -> list[tuple[int, int]]:
    return sorted((e["kafka_partition"], e["kafka_offset"]) for e in read_json_topic(kafka.bootstrap, topic))


def test_the_insights_job_upgrades_through_a_savepoint_without_reading_its_input_again(flink, kafka):
    assert flink.udf_error is None, f"the job's Java functions did not build: {flink.udf_error}"
    provider, client, admin = FlinkJobProvider(), FlinkClient(flink.rest_url), KafkaAdmin(kafka.bootstrap)
    topics = {role: unique(role.replace("_", "-")) for role in ROLES}
    for role, topic in topics.items():
        admin.create(TopicSpec(topic, 2 if role == "source" else 1, 1))
    with SchemaRegistryTestServer.start() as registry:
        schema_id = registry.register(f"{topics['source']}-value", PAGEVIEWS_SCHEMA)
        now = int(time.time() * 1000)
        first = produce(kafka.bootstrap, topics["source"], random_pageviews(schema_id, 20, now, 100, 2, seed=1))

        args = ["--bootstrap-servers", kafka.bootstrap, "--schema-registry-url", registry.url,
                "--source-topic", topics["source"], "--events-topic", topics["events"],
                "--page-stats-topic", topics["page_stats"], "--user-activity-topic", topics["user_activity"],
                "--sessions-topic", topics["sessions"], "--malformed-topic", topics["malformed"],
                "--group-id", unique("insights"), "--checkpoint-interval", "2", "--parallelism", "2"]
        props = {"rest_url": flink.rest_url, "job_path": str(REPO_ROOT / "flink_job" / "job.py"), "args": args,
                 "code_hash": "before", "savepoint_dir": f"file://{flink.savepoint_dir}",
                 "on_destroy": "savepoint", "wait_timeout": 180}
        checked = provider.check({}, props)
        assert checked.failures == []
        created = provider.create(checked.inputs)
        assert client.job(created.outs["job_id"]).parallelism == 2
        wait_for("the first 20 page views as events", lambda: event_positions(kafka, topics["events"]) == sorted(first), 90)

        upgraded = provider.update(created.id, created.outs, {**checked.inputs, "code_hash": "after"})
        assert upgraded.outs["restored_from"] and client.job(upgraded.outs["job_id"]).state == "RUNNING"
        second = produce(kafka.bootstrap, topics["source"], random_pageviews(schema_id, 10, now + 5000, 100, 2, seed=2,
                                                                             first_viewtime=201))
        # The source offsets came back with the savepoint: the first 20 are not read a second time.
        wait_for("exactly the 30 page views as events", lambda: event_positions(kafka, topics["events"]) == sorted(first + second), 90)

        provider.delete(created.id, upgraded.outs)
        assert client.job(upgraded.outs["job_id"]).state == "FINISHED"
