"""Fixtures every suite may use, each started only when a test asks for it: a real Kafka broker and
the stack's ClickHouse server (tests/support/clickhouse_stack.py), one per test session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """A real Kafka broker (KRaft, Apache Kafka 3.4.1) on loopback (tests/support/kafka.py)."""
    from tests.support.kafka import KafkaBroker

    broker = KafkaBroker.start(tmp_path_factory.mktemp("kafka"))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def broker(kafka):
    """The session's broker, by the name the schema and collector tests use."""
    return kafka


@pytest.fixture(scope="session")
def stack_clickhouse(tmp_path_factory):
    """A real ClickHouse 24.8.4 server on loopback, configured as the stack configures its container
    (users file, password hashes in the environment, no `default` user)."""
    # Imported here: it needs the program's environment (pulumi), and the Flink job's suite, which
    # runs in its own environment, loads this file too.
    from tests.support.clickhouse_stack import StackClickHouse

    stack = StackClickHouse.start(tmp_path_factory.mktemp("clickhouse-stack"))
    yield stack
    stack.stop()


@pytest.fixture
def owner(stack_clickhouse):
    """The production HTTP executor as the stack's owner user (the migrations' user). Every database
    the test creates is dropped after it (its Kafka tables stop consuming with it), so each test
    starts from the server's empty state (tests run one at a time)."""
    executor = stack_clickhouse.owner()
    before = {name for (name,) in executor.rows("SELECT name FROM system.databases")}
    yield executor
    created = [name for (name,) in executor.rows("SELECT name FROM system.databases") if name not in before]
    stack_clickhouse.drop_databases(created)
    executor.close()
