"""flink_job/job.py submitted to a real Flink session cluster, reading a real Kafka broker.

Known Confluent-Avro pageviews (the exact datagen schema, registered in the Schema Registry test
stand-in) go in; the output topics are read the way ClickHouse's Kafka engine reads them
(librdkafka, read_committed) and collapsed by the contract's dedup keys the way ReplacingMergeTree
collapses them; the result must equal what plain Python computes from the same events.
"""
from __future__ import annotations

import base64
import random
import threading
import uuid
from typing import Optional

import pytest

from tests.flink_job.pageviews import (DEDUP_KEYS, PageView, Record, TopicReader, contract_examples,
                                       create_topics, dedup,
                                       expected_insights, pageview_record, produce, random_pageviews)
from tests.support.clock import epoch_ms, utc_text
from tests.support.processes import wait_for

GAP_S = 60
DELAY_S = 2
T0 = epoch_ms("13:00:00.000")  # on the tests' known day (tests/support/clock.py)
OUTPUTS = ("events", "page_stats", "user_activity", "sessions", "malformed")
# Small enough for many messages out of the first test's 241 views (about 125 bytes each).
MESSAGE_BYTES = 1000


class Topics:
    """Fresh topic names per test, so tests share the broker but not their data."""

    def __init__(self, kafka, source_partitions: int = 2):
        suffix = uuid.uuid4().hex[:6]
        self.source = f"pageviews-{suffix}"
        self.outputs = {o: f"clickstream.{o}-{suffix}" for o in OUTPUTS}
        create_topics(kafka.bootstrap, {self.source: source_partitions, **{t: 2 for t in self.outputs.values()}})

    def args(self) -> list[str]:
        return ["--source-topic", self.source, "--events-topic", self.outputs["events"],
                "--page-stats-topic", self.outputs["page_stats"],
                "--user-activity-topic", self.outputs["user_activity"],
                "--sessions-topic", self.outputs["sessions"], "--malformed-topic", self.outputs["malformed"]]


def _job_args(kafka, registry, topics: Topics, **options) -> list[str]:
    args = ["--bootstrap-servers", kafka.bootstrap, "--schema-registry-url", registry.url,
            "--group-id", f"insights-{uuid.uuid4().hex[:6]}", "--session-gap", str(GAP_S),
            "--watermark-delay", str(DELAY_S), *topics.args()]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def _placed(records: list[Record], positions) -> list[PageView]:
    """PageViews for the valid records written, with the offsets Kafka gave them."""
    from tests.flink_job.pageviews import _PARSED
    import io

    import fastavro

    views = []
    for record, (partition, offset) in zip(records, positions):
        if record.value is not None and record.value[:1] == b"\x00" and len(record.value) > 5:
            try:
                fields = fastavro.schemaless_reader(io.BytesIO(record.value[5:]), _PARSED)
            except Exception:
                continue
            views.append(PageView(partition, offset, record.timestamp_ms, fields["viewtime"],
                                  fields["userid"], fields["pageid"]))
    return views


class Outputs:
    """Readers of every output topic; `deduped()` is what the ClickHouse tables would hold."""

    def __init__(self, kafka, topics: Topics):
        self.readers = {o: TopicReader(kafka.bootstrap, t) for o, t in topics.outputs.items()}

    def poll(self) -> None:
        for reader in self.readers.values():
            reader.poll(1)

    def deduped(self) -> dict[str, dict]:
        return {o: dedup(r.records, DEDUP_KEYS[o]) for o, r in self.readers.items()}

    def raw_counts(self) -> dict[str, int]:
        return {o: len(r.records) for o, r in self.readers.items()}

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()


