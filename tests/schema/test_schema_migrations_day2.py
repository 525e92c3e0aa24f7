"""`SchemaMigrations` on a running stack: changes that lose data are refused unless allowed, and a
database the stack stops using keeps its data but stops consuming (on the real ClickHouse server)."""
from __future__ import annotations

import uuid

from components.clients.clickhouse import Endpoint, HttpExecutor
from components.clients.migrations import discover
from components.contract import TOPIC_CONTRACTS
from components.resources.schema_migrations import SchemaMigrationsProvider

from .conftest import PARAMS, SCHEMA_DIR


def props(server, database: str, **changes) -> dict:
    return {"url": server.http_url, "username": "default", "password": "", "database": database,
            "params": dict(PARAMS), "schema_dir": str(SCHEMA_DIR), "drop_on_destroy": False, "allow_data_loss": False,
            "migrations": [{"name": m.name, "checksum": m.checksum} for m in discover(SCHEMA_DIR)], **changes}


def failures(provider, olds, news):
    return [(f.property, f.reason) for f in provider.check(olds, news).failures]


def test_a_database_rename_is_refused_unless_data_loss_is_allowed(clickhouse_server):
    provider = SchemaMigrationsProvider()
    olds, news = props(clickhouse_server, "clickstream"), props(clickhouse_server, "clickstream_2")
    ((prop, reason),) = failures(provider, olds, news)
    assert prop == "database" and "'clickstream' → 'clickstream_2' starts an empty database" in reason
    assert failures(provider, olds, {**news, "allow_data_loss": True}) == []
    diff = provider.diff("clickstream", olds, {**news, "allow_data_loss": True})
    assert (diff.replaces, diff.delete_before_replace) == (["database"], True), \
        "the old database's consumers stop before the new one's start"


def test_a_lower_raw_retention_is_refused_unless_data_loss_is_allowed(clickhouse_server):
    provider = SchemaMigrationsProvider()
    olds = props(clickhouse_server, "clickstream")
    lower = props(clickhouse_server, "clickstream", params={**PARAMS, "raw_ttl_days": 3})
    ((prop, reason),) = failures(provider, olds, lower)
    assert prop == "params" and "raw_ttl_days lowered from 7 to 3" in reason
    assert failures(provider, olds, {**lower, "allow_data_loss": True}) == []
    assert failures(provider, olds, props(clickhouse_server, "clickstream", params={**PARAMS, "raw_ttl_days": 30})) == []


def test_a_deleted_resource_keeps_the_data_stops_consuming_and_the_next_up_consumes_again(clickhouse_server):
    provider, database = SchemaMigrationsProvider(), f"day2_{uuid.uuid4().hex[:8]}"
    server = HttpExecutor(Endpoint(clickhouse_server.http_url, "default"))
    created = provider.create(props(clickhouse_server, database))
    server.command(f"INSERT INTO {database}.pageviews (event_time, page_id, user_id, viewtime, kafka_partition, "
                   "kafka_offset) SELECT now64(3), 'Page_1', 'User_1', 1, 0, 1")

    def tables() -> set[str]:
        return {name for (name,) in server.rows(f"SELECT name FROM system.tables WHERE database = '{database}'")}

    kafka_objects = {name for c in TOPIC_CONTRACTS.values() for name in (c.kafka_table, c.view, c.errors_view)}
    assert kafka_objects <= tables()

    provider.delete(created.id, created.outs)
    assert not kafka_objects & tables(), "no consumer is left in a database the stack no longer uses"
    assert server.rows(f"SELECT count() FROM {database}.pageviews") == [(1,)], "the data stays"

    again = provider.create(props(clickhouse_server, database))  # a later up of the same database
    assert kafka_objects <= tables(), "the ingestion is made again"
    assert again.outs["version"] == created.outs["version"]
    assert server.rows(f"SELECT count() FROM {database}.pageviews") == [(1,)]
    server.command(f"DROP DATABASE {database} SYNC")
