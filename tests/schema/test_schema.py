"""The shipped schema (clickhouse_schema/), specified on chdb 2.1.1 (ClickHouse 24.8.4).

Rows are inserted the way the ingest views insert them (one block per replayed batch), so the
hourly materialized views fire as they do in production.
"""
from __future__ import annotations

import uuid

import pytest

from components.clients.migrations import Migrator, discover, render, split_statements
from tests.support.clock import DAY

from .conftest import DATABASE, PARAMS, SCHEMA_DIR

DB = DATABASE

EXPECTED_TABLES = {
    "pageviews": "ReplacingMergeTree",
    "page_stats_1m": "ReplacingMergeTree",
    "user_activity_1m": "ReplacingMergeTree",
    "sessions": "ReplacingMergeTree",
    "malformed_events": "ReplacingMergeTree",
    "page_stats_1h": "AggregatingMergeTree",
    "page_users_1h": "AggregatingMergeTree",
    "users_1h": "AggregatingMergeTree",
    "page_stats_1h_mv": "MaterializedView",
    "page_users_1h_mv": "MaterializedView",
    "users_1h_mv": "MaterializedView",
    "schema_migrations": "MergeTree",
    "schema_repeatables": "MergeTree",
    "ingest_errors": "View",
    **{f"ingest_errors_{s}": "ReplacingMergeTree" for s in ("events", "page_stats_1m", "user_activity_1m", "sessions", "malformed")},
    **{f"kafka_{s}": "Kafka" for s in ("events", "page_stats_1m", "user_activity_1m", "sessions", "malformed")},
    **{f"ingest_{s}_mv": "MaterializedView" for s in ("events", "page_stats_1m", "user_activity_1m", "sessions", "malformed")},
    **{f"ingest_{s}_errors_mv": "MaterializedView" for s in ("events", "page_stats_1m", "user_activity_1m", "sessions", "malformed")},
    **{v: "View" for v in ("v_page_stats_1m", "v_views_1m", "v_users_1m", "v_page_stats_1h", "v_users_1h",
                           "v_sessions", "v_sessions_1h", "v_ingested_1m", "v_freshness")},
}


def test_all_migrations_apply_from_empty_and_a_second_run_applies_nothing(executor):
    files = discover(SCHEMA_DIR)
    migrator = Migrator(executor, DB)

    first = migrator.apply(files, PARAMS)
    second = migrator.apply(files, PARAMS)

    versioned = [m.name for m in files if not m.repeatable]
    assert first.applied_now == tuple(m.name for m in files)
    assert first.version == int(versioned[-1][:3]) and first.applied == tuple(versioned)
    assert second.applied_now == () and second.version == first.version
    engines = dict(executor.rows(f"SELECT name, engine FROM system.tables WHERE database = '{DB}'"))
    assert engines == EXPECTED_TABLES


def test_every_shipped_file_can_run_again(migrated):
    """ClickHouse DDL is not transactional: a file that failed half-way is run again from its top."""
    for migration in discover(SCHEMA_DIR):
        for statement in split_statements(render(migration, {**PARAMS, "database": DB})):
            migrated.command(statement)
    assert Migrator(migrated, DB).apply(discover(SCHEMA_DIR), PARAMS).applied_now == ()


def test_materialized_views_write_to_explicit_tables_and_never_populate(migrated):
    for name, query in migrated.rows(
        f"SELECT name, create_table_query FROM system.tables WHERE database = '{DB}' AND engine = 'MaterializedView'"
    ):
        assert f" TO {DB}." in query, f"{name} must write to an explicit TO table"
        assert "POPULATE" not in query.upper(), f"{name} must not POPULATE"
    targets = migrated.rows(
        f"SELECT extract(create_table_query, ' TO {DB}\\\\.(\\\\w+)') AS target, count() FROM system.tables "
        f"WHERE database = '{DB}' AND engine = 'MaterializedView' GROUP BY target HAVING count() > 1"
    )
    assert targets == [], "one writer per table"


def test_raw_ttl_follows_the_retention_parameter(migrated):
    def ttl_of(table: str) -> str:
        query = migrated.rows(
            f"SELECT create_table_query FROM system.tables WHERE database = '{DB}' AND name = '{table}'")[0][0]
        return query[query.index(" TTL "):].split(" SETTINGS ")[0]

    assert ttl_of("pageviews") == " TTL toDateTime(event_time) + toIntervalDay(7)"

    result = Migrator(migrated, DB).apply(discover(SCHEMA_DIR), {**PARAMS, "raw_ttl_days": 30})

    assert result.applied_now == ("R_raw_ttl.sql",)
    assert ttl_of("pageviews") == " TTL toDateTime(event_time) + toIntervalDay(30)"
    assert ttl_of("malformed_events") == " TTL toDateTime(kafka_timestamp) + toIntervalDay(30)"
    assert ttl_of("ingest_errors_sessions") == " TTL toDateTime(kafka_timestamp) + toIntervalDay(30)"


