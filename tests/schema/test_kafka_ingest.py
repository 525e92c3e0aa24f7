"""The Kafka-engine ingestion as production runs it, with the data contract's own examples: the shipped
schema on a real ClickHouse 24.8.4 server (the stack's, migrations by the owner over HTTP) consumes
from a real Kafka broker in the background, its materialized views fill the tables; the test waits,
with a deadline, until each Kafka table's consumer group has committed the end of its topic
(ClickHouse commits after the block went through the table's views), then reads the dashboard views.

The messages are the JSON examples of docs/data-contract.md, read from that file, plus replays,
a late re-fired window, a message lacking a field and one that is not JSON. The server reaches the
broker at its loopback address (the migration params' `kafka_brokers`).
"""
from __future__ import annotations

import json
import re
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from components.clients.migrations import Migrator, discover
from tests.support.clock import DAY, redate
from tests.support.kafka import KafkaBroker
from tests.support.kafka_ingest import wait_consumed

from .conftest import DATABASE, PARAMS, REPO, SCHEMA_DIR

DB = DATABASE
# Not about retention: rows are kept whatever day the test's clock says (tests/support/clock.py).
PARAMS = {**PARAMS, "raw_ttl_days": 3650}
SOURCES = ("events", "page_stats_1m", "user_activity_1m", "sessions", "malformed")


def contract_examples() -> dict[str, dict]:
    """topic -> the JSON example under its heading in docs/data-contract.md, moved to the tests'
    known day (the raw tables' TTL would drop rows of the day the examples were written on)."""
    text = (REPO / "docs" / "data-contract.md").read_text()
    found = re.findall(r"^### `(clickstream\.[a-z0-9_]+)`\n```json\n(.*?)\n```", text, flags=re.M | re.S)
    return {topic: redate(json.loads(body)) for topic, body in found}


def produce(broker: KafkaBroker, topics: dict[str, list[tuple[str, bytes]]]) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in topics]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    for topic, records in topics.items():
        for key, value in records:
            producer.produce(topic, key=key.encode(), value=value)
    assert producer.flush(30) == 0, "every record acknowledged by the broker"


def wait_ingested(broker: KafkaBroker, params: dict, sources=SOURCES) -> None:
    """Until the server's consumer group of each source's Kafka table has committed its whole topic
    (ClickHouse commits after the block went through the table's views)."""
    wait_consumed(broker.bootstrap, {f"{params['kafka_group']}.{s}": params[f"topic_{s}"] for s in sources})


def as_json(obj: dict) -> bytes:
    return json.dumps(obj).encode()


