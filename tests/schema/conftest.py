"""Fixtures for the schema tests: a fresh chdb 2.1.1 engine per test, a real ClickHouse server for the
session, and the deployment params."""
from __future__ import annotations

from pathlib import Path

import pytest

from components.clients.migrations import Migrator, discover
from components.clients.clickhouse import Endpoint, HttpExecutor
from tests.support.chdb_executor import ChdbExecutor, copy_data_folder
from tests.support.clickhouse_server import ClickHouseServer

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "clickhouse_schema"
DATABASE = "clickstream"

# What a Docker deployment renders the schema with (the Kafka values are placeholders here: the
# Kafka-engine tables are created but nothing consumes in chdb).
PARAMS = {
    "kafka_brokers": "kafka:29092",
    "kafka_group": "clickhouse-clickstream",
    "topic_events": "clickstream.events",
    "topic_page_stats_1m": "clickstream.page_stats_1m",
    "topic_user_activity_1m": "clickstream.user_activity_1m",
    "topic_sessions": "clickstream.sessions",
    "topic_malformed": "clickstream.malformed",
    "raw_ttl_days": 7,
}


@pytest.fixture
def executor(tmp_path: Path) -> ChdbExecutor:
    return ChdbExecutor(tmp_path / "clickhouse")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """A data folder with the shipped schema applied from empty; never written to by tests."""
    folder = tmp_path_factory.mktemp("migrated") / "clickhouse"
    Migrator(ChdbExecutor(folder), DATABASE).apply(discover(SCHEMA_DIR), PARAMS)
    return folder


@pytest.fixture
def migrated(migrated_template: Path, tmp_path: Path) -> ChdbExecutor:
    """The shipped schema applied from empty, in a folder of this test's own."""
    copy_data_folder(migrated_template, tmp_path / "migrated")
    return ChdbExecutor(tmp_path / "migrated")


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory):
    """A real ClickHouse 24.8.4 server on loopback (tests/support/clickhouse_server.py)."""
    server = ClickHouseServer.start(tmp_path_factory.mktemp("clickhouse-server"))
    yield server
    server.stop()


@pytest.fixture
def server_executor(clickhouse_server):
    """The production HTTP executor, on the session's server as its `default` user."""
    executor = HttpExecutor(Endpoint(clickhouse_server.http_url, "default"))
    yield executor
    executor.close()
