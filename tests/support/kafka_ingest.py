"""Waiting for ClickHouse's background Kafka consumption, the way an operator would: by its consumer
groups' committed offsets.

ClickHouse's Kafka engine commits a block's offsets only after the block went through every
materialized view attached to the Kafka table, so a group whose committed offset is the end of
every partition means: all of the topic is in the tables. `wait_consumed` polls that with a deadline.
"""
from __future__ import annotations

from typing import Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition

from .processes import WaitTimeout, wait_for

# Group join, the first poll and the engine's flush (stream_flush_interval_ms, 7.5 s) take seconds.
INGEST_DEADLINE_S = 120


def lag(bootstrap: str, group: str, topic: str) -> int:
    """Records of `topic` not yet committed by `group` (all of them when it committed nothing; -1
    while the broker cannot say, e.g. as the group's coordinator is being chosen)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        behind = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            behind += high - max(tp.offset, low)
        return behind
    except KafkaException:
        return -1
    finally:
        consumer.close()


def wait_consumed(bootstrap: str, groups: Mapping[str, str], timeout: float = INGEST_DEADLINE_S) -> None:
    """Wait until every `group -> topic` has committed the end of its topic."""
    def lags() -> dict[str, int]:
        return {group: lag(bootstrap, group, topic) for group, topic in groups.items()}

    try:
        wait_for(f"ClickHouse's Kafka consumers to commit the end of their topics {dict(groups)}",
                 lambda: not any(lags().values()), timeout, interval=0.5)
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc}; records behind per group: {lags()}; see the server's log for Kafka errors") from None
