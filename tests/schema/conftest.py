"""Fixtures for the schema tests: the stack's ClickHouse server of the session (tests/conftest.py),
reached as its owner through the production HTTP executor, and the deployment params."""
from __future__ import annotations

from pathlib import Path

import pytest

from components.clients.migrations import Migrator, discover

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "clickhouse_schema"
DATABASE = "clickstream"

# What a Docker deployment renders the schema with. On the test server these Kafka-engine tables
# consume in the background from a broker that does not resolve: nothing arrives (and it costs
# nothing measurable); the ingestion tests render them with a real broker.
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
def executor(owner):
    """The owner's HTTP executor on the session's server (tests/conftest.py: databases the test
    creates are dropped after it)."""
    return owner


@pytest.fixture
def migrated(executor):
    """The shipped schema applied from empty to `clickstream` by the production runner over HTTP
    (about a second and a half on the server: every test gets its own)."""
    Migrator(executor, DATABASE).apply(discover(SCHEMA_DIR), PARAMS)
    return executor


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path
