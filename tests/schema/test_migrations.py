"""The migrations runner, specified on small schema folders written inline, run through the production
HTTP executor on the session's real ClickHouse server (as the stack's owner user)."""
from __future__ import annotations

from pathlib import Path

import pytest

from components.clients.migrations import (
    Migrator, checksum, discover, render, split_statements,
)
from components.errors import MigrationError

from .conftest import write

DB = "shop"

ORDERS = """-- What: orders. Why: the first table.
CREATE TABLE IF NOT EXISTS {{ database | ident }}.orders (id UInt64, note String) ENGINE = MergeTree ORDER BY id;
"""
ITEMS = """-- What: items. Why: orders have items.
CREATE TABLE IF NOT EXISTS {{ database | ident }}.items (order_id UInt64, sku String) ENGINE = MergeTree ORDER BY order_id;
"""
ORDER_COUNT = """-- What: a view of order counts. Why: read by a dashboard.
CREATE VIEW IF NOT EXISTS {{ database | ident }}.order_count AS SELECT count() AS n FROM {{ database | ident }}.orders;
"""


def ledger_rows(executor) -> list[tuple]:
    return executor.rows(f"SELECT version, name, checksum FROM {DB}.schema_migrations ORDER BY version")


def tables(executor) -> list[str]:
    return [r[0] for r in executor.rows(f"SELECT name FROM system.tables WHERE database = '{DB}' ORDER BY name")]


def test_all_migrations_apply_in_version_order_from_empty(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    # written out of order on purpose: order comes from the version number, not the file system
    write(folder, "003_order_count.sql", ORDER_COUNT)
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "002_items.sql", ITEMS)

    result = Migrator(executor, DB).apply(discover(folder), {})

    assert result.applied_now == ("001_orders.sql", "002_items.sql", "003_order_count.sql")
    assert result.version == 3
    assert ledger_rows(executor) == [
        (1, "001_orders.sql", checksum(ORDERS)),
        (2, "002_items.sql", checksum(ITEMS)),
        (3, "003_order_count.sql", checksum(ORDER_COUNT)),
    ]
    assert tables(executor) == ["items", "order_count", "orders", "schema_migrations", "schema_repeatables"]


def test_second_run_applies_nothing(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "002_items.sql", ITEMS)
    migrator = Migrator(executor, DB)
    migrator.apply(discover(folder), {})
    executor.command(f"INSERT INTO {DB}.orders VALUES (1, 'kept')")
    before = executor.rows(f"SELECT version, applied_at FROM {DB}.schema_migrations ORDER BY version")

    again = migrator.apply(discover(folder), {})

    assert again.applied_now == ()
    assert again.version == 2
    assert executor.rows(f"SELECT version, applied_at FROM {DB}.schema_migrations ORDER BY version") == before
    assert executor.rows(f"SELECT id, note FROM {DB}.orders") == [(1, "kept")]


