"""Every dashboard query, as the plugin would send it, run over HTTP as the stack's reader user on a real
ClickHouse 24.8.4 server configured as the stack's (tests/support/clickhouse_stack.py), the schema
applied by the production runner as the owner.

Each panel target and variable query of grafana/dashboards/*.json is interpolated by the mirror of
grafana-clickhouse-datasource 4.14.1 and Grafana's template service (tests/support/grafana_macros.py,
sources cited there: pkg/macros/macros.go, src/data/CHDatasource.ts at tag v4.14.1, sqlds v5.0.4 /
plugin-sdk-go v0.284.0 data/sqlutil/macros.go), then sent as the plugin sends it (the datasource's
default database and the per-query max_execution_time as URL parameters) on the known rows of
known_data.py. The test asserts the columns the panel needs and the exact rows for that data, in two
storage states, each on a server of its own (the reader may read one database, `clickstream`):

- `unmerged`: every inserted block is still its own part, replays and superseded rows included
  (the server's merges of those tables are stopped: SYSTEM STOP MERGES);
- `merged`: the same data after OPTIMIZE FINAL.

A query that is correct under the dedup design gives the same answer in both. Only the panels that
deliberately count what arrived (v_ingested_1m, v_freshness.rows) differ, and both answers are given.
Contexts (the Grafana request): `hour` = 13:00:00.000–13:59:59.999 with every variable on All;
`selected` = the same hour, pages Page_11 + Page_17, users User_4 + User_5, 10-minute interval;
`empty` = an hour of the day before (no data); `until_*` = an hour ending at that instant (the
"last 5 minutes" window of the active-users panel).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pytest

from components.clients.migrations import Migrator, discover
from tests.schema.conftest import DATABASE, PARAMS, SCHEMA_DIR
from tests.support.clickhouse_stack import StackClickHouse
from tests.support.clock import DAY, day_before
from tests.support.grafana_macros import ALL, QueryContext, Variable, epoch_ms, interpolate

from .known_data import INGEST_ERRORS, MALFORMED, PAGE_STATS_1M, PAGEVIEWS, SESSIONS, USER_ACTIVITY_1M, load
from .dashboards import Query, queries

LIVE, HEALTH = "clickstream-live", "clickstream-pipeline-health"
P11, P17, P23 = "Page_11", "Page_17", "Page_23"
U3, U4, U5 = "User_3", "User_4", "User_5"


def at(clock: str) -> str:
    return f"{DAY} {clock}"


@dataclass(frozen=True)
class ContextSpec:
    start: str
    end: str
    interval_ms: int
    selection: dict[str, tuple[str, ...]] = field(default_factory=dict)  # variable -> chosen values (else All)


CONTEXTS = {
    "hour": ContextSpec(f"{DAY}T13:00:00.000", f"{DAY}T13:59:59.999", 20_000),
    "selected": ContextSpec(f"{DAY}T13:00:00.000", f"{DAY}T13:59:59.999", 600_000,
                            {"page": (P11, P17), "user": (U4, U5)}),
    "empty": ContextSpec(f"{day_before()}T13:00:00.000", f"{day_before()}T13:59:59.999", 20_000),
    "until_13:06:15": ContextSpec(f"{DAY}T12:06:15.000", f"{DAY}T13:06:15.000", 20_000),
    "until_13:24:59.999": ContextSpec(f"{DAY}T12:24:59.999", f"{DAY}T13:24:59.999", 20_000),
    "until_13:25": ContextSpec(f"{DAY}T12:25:00.000", f"{DAY}T13:25:00.000", 20_000),
}


# --- values that depend on the engine's clock or on when migrations ran ----------------------------

@dataclass(frozen=True)
class AgeOf:
    """`now - instant` computed by the panel with ClickHouse's clock: between the test's clock read
    just before and just after the query. `ms`: dateDiff in ms / 1000; `s`: dateDiff('second', _, now())."""
    instant: str
    unit: str = "ms"

    def matches(self, value: Any, before: float, after: float) -> bool:
        seconds = epoch_ms(self.instant.replace(" ", "T")) / 1000
        if self.unit == "s":
            return int(before) - seconds <= value <= int(after) - seconds
        return before - seconds - 0.001 <= value <= after - seconds + 0.001


@dataclass(frozen=True)
class AnyTime:
    def matches(self, value: Any, before: float, after: float) -> bool:
        return isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{3})?", value) is not None


Rows = list[tuple]
ByState = dict[str, Rows]  # "unmerged" / "merged" -> rows, for panels that count what arrived


@dataclass
class Expect:
    columns: str  # "name:kind ..." with kind time | number | string | array
    rows: dict[str, Union[Rows, ByState]]

    def __init__(self, columns: str, **rows: Union[Rows, ByState]) -> None:
        self.columns, self.rows = columns, rows


def ages(**newest: str) -> Rows:
    return [(table, AgeOf(at(instant))) for table, instant in sorted(newest.items())]


def same(rows: Rows, *contexts: str) -> dict[str, Rows]:
    return {c: rows for c in contexts}


VERSIONED = [m for m in discover(SCHEMA_DIR) if not m.repeatable]
APPLIED = [(m.name, "repeatable" if m.repeatable else "versioned", AnyTime()) for m in discover(SCHEMA_DIR)]
TABLES_ROWS = {  # v_freshness: rows stored per table (replays until merged), newest event, last insert
    "unmerged": {"malformed_events": 4, "page_stats_1m": 9, "pageviews": 10, "sessions": 8, "user_activity_1m": 9},
    "merged": {"malformed_events": 3, "page_stats_1m": 7, "pageviews": 9, "sessions": 6, "user_activity_1m": 7},
}
NEWEST = {"malformed_events": ("14:10:00.000", "14:10:01"), "page_stats_1m": ("14:01:00.000", "14:01:05"),
          "pageviews": ("14:00:10.000", "14:00:12"), "sessions": ("14:05:10.000", "14:05:15"),
          "user_activity_1m": ("14:01:00.000", "14:01:05")}


def tables_panel(state: str) -> Rows:
    return [(table, TABLES_ROWS[state][table], at(event), at(ingested), AgeOf(at(event)), AgeOf(at(ingested), "s"))
            for table, (event, ingested) in sorted(NEWEST.items())]


INGESTED_MERGED = [
    ("13:00:00", "page_stats_1m", 1), ("13:00:00", "user_activity_1m", 1),
    ("13:04:00", "sessions", 1),
    ("13:05:00", "ingest_errors", 1), ("13:05:00", "pageviews", 2),
    ("13:06:00", "page_stats_1m", 2), ("13:06:00", "pageviews", 3), ("13:06:00", "user_activity_1m", 1),
    ("13:07:00", "malformed_events", 1), ("13:07:00", "page_stats_1m", 1), ("13:07:00", "pageviews", 1),
    ("13:07:00", "user_activity_1m", 2),
    ("13:08:00", "page_stats_1m", 1), ("13:08:00", "user_activity_1m", 1),
    ("13:10:00", "sessions", 1),
    ("13:11:00", "ingest_errors", 1), ("13:11:00", "sessions", 1),
    ("13:12:00", "sessions", 1),
    ("13:20:00", "pageviews", 1),
    ("13:21:00", "malformed_events", 1), ("13:21:00", "page_stats_1m", 1), ("13:21:00", "user_activity_1m", 1),
    ("13:25:00", "sessions", 1),
]
# Before merging, superseded and replayed rows still count in the minute they arrived.
INGESTED_UNMERGED = [
    ("13:00:00", "page_stats_1m", 1), ("13:00:00", "user_activity_1m", 1),
    ("13:04:00", "sessions", 1),
    ("13:05:00", "ingest_errors", 1), ("13:05:00", "malformed_events", 1), ("13:05:00", "pageviews", 3),
    ("13:06:00", "page_stats_1m", 3), ("13:06:00", "pageviews", 3), ("13:06:00", "user_activity_1m", 3),
    ("13:07:00", "malformed_events", 1), ("13:07:00", "page_stats_1m", 2), ("13:07:00", "pageviews", 1),
    ("13:07:00", "user_activity_1m", 2),
    ("13:08:00", "page_stats_1m", 1), ("13:08:00", "user_activity_1m", 1),
    ("13:10:00", "sessions", 2),
    ("13:11:00", "ingest_errors", 1), ("13:11:00", "sessions", 2),
    ("13:12:00", "sessions", 1),
    ("13:20:00", "pageviews", 1),
    ("13:21:00", "malformed_events", 1), ("13:21:00", "page_stats_1m", 1), ("13:21:00", "user_activity_1m", 1),
    ("13:25:00", "sessions", 1),
]


def ts(rows: list[tuple]) -> Rows:
    return [(at(r[0]),) + tuple(r[1:]) for r in rows]


EXPECTED: dict[str, Expect] = {
    # --- Clickstream live: variables
    f"{LIVE}/variable page": Expect("page_id:string", hour=[(P11,), (P17,), (P23,)], empty=[]),
    f"{LIVE}/variable user": Expect("user_id:string", hour=[(U3,), (U4,), (U5,)], empty=[]),
    # --- overview, all pages (the variables do not apply)
    f"{LIVE}/Views": Expect("views:number", **same([(7,)], "hour", "selected"), empty=[(0,)]),
    f"{LIVE}/Unique users": Expect("unique_users:number", **same([(3,)], "hour", "selected"), empty=[(0,)]),
    f"{LIVE}/Active users (last 5 min)": Expect(
        "active_users:number", hour=[(0,)], empty=[(0,)],
        **{"until_13:06:15": [(2,)],  # User_3 and User_4; User_5's view at 13:06:20 is after the range
           "until_13:24:59.999": [(1,)],  # User_5 at 13:20:00.000, just inside (13:19:59.999, 13:24:59.999]
           "until_13:25": [(0,)]}),  # ... and just outside (13:20:00.000, 13:25:00.000]
    f"{LIVE}/Data age (now - newest event)": Expect(
        "source_table:string age_s:number",
        **same(ages(page_stats_1m="14:01:00.000", pageviews="14:00:10.000"), "hour", "empty")),
    f"{LIVE}/Views per minute": Expect(
        "time:time views:number", hour=ts([("13:05:00.000", 4), ("13:06:00.000", 2), ("13:20:00.000", 1)]), empty=[]),
    f"{LIVE}/Unique users per minute": Expect(
        "time:time unique_users:number",
        hour=ts([("13:05:00.000", 2), ("13:06:00.000", 2), ("13:20:00.000", 1)]), empty=[]),
    # --- pages
    f"{LIVE}/Top pages": Expect(
        "page_id:string views:number unique_users:number",
        hour=[(P17, 4, 2), (P11, 2, 2), (P23, 1, 1)],
        selected=[(P17, 4, 2), (P11, 2, 2)], empty=[]),
    f"{LIVE}/Views by page": Expect(
        "time:time page_id:string views:number",
        hour=ts([("13:05:00", P11, 1), ("13:05:00", P17, 3), ("13:06:00", P17, 1), ("13:06:00", P23, 1),
                 ("13:20:00", P11, 1)]),
        selected=ts([("13:00:00", P11, 1), ("13:00:00", P17, 4), ("13:20:00", P11, 1)]), empty=[]),
    f"{LIVE}/Unique users by page": Expect(
        "time:time page_id:string unique_users:number",
        hour=ts([("13:05:00", P11, 1), ("13:05:00", P17, 2), ("13:06:00", P17, 1), ("13:06:00", P23, 1),
                 ("13:20:00", P11, 1)]),
        # 10-minute buckets: Page_17 had User_3 and User_4 at 13:05 and User_3 at 13:06: 2 users, not 2 + 1
        selected=ts([("13:00:00", P11, 1), ("13:00:00", P17, 2), ("13:20:00", P11, 1)]), empty=[]),
    f"{LIVE}/Pages by hour": Expect(
        "hour:time page_id:string views:number unique_users:number",
        hour=ts([("13:00:00", P17, 4, 2), ("13:00:00", P11, 2, 2), ("13:00:00", P23, 1, 1)]),
        selected=ts([("13:00:00", P17, 4, 2), ("13:00:00", P11, 2, 2)]), empty=[]),
    # --- users and sessions (sessions of User_3, User_4, User_5 a and b start in the hour)
    f"{LIVE}/Sessions": Expect("sessions:number", hour=[(4,)], selected=[(2,)], empty=[(0,)]),
    f"{LIVE}/Average session length": Expect(
        "avg_session_s:number",
        hour=[((362.75 + 322 + 300 + 300) / 4,)],
        selected=[((322 + 300) / 2,)],  # User_4 (Page_17) and User_5's 13:20 session (Page_11)
        empty=[(None,)]),
    f"{LIVE}/Pages per session": Expect("pages_per_session:number", hour=[(1.25,)], selected=[(1.0,)], empty=[(None,)]),
    f"{LIVE}/Views by user": Expect(
        "time:time user_id:string views:number",
        hour=ts([("13:05:00", U3, 2), ("13:05:00", U4, 2), ("13:06:00", U3, 1), ("13:06:00", U5, 1),
                 ("13:20:00", U5, 1)]),
        selected=ts([("13:00:00", U4, 2), ("13:00:00", U5, 1), ("13:20:00", U5, 1)]), empty=[]),
    f"{LIVE}/Sessions (latest first)": Expect(
        "session_start:time session_end:time user_id:string views:number pages:number page_ids:array span_seconds:number",
        hour=[(at("13:20:00.000"), at("13:25:00.000"), U5, 1, 1, [P11], 300),
              (at("13:06:20.000"), at("13:11:20.000"), U5, 1, 1, [P23], 300),
              (at("13:05:08.000"), at("13:10:30.000"), U4, 2, 1, [P17], 322),
              (at("13:05:07.250"), at("13:11:10.000"), U3, 3, 2, [P11, P17], 362.75)],
        selected=[(at("13:20:00.000"), at("13:25:00.000"), U5, 1, 1, [P11], 300),
                  (at("13:05:08.000"), at("13:10:30.000"), U4, 2, 1, [P17], 322)],
        empty=[]),
    # --- Pipeline health
    f"{HEALTH}/Data age by table (now - newest event)": Expect(
        "source_table:string age_s:number",
        **same(ages(**{t: newest[0] for t, newest in NEWEST.items()}), "hour", "empty")),
    f"{HEALTH}/Schema version": Expect(
        "schema_version:number", **same([(int(VERSIONED[-1].name[:3]),)], "hour", "empty")),
    f"{HEALTH}/Malformed events": Expect("malformed:number", hour=[(2,)], empty=[(0,)]),
    f"{HEALTH}/Ingest errors": Expect("ingest_errors:number", hour=[(2,)], empty=[(0,)]),
    f"{HEALTH}/Rows ingested per minute by table": Expect(
        "time:time source_table:string rows:number",
        hour={"unmerged": ts(INGESTED_UNMERGED), "merged": ts(INGESTED_MERGED)}, empty=[]),
    f"{HEALTH}/Raw event delay (event to ClickHouse)": Expect(
        "time:time p50_delay_s:number max_delay_s:number",
        # 13:05: delays 1.0, 2.5, 70 (late view) and 112.75 (the replayed record's latest arrival)
        hour=ts([("13:05:00", 70, 112.75), ("13:06:00", 4, 4), ("13:20:00", 3, 3)]),
        selected=ts([("13:00:00", 4, 112.75), ("13:20:00", 3, 3)]), empty=[]),
    f"{HEALTH}/Malformed events per minute": Expect(
        "time:time malformed:number", hour=ts([("13:05:00", 1), ("13:21:00", 1)]), empty=[]),
    f"{HEALTH}/Ingest errors per minute by source": Expect(
        "time:time source:string errors:number",
        hour=ts([("13:05:00", "events", 1), ("13:11:00", "sessions", 1)]), empty=[]),
    f"{HEALTH}/Ingested tables": Expect(
        "source_table:string rows:number last_event_time:time last_ingested_at:time age_s:number since_last_insert_s:number",
        **same({"unmerged": tables_panel("unmerged"), "merged": tables_panel("merged")}, "hour", "empty")),
    f"{HEALTH}/Malformed events (latest first)": Expect(
        "kafka_timestamp:time kafka_partition:number kafka_offset:number error:string payload_base64:string ingested_at:time",
        hour=[(at("13:21:00.500"), 1, 5, "truncated Avro record", "AAAAAAE=", at("13:21:02")),
              # the replay, the latest copy, is the one kept
              (at("13:05:40.000"), 0, 5, "not Confluent wire format: magic byte 0x7b", "eyJ1c2VyIjoxfQ==", at("13:07:00"))],
        empty=[]),
    f"{HEALTH}/Ingest errors (latest first)": Expect(
        "kafka_timestamp:time source:string topic:string partition:number offset:number error:string raw_message:string",
        hour=[(at("13:11:30.000"), "sessions", "clickstream.sessions", 0, 3, "missing or null field(s): views",
               '{"user_id":"User_7"}'),
              (at("13:05:10.000"), "events", "clickstream.events", 0, 9, "Cannot parse JSON", "{oops")],
        empty=[]),
    f"{HEALTH}/Schema migrations": Expect(
        "name:string kind:string applied_at:time", **same(list(reversed(APPLIED)), "hour", "empty")),
}

STATES = ("unmerged", "merged")
QUERIES = {q.key: q for q in queries()}


# --- the two storage states -------------------------------------------------------------------------

# The per-query time limit the plugin sends (its query timeout), within the reader's bound.
PLUGIN_SETTINGS = {"database": DATABASE, "max_execution_time": 60}


@dataclass(frozen=True)
class Reader:
    """The reader's view of one server, as Grafana's datasource queries it."""
    stack: StackClickHouse

    def query(self, sql: str) -> tuple[list[tuple[str, str]], list[tuple]]:
        return self.stack.query(self.stack.reader_user, sql, **PLUGIN_SETTINGS)


def _merge_tree_tables(owner) -> list[str]:
    return [r[0] for r in owner.rows(
        f"SELECT name FROM system.tables WHERE database = '{DATABASE}' AND engine LIKE '%MergeTree'")]


def _warehouse(stack: StackClickHouse, merged: bool) -> Reader:
    """The shipped schema and the known rows on `stack`, merged or with every block kept."""
    owner = stack.owner()
    owner.command(f"DROP DATABASE IF EXISTS {DATABASE} SYNC")
    Migrator(owner, DATABASE).apply(discover(SCHEMA_DIR), PARAMS)
    for table in _merge_tree_tables(owner):
        owner.command(f"SYSTEM STOP MERGES {DATABASE}.{table}")
    load(owner, DATABASE)
    if merged:
        for table in _merge_tree_tables(owner):
            owner.command(f"SYSTEM START MERGES {DATABASE}.{table}")
            owner.command(f"OPTIMIZE TABLE {DATABASE}.{table} FINAL")
    owner.close()
    return Reader(stack)


@pytest.fixture(scope="module")
def warehouses(stack_clickhouse, tmp_path_factory) -> dict[str, Reader]:
    """`merged` on the session's server, `unmerged` on a second one of this module."""
    unmerged = StackClickHouse.start(Path(tmp_path_factory.mktemp("grafana")) / "clickhouse")
    try:
        yield {"unmerged": _warehouse(unmerged, merged=False), "merged": _warehouse(stack_clickhouse, merged=True)}
    finally:
        unmerged.stop()
        stack_clickhouse.drop_databases([DATABASE])


