"""The ingestion SQL (R_ingest.sql, R_raw_ttl.sql) is what scripts/build_ingest_sql.py generates from
components/contract.py; it writes the contract's columns into the tables the versioned files
created, applies on chdb and on a real ClickHouse server, and a stack migrated with the per-source
files it replaced upgrades to it with the same tables, views and consumer groups."""
from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from components.clients.migrations import Migrator, discover
from components.contract import TOPIC_CONTRACTS, TopicContract
from tests.support.chdb_executor import ChdbExecutor

from .conftest import DATABASE, PARAMS, REPO, SCHEMA_DIR, write
from .ingest_files_before_generator import FILES as FILES_BEFORE_GENERATOR

DB = DATABASE
TOPICS = list(TOPIC_CONTRACTS.values())
GENERATED = ("R_ingest.sql", "R_raw_ttl.sql")


def generator():
    """scripts/build_ingest_sql.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("build_ingest_sql", REPO / "scripts" / "build_ingest_sql.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- the files are the generator's output ---------------------------------------------------------

def test_committed_files_are_the_generators_output():
    build = generator()
    assert sorted(build.files()) == sorted(GENERATED)
    for name, text in build.files().items():
        assert (SCHEMA_DIR / name).read_text() == text, \
            f"{name} differs from scripts/build_ingest_sql.py output: run it and commit the result"
    assert build.main(["--check"]) == 0


@pytest.mark.parametrize("change, named, problem", [
    (lambda d: (d / "R_ingest.sql").write_text((d / "R_ingest.sql").read_text().replace("'stream'", "'default'", 1)),
     "R_ingest.sql", "differs from the generated text"),
    (lambda d: (d / "R_raw_ttl.sql").unlink(), "R_raw_ttl.sql", "missing"),
    (lambda d: write(d, "R_ingest_events.sql", FILES_BEFORE_GENERATOR["R_ingest_events.sql"]),
     "R_ingest_events.sql", "replaced by R_ingest.sql"),
], ids=["edited", "deleted", "per-source file restored"])
def test_check_fails_naming_the_file_that_disagrees(tmp_path: Path, capsys, change, named, problem):
    build = generator()
    folder = tmp_path / "schema"
    folder.mkdir()
    assert build.main(["--schema-dir", str(folder)]) == 0
    assert build.main(["--check", "--schema-dir", str(folder)]) == 0
    capsys.readouterr()

    change(folder)

    assert build.main(["--check", "--schema-dir", str(folder)]) == 1
    named_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"  {folder}/")]
    assert len(named_lines) == 1 and named_lines[0].startswith(f"  {folder / named}: {problem}"), named_lines


def test_an_edit_shows_the_lines_that_differ(tmp_path: Path, capsys):
    build = generator()
    folder = tmp_path / "schema"
    folder.mkdir()
    build.main(["--schema-dir", str(folder)])
    ttl = folder / "R_raw_ttl.sql"
    ttl.write_text(ttl.read_text().replace("toDateTime(event_time)", "toDateTime(ingested_at)"))

    assert build.main(["--check", "--schema-dir", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "-    MODIFY TTL toDateTime(ingested_at) + toIntervalDay({{ raw_ttl_days | int }});" in err
    assert "+    MODIFY TTL toDateTime(event_time) + toIntervalDay({{ raw_ttl_days | int }});" in err


# --- the files against the tables they write (chdb) -----------------------------------------------

def columns(executor, table: str, where: str = "1") -> list[tuple[str, str]]:
    return executor.rows(f"SELECT name, type FROM system.columns WHERE database = '{DB}' AND table = '{table}' "
                         f"AND {where} ORDER BY position")


def without_low_cardinality(type_: str) -> str:
    return re.sub(r"LowCardinality\((.*?)\)", r"\1", type_)


@pytest.mark.parametrize("topic", TOPICS, ids=[t.role for t in TOPICS])
def test_each_topic_lands_in_its_table_with_the_contract_columns(migrated, topic: TopicContract):
    # the Kafka table reads the contract's fields, Nullable so a missing one is seen
    assert columns(migrated, topic.kafka_table) == [
        (c.name, c.type if c.is_array else f"Nullable({c.type})") for c in topic.columns]
    # the target table (a versioned file) stores them in `stored_columns` order, beside defaulted columns
    stored = columns(migrated, topic.table, "default_kind = ''")
    assert [(n, without_low_cardinality(t)) for n, t in stored] == [(c.name, c.type) for c in topic.stored_columns]
    (sorting_key,) = migrated.rows(
        f"SELECT sorting_key FROM system.tables WHERE database = '{DB}' AND name = '{topic.table}'")[0]
    assert set(topic.dedup_key) <= set(sorting_key.split(", ")), f"a replay of {topic.table} must collapse"
    views = dict(migrated.rows(f"SELECT name, create_table_query FROM system.tables WHERE database = '{DB}' "
                               f"AND name IN ('{topic.view}', '{topic.errors_view}')"))
    assert f" TO {DB}.{topic.table} " in views[topic.view]
    assert f" TO {DB}.{topic.errors_table} " in views[topic.errors_view]
    assert all(f"FROM {DB}.{topic.kafka_table} AS src" in q for q in views.values())


def test_raw_tables_expire_on_their_time_column_and_no_other_table_expires(migrated):
    ttls = dict(migrated.rows(
        f"SELECT name, extract(create_table_query, ' TTL (.*?) SETTINGS ') FROM system.tables "
        f"WHERE database = '{DB}' AND create_table_query LIKE '% TTL %'"))
    assert ttls == {
        "pageviews": "toDateTime(event_time) + toIntervalDay(7)",
        "malformed_events": "toDateTime(kafka_timestamp) + toIntervalDay(7)",
        **{f"ingest_errors_{t.source}": "toDateTime(kafka_timestamp) + toIntervalDay(7)" for t in TOPICS},
    }


# --- on a real server, and upgrading from the per-source files -------------------------------------

def kafka_settings(executor, database: str) -> dict[str, dict[str, str]]:
    """Kafka table -> its SETTINGS, as the engine reports them."""
    out = {}
    for name, engine in executor.rows(
            f"SELECT name, engine_full FROM system.tables WHERE database = '{database}' AND engine = 'Kafka'"):
        out[name] = dict(re.findall(r"(kafka_\w+) = '([^']*)'", engine))
    return out


def test_generated_files_apply_on_a_real_server(server_executor):
    database = f"ingest_{uuid.uuid4().hex[:8]}"
    migrator = Migrator(server_executor, database)

    first = migrator.apply(discover(SCHEMA_DIR), PARAMS)
    again = migrator.apply(discover(SCHEMA_DIR), PARAMS)

    assert first.applied_now[-2:] == GENERATED and again.applied_now == ()
    assert kafka_settings(server_executor, database) == {t.kafka_table: {
        "kafka_broker_list": "kafka:29092", "kafka_topic_list": t.default_topic,
        "kafka_group_name": f"clickhouse-clickstream.{t.source}", "kafka_format": "JSONEachRow",
        "kafka_handle_error_mode": "stream"} for t in TOPICS}
    attached = server_executor.rows(
        f"SELECT name FROM system.tables WHERE database = '{database}' AND engine = 'MaterializedView' "
        "AND match(create_table_query, ' FROM [a-z0-9_]+\\\\.kafka_') ORDER BY name")
    assert attached == sorted((v,) for t in TOPICS for v in (t.view, t.errors_view))
    server_executor.command(f"DROP DATABASE {database} SYNC")


@pytest.fixture(params=["chdb", "server"])
def engine(request, tmp_path: Path):
    """(executor, database): chdb in this test's folder, or a database of its own on the server."""
    if request.param == "chdb":
        yield ChdbExecutor(tmp_path / "clickhouse"), DB
        return
    executor = request.getfixturevalue("server_executor")
    database = f"upgrade_{uuid.uuid4().hex[:8]}"
    yield executor, database
    executor.command(f"DROP DATABASE IF EXISTS {database} SYNC")