def test_new_file_is_the_only_one_applied(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    migrator = Migrator(executor, DB)
    migrator.apply(discover(folder), {})
    write(folder, "002_items.sql", ITEMS)

    plan = migrator.plan(discover(folder), {})
    result = migrator.apply(discover(folder), {})

    assert [m.name for m in plan.pending] == ["002_items.sql"]
    assert result.applied_now == ("002_items.sql",)
    assert result.applied == ("001_orders.sql", "002_items.sql")


def test_edited_applied_migration_is_refused(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    migrator = Migrator(executor, DB)
    migrator.apply(discover(folder), {})
    edited = ORDERS.replace("note String", "note String, total Float64")
    write(folder, "001_orders.sql", edited)
    write(folder, "002_items.sql", ITEMS)

    with pytest.raises(MigrationError) as refused:
        migrator.apply(discover(folder), {})

    err = refused.value
    assert err.context["file"] == "001_orders.sql"
    assert err.context["applied_checksum"] == checksum(ORDERS)
    assert err.context["file_checksum"] == checksum(edited)
    assert checksum(ORDERS) in str(err) and checksum(edited) in str(err) and "001_orders.sql" in str(err)
    assert "items" not in tables(executor), "nothing runs once drift is found"
    assert ledger_rows(executor) == [(1, "001_orders.sql", checksum(ORDERS))]


def test_deleted_applied_migration_is_refused(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "002_items.sql", ITEMS)
    migrator = Migrator(executor, DB)
    migrator.apply(discover(folder), {})
    (folder / "001_orders.sql").unlink()

    with pytest.raises(MigrationError, match="missing from the schema folder") as refused:
        migrator.plan(discover(folder), {})
    assert refused.value.context["file"] == "001_orders.sql"


def test_new_file_older_than_the_applied_version_is_refused(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "003_order_count.sql", ORDER_COUNT)
    migrator = Migrator(executor, DB)
    migrator.apply(discover(folder), {})
    write(folder, "002_items.sql", ITEMS)

    with pytest.raises(MigrationError, match="older than the applied version 3") as refused:
        migrator.apply(discover(folder), {})
    assert refused.value.context["file"] == "002_items.sql"


def test_failing_migration_leaves_the_ledger_exact_and_a_fixed_rerun_completes(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    # its first statement succeeds, its second names a type ClickHouse does not have
    broken = """-- What: items and an index table. Why: lookups.
CREATE TABLE IF NOT EXISTS {{ database | ident }}.items (order_id UInt64, sku String) ENGINE = MergeTree ORDER BY order_id;
CREATE TABLE IF NOT EXISTS {{ database | ident }}.sku_index (sku Strng) ENGINE = MergeTree ORDER BY sku;
"""
    write(folder, "002_items.sql", broken)
    write(folder, "003_order_count.sql", ORDER_COUNT)
    migrator = Migrator(executor, DB)

    with pytest.raises(MigrationError) as failed:
        migrator.apply(discover(folder), {})

    err = failed.value
    assert err.context["file"] == "002_items.sql"
    assert err.context["statement"].startswith("CREATE TABLE IF NOT EXISTS `shop`.sku_index (sku Strng)")
    assert "UNKNOWN_TYPE" in err.context["clickhouse_error"] and "Strng" in err.context["clickhouse_error"]
    assert ledger_rows(executor) == [(1, "001_orders.sql", checksum(ORDERS))]
    assert "order_count" not in tables(executor), "nothing after the failing statement ran"

    fixed = broken.replace("sku Strng", "sku String")
    write(folder, "002_items.sql", fixed)
    result = migrator.apply(discover(folder), {})

    assert result.applied_now == ("002_items.sql", "003_order_count.sql")
    assert ledger_rows(executor) == [
        (1, "001_orders.sql", checksum(ORDERS)),
        (2, "002_items.sql", checksum(fixed)),
        (3, "003_order_count.sql", checksum(ORDER_COUNT)),
    ]
    assert {"items", "sku_index", "order_count"} <= set(tables(executor))


def test_statements_are_split_by_sql_not_by_semicolons():
    sql = """-- What: x; Why: y;
/* a block comment; with a semicolon */
CREATE TABLE t (a String DEFAULT 'x;y', b String DEFAULT 'it\\'s; fine') ENGINE = Memory;
INSERT INTO t VALUES ('1;2', 'a''b;c');
-- a trailing comment; nothing to run
"""
    assert split_statements(sql) == [
        "-- What: x; Why: y;\n/* a block comment; with a semicolon */\n"
        "CREATE TABLE t (a String DEFAULT 'x;y', b String DEFAULT 'it\\'s; fine') ENGINE = Memory",
        "INSERT INTO t VALUES ('1;2', 'a''b;c')",
    ]


def test_semicolons_inside_strings_reach_clickhouse_intact(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "002_seed.sql", """-- What: seed rows; Why: a; test
INSERT INTO {{ database | ident }}.orders VALUES (1, 'semi;colon'), (2, 'it\\'s; quoted');
""")
    Migrator(executor, DB).apply(discover(folder), {})
    assert executor.rows(f"SELECT id, note FROM {DB}.orders ORDER BY id") == [(1, "semi;colon"), (2, "it's; quoted")]


def test_parameters_are_quoted_by_their_kind(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "002_seed.sql", """-- What: a row from params. Why: test.
INSERT INTO {{ database | ident }}.orders VALUES ({{ id | int }}, 'note: {{ note | lit }}');
""")
    Migrator(executor, DB).apply(discover(folder), {"id": 7, "note": "O'Brien \\ ; DROP"})
    assert executor.rows(f"SELECT id, note FROM {DB}.orders") == [(7, "note: O'Brien \\ ; DROP")]


@pytest.mark.parametrize("params, message", [
    ({}, "parameter 'id' is not set"),
    ({"id": "7"}, "parameter 'id' must be a whole number"),
    ({"id": True}, "parameter 'id' must be a whole number"),
])
def test_bad_or_missing_parameter_stops_before_any_statement(tmp_path: Path, executor, params, message):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "002_seed.sql", "-- What: seed. Why: test.\nINSERT INTO {{ database | ident }}.orders VALUES ({{ id | int }}, 'x');\n")
    with pytest.raises(MigrationError, match=message) as refused:
        Migrator(executor, DB).apply(discover(folder), params)
    assert refused.value.context["file"] == "002_seed.sql"
    assert executor.rows(f"SELECT count() FROM system.databases WHERE name = '{DB}'") == [(0,)]


def test_placeholder_without_a_kind_is_refused(tmp_path: Path):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", "-- What: x. Why: y.\nCREATE TABLE {{ database }}.t (a UInt8) ENGINE = Memory;\n")
    with pytest.raises(MigrationError, match="has no valid kind"):
        render(discover(folder)[0], {"database": DB})


@pytest.mark.parametrize("name, text, message", [
    ("1_orders.sql", ORDERS, "schema file name not understood"),
    ("001-orders.sql", ORDERS, "schema file name not understood"),
    ("001_orders.sql", ORDERS.split("\n", 1)[1], "does not open with a comment"),
])
def test_badly_named_or_uncommented_file_is_refused(tmp_path: Path, name, text, message):
    folder = tmp_path / "schema"
    write(folder, name, text)
    with pytest.raises(MigrationError, match=message):
        discover(folder)


def test_two_files_with_one_version_are_refused(tmp_path: Path):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "001_items.sql", ITEMS)
    with pytest.raises(MigrationError, match="share a version") as refused:
        discover(folder)
    assert refused.value.context["files"] == "001_items.sql, 001_orders.sql"


def test_changed_parameter_is_not_drift_for_versioned_files(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "002_seed.sql", "-- What: seed. Why: test.\nINSERT INTO {{ database | ident }}.orders VALUES ({{ id | int }}, 'x');\n")
    migrator = Migrator(executor, DB)
    migrator.apply(discover(folder), {"id": 1})

    result = migrator.apply(discover(folder), {"id": 2})

    assert result.applied_now == ()
    assert executor.rows(f"SELECT id FROM {DB}.orders") == [(1,)]


def test_repeatable_file_runs_again_only_when_its_rendered_text_changes(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    write(folder, "R_retention.sql", """-- What: the retention setting as a view. Why: it follows config.
CREATE OR REPLACE VIEW {{ database | ident }}.retention AS SELECT {{ days | int }} AS days;
""")
    migrator = Migrator(executor, DB)

    first = migrator.apply(discover(folder), {"days": 7})
    same = migrator.apply(discover(folder), {"days": 7})
    changed = migrator.apply(discover(folder), {"days": 30})

    assert first.applied_now == ("001_orders.sql", "R_retention.sql")
    assert same.applied_now == ()
    assert changed.applied_now == ("R_retention.sql",)
    assert executor.rows(f"SELECT days FROM {DB}.retention") == [(30,)]
    assert executor.rows(f"SELECT name FROM {DB}.schema_repeatables ORDER BY applied_at") == [
        ("R_retention.sql",), ("R_retention.sql",)]
    assert first.applied == ("001_orders.sql",), "repeatables are not versioned files"


def test_a_repeated_ledger_row_counts_once(tmp_path: Path, executor):
    """A ledger insert retried after a broken connection may land twice; it still means one file."""
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    migrator = Migrator(executor, DB)
    migrator.apply(discover(folder), {})
    executor.command(f"INSERT INTO {DB}.schema_migrations SELECT * FROM {DB}.schema_migrations")

    assert [(a.version, a.name, a.checksum) for a in migrator.ledger()] == [(1, "001_orders.sql", checksum(ORDERS))]
    assert migrator.apply(discover(folder), {}).applied_now == ()


def test_two_different_ledger_rows_for_one_version_are_refused(tmp_path: Path, executor):
    folder = tmp_path / "schema"
    write(folder, "001_orders.sql", ORDERS)
    migrator = Migrator(executor, DB)
    migrator.apply(discover(folder), {})
    executor.command(f"INSERT INTO {DB}.schema_migrations VALUES (1, '001_orders.sql', 'other', now64(3))")

    with pytest.raises(MigrationError, match="two different rows for one version"):
        migrator.ledger()