def run(ex: Reader, sql: str) -> tuple[list[tuple[str, str]], list[tuple]]:
    return ex.query(sql)


_CONTEXTS: dict[tuple[int, str], QueryContext] = {}


def build_context(ex: Reader, name: str) -> QueryContext:
    """Grafana's order: variable queries run in the range first; their values are the choices."""
    if (id(ex), name) not in _CONTEXTS:
        _CONTEXTS[(id(ex), name)] = _build_context(ex, name)
    return _CONTEXTS[(id(ex), name)]


def _build_context(ex: Reader, name: str) -> QueryContext:
    spec = CONTEXTS[name]
    ctx = QueryContext.between(spec.start, spec.end, spec.interval_ms)
    variables = []
    for q in queries():
        if q.panel_type == "variable":
            var = q.panel.removeprefix("variable ")
            options = tuple(r[0] for r in run(ex, interpolate(q.sql, ctx))[1])
            chosen = spec.selection.get(var)
            assert chosen is None or set(chosen) <= set(options), f"{name}: {chosen} not offered by ${var}"
            variables.append(Variable(var, options, chosen if chosen else (ALL,)))
    return ctx.with_variables(*variables)


def kind(clickhouse_type: str) -> str:
    """What Grafana makes of a column: time, number, string or array."""
    t = clickhouse_type
    while (m := re.fullmatch(r"(?:Nullable|LowCardinality)\((.*)\)", t)):
        t = m.group(1)
    if t.startswith("DateTime"):
        return "time"
    if re.match(r"(U?Int|Float|Decimal)", t):
        return "number"
    if t.startswith("Array("):
        return "array"
    if t == "String":
        return "string"
    return t