def test_kafka_settings_follow_the_parameters(migrated):
    result = Migrator(migrated, DB).apply(
        discover(SCHEMA_DIR), {**PARAMS, "kafka_brokers": "broker-1:9092,broker-2:9092", "kafka_group": "ch-2"})

    assert result.applied_now == ("R_ingest.sql",)
    engine = migrated.rows(
        f"SELECT engine_full FROM system.tables WHERE database = '{DB}' AND name = 'kafka_sessions'")[0][0]
    assert "kafka_broker_list = 'broker-1:9092,broker-2:9092'" in engine
    assert "kafka_topic_list = 'clickstream.sessions'" in engine
    assert "kafka_group_name = 'ch-2.sessions'" in engine
    assert "kafka_handle_error_mode = 'stream'" in engine


@pytest.mark.parametrize("table, time_column, columns, values", [
    ("pageviews", "event_time", "page_id, user_id, viewtime, kafka_partition, kafka_offset", "'Page_1', 'User_1', 1, 0, {n}"),
    ("malformed_events", "kafka_timestamp", "kafka_partition, kafka_offset, error, payload_base64", "0, {n}, 'bad', ''"),
    ("ingest_errors_events", "kafka_timestamp", "topic, partition, offset, error, raw_message",
     "'clickstream.events', 0, {n}, 'bad', ''"),
])
def test_raw_rows_expire_at_the_configured_retention_and_not_before(server_executor, table, time_column, columns,
                                                                     values):
    """Rows dated a minute past `raw_ttl_days` are dropped and rows a minute inside it kept, once
    ClickHouse has merged them (TTL is applied by merges; FINAL forces one). Dated relative to the
    server's own `now()`, so the outcome is the same whatever day the test runs. On the real server:
    chdb's per-query runs showed an expired part again after hiding it."""
    database = f"ttl_{uuid.uuid4().hex[:8]}"
    days = 3
    Migrator(server_executor, database).apply(discover(SCHEMA_DIR), {**PARAMS, "raw_ttl_days": days})
    edge = days * 86400

    for seconds_old, n in ((edge + 60, 1), (edge - 60, 2), (edge + 120, 3), (0, 4)):  # one block each
        server_executor.command(f"INSERT INTO {database}.{table} ({time_column}, {columns}) SELECT "
                                f"now64(3) - toIntervalSecond({seconds_old}), {values.format(n=n)}")
    server_executor.command(f"OPTIMIZE TABLE {database}.{table} FINAL")

    offset = "offset" if table.startswith("ingest_errors") else "kafka_offset"
    assert server_executor.rows(f"SELECT {offset} FROM {database}.{table} ORDER BY {offset}") == [(2,), (4,)]
    server_executor.command(f"DROP DATABASE {database} SYNC")


# --- exact results through the dashboard views ------------------------------------------------

def insert(executor, table: str, values: str) -> None:
    executor.command(f"INSERT INTO {DB}.{table} {values}")


@pytest.fixture
def loaded(migrated):
    """Known job output, inserted batch by batch, replays and a late re-fired window included."""
    return load_known_output(migrated)


@pytest.fixture
def loaded_unmerged(migrated):
    """`loaded` with every inserted block kept as its own part: no background merge collapses a
    replay before a test counts what arrived."""
    for (table,) in migrated.rows(f"SELECT name FROM system.tables WHERE database = '{DB}' AND engine LIKE '%MergeTree'"):
        # Test-only: no part is small enough to merge.
        migrated.command(f"ALTER TABLE {DB}.{table} MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1")
    return load_known_output(migrated)


