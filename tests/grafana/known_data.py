"""The known rows the dashboard queries are checked against (tests/grafana/test_panel_queries.py).

The story the rows tell (on the tests' known day, UTC: tests/support/clock.py; all panels are
checked against it by hand):

- Raw page views (`pageviews`): 9 records, one replayed by a Flink restart (re-inserted 2 min
  later), one late (13:05:30 arrives at 13:06:40). In the 13:00–13:59 hour: User_3, User_4, User_5
  over Page_11, Page_17, Page_23; outside it: User_6 at 12:59:30 and User_5 at 14:00:10.
- Per-minute aggregates as the job emits them, derived from those views: the 13:05 window fires
  again when the late view arrives (Page_17 2 → 3 views, User_4 1 → 2), and a batch is replayed.
- Sessions (gap 5 min): User_4's session is re-emitted with a later end, User_3's is replayed.
- Malformed records and ingest errors, each with a replay.

`ingested_at` is written explicitly (the tables default it to now()) so ingestion-time panels have
exact answers.
"""
from __future__ import annotations

from components.clients.clickhouse import Executor
from tests.support.clock import DAY


def t(clock: str) -> str:
    return f"'{DAY} {clock}'"


def minute_after(hh_mm: str) -> str:
    hours, minutes = divmod(int(hh_mm[:2]) * 60 + int(hh_mm[3:]) + 1, 60)
    return f"{hours:02d}:{minutes:02d}:00"


PAGEVIEWS = [  # partition, offset, event time, viewtime, user, page, ingested at
    (0, 0, "12:59:30.000", 1, "User_6", "Page_17", "12:59:32"),
    (0, 1, "13:05:07.250", 11, "User_3", "Page_17", "13:05:09"),
    (0, 2, "13:05:08.000", 21, "User_4", "Page_17", "13:05:09"),
    (1, 1, "13:05:09.500", 31, "User_3", "Page_11", "13:05:12"),
    (1, 2, "13:06:10.000", 51, "User_3", "Page_17", "13:06:11"),
    (0, 4, "13:06:20.000", 61, "User_5", "Page_23", "13:06:24"),
    (0, 3, "13:05:30.000", 41, "User_4", "Page_17", "13:06:40"),  # late
    (0, 1, "13:05:07.250", 11, "User_3", "Page_17", "13:07:00"),  # replay of (0, 1)
    (1, 3, "13:20:00.000", 71, "User_5", "Page_11", "13:20:03"),
    (1, 4, "14:00:10.000", 81, "User_5", "Page_11", "14:00:12"),
]

PAGE_STATS_1M = [  # one list per inserted block: window start, page, views, unique users, ingested at
    [("12:59", "Page_17", 1, 1, "13:00:05")],
    [("13:05", "Page_17", 2, 2, "13:06:05"), ("13:05", "Page_11", 1, 1, "13:06:05")],
    [("13:05", "Page_17", 3, 2, "13:06:45")],  # fired again after the late view
    [("13:06", "Page_17", 1, 1, "13:07:05"), ("13:06", "Page_23", 1, 1, "13:07:05")],
    [("13:06", "Page_17", 1, 1, "13:08:00")],  # replay
    [("13:20", "Page_11", 1, 1, "13:21:05")],
    [("14:00", "Page_11", 1, 1, "14:01:05")],
]

USER_ACTIVITY_1M = [  # window start, user, views, pages, ingested at
    [("12:59", "User_6", 1, ["Page_17"], "13:00:05")],
    [("13:05", "User_3", 2, ["Page_11", "Page_17"], "13:06:05"), ("13:05", "User_4", 1, ["Page_17"], "13:06:05")],
    [("13:05", "User_4", 2, ["Page_17"], "13:06:45")],  # fired again after the late view
    [("13:06", "User_3", 1, ["Page_17"], "13:07:05"), ("13:06", "User_5", 1, ["Page_23"], "13:07:05")],
    [("13:05", "User_3", 2, ["Page_11", "Page_17"], "13:08:00")],  # replay
    [("13:20", "User_5", 1, ["Page_11"], "13:21:05")],
    [("14:00", "User_5", 1, ["Page_11"], "14:01:05")],
]

