"""The data contract between the Flink job and ClickHouse (docs/data-contract.md), platform-neutral:
which topics the job writes, by role, and each topic's columns and ClickHouse tables. Both
platforms, the job's arguments and the ClickHouse migrations read the names from here;
scripts/build_ingest_sql.py writes the ingestion SQL from the columns. Plain data: no Pulumi, so it
imports in every environment."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .errors import ClickstreamerError

# The repeatable schema file that creates every Kafka table and ingest view (scripts/build_ingest_sql.py).
INGEST_FILE = "R_ingest.sql"

# Role -> default topic name: the Flink job writes these, ClickHouse reads them.
INSIGHT_TOPICS = {
    "events": "clickstream.events",
    "page_stats": "clickstream.page_stats_1m",
    "user_activity": "clickstream.user_activity_1m",
    "sessions": "clickstream.sessions",
    "malformed": "clickstream.malformed",
}


def topic_object_name(topic: str) -> str:
    """A DNS-1123 name for an object standing for `topic` (a Strimzi KafkaTopic; the real name goes
    in its `spec.topicName`). Two topics whose object names are equal cannot both exist there."""
    return re.sub(r"[^a-z0-9.-]", "-", topic.lower()).strip("-.")[:253]


# ---------------------------------------------------------------------------------------------
# Each topic's columns and where ClickHouse puts them. scripts/build_ingest_sql.py writes the
# ingestion files (clickhouse_schema/R_ingest.sql, R_raw_ttl.sql) from this; tests hold it equal
# to the job's sink columns (flink_job/job.py SINK_COLUMNS) and to docs/data-contract.md.
# ---------------------------------------------------------------------------------------------

# ClickHouse type of a contract column -> (Flink type of the job's sink column, JSON value type).
# Timestamps travel as UTC text `YYYY-MM-DD hh:mm:ss.SSS` (docs/data-contract.md, Conventions).
WIRE_TYPES = {
    "UInt32": ("INT", "integer"),
    "UInt64": ("BIGINT", "integer"),
    "Int64": ("BIGINT", "integer"),
    "String": ("STRING", "string"),
    "DateTime64(3, 'UTC')": ("STRING", "timestamp"),
    "Array(String)": ("ARRAY<STRING>", "array of strings"),
}
# Every ingest errors table (006_ingest_errors.sql) expires on this column.
ERRORS_TTL_COLUMN = "kafka_timestamp"


@dataclass(frozen=True)
class Column:
    """One field of a topic's JSON lines."""

    name: str
    type: str
    """ClickHouse type as the Kafka table reads it, a key of WIRE_TYPES (the target table may
    store it LowCardinality)."""
    sorted: bool = False
    """An array whose order carries no meaning: stored sorted, so a replayed row equals the original."""

    def __post_init__(self) -> None:
        if self.type not in WIRE_TYPES:
            raise ClickstreamerError("contract column has an unknown type", column=self.name, type=self.type,
                                  allowed=", ".join(WIRE_TYPES))
        if self.sorted and not self.is_array:
            raise ClickstreamerError("only an array column can be stored sorted", column=self.name, type=self.type)

    @property
    def is_array(self) -> bool:
        return self.type.startswith("Array(")

    @property
    def flink_type(self) -> str:
        return WIRE_TYPES[self.type][0]

    @property
    def json_type(self) -> str:
        return WIRE_TYPES[self.type][1]


