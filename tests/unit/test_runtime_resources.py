"""The runtime resources as the engine receives them, under Pulumi's mocks: readable type tokens,
secrets that never travel as plain inputs, and a provider that unpickles to the right class."""
from __future__ import annotations

import base64

import dill
import pulumi
import pytest
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from components.resources.connector import Connector, ConnectorProvider
from components.resources.flink_job import FlinkJob, FlinkJobProvider
from components.resources.topic import KafkaTopic, KafkaTopicProvider

SECRET_SIG, SECRET = rpc._special_sig_key, rpc._special_secret_sig


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return [f"{args.name}-id", dict(args.inputs)]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class Monitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks, seen: dict) -> None:
        super().__init__(mocks)
        self.seen = seen

    def RegisterResource(self, request):
        if request.type != "pulumi:pulumi:Stack":
            self.seen[request.name] = {
                "type": request.type,
                "raw": json_format.MessageToDict(request.object),
                "additional_secret_outputs": list(request.additionalSecretOutputs),
            }
        return super().RegisterResource(request)


def register(build) -> dict:
    seen: dict = {}
    mocks = Mocks()
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="clickstreamer", stack="unit", preview=False, monitor=Monitor(mocks, seen))

    @pulumi.runtime.test
    def run():
        build()
        return pulumi.Output.from_input(True)

    run()
    return seen


def strings_outside_secrets(value):
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET:
            return
        for item in value.values():
            yield from strings_outside_secrets(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_outside_secrets(item)
    elif isinstance(value, str):
        yield value


def build_all():
    KafkaTopic("topic", bootstrap_servers="127.0.0.1:9092", topic="pageviews", partitions=3,
               config={"retention.ms": "604800000"}, admin_config={"sasl.password": "kafka-secret-1"})
    Connector("datagen", connect_url="http://127.0.0.1:8083", connector_name="datagen-pageviews",
              config={"connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector"},
              secret_config={"value.converter.basic.auth.user.info": "sr-user:sr-secret-2"})
    FlinkJob("job", rest_url="http://127.0.0.1:8082", job_path="/opt/flink/usrlib/clickstream/job.py",
             args=["--bootstrap-servers", "kafka:29092"], code_hash="ab" * 32, parallelism=2,
             savepoint_dir="file:///opt/flink/savepoints")


@pytest.fixture(scope="module")
def registered():
    return register(build_all)


@pytest.mark.parametrize("name, token", [
    ("topic", "pulumi-python:dynamic/kafka:Topic"),
    ("datagen", "pulumi-python:dynamic/kafkaconnect:Connector"),
    ("job", "pulumi-python:dynamic/flink:Job"),
])
def test_each_resource_has_a_readable_type(registered, name, token):
    assert registered[name]["type"] == token


@pytest.mark.parametrize("name, key, secret", [
    ("topic", "admin_config", "kafka-secret-1"),
    ("datagen", "secret_config", "sr-user:sr-secret-2"),
])
def test_credentials_travel_only_as_secrets_and_stay_secret_as_outputs(registered, name, key, secret):
    raw = registered[name]["raw"]
    assert raw[key][SECRET_SIG] == SECRET, f"{name}.{key} is not a secret input"
    assert not any(secret in text for text in strings_outside_secrets(raw)), f"{name} carries {secret!r} in plain"
    assert key in registered[name]["additional_secret_outputs"]


@pytest.mark.parametrize("name, cls", [
    ("topic", KafkaTopicProvider), ("datagen", ConnectorProvider), ("job", FlinkJobProvider),
])
def test_the_serialized_provider_unpickles_to_its_class(registered, name, cls):
    serialized = registered[name]["raw"]["__provider"]
    assert serialized[SECRET_SIG] == SECRET  # Pulumi keeps the pickled provider secret by default
    assert type(dill.loads(base64.b64decode(serialized["value"]))) is cls