def _wait_for_expected(outputs: Outputs, expected: dict, malformed: dict, timeout: float) -> dict:
    def complete():
        outputs.poll()
        got = outputs.deduped()
        for output, rows in expected.items():
            if got[output] != rows:
                return False
        return got["malformed"] == malformed and got

    def describe() -> str:
        got = outputs.deduped()
        parts = []
        for output, rows in [*expected.items(), ("malformed", malformed)]:
            missing = [k for k in rows if k not in got[output]]
            extra = [k for k in got[output] if k not in rows]
            wrong = [k for k in rows if k in got[output] and got[output][k] != rows[k]]
            parts.append(f"{output}: {len(got[output])}/{len(rows)} rows, missing {missing[:3]}, "
                         f"unexpected {extra[:3]}, differing {[(k, got[output][k], rows[k]) for k in wrong[:2]]}")
        return "; ".join(parts)

    try:
        return wait_for("the output topics to hold exactly the expected insights", complete, timeout, interval=1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{describe()}") from None


def _expected_malformed(records: list[Record], positions, errors: dict[int, str]) -> dict:
    out = {}
    for index, error in errors.items():
        partition, offset = positions[index]
        record = records[index]
        out[(partition, offset)] = {
            "kafka_partition": partition, "kafka_offset": offset,
            "kafka_timestamp": utc_text(record.timestamp_ms), "error": error,
            "payload_base64": base64.b64encode(record.value).decode() if record.value is not None else None}
    return out


def test_known_pageviews_become_exact_insights_and_malformed_records_are_kept_aside(
        kafka, registry, schema_id, flink):
    topics = Topics(kafka)
    records = random_pageviews(schema_id, 240, T0, 1_000, partitions=2, seed=11)
    # Malformed records between valid ones, on both partitions.
    bad = {
        30: Record(0, T0 + 30_500, b'{"user":1}', b"x"),
        61: Record(1, T0 + 61_500, b"\x00\x00\x00\x27\x0f\x02", b"y"),
        150: Record(0, T0 + 150_500, b"\x00" + schema_id.to_bytes(4, "big") + b"\x16\x0cUser", None),
    }
    errors = {30: "not Confluent wire format: magic byte 0x7b",
              61: "schema id 9999 is not in the schema registry",
              150: f"not valid Avro for schema id {schema_id}: EOFException"}
    for index, record in sorted(bad.items()):
        records.insert(index, record)
    errors = {records.index(bad[i]): e for i, e in errors.items()}
    # Written before the job starts, so every partition has data when the source begins: a
    # partition that is idle while another catches up would let the watermark pass its records.
    positions = produce(kafka.bootstrap, topics.source, records)

    # The idle timeout must outlast the source's start-up (the first fetch of every partition):
    # a partition declared idle before its backlog arrives would see its records come in late.
    job_id = flink.submit(_job_args(kafka, registry, topics, checkpoint_interval=5, idle_timeout=15,
                                    events_message_bytes=MESSAGE_BYTES))
    outputs = Outputs(kafka, topics)
    try:
        wait_for("the raw events out", lambda: outputs.poll() or len(outputs.deduped()["events"]) == 240,
                 timeout=180)
        # One view far later, on partition 0 only: it moves the watermark past every window above,
        # while partition 1 stays quiet and must be declared idle for the windows to close.
        sentinel = pageview_record(schema_id, 0, T0 + 3_600_000, 999_999, "User_9", "Page_99")
        records.append(sentinel)
        positions += produce(kafka.bootstrap, topics.source, [sentinel])
        views = _placed(records, positions)
        assert len(views) == 241
        expected = expected_insights(views, GAP_S, watermark_ms=sentinel.timestamp_ms - DELAY_S * 1000)
        malformed = _expected_malformed(records, positions, errors)

        _wait_for_expected(outputs, expected, malformed, timeout=240)

        # No failure happened, so nothing was replayed: not even a raw duplicate.
        assert outputs.raw_counts() == {o: len(r) for o, r in [*expected.items(), ("malformed", malformed)]}
        # Every message has exactly the fields, and JSON types, of the contract's example.
        examples = contract_examples()
        assert sorted(examples) == sorted(OUTPUTS)
        for output, reader in outputs.readers.items():
            shape = {k: type(v) for k, v in examples[output].items()}
            assert all({k: type(v) for k, v in r.items()} == shape for r in reader.records), output
        # Record keys are the dedup keys as text: a message of many views has its first view's.
        assert all(key == "|".join(str(rows[0][k]) for k in DEDUP_KEYS[output])
                   for output, reader in outputs.readers.items() for key, rows, _ in reader.messages)
        assert all(len(rows) == 1 for o, r in outputs.readers.items() if o != "events" for _, rows, _ in r.messages)
        # Views are packed into messages of at most --events-message-bytes.
        sizes = [size for _, _, size in outputs.readers["events"].messages]
        assert max(sizes) <= MESSAGE_BYTES and len(sizes) < 241 / 4, sizes
        # Sessions of every user but the sentinel's are closed; their ends are last view + gap.
        assert len(expected["sessions"]) >= 9 and len(expected["page_stats"]) > 100
        assert flink.state(job_id) == "RUNNING"
        # The count is a Flink metric too (REST/UI: the malformed branch's Calc operator);
        # the REST metric store refreshes every few seconds.
        wait_for("malformedRecords to report 3", lambda: flink.operator_metric(job_id, "malformedRecords") == 3,
                 timeout=60)
    finally:
        outputs.close()
        flink.cancel(job_id)


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_taskmanager_killed_midstream_restores_from_checkpoint_without_loss_or_visible_duplicates(
        kafka, registry, schema_id, flink, guarantee, capsys):
    topics = Topics(kafka)
    first = random_pageviews(schema_id, 1500, T0, 200, partitions=2, seed=1)
    second = random_pageviews(schema_id, 3000, T0 + 300_000, 100, partitions=2, seed=2, first_viewtime=15_001)
    third = random_pageviews(schema_id, 600, T0 + 600_000, 100, partitions=2, seed=3, first_viewtime=45_001)
    sentinels = [pageview_record(schema_id, p, T0 + 3_600_000 + p, 999_990 + p, "User_9", "Page_99")
                 for p in (0, 1)]
    # Every batch reaches both partitions and no pause is longer than the idle timeout, so no
    # partition is ever declared idle: windows close on the two sentinels' watermark.
    placed: list = list(zip(first, produce(kafka.bootstrap, topics.source, first)))
    job_id = flink.submit(_job_args(kafka, registry, topics, checkpoint_interval=4, idle_timeout=120,
                                    delivery_guarantee=guarantee,
                                    transactional_id_prefix=f"kill-test-{uuid.uuid4().hex[:6]}"))
    outputs = Outputs(kafka, topics)
    try:

        def completed_checkpoints() -> int:
            return flink.checkpoints(job_id)["counts"]["completed"]

        def events_out() -> int:
            outputs.readers["events"].poll(1)
            return len(outputs.readers["events"].records)

        wait_for("the first events out and a checkpoint completed",
                 lambda: events_out() >= len(first) and completed_checkpoints() >= 1, timeout=180)

        # The second batch is written while the job runs; the TaskManager dies in the middle of it.
        checkpoint_before_second = flink.checkpoints(job_id)["latest"]["completed"]["id"]
        producer_done: list = []
        writer = threading.Thread(target=lambda: producer_done.append(
            produce(kafka.bootstrap, topics.source, second)))
        writer.start()
        wait_for("the job to be in the middle of the second batch",
                 lambda: events_out() >= len(first) + 300, timeout=180)
        flink.cluster.kill_taskmanager(len(flink.cluster.taskmanagers) - 1)
        flink.cluster.add_taskmanager()
        writer.join(120)
        placed += list(zip(second, producer_done[0]))
        placed += list(zip(third, produce(kafka.bootstrap, topics.source, third)))
        placed += list(zip(sentinels, produce(kafka.bootstrap, topics.source, sentinels)))

        records = [r for r, _ in placed]
        views = _placed(records, [p for _, p in placed])
        assert len(views) == 1500 + 3000 + 600 + 2
        expected = expected_insights(views, GAP_S, watermark_ms=T0 + 3_600_000 - DELAY_S * 1000)

        _wait_for_expected(outputs, expected, {}, timeout=300)

        restored = flink.checkpoints(job_id)["latest"]["restored"]
        assert restored is not None, "the job did not restore from a checkpoint"
        assert flink.state(job_id) == "RUNNING"
        raw = outputs.raw_counts()
        duplicates = {o: raw[o] - len(expected[o]) for o in expected}
        with capsys.disabled():
            print(f"\n[{guarantee}] restored checkpoint {restored['id']}; raw duplicates before dedup "
                  f"(read_committed): {duplicates}")
        if guarantee == "exactly-once":
            assert duplicates == {o: 0 for o in expected}
        elif restored["id"] <= checkpoint_before_second:
            # At least 300 events of the second batch were out before the kill and the restored
            # checkpoint predates them all: they were replayed, so raw duplicates must exist (and
            # were collapsed above). A checkpoint taken in between makes that count timing-dependent.
            assert duplicates["events"] >= 300, duplicates
    finally:
        outputs.close()
        flink.cancel(job_id)


def test_late_views_are_kept_or_dropped_as_windows_over_every_view_would(kafka, registry, schema_id, flink):
    # The windows see partial counts, not views (PageviewInsights): a view that comes after the
    # watermark passed it must still count exactly where a window over single views would count it.
    topics = Topics(kafka)
    t1 = T0 + 300_000
    rng = random.Random(3)

    def view(partition: int, ts: int, user: str, page: Optional[str] = None) -> Record:
        return pageview_record(schema_id, partition, ts, ts - T0, user, page or f"Page_{rng.randrange(10, 20)}")

    first = [view(i % 2, T0 + s * 1000, "User_1") for i, s in enumerate(range(20, 141, 10))]  # closed at T0+200s
    first += [view(i % 2, T0 + s * 1000, "User_2") for i, s in enumerate(range(150, 291, 10))]  # open until t1+50s
    first += [view(i % 2, T0 + s * 1000, "User_3") for i, s in enumerate(range(200, 251, 10))]  # open until t1+10s
    first += [view(0, t1, "User_4"), view(1, t1, "User_5")]  # both partitions reach t1: watermark t1 - 2 s
    first.sort(key=lambda r: r.timestamp_ms)
    placed = list(zip(first, produce(kafka.bootstrap, topics.source, first)))
    job_id = flink.submit(_job_args(kafka, registry, topics, checkpoint_interval=5, idle_timeout=120))
    outputs = Outputs(kafka, topics)
    try:
        sessions_vertex = next(v["id"] for v in flink.get(f"/jobs/{job_id}")["vertices"]
                               if "sink_sessions" in v["name"])

        def session_watermark() -> int:
            values = flink.get(f"/jobs/{job_id}/vertices/{sessions_vertex}/watermarks")
            return min(int(v["value"]) for v in values if v["id"].endswith("currentInputWatermark"))

        wait_for("the session windows' watermark to reach t1 - 2 s",
                 lambda: session_watermark() == t1 - DELAY_S * 1000, timeout=180)
        late = {
            # its own session window ended long ago, and no session of User_1 is open: dropped
            "dropped": view(0, T0 + 100_000, "User_1"),
            # late on its own, but inside User_2's open session: counted there, with its page
            "inside": view(1, t1 - 65_000, "User_2", "Page_77"),
            # late on its own, but touching User_3's open session: it becomes that session's start
            "extends": view(0, t1 - 115_000, "User_3"),
            # not late for a session (the minute t1 - 60 s .. t1 is open too)
            "on_time": view(1, t1 - 30_000, "User_6"),
        }
        placed += list(zip(late.values(), produce(kafka.bootstrap, topics.source, list(late.values()))))
        wait_for("every view in clickstream.events",
                 lambda: outputs.poll() or len(outputs.deduped()["events"]) == len(placed), timeout=120)
        # Only now may the watermark move on.
        sentinels = [view(p, T0 + 3_600_000, "User_9", "Page_99") for p in (0, 1)]
        placed += list(zip(sentinels, produce(kafka.bootstrap, topics.source, sentinels)))

        def views_of(records) -> list[PageView]:
            return _placed(records, [p for r, p in placed if any(r is x for x in records)])

        watermark = T0 + 3_600_000 - DELAY_S * 1000
        every = [r for r, _ in placed]
        in_sessions = [r for r in every if r is not late["dropped"]]
        in_minutes = [r for r in every if r not in (late["dropped"], late["inside"], late["extends"])]
        expected = {
            "events": expected_insights(views_of(every), GAP_S, watermark)["events"],
            **{o: expected_insights(views_of(in_minutes), GAP_S, watermark)[o] for o in ("page_stats", "user_activity")},
            "sessions": expected_insights(views_of(in_sessions), GAP_S, watermark)["sessions"],
        }
        got = _wait_for_expected(outputs, expected, {}, timeout=240)

        sessions = {(s["user_id"], s["session_start"]): s for s in got["sessions"].values()}
        assert (("User_3", utc_text(t1 - 115_000)) in sessions
                and "Page_77" in next(s["page_ids"] for (u, _), s in sessions.items() if u == "User_2"))
        assert [s["views"] for (u, _), s in sessions.items() if u == "User_1"] == [13]
    finally:
        outputs.close()
        flink.cancel(job_id)