def load_known_output(migrated):
    ps = "(window_start, window_end, page_id, views, unique_users) VALUES"
    insert(migrated, "page_stats_1m", f"{ps} ('{DAY} 13:05:00', '{DAY} 13:06:00', 'Page_17', 12, 5),"
                                      f" ('{DAY} 13:05:00', '{DAY} 13:06:00', 'Page_11', 3, 2),"
                                      f" ('{DAY} 13:06:00', '{DAY} 13:07:00', 'Page_17', 4, 4)")
    insert(migrated, "page_stats_1m", f"{ps} ('{DAY} 13:05:00', '{DAY} 13:06:00', 'Page_17', 12, 5)")  # replay
    insert(migrated, "page_stats_1m", f"{ps} ('{DAY} 13:06:00', '{DAY} 13:07:00', 'Page_17', 6, 5)")  # late, larger
    insert(migrated, "page_stats_1m", f"{ps} ('{DAY} 14:00:00', '{DAY} 14:01:00', 'Page_11', 1, 1)")

    ua = "(window_start, window_end, user_id, views, page_ids) VALUES"
    insert(migrated, "user_activity_1m", f"{ua} ('{DAY} 13:05:00', '{DAY} 13:06:00', 'User_3', 4, ['Page_11', 'Page_17']),"
                                         f" ('{DAY} 13:05:00', '{DAY} 13:06:00', 'User_4', 11, ['Page_17']),"
                                         f" ('{DAY} 13:06:00', '{DAY} 13:07:00', 'User_3', 6, ['Page_17'])")
    insert(migrated, "user_activity_1m", f"{ua} ('{DAY} 13:05:00', '{DAY} 13:06:00', 'User_3', 4, ['Page_11', 'Page_17'])")
    insert(migrated, "user_activity_1m", f"{ua} ('{DAY} 14:00:00', '{DAY} 14:01:00', 'User_5', 1, ['Page_11'])")

    se = "(user_id, session_start, session_end, views, page_ids) VALUES"
    insert(migrated, "sessions", f"{se} ('User_3', '{DAY} 13:05:07.250', '{DAY} 13:17:40.001', 31, ['Page_11', 'Page_17']),"
                                 f" ('User_4', '{DAY} 13:05:30.000', '{DAY} 13:12:00.000', 11, ['Page_17'])")
    insert(migrated, "sessions", f"{se} ('User_3', '{DAY} 13:05:07.250', '{DAY} 13:17:40.001', 31, ['Page_11', 'Page_17'])")
    insert(migrated, "sessions", f"{se} ('User_4', '{DAY} 13:05:30.000', '{DAY} 13:15:00.000', 14, ['Page_11', 'Page_17'])")
    insert(migrated, "sessions", f"{se} ('User_5', '{DAY} 14:00:10.000', '{DAY} 14:05:10.000', 1, ['Page_11'])")

    pv = "(kafka_partition, kafka_offset, event_time, viewtime, user_id, page_id) VALUES"
    insert(migrated, "pageviews", f"{pv} (0, 41, '{DAY} 13:05:07.250', 411, 'User_3', 'Page_17'),"
                                  f" (0, 42, '{DAY} 13:05:08.000', 421, 'User_4', 'Page_17'),"
                                  f" (1, 7, '{DAY} 13:05:09.500', 431, 'User_3', 'Page_11')")
    insert(migrated, "pageviews", f"{pv} (0, 41, '{DAY} 13:05:07.250', 411, 'User_3', 'Page_17')")

    mf = "(kafka_partition, kafka_offset, kafka_timestamp, error, payload_base64) VALUES"
    for _ in range(2):
        insert(migrated, "malformed_events", f"{mf} (0, 43, '{DAY} 13:05:07.300', 'not Confluent wire format: magic byte 0x7b', 'eyJ1c2VyIjoxfQ==')")
    for _ in range(2):
        insert(migrated, "ingest_errors_events", "(topic, partition, offset, kafka_timestamp, error, raw_message) VALUES "
                                                 f"('clickstream.events', 0, 9, '{DAY} 13:05:10.000', 'Cannot parse JSON', '{{oops')")
    return migrated


def rows(executor, sql: str) -> list[tuple]:
    return executor.rows(sql.replace("{db}", DB))