def cases():
    for key, expect in EXPECTED.items():
        for context in expect.rows:
            # an empty range reads no rows, merged or not: once is enough
            for state in (STATES if context != "empty" else ("merged",)):
                yield pytest.param(key, context, state, id=f"{key}|{context}|{state}")


def test_every_dashboard_query_has_an_expectation_and_every_expectation_a_query():
    assert sorted(QUERIES) == sorted(EXPECTED)
    for key, expect in EXPECTED.items():
        assert {"hour", "empty"} <= set(expect.rows), f"{key}: run it on the known hour and on an empty one"


def test_the_states_hold_what_they_claim(warehouses):
    """The premise of the two states: replays and superseded rows are visible before merging only."""
    arrived = {"pageviews": len(PAGEVIEWS), "page_stats_1m": sum(map(len, PAGE_STATS_1M)),
               "user_activity_1m": sum(map(len, USER_ACTIVITY_1M)), "sessions": len(SESSIONS),
               "malformed_events": len(MALFORMED), "ingest_errors_events": len(INGEST_ERRORS["events"])}
    kept = {"pageviews": 9, "page_stats_1m": 7, "user_activity_1m": 7, "sessions": 6, "malformed_events": 3,
            "ingest_errors_events": 1}
    for state, expected in (("unmerged", arrived), ("merged", kept)):
        counts = {t: run(warehouses[state], f"SELECT count() FROM {t}")[1][0][0] for t in expected}
        assert counts == expected, state