def test_a_stack_migrated_with_the_per_source_files_upgrades_with_the_same_tables_and_groups(engine, tmp_path: Path):
    executor, database = engine
    before_generator = tmp_path / "before"
    for migration in discover(SCHEMA_DIR):  # versioned files are never edited: these are the shipped ones
        if not migration.repeatable:
            write(before_generator, migration.name, migration.text)
    for name, text in FILES_BEFORE_GENERATOR.items():
        write(before_generator, name, text)
    migrator = Migrator(executor, database)
    assert migrator.apply(discover(before_generator), PARAMS).applied_now[-6:] == tuple(sorted(FILES_BEFORE_GENERATOR))

    def objects() -> dict[str, tuple[str, str]]:
        return {name: (engine, query) for name, engine, query in executor.rows(
            f"SELECT name, engine, create_table_query FROM system.tables WHERE database = '{database}'")}

    before, groups_before = objects(), kafka_settings(executor, database)

    upgrade = migrator.apply(discover(SCHEMA_DIR), PARAMS)

    # the ledger's rows of the replaced files are history: nothing refuses or re-runs them
    assert upgrade.applied_now == GENERATED
    assert objects() == before
    assert kafka_settings(executor, database) == groups_before
    assert {t: s["kafka_group_name"] for t, s in groups_before.items()} == {
        t.kafka_table: f"clickhouse-clickstream.{t.source}" for t in TOPICS}, \
        "same consumer groups: consumption resumes from their committed offsets"
    assert set(migrator.repeatable_ledger()) == set(FILES_BEFORE_GENERATOR) | set(GENERATED)
    assert migrator.apply(discover(SCHEMA_DIR), PARAMS).applied_now == ()
