"""The runtime resources as the engine receives them, under Pulumi's mocks: readable type tokens,
secrets that never travel as plain inputs, and a provider that unpickles to the right class."""
from __future__ import annotations

import base64

import dill
import pytest

from components.resources.connector import Connector, ConnectorProvider
from components.resources.flink_job import FlinkJob, FlinkJobProvider
from components.resources.schema import SubjectSchema, SubjectSchemaProvider
from components.resources.topic import KafkaTopic, KafkaTopicProvider
from tests.unit.harness import SECRET_SIG, SECRET_VALUE, plain_strings, record


def build_all():
    KafkaTopic("topic", bootstrap_servers="127.0.0.1:9092", topic="pageviews", partitions=3,
               config={"retention.ms": "604800000"}, admin_config={"sasl.password": "kafka-secret-1"})
    Connector("datagen", connect_url="http://127.0.0.1:8083", connector_name="datagen-pageviews",
              config={"connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector"},
              secret_config={"value.converter.basic.auth.user.info": "sr-user:sr-secret-2"})
    FlinkJob("job", rest_url="http://127.0.0.1:8082", job_path="/opt/flink/usrlib/clickstream/job.py",
             args=["--bootstrap-servers", "kafka:29092", "--parallelism", "2"], code_hash="ab" * 32,
             savepoint_dir="file:///opt/flink/savepoints")
    SubjectSchema("schema", url="http://127.0.0.1:8081", subject="pageviews-value", schema='{"type": "record"}',
                  compatibility="FULL_TRANSITIVE")


@pytest.fixture(scope="module")
def registered():
    return {r.name: r for r in record(build_all).resources}


@pytest.mark.parametrize("name, token", [
    ("topic", "pulumi-python:dynamic/kafka:Topic"),
    ("datagen", "pulumi-python:dynamic/kafkaconnect:Connector"),
    ("job", "pulumi-python:dynamic/flink:Job"),
    ("schema", "pulumi-python:dynamic/schemaregistry:SubjectSchema"),
])
def test_each_resource_has_a_readable_type(registered, name, token):
    assert registered[name].type == token


@pytest.mark.parametrize("name, key, secret", [
    ("topic", "admin_config", "kafka-secret-1"),
    ("datagen", "secret_config", "sr-user:sr-secret-2"),
])
def test_credentials_travel_only_as_secrets_and_stay_secret_as_outputs(registered, name, key, secret):
    raw = registered[name].raw_inputs
    assert raw[key][SECRET_SIG] == SECRET_VALUE, f"{name}.{key} is not a secret input"
    assert not any(secret in text for text in plain_strings(raw)), f"{name} carries {secret!r} in plain"
    assert key in registered[name].additional_secret_outputs


@pytest.mark.parametrize("name, cls", [
    ("topic", KafkaTopicProvider), ("datagen", ConnectorProvider), ("job", FlinkJobProvider),
    ("schema", SubjectSchemaProvider),
])
def test_the_serialized_provider_unpickles_to_its_class(registered, name, cls):
    serialized = registered[name].raw_inputs["__provider"]
    assert serialized[SECRET_SIG] == SECRET_VALUE  # Pulumi keeps the pickled provider secret by default
    assert type(dill.loads(base64.b64decode(serialized["value"]))) is cls

