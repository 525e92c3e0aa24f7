"""The ingestion SQL (R_ingest.sql, R_raw_ttl.sql) is what scripts/build_ingest_sql.py generates from
components/contract.py; it writes the contract's columns into the tables the versioned files
created, applies on chdb and on a real ClickHouse server, and a stack migrated with the per-source
files it replaced upgrades to it with the same tables, views and consumer groups."""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from components.clients.clickhouse import Endpoint, HttpExecutor
from components.clients.migrations import Migrator, discover
from components.contract import TOPIC_CONTRACTS, TopicContract
from tests.support.chdb_executor import ChdbExecutor
from tests.support.clickhouse_server import ClickHouseServer
from tests.support.clock import at
from tests.support.processes import wait_for
from tests.support.scripts import load_script

from .conftest import DATABASE, PARAMS, SCHEMA_DIR, write
from .ingest_files_before_generator import FILES as FILES_BEFORE_GENERATOR

DB = DATABASE
TOPICS = list(TOPIC_CONTRACTS.values())
GENERATED = ("R_ingest.sql", "R_raw_ttl.sql")


# --- the files are the generator's output ---------------------------------------------------------

def test_committed_files_are_the_generators_output():
    build = load_script("build_ingest_sql")
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
    build = load_script("build_ingest_sql")
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
    build = load_script("build_ingest_sql")
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


def test_generated_files_apply_on_a_real_server(owner):
    database = f"ingest_{uuid.uuid4().hex[:8]}"
    migrator = Migrator(owner, database)

    first = migrator.apply(discover(SCHEMA_DIR), PARAMS)
    again = migrator.apply(discover(SCHEMA_DIR), PARAMS)

    assert first.applied_now[-2:] == GENERATED and again.applied_now == ()
    assert kafka_settings(owner, database) == {t.kafka_table: {
        "kafka_broker_list": "kafka:29092", "kafka_topic_list": t.default_topic,
        "kafka_group_name": f"clickhouse-clickstream.{t.source}", "kafka_format": "JSONEachRow",
        "kafka_handle_error_mode": "stream"} for t in TOPICS}
    attached = owner.rows(
        f"SELECT name FROM system.tables WHERE database = '{database}' AND engine = 'MaterializedView' "
        "AND match(create_table_query, ' FROM [a-z0-9_]+\\\\.kafka_') ORDER BY name")
    assert attached == sorted((v,) for t in TOPICS for v in (t.view, t.errors_view))
    owner.command(f"DROP DATABASE {database} SYNC")


@pytest.fixture(params=["chdb", "server"])
def upgrade_target(request, tmp_path: Path):
    """(executor, database): chdb in this test's folder, or a database of its own on the server."""
    if request.param == "chdb":
        yield ChdbExecutor(tmp_path / "clickhouse"), DB
        return
    executor = request.getfixturevalue("owner")
    database = f"upgrade_{uuid.uuid4().hex[:8]}"
    yield executor, database
    executor.command(f"DROP DATABASE IF EXISTS {database} SYNC")


def schema_before_generator(folder: Path) -> Path:
    """The shipped versioned files (never edited) and the per-source repeatables, in `folder`."""
    for migration in discover(SCHEMA_DIR):
        if not migration.repeatable:
            write(folder, migration.name, migration.text)
    for name, text in FILES_BEFORE_GENERATOR.items():
        write(folder, name, text)
    return folder


def test_a_stack_migrated_with_the_per_source_files_upgrades_with_the_same_tables_and_groups(upgrade_target,
                                                                                            tmp_path: Path):
    executor, database = upgrade_target
    migrator = Migrator(executor, database)
    first = migrator.apply(discover(schema_before_generator(tmp_path / "before")), PARAMS)
    assert first.applied_now[-6:] == tuple(sorted(FILES_BEFORE_GENERATOR))

    def objects() -> dict[str, tuple[str, str]]:
        return {name: (kind, query) for name, kind, query in executor.rows(
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


@pytest.fixture(scope="module")
def consuming_executor(tmp_path_factory):
    """A real server whose Kafka tables consume in the background: chdb's library compiles the
    message-broker pool with 0 threads, so it is set to the stock server default (16) the image
    runs with, in a config.d file the server merges over its config."""
    home = tmp_path_factory.mktemp("consuming-clickhouse")
    write(home / "config.d", "message_broker_pool.xml",
          "<clickhouse><background_message_broker_schedule_pool_size>16</background_message_broker_schedule_pool_size>"
          "</clickhouse>\n")
    server = ClickHouseServer.start(home)
    executor = HttpExecutor(Endpoint(server.http_url, "default"))
    yield executor
    executor.close()
    server.stop()


def test_after_the_upgrade_the_server_resumes_consuming_at_the_committed_offsets(broker, consuming_executor,
                                                                                  tmp_path: Path):
    """The server consumes in the background with the per-source files; after the upgrade the new
    Kafka table reads on from its group's committed offset: only the messages produced since."""
    executor = consuming_executor
    run = uuid.uuid4().hex[:8]
    database = f"resume_{run}"
    topic = {t.source: f"resume.{t.source}.{run}" for t in TOPICS}
    events, group = topic["events"], f"clickhouse-{run}.events"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)
                                       for t in topic.values()]).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})

    def produce(offsets: range) -> None:
        for n in offsets:
            line = {"kafka_partition": 0, "kafka_offset": n, "event_time": at("13:05:07.250"), "viewtime": n,
                    "user_id": "User_3", "page_id": "Page_17"}
            producer.produce(events, key=f"0|{n}".encode(), value=json.dumps(line).encode())
        assert producer.flush(30) == 0, "every record acknowledged by the broker"

    def committed() -> int:
        (offsets,) = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(events, 0)])]).values()
        return offsets.result(30).topic_partitions[0].offset

    def ingested() -> list[int]:
        return [n for (n,) in executor.rows(f"SELECT kafka_offset FROM {database}.pageviews ORDER BY kafka_offset")]

    def consumed(count: int):
        def probe() -> bool:
            state = (committed(), ingested())
            assert state[0] == count and len(state[1]) == count, f"committed offset {state[0]}, rows {state[1]}"
            return True
        return probe

    params = {**PARAMS, "kafka_brokers": broker.bootstrap, "kafka_group": f"clickhouse-{run}",
              **{t.topic_param: topic[t.source] for t in TOPICS}}
    migrator = Migrator(executor, database)
    try:
        migrator.apply(discover(schema_before_generator(tmp_path / "before")), params)
        produce(range(3))
        wait_for("the per-source files' Kafka table to ingest and commit 3 messages", consumed(3), timeout=90)
        # a re-read would show as extra rows: no merge may collapse them before we look
        executor.command(f"SYSTEM STOP MERGES {database}.pageviews")

        assert migrator.apply(discover(SCHEMA_DIR), params).applied_now == GENERATED
        produce(range(3, 5))

        wait_for("the generated Kafka table to ingest and commit 2 more messages", consumed(5), timeout=90,
                 hint=f"committed {group} offset and pageviews rows; more rows mean the topic was read again")
        assert ingested() == [0, 1, 2, 3, 4], "each message ingested once"
    finally:
        executor.command(f"DROP DATABASE IF EXISTS {database} SYNC")
