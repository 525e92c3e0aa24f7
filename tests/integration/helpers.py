"""Helpers of the integration tests: unique names, reading topics, where test jobs live."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Optional

JOBS = Path(__file__).resolve().parent / "jobs"
RECORDED = Path(__file__).resolve().parent / "recorded"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def read_topic(bootstrap: str, topic: str, timeout: float = 10.0) -> list[tuple[Optional[bytes], Optional[bytes], int, int]]:
    """Every record of `topic` as (key, value, partition, offset), in offset order per partition."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"), "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        partitions = sorted(metadata.topics[topic].partitions) if topic in metadata.topics else []
        records = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            while True:
                message = consumer.poll(timeout)
                assert message is not None, f"no record from {topic}[{p}] within {timeout}s"
                assert message.error() is None, message.error()
                records.append((message.key(), message.value(), p, message.offset()))
                if message.offset() >= high - 1:
                    break
        return records
    finally:
        consumer.close()


def read_json_topic(bootstrap: str, topic: str) -> list[dict]:
    """A row per JSON line: a record may hold many (JSONEachRow, docs/data-contract.md)."""
    return [json.loads(line) for _, value, _, _ in read_topic(bootstrap, topic) if value is not None
            for line in value.split(b"\n")]
