"""Each provider survives Pulumi's serialization and works from Pulumi's own provider host
(`python -m pulumi.dynamic`, a fresh process at the project root), against the real services.
See provider_host.py for what that exercises."""
from __future__ import annotations

import pytest
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

from components.clients.connect_rest import ConnectClient
from components.clients.flink_rest import FlinkClient
from components.clients.kafka_admin import KafkaAdmin, TopicSpec
from components.resources.connector import ConnectorProvider
from components.resources.flink_job import FlinkJobProvider
from components.resources.topic import KafkaTopicProvider
from tests.integration.helpers import JOBS, unique
from tests.integration.provider_host import ProviderHost, without_provider

SOME = provider_pb2.DiffResponse.DIFF_SOME
NONE = provider_pb2.DiffResponse.DIFF_NONE


def test_topic_provider_from_the_provider_host(kafka):
    admin, name = KafkaAdmin(kafka.bootstrap), unique("serialized")
    news = {"bootstrap_servers": kafka.bootstrap, "topic": name, "partitions": 2, "replication_factor": 1,
            "config": {"retention.ms": 60000}, "allow_data_loss": False, "timeout": 10}
    with ProviderHost(KafkaTopicProvider(), "pulumi-python:dynamic/kafka:Topic") as host:
        inputs, failures = host.check({}, news)
        assert failures == [] and inputs["config"] == {"retention.ms": "60000"}
        id_, outs = host.create(without_provider(inputs))
        assert (id_, admin.describe(name).partitions) == (name, 2)
        assert host.diff(id_, without_provider(outs), without_provider(inputs)).changes == NONE
        grown = {**without_provider(inputs), "partitions": 3}
        diff = host.diff(id_, without_provider(outs), grown)
        assert (diff.changes, list(diff.replaces)) == (SOME, [])
        outs = host.update(id_, without_provider(outs), grown)
        assert admin.describe(name).partitions == 3 and outs["partitions"] == 3
        assert host.read(id_, without_provider(outs))[1]["config"] == {"retention.ms": "60000"}
        refused = host.check(without_provider(inputs), {**without_provider(inputs), "partitions": 1})[1]
        assert [p for p, _ in refused] == ["partitions"]
        host.delete(id_, without_provider(outs))
        assert admin.describe(name) is None


def test_unknown_inputs_at_preview_are_passed_through_without_calling_anything():
    news = {"bootstrap_servers": rpc.UNKNOWN, "topic": "pageviews", "partitions": 3, "replication_factor": 1,
            "config": {}, "allow_data_loss": False, "timeout": 10}
    with ProviderHost(KafkaTopicProvider(), "pulumi-python:dynamic/kafka:Topic") as host:
        inputs, failures = host.check({}, news)
        assert failures == [] and inputs["topic"] == "pageviews"
    connector = {"connect_url": rpc.UNKNOWN, "connector_name": "datagen-pageviews", "wait_timeout": 60,
                 "config": {"connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector"}}
    with ProviderHost(ConnectorProvider(), "pulumi-python:dynamic/kafkaconnect:Connector") as host:
        assert host.check({}, connector)[1] == []
    job = {"rest_url": rpc.UNKNOWN, "job_path": "/opt/flink/usrlib/clickstream/job.py", "args": [], "code_hash": "h",
           "savepoint_dir": "file:///opt/flink/savepoints", "on_destroy": "savepoint"}
    with ProviderHost(FlinkJobProvider(), "pulumi-python:dynamic/flink:Job") as host:
        assert host.check({}, job)[1] == []
        olds = {**job, "rest_url": "http://127.0.0.1:1", "job_id": "0" * 32, "state": "RUNNING"}
        assert host.diff("flinkjob-x", olds, {**job, "code_hash": rpc.UNKNOWN}).changes == SOME


def test_connector_provider_from_the_provider_host(connect, kafka, tmp_path):
    client, name, topic = ConnectClient(connect.url), unique("serialized"), unique("lines")
    KafkaAdmin(kafka.bootstrap).create(TopicSpec(topic, 1, 1))
    (tmp_path / "in.txt").write_text("one\n")
    config = {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
              "file": str(tmp_path / "in.txt"), "topic": topic, "tasks.max": 1}
    secret = {"value.converter.basic.auth.user.info": "u:p"}  # secret in the program; plain on this wire
    news = {"connect_url": connect.url, "connector_name": name, "config": config, "secret_config": secret,
            "wait_timeout": 60}
    with ProviderHost(ConnectorProvider(), "pulumi-python:dynamic/kafkaconnect:Connector") as host:
        misspelt = {**news, "config": {**config, "batch.sise": 5}}
        assert host.check({}, misspelt)[1] == [
            ("config", "batch.sise: not a config key of org.apache.kafka.connect.file.FileStreamSourceConnector; "
                       "did you mean 'batch.size'?")]
        inputs, failures = host.check({}, news)
        assert failures == [] and inputs["config"]["tasks.max"] == "1"  # 1 crossed the wire as 1.0
        id_, outs = host.create(without_provider(inputs))
        assert outs["state"] == "RUNNING" and client.get_config(name)["value.converter.basic.auth.user.info"] == "u:p"
        assert host.diff(id_, without_provider(outs), without_provider(inputs)).changes == NONE
        host.delete(id_, without_provider(outs))
        assert client.get_config(name) is None


def test_flink_job_provider_from_the_provider_host(flink, kafka):
    client, topic = FlinkClient(flink.rest_url), unique("counts")
    KafkaAdmin(kafka.bootstrap).create(TopicSpec(topic, 1, 1))
    news = {"rest_url": flink.rest_url, "job_path": str(JOBS / "counting_job.py"),
            "args": ["--bootstrap-servers", kafka.bootstrap, "--topic", topic, "--tag", "host"], "code_hash": "h1",
            "savepoint_dir": f"file://{flink.savepoint_dir}", "on_destroy": "cancel",
            "wait_timeout": 120}
    with ProviderHost(FlinkJobProvider(), "pulumi-python:dynamic/flink:Job") as host:
        inputs, failures = host.check({}, news)
        assert failures == []
        id_, outs = host.create(without_provider(inputs))
        assert client.job(outs["job_id"]).state == "RUNNING"
        assert host.read(id_, without_provider(outs))[1]["state"] == "RUNNING"
        assert host.diff(id_, without_provider(outs), without_provider(inputs)).changes == NONE
        host.delete(id_, without_provider(outs))
        assert client.job(outs["job_id"]).state == "CANCELED"


@pytest.mark.parametrize("provider, token", [
    (KafkaTopicProvider(), "pulumi-python:dynamic/kafka:Topic"),
    (ConnectorProvider(), "pulumi-python:dynamic/kafkaconnect:Connector"),
    (FlinkJobProvider(), "pulumi-python:dynamic/flink:Job"),
])
def test_a_provider_error_reaches_the_engine_with_its_message(provider, token, closed_port_url):
    props = {"bootstrap_servers": closed_port_url.removeprefix("http://"), "topic": "t", "timeout": 2,
             "connect_url": closed_port_url, "connector_name": "c", "wait_timeout": 2,
             "rest_url": closed_port_url, "job_id": "0" * 32, "on_destroy": "cancel", "savepoint_dir": "file:///sp"}
    import grpc

    with ProviderHost(provider, token) as host:
        with pytest.raises(grpc.RpcError) as raised:
            host.delete("x", props)
    assert "ServiceUnavailable" in raised.value.details() and closed_port_url.removeprefix("http://") in raised.value.details()