@dataclass(frozen=True)
class TopicContract:
    """One topic the job writes and ClickHouse ingests."""

    role: str
    """Key of INSIGHT_TOPICS and of the job's sinks."""
    source: str
    """ClickHouse's name for the topic: it names the Kafka table `kafka_<source>`, the views
    `ingest_<source>_mv` / `ingest_<source>_errors_mv`, the errors table `ingest_errors_<source>`,
    the consumer group `<kafka_group>.<source>` and the migration parameter `topic_<source>`.
    Changing it on a live stack changes the consumer group: the topic is read again from the start."""
    row: str
    """What one JSON line is (for the generated files' comments)."""
    table: str
    """The table the ingest view writes (created by a versioned file)."""
    columns: tuple[Column, ...]
    """The JSON fields, in the order of docs/data-contract.md's example."""
    dedup_key: tuple[str, ...]
    """The columns that make a line unique: a replay carries the same key and collapses."""
    table_order: tuple[str, ...] = ()
    """The target table's column order, when it is not `columns`' (the view selects in it)."""
    ttl_column: Optional[str] = None
    """A raw table: rows expire `raw_ttl_days` after this column. None: kept."""
    job_renders_lines: bool = False
    """The job writes the lines itself (many per record, flink_job/udf EventMessage): its sink has
    `record_key` and the rendered `value` instead of one column per field."""

    def __post_init__(self) -> None:
        if self.role not in INSIGHT_TOPICS:
            raise ClickstreamerError("contract topic has an unknown role", role=self.role,
                                  allowed=", ".join(INSIGHT_TOPICS))
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ClickstreamerError("contract topic names a column twice", role=self.role, columns=", ".join(names))
        if self.table_order and sorted(self.table_order) != sorted(names):
            raise ClickstreamerError("table_order must list exactly the topic's columns", role=self.role,
                                  table_order=", ".join(self.table_order), allowed=", ".join(names))
        for key in ("dedup_key", "ttl_column"):
            value = getattr(self, key)
            for name in (value if isinstance(value, tuple) else [value] if value else []):
                if name not in names:
                    raise ClickstreamerError(f"{key} names no column of the topic", role=self.role, key=key,
                                          value=name, allowed=", ".join(names))

    @property
    def default_topic(self) -> str:
        return INSIGHT_TOPICS[self.role]

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """`columns` in the target table's order."""
        by_name = {c.name: c for c in self.columns}
        return tuple(by_name[n] for n in self.table_order) if self.table_order else self.columns

    @property
    def kafka_table(self) -> str:
        return f"kafka_{self.source}"

    @property
    def view(self) -> str:
        return f"ingest_{self.source}_mv"

    @property
    def errors_view(self) -> str:
        return f"ingest_{self.source}_errors_mv"

    @property
    def errors_table(self) -> str:
        return f"ingest_errors_{self.source}"

    @property
    def topic_param(self) -> str:
        return f"topic_{self.source}"


_TIMESTAMP = "DateTime64(3, 'UTC')"

# Role -> contract, in INSIGHT_TOPICS' order.
TOPIC_CONTRACTS = {t.role: t for t in (
    TopicContract(
        role="events", source="events", row="valid page view", table="pageviews",
        columns=(Column("kafka_partition", "UInt32"), Column("kafka_offset", "UInt64"),
                 Column("event_time", _TIMESTAMP), Column("viewtime", "Int64"),
                 Column("user_id", "String"), Column("page_id", "String")),
        table_order=("event_time", "page_id", "user_id", "viewtime", "kafka_partition", "kafka_offset"),
        dedup_key=("kafka_partition", "kafka_offset"), ttl_column="event_time", job_renders_lines=True),
    TopicContract(
        role="page_stats", source="page_stats_1m", row="(minute, page) with its views and unique users",
        table="page_stats_1m",
        columns=(Column("window_start", _TIMESTAMP), Column("window_end", _TIMESTAMP),
                 Column("page_id", "String"), Column("views", "UInt64"), Column("unique_users", "UInt64")),
        dedup_key=("window_start", "page_id")),
    TopicContract(
        role="user_activity", source="user_activity_1m", row="(minute, user) with its views and pages",
        table="user_activity_1m",
        columns=(Column("window_start", _TIMESTAMP), Column("window_end", _TIMESTAMP),
                 Column("user_id", "String"), Column("views", "UInt64"),
                 Column("page_ids", "Array(String)", sorted=True)),
        dedup_key=("window_start", "user_id")),
    TopicContract(
        role="sessions", source="sessions", row="user session", table="sessions",
        columns=(Column("user_id", "String"), Column("session_start", _TIMESTAMP),
                 Column("session_end", _TIMESTAMP), Column("views", "UInt64"),
                 Column("page_ids", "Array(String)", sorted=True)),
        dedup_key=("user_id", "session_start")),
    TopicContract(
        role="malformed", source="malformed", row="record the job could not decode",
        table="malformed_events",
        columns=(Column("kafka_partition", "UInt32"), Column("kafka_offset", "UInt64"),
                 Column("kafka_timestamp", _TIMESTAMP), Column("error", "String"),
                 Column("payload_base64", "String")),
        table_order=("kafka_timestamp", "kafka_partition", "kafka_offset", "error", "payload_base64"),
        dedup_key=("kafka_partition", "kafka_offset"), ttl_column="kafka_timestamp"),
)}
