"""Pageviews the way kafka-connect-datagen writes them, and the insights the contract expects.

- `PAGEVIEWS_SCHEMA`: the value schema Connect's AvroConverter registers for the `pageviews`
  quickstart (shared/reference/datagen/pageviews_schema.avro without the generator hints, plus
  `connect.name`), subject `pageviews-value`.
- `confluent_avro()`: Confluent wire format (magic 0, 4-byte schema id, Avro binary) via fastavro;
  `FastEncoder` is a byte-identical shortcut for the benchmark's millions of events.
- `produce()` / `produce_paced()` (a live stream: each record sent when due) / `TopicReader`: real
  Kafka through librdkafka (confluent-kafka), the client
  ClickHouse's Kafka engine uses; `TopicReader` reads read_committed, as ClickHouse does.
- `expected_insights()`: the contract rows computed independently in plain Python.
"""
from __future__ import annotations

import io
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Optional

import fastavro
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.clock import utc_text

PAGEVIEWS_SUBJECT = "pageviews-value"
PAGEVIEWS_SCHEMA = json.dumps({
    "type": "record", "name": "pageviews", "namespace": "ksql",
    "fields": [
        {"name": "viewtime", "type": "long"},
        {"name": "userid", "type": "string"},
        {"name": "pageid", "type": "string"},
    ],
    "connect.name": "ksql.pageviews",
})
_PARSED = fastavro.parse_schema(json.loads(PAGEVIEWS_SCHEMA))

OUTPUT_TOPICS = ("clickstream.events", "clickstream.page_stats_1m", "clickstream.user_activity_1m",
                 "clickstream.sessions", "clickstream.malformed")

# The contract's dedup key of each output topic.
DEDUP_KEYS = {
    "events": ("kafka_partition", "kafka_offset"),
    "page_stats": ("window_start", "page_id"),
    "user_activity": ("window_start", "user_id"),
    "sessions": ("user_id", "session_start"),
    "malformed": ("kafka_partition", "kafka_offset"),
}


def confluent_avro(schema_id: int, viewtime: int, userid: str, pageid: str) -> bytes:
    out = io.BytesIO()
    out.write(b"\x00" + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(out, _PARSED, {"viewtime": viewtime, "userid": userid, "pageid": pageid})
    return out.getvalue()


def zigzag_varint(n: int) -> bytes:
    """Avro's encoding of a long (`int`/`long`, and every length prefix)."""
    n = ((n << 1) ^ (n >> 63)) & (2**64 - 1)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class FastEncoder:
    """Byte-identical to `confluent_avro` (checked on construction), several times faster."""

    def __init__(self, schema_id: int):
        self.header = b"\x00" + schema_id.to_bytes(4, "big")
        self._strings: dict[str, bytes] = {}
        sample = (123456789, "User_3", "Page_42")
        assert self.encode(*sample) == confluent_avro(schema_id, *sample)

    def encode(self, viewtime: int, userid: str, pageid: str) -> bytes:
        strings = self._strings
        u = strings.get(userid)
        if u is None:
            raw = userid.encode()
            u = strings[userid] = zigzag_varint(len(raw)) + raw
        p = strings.get(pageid)
        if p is None:
            raw = pageid.encode()
            p = strings[pageid] = zigzag_varint(len(raw)) + raw
        return self.header + zigzag_varint(viewtime) + u + p


@dataclass(frozen=True)
class Record:
    """One record to write to `pageviews`: its partition, timestamp (ms) and value bytes."""

    partition: int
    timestamp_ms: int
    value: Optional[bytes]
    key: Optional[bytes] = None


@dataclass(frozen=True)
class PageView:
    """A valid page view as written, with the offset Kafka gave it."""

    partition: int
    offset: int
    timestamp_ms: int
    viewtime: int
    user_id: str
    page_id: str


def pageview_record(schema_id: int, partition: int, timestamp_ms: int, viewtime: int,
                    user_id: str, page_id: str) -> Record:
    return Record(partition, timestamp_ms, confluent_avro(schema_id, viewtime, user_id, page_id),
                  str(viewtime).encode())


def random_pageviews(schema_id: int, count: int, start_ms: int, step_ms: int, partitions: int,
                     seed: int, first_viewtime: int = 1) -> list[Record]:
    """Datagen-like events: viewtime 1, 11, 21, ..., User_[1-9], Page_[1-9][0-9]."""
    rng = random.Random(seed)
    records = []
    for i in range(count):
        viewtime = first_viewtime + 10 * i
        records.append(pageview_record(
            schema_id, i % partitions, start_ms + i * step_ms, viewtime,
            f"User_{rng.randint(1, 9)}", f"Page_{rng.randint(10, 99)}"))
    return records


def create_topics(bootstrap: str, partitions: dict[str, int]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, n, 1) for name, n in partitions.items()],
                                  operation_timeout=30)
    for future in futures.values():
        future.result(timeout=60)


