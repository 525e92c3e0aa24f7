"""`SchemaMigrations` on a running stack: changes that lose data are refused unless allowed, and a
database the stack stops using keeps its data but stops consuming (on the real ClickHouse server)."""
from __future__ import annotations

import uuid

from components.clients.migrations import discover
from components.contract import TOPIC_CONTRACTS
from components.resources.schema_migrations import SchemaMigrationsProvider

from .conftest import PARAMS, SCHEMA_DIR


def props(stack, database: str, **changes) -> dict:
    return {"url": stack.http_url, "username": stack.owner_user, "password": stack.passwords[stack.owner_user],
            "database": database,
            "params": dict(PARAMS), "schema_dir": str(SCHEMA_DIR), "drop_on_destroy": False, "allow_data_loss": False,
            "migrations": [{"name": m.name, "checksum": m.checksum} for m in discover(SCHEMA_DIR)], **changes}


def failures(provider, olds, news):
    return [(f.property, f.reason) for f in provider.check(olds, news).failures]


def test_a_database_rename_is_refused_unless_data_loss_is_allowed(stack_clickhouse):
    provider = SchemaMigrationsProvider()
    olds, news = props(stack_clickhouse, "clickstream"), props(stack_clickhouse, "clickstream_2")
    ((prop, reason),) = failures(provider, olds, news)
    assert prop == "database" and "'clickstream' → 'clickstream_2' starts an empty database" in reason
    assert failures(provider, olds, {**news, "allow_data_loss": True}) == []
    diff = provider.diff("clickstream", olds, {**news, "allow_data_loss": True})
    assert (diff.replaces, diff.delete_before_replace) == (["database"], True), \
        "the old database's consumers stop before the new one's start"


def test_a_lower_raw_retention_is_refused_unless_data_loss_is_allowed(stack_clickhouse):
    provider = SchemaMigrationsProvider()
    olds = props(stack_clickhouse, "clickstream")
    lower = props(stack_clickhouse, "clickstream", params={**PARAMS, "raw_ttl_days": 3})
    ((prop, reason),) = failures(provider, olds, lower)
    assert prop == "params" and "raw_ttl_days lowered from 7 to 3" in reason
    assert failures(provider, olds, {**lower, "allow_data_loss": True}) == []
    assert failures(provider, olds, props(stack_clickhouse, "clickstream", params={**PARAMS, "raw_ttl_days": 30})) == []


def test_a_deleted_resource_keeps_the_data_stops_consuming_and_the_next_up_consumes_again(stack_clickhouse, owner):
    provider, database = SchemaMigrationsProvider(), f"day2_{uuid.uuid4().hex[:8]}"
    server = owner
    created = provider.create(props(stack_clickhouse, database))
    server.command(f"INSERT INTO {database}.pageviews (event_time, page_id, user_id, viewtime, kafka_partition, "
                   "kafka_offset) SELECT now64(3), 'Page_1', 'User_1', 1, 0, 1")

    def tables() -> set[str]:
        return {name for (name,) in server.rows(f"SELECT name FROM system.tables WHERE database = '{database}'")}

    kafka_objects = {name for c in TOPIC_CONTRACTS.values() for name in (c.kafka_table, c.view, c.errors_view)}
    assert kafka_objects <= tables()

    provider.delete(created.id, created.outs)
    assert not kafka_objects & tables(), "no consumer is left in a database the stack no longer uses"
    assert server.rows(f"SELECT count() FROM {database}.pageviews") == [(1,)], "the data stays"

    again = provider.create(props(stack_clickhouse, database))  # a later up of the same database
    assert kafka_objects <= tables(), "the ingestion is made again"
    assert again.outs["version"] == created.outs["version"]
    assert server.rows(f"SELECT count() FROM {database}.pageviews") == [(1,)]
