"""The job's transformations on bounded input, in a local Flink (the pytest process's PyFlink
mini-cluster): known rows in, exact contract rows out. End of input closes every window.

`build_insights` gets raw records whose payloads are real Confluent-Avro (and malformed variants),
decoded through the Schema Registry test stand-in by the job's Java operator: from a CSV file whose
event-time column carries a watermark, as the Kafka source's record timestamp does in the job, or
from rows given inline.
"""
from __future__ import annotations

import base64
import json
import random
from datetime import datetime
from pathlib import Path

import pytest
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import DataTypes, EnvironmentSettings, StreamTableEnvironment, TableEnvironment
from pyflink.table.expressions import col

from flink_job import job
from tests.flink_job.pageviews import (PAGEVIEWS_SCHEMA, PageView, confluent_avro, expected_insights,
                                       zigzag_varint)
from tests.support.clock import DAY, at, epoch_ms, utc_text

GAP_S = 60
T0 = epoch_ms("13:00:00.000")  # on the tests' known day (tests/support/clock.py)


def _page_views() -> list[PageView]:
    """Hand-picked edges plus enough traffic for several pages, users, minutes and sessions."""
    rows = [
        # minute boundary: 13:00:59.999 and 13:01:00.000 fall in different windows
        (0, T0 + 59_999, "User_1", "Page_10"),
        (0, T0 + 60_000, "User_1", "Page_10"),
        # User_2: views exactly GAP apart share a session (Flink merges windows that touch);
        # GAP + 1 ms apart start a new one
        (0, T0 + 1_000, "User_2", "Page_11"),
        (1, T0 + 1_000 + GAP_S * 1000, "User_2", "Page_12"),
        (1, T0 + 1_000 + GAP_S * 1000 + GAP_S * 1000 + 1, "User_2", "Page_11"),
        # same user, same page, same minute: views 3, one unique user
        (1, T0 + 5_000, "User_3", "Page_13"),
        (1, T0 + 6_000, "User_3", "Page_13"),
        (0, T0 + 7_000, "User_3", "Page_13"),
        # several users on one page in one minute: unique users counted, never summed
        (0, T0 + 8_000, "User_4", "Page_13"),
        (1, T0 + 9_000, "User_5", "Page_13"),
    ]
    for i in range(40):  # steady traffic over four minutes, from users not used above
        rows.append((i % 2, T0 + 120_000 + i * 6_000, f"User_{6 + i % 4}", f"Page_{10 + (i * 7) % 90}"))
    views, offsets = [], {0: 0, 1: 0}
    for viewtime_index, (partition, ts, user, page) in enumerate(sorted(rows, key=lambda r: r[1])):
        views.append(PageView(partition, offsets[partition], ts, 1 + 10 * viewtime_index, user, page))
        offsets[partition] += 1
    return views


@pytest.fixture(scope="module")
def t_env(decode_jar: Path) -> TableEnvironment:
    # A StreamTableEnvironment, as in the job: build_insights puts a Java operator between tables.
    env = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment(),
                                        EnvironmentSettings.in_streaming_mode())
    env.get_config().set("table.local-time-zone", "UTC")
    env.get_config().set("parallelism.default", "1")
    env.get_config().set("pipeline.jars", decode_jar.as_uri())
    job.register_functions(env)
    return env


def _rows(table) -> list[dict]:
    with table.execute().collect() as results:
        return [dict(zip(table.get_schema().get_field_names(), list(row))) for row in results]


def _without_key(rows: list[dict]) -> list[dict]:
    return [{k: (sorted(v) if k == "page_ids" else v) for k, v in r.items() if k != "record_key"} for r in rows]