def assert_dashboard_numbers(ex) -> None:
    assert rows(ex, "SELECT toString(minute), page_id, views, unique_users FROM {db}.v_page_stats_1m ORDER BY minute, page_id") == [
        (f"{DAY} 13:05:00.000", "Page_11", 3, 2),
        (f"{DAY} 13:05:00.000", "Page_17", 12, 5),
        (f"{DAY} 13:06:00.000", "Page_17", 6, 5),
        (f"{DAY} 14:00:00.000", "Page_11", 1, 1),
    ]
    assert rows(ex, "SELECT toString(minute), views FROM {db}.v_views_1m ORDER BY minute") == [
        (f"{DAY} 13:05:00", 15), (f"{DAY} 13:06:00", 6), (f"{DAY} 14:00:00", 1)]
    assert rows(ex, "SELECT toString(minute), unique_users, views FROM {db}.v_users_1m ORDER BY minute") == [
        (f"{DAY} 13:05:00.000", 2, 15), (f"{DAY} 13:06:00.000", 1, 6), (f"{DAY} 14:00:00.000", 1, 1)]
    assert rows(ex, "SELECT toString(hour), page_id, views, unique_users FROM {db}.v_page_stats_1h ORDER BY hour, page_id") == [
        (f"{DAY} 13:00:00", "Page_11", 3, 1),
        (f"{DAY} 13:00:00", "Page_17", 18, 2),
        (f"{DAY} 14:00:00", "Page_11", 1, 1),
    ]
    # users per hour over all pages come from user ids: User_3 and User_4, not 1 + 2 per-page counts
    assert rows(ex, "SELECT toString(hour), unique_users FROM {db}.v_users_1h ORDER BY hour") == [
        (f"{DAY} 13:00:00", 2), (f"{DAY} 14:00:00", 1)]
    assert rows(ex, "SELECT user_id, toString(session_start), toString(session_end), views, page_ids, pages, span_seconds "
                    "FROM {db}.v_sessions ORDER BY session_start") == [
        ("User_3", f"{DAY} 13:05:07.250", f"{DAY} 13:17:40.001", 31, ["Page_11", "Page_17"], 2, 752.751),
        ("User_4", f"{DAY} 13:05:30.000", f"{DAY} 13:15:00.000", 14, ["Page_11", "Page_17"], 2, 570),
        ("User_5", f"{DAY} 14:00:10.000", f"{DAY} 14:05:10.000", 1, ["Page_11"], 1, 300),
    ]
    assert rows(ex, "SELECT toString(hour), sessions, total_views, avg_views, avg_pages, round(avg_span_seconds, 4) "
                    "FROM {db}.v_sessions_1h ORDER BY hour") == [
        (f"{DAY} 13:00:00", 2, 45, 22.5, 2, 661.3755), (f"{DAY} 14:00:00", 1, 1, 1, 1, 300)]
    assert rows(ex, "SELECT kafka_partition, kafka_offset, user_id, page_id FROM {db}.pageviews FINAL ORDER BY event_time") == [
        (0, 41, "User_3", "Page_17"), (0, 42, "User_4", "Page_17"), (1, 7, "User_3", "Page_11")]
    assert rows(ex, "SELECT kafka_offset, error FROM {db}.malformed_events FINAL") == [
        (43, "not Confluent wire format: magic byte 0x7b")]
    assert rows(ex, "SELECT source, topic, offset, error, raw_message FROM {db}.ingest_errors") == [
        ("events", "clickstream.events", 9, "Cannot parse JSON", "{oops")]


def test_dashboard_views_give_exact_results_with_replays(loaded):
    assert_dashboard_numbers(loaded)


def test_dashboard_views_stay_exact_after_background_merges(loaded):
    for table in ("pageviews", "page_stats_1m", "user_activity_1m", "sessions", "malformed_events",
                  "page_stats_1h", "page_users_1h", "users_1h", "ingest_errors_events"):
        loaded.command(f"OPTIMIZE TABLE {DB}.{table} FINAL")
    assert_dashboard_numbers(loaded)
    assert rows(loaded, "SELECT count() FROM {db}.page_stats_1h") == [(2 + 1,)], "one row per (hour, page) once merged"


def test_pipeline_health_views_count_what_arrived(loaded_unmerged):
    loaded = loaded_unmerged
    arrived = dict(rows(loaded, "SELECT source_table, sum(rows) FROM {db}.v_ingested_1m GROUP BY source_table"))
    assert arrived == {"pageviews": 4, "page_stats_1m": 6, "user_activity_1m": 5, "sessions": 5,
                       "malformed_events": 2, "ingest_errors": 1}
    fresh = {r[0]: r[1:] for r in rows(loaded, "SELECT source_table, rows, toString(last_event_time), "
                                                "dateDiff('second', last_ingested_at, now()) < 300 FROM {db}.v_freshness")}
    assert fresh == {
        "pageviews": (4, f"{DAY} 13:05:09.500", 1),
        "page_stats_1m": (6, f"{DAY} 14:01:00.000", 1),
        "user_activity_1m": (5, f"{DAY} 14:01:00.000", 1),
        "sessions": (5, f"{DAY} 14:05:10.000", 1),
        "malformed_events": (2, f"{DAY} 13:05:07.300", 1),
    }
