"""Fixtures every suite may use: the stack's ClickHouse server (tests/support/clickhouse_stack.py),
one per test session, started only when a test asks for it."""
from __future__ import annotations

import uuid

import pytest

from tests.support.clickhouse_stack import StackClickHouse


@pytest.fixture(scope="session")
def stack_clickhouse(tmp_path_factory):
    """A real ClickHouse 24.8.4 server on loopback, configured as the stack configures its container
    (users file, password hashes in the environment, no `default` user)."""
    stack = StackClickHouse.start(tmp_path_factory.mktemp("clickhouse-stack"))
    yield stack
    stack.stop()


@pytest.fixture
def owner(stack_clickhouse):
    """The production HTTP executor, as the stack's owner user (the migrations' user)."""
    executor = stack_clickhouse.owner()
    yield executor
    executor.close()


@pytest.fixture
def scratch_database(owner):
    """A database name of this test's own on the session's server, dropped after the test (its
    Kafka tables stop consuming with it)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    owner.command(f"DROP DATABASE IF EXISTS {name} SYNC")