def _bounded_page_views(t_env, folder: Path, name: str, views: list[PageView], schema_id: int):
    """The views as raw Kafka records (Confluent-Avro payloads) in a bounded table, in the order
    given, event_time a rowtime attribute with a 2-second bounded-out-of-orderness watermark (as
    the Kafka source's). (The CSV format reads a BYTES column as Base64.)"""
    csv = folder / f"{name}.csv"
    csv.write_text("".join(
        f"{v.partition},{v.offset},{v.timestamp_ms},"
        f"{base64.b64encode(confluent_avro(schema_id, v.viewtime, v.user_id, v.page_id)).decode()}\n"
        for v in views))
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE {name} (
            kafka_partition INT,
            kafka_offset    BIGINT,
            ts_millis       BIGINT,
            payload         BYTES,
            event_time AS TO_TIMESTAMP_LTZ(ts_millis, 3),
            WATERMARK FOR event_time AS event_time - INTERVAL '2' SECOND
        ) WITH ('connector' = 'filesystem', 'path' = '{csv}', 'format' = 'csv')""")
    return t_env.from_path(name).select(col("kafka_partition"), col("kafka_offset"), col("event_time"), col("payload"))


@pytest.fixture(scope="module")
def insights(t_env, tmp_path_factory, registry, schema_id):
    views = _page_views()
    raw = _bounded_page_views(t_env, tmp_path_factory.mktemp("bounded"), "bounded_pageviews", views, schema_id)
    built = job.build_insights(t_env, raw, registry.url, GAP_S)
    expected = expected_insights(views, GAP_S, watermark_ms=2**62)
    return built, expected


def test_every_output_has_exactly_the_sink_columns(insights):
    built, _ = insights
    for output, table in built._asdict().items():
        assert table.get_schema().get_field_names() == [c for c, _ in job.SINK_COLUMNS[output]], output


def _lines(message: dict) -> list[bytes]:
    """The views of one `clickstream.events` message: a JSON object per line."""
    return bytes(message["value"]).split(b"\n")


def _event_rows(messages: list[dict]) -> list[dict]:
    return sorted((json.loads(line) for m in messages for line in _lines(m)),
                  key=lambda r: (r["kafka_partition"], r["kafka_offset"]))


def test_raw_events_are_rendered_as_the_contract_says(insights):
    built, expected = insights
    messages = _rows(built.events)
    assert _event_rows(messages) == \
        sorted(expected["events"].values(), key=lambda r: (r["kafka_partition"], r["kafka_offset"]))
    # Every view is a line of exactly the contract's JSON, and a message is keyed by its first view.
    first = next(line for m in messages for line in _lines(m) if line.startswith(b'{"kafka_partition":0,"kafka_offset":0,'))
    assert first == (b'{"kafka_partition":0,"kafka_offset":0,"event_time":"' + at("13:00:01.000").encode() + b'",'
                     b'"viewtime":1,"user_id":"User_2","page_id":"Page_11"}')
    for message in messages:
        head = json.loads(_lines(message)[0])
        assert message["record_key"] == f"{head['kafka_partition']}|{head['kafka_offset']}"


@pytest.mark.parametrize("limit", [1, 400, 4096])
def test_event_messages_hold_as_many_views_as_fit(t_env, tmp_path, limit, registry, schema_id):
    # Views go out in the order they came, packed into messages of at most `limit` bytes (a view
    # longer than that is a message of its own); nothing is lost or repeated at the cuts.
    views = _page_views()
    raw = _bounded_page_views(t_env, tmp_path, f"packed_{limit}", views, schema_id)
    messages = _rows(job.build_insights(t_env, raw, registry.url, GAP_S, events_message_bytes=limit).events)
    lines = [line for m in messages for line in _lines(m)]
    assert [(json.loads(x)["kafka_partition"], json.loads(x)["kafka_offset"]) for x in lines] == \
        [(v.partition, v.offset) for v in views]
    for message in messages:
        size = len(bytes(message["value"]))
        assert size <= limit or len(_lines(message)) == 1, (limit, size)
    # Full: adding the next message's first view would have passed the limit.
    for message, following in zip(messages, messages[1:]):
        assert len(bytes(message["value"])) + 1 + len(_lines(following)[0]) > limit
    assert len(messages) == len(views) if limit == 1 else 1 < len(messages) < len(views)


def test_event_messages_escape_strings_and_render_utc_milliseconds(t_env, registry, schema_id):
    raw = _raw_records(t_env, [(3, 7, -1, confluent_avro(schema_id, 5, 'a"b\\c\n', "Pagé"))])
    [row] = _rows(job.build_insights(t_env, raw, registry.url, GAP_S).events)
    assert row["record_key"] == "3|7"
    text = bytes(row["value"]).decode()
    assert text == ('{"kafka_partition":3,"kafka_offset":7,"event_time":"1969-12-31 23:59:59.999",'
                    '"viewtime":5,"user_id":"a\\"b\\\\c\\u000a","page_id":"Pagé"}')
    assert json.loads(text)["user_id"] == 'a"b\\c\n'


def test_page_stats_count_views_and_unique_users_per_minute(insights):
    built, expected = insights
    rows = _rows(built.page_stats)
    assert sorted(_without_key(rows), key=lambda r: (r["window_start"], r["page_id"])) == \
        sorted(expected["page_stats"].values(), key=lambda r: (r["window_start"], r["page_id"]))
    page_13 = next(r for r in rows if r["page_id"] == "Page_13" and r["window_start"] == utc_text(T0))
    assert page_13 == {"record_key": f"{DAY} 13:00:00.000|Page_13", "window_start": f"{DAY} 13:00:00.000",
                       "window_end": f"{DAY} 13:01:00.000", "page_id": "Page_13", "views": 5,
                       "unique_users": 3}


def test_minute_boundary_splits_windows(insights):
    built, _ = insights
    rows = [r for r in _rows(built.user_activity) if r["user_id"] == "User_1"]
    by_minute = {r["window_start"]: r["views"] for r in rows}
    assert by_minute[f"{DAY} 13:00:00.000"] == 1
    assert by_minute[f"{DAY} 13:01:00.000"] == 1


def test_user_activity_lists_distinct_pages_per_minute(insights):
    built, expected = insights
    rows = _rows(built.user_activity)
    assert sorted(_without_key(rows), key=lambda r: (r["window_start"], r["user_id"])) == \
        sorted(expected["user_activity"].values(), key=lambda r: (r["window_start"], r["user_id"]))
    user_3 = next(r for r in rows if r["user_id"] == "User_3" and r["window_start"] == utc_text(T0))
    assert (user_3["views"], user_3["page_ids"], user_3["record_key"]) == \
        (3, ["Page_13"], f"{DAY} 13:00:00.000|User_3")


def test_sessions_close_after_the_gap(insights):
    built, expected = insights
    rows = _rows(built.sessions)
    assert sorted(_without_key(rows), key=lambda r: (r["user_id"], r["session_start"])) == \
        sorted(expected["sessions"].values(), key=lambda r: (r["user_id"], r["session_start"]))
    user_2 = sorted((r for r in rows if r["user_id"] == "User_2"), key=lambda r: r["session_start"])
    # 13:00:01.000 and 13:01:01.000 are GAP apart: one session; the next view is GAP + 1 ms later.
    assert [(r["session_start"], r["session_end"], r["views"], sorted(r["page_ids"])) for r in user_2] == [
        (f"{DAY} 13:00:01.000", f"{DAY} 13:02:01.000", 2, ["Page_11", "Page_12"]),
        (f"{DAY} 13:02:01.001", f"{DAY} 13:03:01.001", 1, ["Page_11"]),
    ]
    assert user_2[0]["record_key"] == f"User_2|{DAY} 13:00:01.000"


# --- decoding -------------------------------------------------------------------------------

def _raw_records(t_env, records):
    """Raw Kafka records (partition, offset, timestamp ms, payload bytes or None) as the table the
    job's source gives `build_insights` (without a watermark: the end of the input closes every
    window)."""
    source = t_env.from_elements(
        [(partition, offset, ms, None if payload is None else bytearray(payload))
         for partition, offset, ms, payload in records],
        DataTypes.ROW([DataTypes.FIELD("kafka_partition", DataTypes.INT()),
                       DataTypes.FIELD("kafka_offset", DataTypes.BIGINT()),
                       DataTypes.FIELD("ms", DataTypes.BIGINT()),
                       DataTypes.FIELD("payload", DataTypes.BYTES())]))
    return t_env.sql_query(f"SELECT kafka_partition, kafka_offset, TO_TIMESTAMP_LTZ(ms, 3) AS event_time, payload "
                           f"FROM {source}")


def test_decoder_keeps_valid_records_and_sets_malformed_ones_aside(t_env, registry, schema_id):
    # A writer schema that differs from the reader's (extra field, other order) still decodes:
    # the decoder resolves the registry's writer schema against ksql.pageviews.
    evolved = json.dumps({"type": "record", "name": "pageviews", "namespace": "ksql", "fields": [
        {"name": "pageid", "type": "string"}, {"name": "userid", "type": "string"},
        {"name": "viewtime", "type": "long"}, {"name": "referrer", "type": "string", "default": ""}]})
    evolved_id = registry.register("pageviews-value", evolved)
    not_pageviews = registry.register("other-value", json.dumps(
        {"type": "record", "name": "clicks", "fields": [{"name": "ip", "type": "string"}]}))

    def evolved_record(viewtime: int, user: str, page: str) -> bytes:
        import io

        import fastavro
        out = io.BytesIO(b"\x00" + evolved_id.to_bytes(4, "big"))
        out.seek(5)
        fastavro.schemaless_writer(out, fastavro.parse_schema(json.loads(evolved)),
                                   {"pageid": page, "userid": user, "viewtime": viewtime, "referrer": "x"})
        return out.getvalue()

    valid = confluent_avro(schema_id, 11, "User_1", "Page_10")
    payloads = [
        (valid, None),
        (evolved_record(21, "User_2", "Page_20"), None),
        (b'{"user":1}', "not Confluent wire format: magic byte 0x7b"),
        (b"\x00\x00", "not Confluent wire format: 2 bytes, shorter than the 5-byte header"),
        (b"\x00" + (9999).to_bytes(4, "big") + valid[5:], "schema id 9999 is not in the schema registry"),
        (valid[:-3], f"not valid Avro for schema id {schema_id}: EOFException"),
        (valid + b"\x01\x02", f"not valid Avro for schema id {schema_id}: bytes left after the record"),
        (b"\x00" + not_pageviews.to_bytes(4, "big") + b"\x02a",
         f"schema id {not_pageviews} cannot be read as ksql.pageviews"),
        (None, "empty record: the value is null"),
    ]
    raw = _raw_records(t_env, [(1, offset, T0 + offset, payload) for offset, (payload, _) in enumerate(payloads)])

    fetched_before = registry.requests["GET /schemas/ids/{id}"]  # (other tests decode through it too)
    built = job.build_insights(t_env, raw, registry.url, GAP_S)

    events = _event_rows(_rows(built.events))
    assert [(r["kafka_offset"], r["viewtime"], r["user_id"], r["page_id"]) for r in events] == [
        (0, 11, "User_1", "Page_10"), (1, 21, "User_2", "Page_20")]
    malformed = sorted(_rows(built.malformed), key=lambda r: r["kafka_offset"])
    assert [r["kafka_offset"] for r in malformed] == list(range(2, len(payloads)))
    for row in malformed:
        payload, error = payloads[row["kafka_offset"]]
        assert row["error"].startswith(error), (row, error)
        assert row["payload_base64"] == (None if payload is None else base64.b64encode(payload).decode())
        assert row["record_key"] == f"1|{row['kafka_offset']}"
        assert row["kafka_timestamp"] == utc_text(T0 + row["kafka_offset"])
    assert malformed[1]["error"] == "not Confluent wire format: 2 bytes, shorter than the 5-byte header"
    # Schemas are fetched once per id and decoder instance (one per output branch), not per record.
    assert registry.requests["GET /schemas/ids/{id}"] - fetched_before <= 2 * 4


# --- the per-view operators ---------------------------------------------------------------------

def _many_page_views() -> list[PageView]:
    """Thirteen users over twenty minutes, in arrival order: partitions interleaved, views out of
    order by up to 1.5 s (inside the 2 s watermark delay: nothing is late), sessions many gaps
    long, gaps of exactly GAP, GAP - 1 ms and GAP + 1 ms, and, first, a view that arrives after a
    later one and joins two chains of views into one session."""
    rng = random.Random(5)
    rows = []
    for user in range(1, 13):
        t = T0 + rng.randrange(0, 120_000)
        while t < T0 + 20 * 60_000:
            rows.append((rng.randrange(2), t, f"User_{user}", f"Page_{rng.randrange(10, 30)}"))
            r = rng.random()
            gap = GAP_S * 1000
            t += (gap if r < 0.05 else gap - 1 if r < 0.1 else gap + 1 if r < 0.15
                  else rng.randrange(gap + 2, 4 * gap) if r < 0.2 else rng.randrange(1, 20_000))
    rows.sort(key=lambda row: row[1] + rng.randrange(0, 1_500))
    bridge = [(0, T0, "User_20", "Page_10"), (1, T0 + 61_000, "User_20", "Page_11"),
              (0, T0 + 30_000, "User_20", "Page_12")]
    views, offsets = [], {0: 0, 1: 0}
    for viewtime_index, (partition, ts, user, page) in enumerate(bridge + rows):
        views.append(PageView(partition, offsets[partition], ts, 1 + 10 * viewtime_index, user, page))
        offsets[partition] += 1
    return views


def test_pre_aggregated_windows_equal_windows_over_every_view(t_env, tmp_path, registry, schema_id):
    # PageviewInsights counts views into partial rows and the windows see only those: the
    # results must be exactly those of windows over the views themselves.
    views = _many_page_views()
    raw = _bounded_page_views(t_env, tmp_path, "many_pageviews", views, schema_id)
    built = job.build_insights(t_env, raw, registry.url, GAP_S)
    expected = expected_insights(views, GAP_S, watermark_ms=2**62)
    durations = [(datetime.fromisoformat(s["session_end"]) - datetime.fromisoformat(s["session_start"])).seconds
                 for s in expected["sessions"].values()]
    assert len(durations) > 50 and max(durations) > 8 * GAP_S, "the data must have many sessions, some long"
    keys = {"page_stats": ("window_start", "page_id"), "user_activity": ("window_start", "user_id"),
            "sessions": ("user_id", "session_start")}
    for output, key in keys.items():
        rows = _rows(getattr(built, output))
        assert all(r["record_key"] == "|".join(str(r[k]) for k in key) for r in rows), output
        assert sorted(_without_key(rows), key=lambda r: tuple(r[k] for k in key)) == \
            sorted(expected[output].values(), key=lambda r: tuple(r[k] for k in key)), output
    messages = _event_rows(_rows(built.events))
    assert messages == sorted(expected["events"].values(), key=lambda m: (m["kafka_partition"], m["kafka_offset"]))
    bridged = [s for s in expected["sessions"].values() if s["user_id"] == "User_20"]
    assert [(s["session_start"], s["views"]) for s in bridged] == [(utc_text(T0), 3)]


def _avro_string(text: str) -> bytes:
    raw = text.encode()
    return zigzag_varint(len(raw)) + raw


def test_decoder_reads_by_hand_exactly_what_avro_reads(t_env, registry, schema_id):
    # Records of the exact pageviews layout are read by hand; a writer schema with the same bytes
    # but a logical type on viewtime goes through Avro's resolving reader. Every body, valid or
    # not, must give the same page view or the same error either way.
    annotated = json.loads(PAGEVIEWS_SCHEMA)
    annotated["fields"][0]["type"] = {"type": "long", "logicalType": "timestamp-millis"}
    avro_id = registry.register("pageviews-annotated-value", json.dumps(annotated))
    valid = [zigzag_varint(v) + _avro_string(u) + _avro_string(p) for v, u, p in [
        (0, "User_1", "Page_10"), (-1, "", "é"), (63, "a\"b", "x" * 200), (64, "User_2", "y" * 20_000),
        (-65, "User_3", ""), (2**31, "u", "p"), (-(2**31) - 1, "u", "p"), (2**62, "u", "p"),
        (2**63 - 1, "u", "p"), (-(2**63), "u", "p")]]
    invalid = [
        *(valid[0][:n] for n in range(len(valid[0]))),         # truncated anywhere
        valid[0] + b"\x00",                                    # a byte too many
        zigzag_varint(5) + zigzag_varint(-3) + b"abc" + _avro_string("p"),  # negative length
        zigzag_varint(5) + zigzag_varint(100) + b"abc",                    # longer than what is left
        b"\xff" * 11 + _avro_string("u") + _avro_string("p"),  # an 11-byte long
        zigzag_varint(5) + b"\xff\xff\xff\xff\x0f" + _avro_string("p"),  # a 5-byte length
    ]
    bodies = [*valid, b"\x8a\x00" + _avro_string("u") + _avro_string("p"), *invalid]  # 5, not canonical
    records = [(offset, b"\x00" + sid.to_bytes(4, "big") + body)
               for i, body in enumerate(bodies)
               for offset, sid in ((2 * i, schema_id), (2 * i + 1, avro_id))]
    raw = _raw_records(t_env, [(0, offset, T0, payload) for offset, payload in records])

    built = job.build_insights(t_env, raw, registry.url, GAP_S)

    outcome = {r["kafka_offset"]: (r["viewtime"], r["user_id"], r["page_id"]) for r in _event_rows(_rows(built.events))}
    for r in _rows(built.malformed):
        outcome[r["kafka_offset"]] = r["error"].replace(f"schema id {avro_id}", "schema id X") \
            .replace(f"schema id {schema_id}", "schema id X")
    assert len(outcome) == len(records)
    for i, body in enumerate(bodies):
        assert outcome[2 * i] == outcome[2 * i + 1], (body[:40], outcome[2 * i], outcome[2 * i + 1])
    assert [outcome[2 * i] for i in (0, 1, 8, 9)] == [
        (0, "User_1", "Page_10"), (-1, "", "é"), (2**63 - 1, "u", "p"), (-(2**63), "u", "p")]
    assert outcome[2 * len(valid)] == (5, "u", "p")
    assert outcome[2 * 3][2] == "y" * 20_000
    assert all(isinstance(outcome[2 * (len(valid) + 1 + j)], str) for j in range(len(invalid)))
    assert outcome[2 * (len(valid) + 1 + len(valid[0]))] == "not valid Avro for schema id X: bytes left after the record"


def test_ids_past_the_string_pool_and_lookup_bounds_still_count_exactly(t_env, registry, schema_id):
    # The decoder pools user and page ids (65,536 at most, then it starts over) and the operator
    # after it finds users and pages by instance (16,384 each at most, then it starts over):
    # 70,000 distinct users, and users seen again after every reset, must count as they should.
    rng = random.Random(9)
    users = [f"User_{i}" for i in range(70_000)]
    picks = [(users[i], f"Page_{i % 10}") for i in range(len(users))]
    picks += [(users[rng.randrange(len(users))], f"Page_{rng.randrange(10)}") for _ in range(10_000)]
    views = [PageView(0, offset, T0 + offset, offset, user, page) for offset, (user, page) in enumerate(picks)]
    raw = _raw_records(t_env, [(0, v.offset, v.timestamp_ms, confluent_avro(schema_id, v.viewtime, v.user_id, v.page_id))
                               for v in views])

    built = job.build_insights(t_env, raw, registry.url, GAP_S)

    expected = expected_insights(views, GAP_S, watermark_ms=2**62)
    # Exact views and distinct users per (minute, page): a view counted for the wrong user, or two
    # users taken for one, changes them. (The per-user outputs hold 80,000 rows: too many to fetch
    # into Python one by one.)
    key = ("window_start", "page_id")
    rows = _without_key(_rows(built.page_stats))
    assert sorted(rows, key=lambda r: tuple(r[k] for k in key)) == \
        sorted(expected["page_stats"].values(), key=lambda r: tuple(r[k] for k in key))
    assert sum(r["unique_users"] for r in rows) > 70_000 and sum(r["views"] for r in rows) == len(views)


def test_pages_past_the_per_user_lookup_bound_still_count_exactly(t_env, registry, schema_id):
    # The operator finds a user's pages by instance too (16,384 per user at most, then that
    # lookup starts over): one user visiting 17,000 distinct pages, then again 3,000 of them in
    # the next minute, must still count every view and page once.
    rng = random.Random(11)
    pages = [f"Page_{i}" for i in range(17_000)]
    picks = [(T0 + i, page) for i, page in enumerate(pages)]
    picks += [(T0 + 60_000 + 5 * j, pages[rng.randrange(len(pages))]) for j in range(3_000)]
    views = [PageView(0, offset, ts, offset, "User_1", page) for offset, (ts, page) in enumerate(picks)]
    raw = _raw_records(t_env, [(0, v.offset, v.timestamp_ms, confluent_avro(schema_id, v.viewtime, v.user_id, v.page_id))
                               for v in views])

    built = job.build_insights(t_env, raw, registry.url, GAP_S)

    expected = expected_insights(views, GAP_S, watermark_ms=2**62)
    activity = sorted(_without_key(_rows(built.user_activity)), key=lambda r: r["window_start"])
    assert activity == sorted(expected["user_activity"].values(), key=lambda r: r["window_start"])
    assert [(r["views"], len(r["page_ids"])) for r in activity][0] == (17_000, 17_000)
    sessions = _without_key(_rows(built.sessions))
    assert sessions == list(expected["sessions"].values())
    assert (sessions[0]["views"], len(sessions[0]["page_ids"])) == (20_000, 17_000)