@pytest.mark.parametrize("key, context, state", list(cases()))
def test_panel_query(warehouses, key, context, state):
    q: Query = QUERIES[key]
    expect = EXPECTED[key]
    ex = warehouses[state]
    sql = interpolate(q.sql, build_context(ex, context))
    assert "$" not in re.sub(r"'[^']*'", "", sql), f"left uninterpolated: {sql}"

    before = time.time()
    columns, rows = run(ex, sql)
    after = time.time()

    assert " ".join(f"{name}:{kind(t)}" for name, t in columns) == expect.columns, sql
    if q.format == 0:  # time series: a time column first, numbers, sorted by time (LongToWide needs it)
        assert columns[0][0] == "time" and kind(columns[0][1]) == "time"
        assert any(kind(t) == "number" for _, t in columns[1:])
        assert [r[0] for r in rows] == sorted(r[0] for r in rows), "not sorted by time"
        labels = [i for i, (_, t) in enumerate(columns) if kind(t) == "string"]
        keys = [(r[0],) + tuple(r[i] for i in labels) for r in rows]
        assert len(keys) == len(set(keys)), "a time and label set twice: the long-to-wide conversion refuses it"
    elif q.panel_type == "stat":
        assert any(kind(t) == "number" for _, t in columns)

    wanted = expect.rows[context]
    if isinstance(wanted, dict):
        wanted = wanted[state]
    assert len(rows) == len(wanted), f"{len(rows)} rows: {rows}"
    for got, want in zip(rows, wanted):
        assert len(got) == len(want), got
        for value, expected in zip(got, want):
            if hasattr(expected, "matches"):
                assert expected.matches(value, before, after), f"{value!r} does not match {expected} in {got}"
            else:
                assert value == expected, f"row {got}, expected {want}"


