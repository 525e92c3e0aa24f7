"""The server's users, proven by logging in over HTTP on a real ClickHouse 24.8.4 server configured as
the stack's (tests/support/clickhouse_stack.py): the stack's users file in users.d, the password
hashes in the environment as the container gets them, the image's access-control switches.

- `default` (the image's, without a password) cannot log in;
- the owner runs the migrations through the production `HttpExecutor`;
- the reader (Grafana's) may SELECT every table and view of the database and nothing else, may not
  write, change the schema or its settings, except the per-query time limit the Grafana plugin
  sends (`readonly = 1` with `changeable_in_readonly`), within its bound; its queries per hour are
  bounded by its quota;
- a missing password hash stops the server from starting (never an empty password).

Settings are sent as the Grafana plugin sends them over HTTP (clickhouse-go): URL parameters.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from components.clients.clickhouse import (OWNER_PASSWORD_ENV, READER_PASSWORD_ENV, READER_PROFILE_CONSTRAINTS,
                                           READER_QUOTA_INTERVAL, users_xml)
from components.clients.migrations import Migrator, discover
from tests.support.clickhouse_server import ClickHouseServer, ServerExited
from tests.support.clickhouse_stack import StackClickHouse, container_environment

from .conftest import DATABASE, PARAMS, SCHEMA_DIR

READONLY = 164  # ClickHouse error codes
QUOTA_EXPIRED = 201
SETTING_CONSTRAINT_VIOLATION = 452
ACCESS_DENIED = 497
AUTHENTICATION_FAILED = 516


def http(stack: StackClickHouse, user: str, sql: str, password: str | None = None, **settings) -> tuple[int, object]:
    """(0, rows) or (ClickHouse error code, message) of `sql` sent as `user`, settings as URL parameters."""
    url = f"{stack.http_url}/?{urllib.parse.urlencode({'default_format': 'JSONCompact', **settings})}"
    key = stack.passwords.get(user, "") if password is None else password
    request = urllib.request.Request(url, data=sql.encode(), headers={"X-ClickHouse-User": user, "X-ClickHouse-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            return 0, json.loads(body)["data"] if body else []
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        try:  # an error after the output began comes inside the JSON document
            body = json.loads(body)["exception"]
        except (ValueError, KeyError):
            pass
        return int(exc.headers.get("X-ClickHouse-Exception-Code", "-1")), body


def refused(answer: tuple[int, object], code: int) -> bool:
    return answer[0] == code


@pytest.fixture(scope="module")
def migrated(stack_clickhouse):
    """`clickstream` migrated by the owner through the production executor, plus another database
    the reader must not see."""
    owner = stack_clickhouse.owner()
    owner.command(f"DROP DATABASE IF EXISTS {DATABASE} SYNC")
    result = Migrator(owner, DATABASE).apply(discover(SCHEMA_DIR), PARAMS)
    owner.command("CREATE DATABASE IF NOT EXISTS elsewhere")
    owner.command("CREATE TABLE IF NOT EXISTS elsewhere.secrets (x UInt8) ENGINE = MergeTree ORDER BY x")
    # dated now: the raw table's TTL drops rows older than its retention
    owner.command(f"INSERT INTO {DATABASE}.pageviews (event_time, page_id, user_id, kafka_offset) "
                  "SELECT now64(3), 'Page_1', 'User_1', 1")
    yield stack_clickhouse, result
    owner.close()
    stack_clickhouse.drop_databases([DATABASE, "elsewhere"])


def test_default_user_cannot_log_in_and_the_stack_users_only_with_their_passwords(stack_clickhouse):
    stack = stack_clickhouse
    assert refused(http(stack, "default", "SELECT 1", password=""), AUTHENTICATION_FAILED)
    for user in (stack.owner_user, stack.reader_user):
        assert http(stack, user, "SELECT currentUser()") == (0, [[user]])
        assert refused(http(stack, user, "SELECT 1", password="not-the-password"), AUTHENTICATION_FAILED)


def test_users_are_defined_by_password_hashes_only(stack_clickhouse):
    owner = stack_clickhouse.owner()
    assert owner.rows("SELECT name, auth_type FROM system.users ORDER BY name") == [
        (stack_clickhouse.owner_user, "sha256_password"), (stack_clickhouse.reader_user, "sha256_password")]


def test_the_owner_runs_the_migrations_through_the_production_executor(migrated):
    stack, result = migrated
    versioned = [m.name for m in discover(SCHEMA_DIR) if not m.repeatable]
    assert result.applied == tuple(versioned)
    assert stack.owner().rows(f"SELECT count() FROM {DATABASE}.schema_migrations") == [(len(versioned),)]


def test_reader_selects_every_table_and_view_of_the_database(migrated):
    stack, _ = migrated
    owner = stack.owner()
    # Kafka tables are read only by their ingest views (a direct select is refused to everyone).
    readable = [name for (name,) in owner.rows(
        f"SELECT name FROM system.tables WHERE database = '{DATABASE}' AND engine != 'Kafka' ORDER BY name")]
    assert {"pageviews", "v_page_stats_1m", "v_freshness", "ingest_errors", "schema_migrations"} <= set(readable)
    for table in readable:
        code, answer = http(stack, stack.reader_user, f"SELECT count() FROM {DATABASE}.{table}")
        assert code == 0, f"{table}: {answer}"
    assert http(stack, stack.reader_user, f"SELECT page_id FROM {DATABASE}.pageviews") == (0, [["Page_1"]])


def test_reader_reads_nothing_outside_the_database(migrated):
    stack, _ = migrated
    assert refused(http(stack, stack.reader_user, "SELECT * FROM elsewhere.secrets"), ACCESS_DENIED)
    # system tables need a grant (the image's select_from_system_db_requires_grant)
    stack.owner().command("SYSTEM FLUSH LOGS")  # query_log exists from its first flush on
    assert refused(http(stack, stack.reader_user, "SELECT count() FROM system.query_log"), ACCESS_DENIED)
    listed = http(stack, stack.reader_user, "SELECT DISTINCT database FROM system.tables WHERE database != 'system'")
    assert listed == (0, [[DATABASE]]), "other databases are not even listed"


@pytest.mark.parametrize("statement", [
    f"INSERT INTO {DATABASE}.pageviews (page_id, user_id, kafka_offset) VALUES ('Page_2', 'User_2', 2)",
    f"ALTER TABLE {DATABASE}.pageviews DELETE WHERE 1",
    f"ALTER TABLE {DATABASE}.pageviews ADD COLUMN extra UInt8",
    f"TRUNCATE TABLE {DATABASE}.pageviews",
    f"DROP TABLE {DATABASE}.pageviews",
    f"CREATE TABLE {DATABASE}.extra (x UInt8) ENGINE = MergeTree ORDER BY x",
    f"OPTIMIZE TABLE {DATABASE}.pageviews FINAL",
    "CREATE DATABASE extra",
    "CREATE USER intruder IDENTIFIED WITH no_password",
])
def test_reader_cannot_write_or_change_the_schema(migrated, statement):
    stack, _ = migrated
    code, answer = http(stack, stack.reader_user, statement)
    assert code in (ACCESS_DENIED, READONLY), f"{statement}: {code} {answer}"
    owner = stack.owner()
    assert owner.rows(f"SELECT page_id FROM {DATABASE}.pageviews") == [("Page_1",)]
    assert owner.rows(f"SELECT count() FROM system.columns WHERE database = '{DATABASE}' AND table = 'pageviews' "
                      "AND name = 'extra'") == [(0,)]


def test_grafana_plugin_per_query_time_limit_works_for_the_reader(stack_clickhouse):
    """clickhouse-go sends max_execution_time with every query: accepted up to the bound, in effect."""
    stack = stack_clickhouse
    assert http(stack, stack.reader_user, "SELECT getSetting('readonly'), getSetting('max_execution_time')") == \
        (0, [[1, 60]]), "the profile's own values"
    bound = READER_PROFILE_CONSTRAINTS["max_execution_time"]["max"]
    assert http(stack, stack.reader_user, "SELECT getSetting('max_execution_time')", max_execution_time=bound) == \
        (0, [[bound]])


@pytest.mark.parametrize("setting, value, code", [
    ("max_execution_time", READER_PROFILE_CONSTRAINTS["max_execution_time"]["max"] + 1, SETTING_CONSTRAINT_VIOLATION),
    ("max_memory_usage", READER_PROFILE_CONSTRAINTS["max_memory_usage"]["max"] + 1, READONLY),
    ("max_memory_usage", 1_000_000, READONLY),  # readonly = 1: no other setting changes, even downwards
    ("readonly", 2, READONLY),
    ("readonly", 0, READONLY),
])
def test_reader_cannot_raise_its_constrained_settings(stack_clickhouse, setting, value, code):
    stack = stack_clickhouse
    assert refused(http(stack, stack.reader_user, "SELECT 1", **{setting: value}), code)
    assert refused(http(stack, stack.reader_user, f"SET {setting} = {value}"), code)


def quota_usage(stack: StackClickHouse) -> list[tuple]:
    return stack.owner().rows("SELECT quota_name, quota_key, duration, max_queries, queries FROM system.quotas_usage "
                              f"WHERE quota_name = '{stack.reader_user}_quota'")


def test_reader_queries_count_against_its_hourly_quota(migrated):
    """Queries that read a table count (a query of constants, `SELECT 1`, does not)."""
    stack, _ = migrated
    before = quota_usage(stack)
    assert http(stack, stack.reader_user, f"SELECT count() FROM {DATABASE}.v_page_stats_1m")[0] == 0
    after = quota_usage(stack)
    limits = (f"{stack.reader_user}_quota", stack.reader_user, READER_QUOTA_INTERVAL["duration"],
              READER_QUOTA_INTERVAL["queries"])
    assert after == [(*limits, (before[0][-1] if before else 0) + 1)]


def test_reader_past_its_quota_is_refused(tmp_path: Path):
    """The same quota with its limit lowered (a users.d file merged over the stack's), so the limit
    is reached in a test: the query past it is refused, the owner is not limited."""
    reader = "grafana_reader"
    lowered = (f"<clickhouse><quotas><{reader}_quota><interval><queries>3</queries></interval>"
               f"</{reader}_quota></quotas></clickhouse>")
    stack = StackClickHouse.start(tmp_path / "clickhouse", reader=reader, more_users_d={"zz-lower-quota.xml": lowered})
    try:
        Migrator(stack.owner(), DATABASE).apply(discover(SCHEMA_DIR), PARAMS)
        query = f"SELECT count() FROM {DATABASE}.v_page_stats_1m"
        assert [http(stack, reader, query)[0] for _ in range(3)] == [0, 0, 0]
        code, message = http(stack, reader, query)
        assert code == QUOTA_EXPIRED and "queries = 4/3" in message, message
        assert [http(stack, stack.owner_user, query)[0] for _ in range(5)] == [0] * 5
    finally:
        stack.stop()


def test_a_missing_password_hash_stops_the_server_from_starting(tmp_path: Path):
    """Never an empty password: without the reader's hash variable ClickHouse refuses the file and
    the server exits (the container restarts and stays unhealthy), `default` is never served."""
    env = container_environment("owner-s3cret", "reader-s3cret")
    del env[READER_PASSWORD_ENV]
    assert OWNER_PASSWORD_ENV in env
    with pytest.raises(ServerExited) as exited:
        ClickHouseServer.start(tmp_path / "clickhouse", timeout=30, env=env,
                               users_d={"clickstreamer-users.xml": users_xml(DATABASE, "clickstream", "grafana_reader")})
    assert exited.value.returncode == 36  # BAD_ARGUMENTS
    assert "has length 0 but must be exactly 32 bytes" in exited.value.error_log
    assert "while parsing user 'grafana_reader'" in exited.value.error_log


def test_users_xml_refuses_names_that_are_not_identifiers():
    with pytest.raises(ValueError, match="must be an identifier"):
        users_xml("click stream", "clickstream", "grafana_reader")
    with pytest.raises(ValueError, match="must be an identifier"):
        users_xml("clickstream", "clickstream", "grafana</name>")
    with pytest.raises(ValueError, match="must differ"):
        users_xml("clickstream", "default", "grafana_reader")