SESSIONS = [  # user, start, end (last view + 5 min gap), views, pages, ingested at
    ("User_6", "12:59:30.000", "13:04:30.000", 1, ["Page_17"], "13:04:35"),
    ("User_4", "13:05:08.000", "13:10:08.000", 1, ["Page_17"], "13:10:10"),
    ("User_4", "13:05:08.000", "13:10:30.000", 2, ["Page_17"], "13:10:35"),  # re-emitted, later end
    ("User_3", "13:05:07.250", "13:11:10.000", 3, ["Page_11", "Page_17"], "13:11:15"),
    ("User_5", "13:06:20.000", "13:11:20.000", 1, ["Page_23"], "13:11:25"),
    ("User_3", "13:05:07.250", "13:11:10.000", 3, ["Page_11", "Page_17"], "13:12:00"),  # replay
    ("User_5", "13:20:00.000", "13:25:00.000", 1, ["Page_11"], "13:25:05"),
    ("User_5", "14:00:10.000", "14:05:10.000", 1, ["Page_11"], "14:05:15"),
]

MALFORMED = [  # Kafka time, partition, offset, error, payload, ingested at
    ("13:05:40.000", 0, 5, "not Confluent wire format: magic byte 0x7b", "eyJ1c2VyIjoxfQ==", "13:05:41"),
    ("13:05:40.000", 0, 5, "not Confluent wire format: magic byte 0x7b", "eyJ1c2VyIjoxfQ==", "13:07:00"),  # replay
    ("13:21:00.500", 1, 5, "truncated Avro record", "AAAAAAE=", "13:21:02"),
    ("14:10:00.000", 0, 9, "not Confluent wire format: magic byte 0x7b", "e30=", "14:10:01"),
]

INGEST_ERRORS = {  # table suffix -> rows: topic, partition, offset, Kafka time, error, raw, ingested at
    "events": [("clickstream.events", 0, 9, "13:05:10.000", "Cannot parse JSON", "{oops", "13:05:11")] * 2,
    "sessions": [("clickstream.sessions", 0, 3, "13:11:30.000", "missing or null field(s): views",
                  '{"user_id":"User_7"}', "13:11:31")],
}


def _array(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def load(ex: Executor, db: str) -> None:
    """Insert the known rows block by block, as the ingest views would (the hourly views fire per block)."""
    def insert(table: str, columns: str, rows: list[str]) -> None:
        ex.command(f"INSERT INTO {db}.{table} ({columns}) VALUES {', '.join(rows)}")

    for p, o, at, viewtime, user, page, ingested in PAGEVIEWS:
        insert("pageviews", "kafka_partition, kafka_offset, event_time, viewtime, user_id, page_id, ingested_at",
               [f"({p}, {o}, {t(at)}, {viewtime}, '{user}', '{page}', {t(ingested)})"])
    for block in PAGE_STATS_1M:
        insert("page_stats_1m", "window_start, window_end, page_id, views, unique_users, ingested_at",
               [f"({t(start + ':00')}, {t(minute_after(start))}, '{page}', {views}, {users}, {t(ingested)})"
                for start, page, views, users, ingested in block])
    for block in USER_ACTIVITY_1M:
        insert("user_activity_1m", "window_start, window_end, user_id, views, page_ids, ingested_at",
               [f"({t(start + ':00')}, {t(minute_after(start))}, '{user}', {views}, {_array(pages)}, {t(ingested)})"
                for start, user, views, pages, ingested in block])
    for user, start, end, views, pages, ingested in SESSIONS:
        insert("sessions", "user_id, session_start, session_end, views, page_ids, ingested_at",
               [f"('{user}', {t(start)}, {t(end)}, {views}, {_array(pages)}, {t(ingested)})"])
    for at, p, o, error, payload, ingested in MALFORMED:
        insert("malformed_events", "kafka_timestamp, kafka_partition, kafka_offset, error, payload_base64, ingested_at",
               [f"({t(at)}, {p}, {o}, '{error}', '{payload}', {t(ingested)})"])
    for source, rows in INGEST_ERRORS.items():
        for topic, p, o, at, error, raw, ingested in rows:
            insert(f"ingest_errors_{source}", "topic, partition, offset, kafka_timestamp, error, raw_message, ingested_at",
                   [f"('{topic}', {p}, {o}, {t(at)}, '{error}', '{raw}', {t(ingested)})"])