def _tables_read(ex: Reader, sql: str) -> tuple[set[str], int]:
    tree = "\n".join(r[0] for r in run(ex, f"EXPLAIN QUERY TREE {sql}")[1])
    return set(re.findall(r"table_name: (\S+)", tree)), tree.count("TABLE_FUNCTION")


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_queries_need_nothing_but_select_on_the_database(warehouses, key):
    """The Grafana reader has SELECT on <database>.* and readonly = 1 (clickhouse_schema/README.md):
    every table a query reads is in that database, and no table function is used (the queries run
    as the reader prove the grant suffices; this proves they need nothing more)."""
    ex = warehouses["merged"]
    tables, table_functions = _tables_read(ex, interpolate(QUERIES[key].sql, build_context(ex, "hour")))
    assert tables and all(t.startswith(f"{DATABASE}.") for t in tables), tables
    assert table_functions == 0


# Reads every row of its tables on purpose: ingestion time is in no table's key (v_ingested_1m).
FULL_READS = {f"{HEALTH}/Rows ingested per minute by table"}
TIME_MACRO = re.compile(r"\$__(timeFilter|timeFilter_ms|fromTime|toTime|fromTime_ms|toTime_ms)\b")


@pytest.mark.parametrize("key", sorted(k for k in EXPECTED if TIME_MACRO.search(QUERIES[k].sql) and k not in FULL_READS))
def test_time_filters_reach_an_index_of_every_table_read(warehouses, key):
    """A live dashboard refreshes every few seconds: a time-bound panel must read only the range,
    not the whole retained history (the rollups never expire)."""
    ex = warehouses["merged"]
    plan = [r[0] for r in run(ex, "EXPLAIN indexes = 1 " + interpolate(QUERIES[key].sql, build_context(ex, "hour")))[1]]
    reads: dict[str, list[str]] = {}
    current = None
    for line in plan:
        read = re.search(r"ReadFromMergeTree \((\S+)\)", line)
        if read:
            current = read.group(1)
            reads.setdefault(current, [])
        elif current and "Condition:" in line:
            reads[current].append(line.strip())
    assert reads, plan
    for table, conditions in reads.items():
        assert any(c != "Condition: true" for c in conditions), f"{table} is read whole: {conditions}"