def produce(bootstrap: str, topic: str, records: Iterable[Record]) -> list[tuple[int, int]]:
    """Write `records` in order; returns (partition, offset) of each, in the same order."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all",
                         "enable.idempotence": True, "compression.type": "lz4"})
    placed: list[Optional[tuple[int, int]]] = []
    errors: list[str] = []

    def delivered(index: int):
        def report(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                placed[index] = (msg.partition(), msg.offset())
        return report

    for index, record in enumerate(records):
        placed.append(None)
        while True:
            try:
                producer.produce(topic, value=record.value, key=record.key, partition=record.partition,
                                 timestamp=record.timestamp_ms, on_delivery=delivered(index))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or errors or any(p is None for p in placed):
        raise RuntimeError(f"producing to {topic} failed: {remaining} undelivered, errors {errors[:5]}")
    return placed  # type: ignore[return-value]


def produce_paced(bootstrap: str, topic: str, records: list[Record], send_at: list[float]) -> list[tuple[int, int]]:
    """Write `records` in order, each no earlier than its `send_at` (a `time.monotonic()` value):
    a live stream, as a website writes it, not a backlog. Returns (partition, offset) of each.
    The producer sends at once (no linger), so a record reaches the broker when it is due."""
    import time

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all",
                         "enable.idempotence": True})
    placed: list[Optional[tuple[int, int]]] = [None] * len(records)
    errors: list[str] = []

    def delivered(index: int):
        def report(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                placed[index] = (msg.partition(), msg.offset())
        return report

    for index, (record, due) in enumerate(zip(records, send_at)):
        # Pacing the load by the wall clock (not waiting for anything): poll while early.
        while (early := due - time.monotonic()) > 0:
            producer.poll(min(early, 0.05))
        producer.produce(topic, value=record.value, key=record.key, partition=record.partition,
                         timestamp=record.timestamp_ms, on_delivery=delivered(index))
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or errors or any(p is None for p in placed):
        raise RuntimeError(f"producing to {topic} failed: {remaining} undelivered, errors {errors[:5]}")
    return placed  # type: ignore[return-value]


class TopicReader:
    """Reads a topic from the beginning, read_committed (as ClickHouse's librdkafka does), and keeps
    every row seen; `poll()` adds what arrived since the last call.

    A message holds one JSON object per line (JSONEachRow, as ClickHouse reads it): `records` has
    a row per line; `messages` has (record key, its rows, its size in bytes) per message."""

    def __init__(self, bootstrap: str, topic: str, isolation: str = "read_committed"):
        self.topic = topic
        self.records: list[dict] = []
        self.messages: list[tuple[Optional[str], list[dict], int]] = []
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"reader-{topic}-{random.random()}",
            "enable.auto.commit": False, "isolation.level": isolation, "auto.offset.reset": "earliest",
        })
        metadata = self._consumer.list_topics(topic, timeout=30).topics[topic]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        self._consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])

    def poll(self, max_seconds: float = 2.0) -> list[dict]:
        import time

        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            batch = self._consumer.consume(10000, timeout=0.2)
            if not batch:
                break
            for msg in batch:
                if msg.error() is not None:
                    continue  # partition EOF and transient errors: nothing to keep
                rows = [json.loads(line) for line in msg.value().split(b"\n")]
                self.records += rows
                self.messages.append((msg.key().decode() if msg.key() is not None else None, rows,
                                      len(msg.value())))
        return self.records

    def close(self) -> None:
        self._consumer.close()


def dedup(rows: list[dict], key: tuple[str, ...]) -> dict[tuple, dict]:
    """Collapse rows by the contract key, as ReplacingMergeTree does; raises when two rows with the
    same key differ (the table would then depend on which one merged last)."""
    out: dict[tuple, dict] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        normalised = {**row, **({"page_ids": sorted(row["page_ids"])} if "page_ids" in row else {})}
        if k in out and out[k] != normalised:
            raise AssertionError(f"replayed row differs for key {k}: {out[k]} vs {normalised}")
        out[k] = normalised
    return out


def contract_examples() -> dict[str, dict]:
    """The example message of each output topic in docs/data-contract.md, by output name."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "data-contract.md").read_text()
    found = re.findall(r"### `clickstream\.(\w+?)(?:_1m)?`\n```json\n(.*?)\n```", text, re.S)
    return {name: json.loads(body) for name, body in found}


def expected_insights(views: Iterable[PageView], session_gap_s: int, watermark_ms: int) -> dict[str, dict]:
    """Contract rows keyed by dedup key, for windows that a watermark of `watermark_ms` closed
    (a window [start, end) fires once the watermark reaches end - 1)."""
    views = sorted(views, key=lambda v: (v.timestamp_ms, v.partition, v.offset))
    events = {(v.partition, v.offset): {
        "kafka_partition": v.partition, "kafka_offset": v.offset, "event_time": utc_text(v.timestamp_ms),
        "viewtime": v.viewtime, "user_id": v.user_id, "page_id": v.page_id} for v in views}
    per_page: dict = defaultdict(list)
    per_user: dict = defaultdict(list)
    for v in views:
        start = v.timestamp_ms - v.timestamp_ms % 60000
        per_page[(start, v.page_id)].append(v)
        per_user[(start, v.user_id)].append(v)
    page_stats = {}
    for (start, page), vs in per_page.items():
        if start + 60000 - 1 <= watermark_ms:
            page_stats[(utc_text(start), page)] = {
                "window_start": utc_text(start), "window_end": utc_text(start + 60000), "page_id": page,
                "views": len(vs), "unique_users": len({v.user_id for v in vs})}
    user_activity = {}
    for (start, user), vs in per_user.items():
        if start + 60000 - 1 <= watermark_ms:
            user_activity[(utc_text(start), user)] = {
                "window_start": utc_text(start), "window_end": utc_text(start + 60000), "user_id": user,
                "views": len(vs), "page_ids": sorted({v.page_id for v in vs})}
    sessions = {}
    by_user: dict = defaultdict(list)
    for v in views:
        by_user[v.user_id].append(v)
    gap = session_gap_s * 1000
    for user, vs in by_user.items():
        current: list[PageView] = []
        for v in vs + [None]:  # None closes the last session
            # Flink merges session windows that touch: a view exactly `gap` after the last stays.
            if current and (v is None or v.timestamp_ms > current[-1].timestamp_ms + gap):
                start, end = current[0].timestamp_ms, current[-1].timestamp_ms + gap
                if end - 1 <= watermark_ms:
                    sessions[(user, utc_text(start))] = {
                        "user_id": user, "session_start": utc_text(start), "session_end": utc_text(end),
                        "views": len(current), "page_ids": sorted({c.page_id for c in current})}
                current = []
            if v is not None:
                current.append(v)
    return {"events": events, "page_stats": page_stats, "user_activity": user_activity,
            "sessions": sessions}