def test_contract_messages_land_exactly_in_the_tables_dashboards_read(broker, executor):
    examples = contract_examples()
    assert set(examples) == {f"clickstream.{s}" for s in SOURCES}, "every contract topic has an example"
    run = uuid.uuid4().hex[:8]
    topic = {s: f"clickstream.{s}.{run}" for s in SOURCES}

    event = examples["clickstream.events"]
    other_event = {**event, "kafka_offset": 42, "event_time": f"{DAY} 13:05:09.500", "viewtime": 421,
                   "user_id": "User_4", "page_id": "Page_11"}
    no_page = {k: v for k, v in {**event, "kafka_offset": 43}.items() if k != "page_id"}
    stats = examples["clickstream.page_stats_1m"]
    refired = {**stats, "views": stats["views"] + 1, "unique_users": stats["unique_users"] + 1}
    activity = examples["clickstream.user_activity_1m"]
    replayed_activity = {**activity, "page_ids": list(reversed(activity["page_ids"]))}
    session = examples["clickstream.sessions"]
    malformed = examples["clickstream.malformed"]
    produce(broker, {
        topic["events"]: [("0:41", as_json(event)), ("0:41", as_json(event)), ("0:42", as_json(other_event)),
                          ("0:43", as_json(no_page)), ("0:44", b'{"kafka_partition": 0, "kafka_offset": ')],
        topic["page_stats_1m"]: [("m", as_json(stats)), ("m", as_json(stats)), ("m", as_json(refired)),
                                 ("m", b"not json at all")],
        topic["user_activity_1m"]: [("u", as_json(activity)), ("u", as_json(replayed_activity))],
        topic["sessions"]: [("s", as_json(session)), ("s", as_json(session))],
        topic["malformed"]: [("0:42", as_json(malformed)), ("0:42", as_json(malformed))],
    })

    ex = executor
    params = {**PARAMS, "kafka_brokers": broker.bootstrap, "kafka_group": f"clickhouse-{run}",
              **{f"topic_{s}": topic[s] for s in SOURCES}}
    Migrator(ex, DB).apply(discover(SCHEMA_DIR), params)
    attached = {name for (name,) in ex.rows(
        f"SELECT name FROM system.tables WHERE database = '{DB}' AND engine = 'MaterializedView' "
        "AND match(as_select, 'FROM [a-z_]+\\\\.kafka_')")}
    assert attached == {f"ingest_{s}_mv" for s in SOURCES} | {f"ingest_{s}_errors_mv" for s in SOURCES}

    wait_ingested(broker, params)

    assert ex.rows(f"SELECT kafka_partition, kafka_offset, toString(event_time), viewtime, user_id, page_id "
                   f"FROM {DB}.pageviews FINAL ORDER BY kafka_offset") == [
        (0, 41, f"{DAY} 13:05:07.250", 411, "User_3", "Page_17"),
        (0, 42, f"{DAY} 13:05:09.500", 421, "User_4", "Page_11"),
    ]
    errors = ex.rows(f"SELECT source, topic, offset, error, raw_message FROM {DB}.ingest_errors ORDER BY source, offset")
    assert [(e[0], e[1], e[2]) for e in errors] == [
        ("events", topic["events"], 3), ("events", topic["events"], 4), ("page_stats_1m", topic["page_stats_1m"], 3)]
    assert errors[0][3] == "missing or null field(s): page_id"
    assert errors[1][3] == "Attempt to read after eof: (while reading the value of key kafka_offset)"
    assert errors[1][4] == '{"kafka_partition": 0, "kafka_offset": '
    assert errors[2][4] == "not json at all" and errors[2][3] != ""

    assert ex.rows(f"SELECT toString(minute), page_id, views, unique_users FROM {DB}.v_page_stats_1m") == [
        (f"{DAY} 13:05:00.000", "Page_17", 13, 6)], "a replay collapses; the re-fired window wins"
    assert ex.rows(f"SELECT toString(hour), page_id, views, unique_users FROM {DB}.v_page_stats_1h ORDER BY page_id") == [
        (f"{DAY} 13:00:00", "Page_17", 13, 1)], "hourly views are not doubled by the replay"
    assert ex.rows(f"SELECT DISTINCT toString(window_start), user_id, views, page_ids FROM {DB}.user_activity_1m") == [
        (f"{DAY} 13:05:00.000", "User_3", 4, ["Page_11", "Page_17"]),
    ], "page_ids are stored sorted, so the replay (pages in another order) equals the original"
    assert ex.rows(f"SELECT toString(hour), unique_users FROM {DB}.v_users_1h") == [(f"{DAY} 13:00:00", 1)]
    assert ex.rows(f"SELECT user_id, toString(session_start), toString(session_end), views, page_ids FROM {DB}.v_sessions") == [
        ("User_3", f"{DAY} 13:05:07.250", f"{DAY} 13:17:40.001", 31, ["Page_11", "Page_17"])]
    assert ex.rows(f"SELECT kafka_partition, kafka_offset, toString(kafka_timestamp), error, payload_base64 "
                   f"FROM {DB}.malformed_events FINAL") == [
        (0, 42, f"{DAY} 13:05:07.300", "not Confluent wire format: magic byte 0x7b", "eyJ1c2VyIjoxfQ==")]


def test_event_messages_of_many_views_land_row_by_row(broker, executor):
    # The Flink job packs many views into one `clickstream.events` message, a JSON object per line
    # (docs/data-contract.md): each line is a row, and a bad line is an error of its own.
    event = contract_examples()["clickstream.events"]
    views = [{**event, "kafka_offset": 41 + i, "viewtime": 411 + 10 * i, "user_id": f"User_{i % 3}"}
             for i in range(5)]
    lines = [as_json(v) for v in views]
    run = uuid.uuid4().hex[:8]
    topic = {s: f"clickstream.{s}.{run}" for s in SOURCES}
    produce(broker, {
        topic["events"]: [
            ("0|41", b"\n".join(lines[:3])),
            # a replay (the job restarted from a checkpoint): the same views, cut differently
            ("0|42", b"\n".join(lines[1:])),
            # a line without page_id between two good ones
            ("0|46", b"\n".join([as_json({**event, "kafka_offset": 46}),
                                 as_json({k: v for k, v in {**event, "kafka_offset": 47}.items() if k != "page_id"}),
                                 as_json({**event, "kafka_offset": 48})])),
        ],
        **{topic[s]: [] for s in SOURCES if s != "events"},
    })
    ex = executor
    params = {**PARAMS, "kafka_brokers": broker.bootstrap, "kafka_group": f"clickhouse-{run}",
              **{f"topic_{s}": topic[s] for s in SOURCES}}
    Migrator(ex, DB).apply(discover(SCHEMA_DIR), params)
    wait_ingested(broker, params, sources=("events",))

    assert ex.rows(f"SELECT kafka_offset, viewtime, user_id FROM {DB}.pageviews FINAL ORDER BY kafka_offset") == [
        (41, 411, "User_0"), (42, 421, "User_1"), (43, 431, "User_2"), (44, 441, "User_0"), (45, 451, "User_1"),
        (46, 411, "User_3"), (48, 411, "User_3")]
    assert ex.rows(f"SELECT offset, error, raw_message FROM {DB}.ingest_errors") == [
        (2, "missing or null field(s): page_id", "")]
