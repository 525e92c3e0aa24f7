"""A real Kafka broker and the Schema Registry stand-in for the collector tests (one of each per
session); each test module gets its own `pageviews` topic, with datagen's v1 and the stack's v2
registered the way the stack does it (components/clients/schema_registry.py)."""
from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from collector.schemas import COMPATIBILITY, V1_PATH, schema_text
from components.clients.schema_registry import SchemaRegistryClient
from tests.support.schema_registry import SchemaRegistryTestServer


@pytest.fixture(scope="session")
def registry():
    with SchemaRegistryTestServer.start() as registry:
        yield registry


def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)


def register_pageviews(registry_url: str, topic: str) -> tuple[int, int]:
    """(v1 id, v2 id): v1 as datagen's AvroConverter registers it, then the stack's step."""
    client = SchemaRegistryClient(registry_url)
    v1 = client.register(f"{topic}-value", schema_text(V1_PATH))
    client.set_compatibility(f"{topic}-value", COMPATIBILITY)
    v2 = client.register(f"{topic}-value", schema_text())
    return v1.id, v2.id


@pytest.fixture(scope="module")
def topic(broker, registry):
    name = f"pageviews-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, name)
    register_pageviews(registry.url, name)
    return name


# --- reading what reached the topic -------------------------------------------------------------------

import io
import json
from dataclasses import dataclass

import fastavro
from confluent_kafka import Consumer, TopicPartition

from collector.schemas import V2_PATH

V1_READER = fastavro.parse_schema(json.loads(V1_PATH.read_text()))
V2_READER = fastavro.parse_schema(json.loads(V2_PATH.read_text()))


@dataclass
class Record:
    partition: int
    offset: int
    key: bytes
    timestamp: int
    schema_id: int
    value: bytes

    def decode(self, registry, reader) -> dict:
        """Read with the writer schema the registry holds for the record's id, resolved to `reader`
        (Avro schema resolution, as the job's decoder does)."""
        assert self.value[0] == 0, "not the Confluent wire format"
        writer = fastavro.parse_schema(json.loads(registry.schema(self.schema_id)))
        return fastavro.schemaless_reader(io.BytesIO(self.value[5:]), writer, reader)


def read_topic(bootstrap: str, topic: str, timeout: float = 30) -> list[Record]:
    """Every record now in `topic` (up to the end offsets seen at the start)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        todo = {p for p, end in ends.items() if end > 0}
        if not todo:
            return []
        consumer.assign([TopicPartition(topic, p, 0) for p in todo])
        records: list[Record] = []
        import time

        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            value = msg.value()
            records.append(Record(msg.partition(), msg.offset(), msg.key(), msg.timestamp()[1],
                                  int.from_bytes(value[1:5], "big"), value))
            if msg.offset() + 1 >= ends[msg.partition()]:
                todo.discard(msg.partition())
        assert not todo, f"could not read {topic} to its end offsets {ends} within {timeout}s"
        return records
    finally:
        consumer.close()


def delivered_all(collector) -> bool:
    """Every event the collector accepted has been acknowledged by Kafka."""
    m = collector.metrics()
    return m.get("collector_events_delivered_total", 0) >= m.get("collector_events_accepted_total", 0) \
        and m.get("collector_queue_depth", 0) == 0
