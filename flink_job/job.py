"""Clickstream insights: the PyFlink job that turns datagen `pageviews` into the topics of
docs/data-contract.md, which ClickHouse consumes.

    pageviews (Kafka, Confluent-Avro, raw bytes read)
      └─ DecodePageviews (Java, flink_job/udf) ─┬─ malformed ───────────────► clickstream.malformed
                                                 └─ PageviewInsights (Java)
                                                      ├─ messages ──────────────► clickstream.events
                                                      ├─ minute partials
                                                      │   └─ MinuteLateness (Java) ─┬─ 1 min × page ► clickstream.page_stats_1m
                                                      │                             └─ 1 min × user ► clickstream.user_activity_1m
                                                      └─ session partials ─ session × user ► clickstream.sessions

Event time is the Kafka record timestamp (datagen's `viewtime` is a counter), with a
bounded-out-of-orderness watermark and a source idle timeout so a quiet partition cannot hold
windows back (README, "What exact means": which views count, when a minute is final). The
transformation (`build_insights`) is a pure function over Tables, tested on bounded input;
`main()` only declares the source and sinks from its arguments and runs every insert as one
statement set.

Run: `flink run -py flink_job/job.py --bootstrap-servers broker:29092 --schema-registry-url
http://schema-registry:8081 --events-topic clickstream.events ...` (the five output topics are
required; every option also reads a CLICKSTREAM_* environment variable; see `--help`). The
flink_job/udf jar (operators, functions, the `kafka-messages` sink) must be on Flink's classpath
(/opt/flink/lib in the image).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, fields
from typing import NamedTuple, Optional, Sequence

from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import (DataTypes, EnvironmentSettings, Schema, StreamTableEnvironment, Table,
                           TableDescriptor, TableEnvironment)

LOG = logging.getLogger("clickstream.job")

# The Java functions of flink_job/udf (name -> class); their jar must be on Flink's classpath.
# The per-view work is not done by functions but by the Java operators of
# io.clickstreamer.flink.Pageviews (see `_per_view_stage`).
JAVA_FUNCTIONS = {
    "MALFORMED_BASE64": "io.clickstreamer.flink.MalformedBase64",
}
ENV_PREFIX = "CLICKSTREAM_"
WINDOW_SECONDS = 60
"""The tumbling window of page stats and user activity (the contract's `_1m`): the SQL windows and
the per-view pre-aggregation both take it from here."""


# ---------------------------------------------------------------------------------------------
# Configuration: every endpoint and name from arguments, each with an environment fallback.
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobConfig:
    """What the job connects to and how it behaves. Durations are whole seconds."""

    bootstrap_servers: str
    """Kafka bootstrap servers of the input and output topics."""
    schema_registry_url: str
    """Schema Registry (Confluent REST API) holding the writer schemas of `pageviews`."""
    # The output topics have no defaults here: their names belong to the data contract
    # (components/contract.py), and whoever runs the job passes them.
    events_topic: str
    page_stats_topic: str
    user_activity_topic: str
    sessions_topic: str
    malformed_topic: str
    source_topic: str = "pageviews"
    group_id: str = "clickstream-insights"
    """Consumer group: offsets are committed on each checkpoint (for lag monitoring and for a
    restart without a checkpoint)."""
    startup_mode: str = "group-offsets"
    """Where a job without checkpoint/savepoint starts: the group's committed offsets (earliest
    when the group has none), `earliest-offset` or `latest-offset`."""
    checkpoint_interval: int = 10
    session_gap: int = 300
    events_message_bytes: int = 65536
    """A `clickstream.events` message holds the JSON lines of as many page views as fit in this
    many bytes (1: one view per message). Many views per message is most of the job's
    throughput: the producer's cost is per message. At most the broker's `message.max.bytes`."""
    watermark_delay: int = 5
    """Bounded out-of-orderness: how far a record's timestamp may lag the newest one seen."""
    idle_timeout: int = 30
    """A partition without records for this long stops holding the watermark back."""
    delivery_guarantee: str = "at-least-once"
    """`at-least-once` (outputs visible at once; replays rewrite rows with the same dedup key) or
    `exactly-once` (Kafka transactions committed per checkpoint; consumers must read_committed)."""
    transactional_id_prefix: str = "clickstream-insights"
    transaction_timeout: int = 900
    """Kafka transaction timeout for exactly-once; must not exceed the broker's
    `transaction.max.timeout.ms` (15 minutes by default)."""
    parallelism: Optional[int] = None
    bounded: bool = False
    """Stop at the offsets that are latest when the job starts (backfills, benchmarks)."""
    job_name: str = "clickstream-insights"


_HELP = {
    "bootstrap_servers": "Kafka bootstrap servers (required)",
    "schema_registry_url": "Schema Registry URL holding the pageviews writer schemas (required)",
    "source_topic": "input topic written by kafka-connect-datagen",
    "events_topic": "output topic of the raw events, clickstream.events in the contract (required)",
    "page_stats_topic": "output topic of per-minute page stats, clickstream.page_stats_1m (required)",
    "user_activity_topic": "output topic of per-minute user activity, clickstream.user_activity_1m (required)",
    "sessions_topic": "output topic of user sessions, clickstream.sessions (required)",
    "malformed_topic": "output topic of malformed records, clickstream.malformed (required)",
    "group_id": "consumer group; offsets committed on each checkpoint",
    "startup_mode": "start point without checkpoint/savepoint (group-offsets: earliest if none)",
    "checkpoint_interval": "seconds between checkpoints",
    "session_gap": "seconds without a view that close a user session",
    "events_message_bytes": "most bytes of page views (JSON lines) per clickstream.events message; 1: one view each",
    "watermark_delay": "seconds a record timestamp may lag the newest seen (out-of-orderness)",
    "idle_timeout": "seconds after which a partition without records stops holding the watermark",
    "delivery_guarantee": "Kafka sink guarantee",
    "transactional_id_prefix": "exactly-once only: prefix of the sinks' transactional ids",
    "transaction_timeout": "exactly-once only: Kafka transaction timeout, seconds (<= broker max)",
    "parallelism": "job parallelism (default: the cluster's)",
    "bounded": "stop at the offsets latest at start (backfills, benchmarks)",
    "job_name": "Flink job name",
}
_CHOICES = {
    "startup_mode": ("group-offsets", "earliest-offset", "latest-offset"),
    "delivery_guarantee": ("at-least-once", "exactly-once"),
}
_REQUIRED = ("bootstrap_servers", "schema_registry_url", "events_topic", "page_stats_topic", "user_activity_topic",
             "sessions_topic", "malformed_topic")
_MINIMUM = {"checkpoint_interval": 1, "session_gap": 1, "events_message_bytes": 1, "watermark_delay": 0,
            "idle_timeout": 1, "transaction_timeout": 60, "parallelism": 1}
# Kafka's default message.max.bytes (1048588) less room for the record's key and headers.
_MAXIMUM = {"events_message_bytes": 1_000_000}


def parse_args(argv: Optional[Sequence[str]] = None,
               environ: Optional[dict] = None) -> JobConfig:
    """Options win over `CLICKSTREAM_<OPTION>` environment variables, which win over defaults."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="job.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for field in fields(JobConfig):
        flag = "--" + field.name.replace("_", "-")
        env_name = ENV_PREFIX + field.name.upper()
        default = environ.get(env_name, None if field.name in _REQUIRED else field.default)
        if field.type == "bool":
            parser.add_argument(flag, action="store_true",
                                default=str(default).lower() in ("1", "true", "yes"),
                                help=f"{_HELP.get(field.name, '')} (env {env_name})")
            continue
        kind = int if field.type in ("int", "Optional[int]") else str
        parser.add_argument(flag, type=kind, default=default, choices=_CHOICES.get(field.name),
                            help=f"{_HELP[field.name]} (env {env_name})")
    args = parser.parse_args(argv)
    problems = [f"--{name.replace('_', '-')} (or {ENV_PREFIX}{name.upper()}) is required"
                for name in _REQUIRED if not getattr(args, name)]
    for name, minimum in _MINIMUM.items():
        value = getattr(args, name)
        if value is not None and int(value) < minimum:
            problems.append(f"--{name.replace('_', '-')} is {value}; it must be at least {minimum}")
    for name, maximum in _MAXIMUM.items():
        value = getattr(args, name)
        if value is not None and int(value) > maximum:
            problems.append(f"--{name.replace('_', '-')} is {value}; it must be at most {maximum}")
    if problems:
        parser.error("; ".join(problems))
    values = {f.name: getattr(args, f.name) for f in fields(JobConfig)}
    for name in ("checkpoint_interval", "session_gap", "events_message_bytes", "watermark_delay", "idle_timeout",
                 "transaction_timeout", "parallelism"):
        if values[name] is not None:
            values[name] = int(values[name])
    return JobConfig(**values)


# ---------------------------------------------------------------------------------------------
# Transformations: pure functions over Tables.
# ---------------------------------------------------------------------------------------------

class Insights(NamedTuple):
    """One Table per output topic (the keys of SINK_COLUMNS), each with the sink's columns:
    `record_key` first (the dedup key as a string, written as the Kafka record key), then the
    contract's JSON fields (for `events`, one `value` column holding a message already rendered:
    the contract's JSON objects of one or more page views, a line each, keyed by the first view's
    dedup key)."""

    events: Table
    page_stats: Table
    user_activity: Table
    sessions: Table
    malformed: Table


class _PerView(NamedTuple):
    """What the per-view stage (Java) gives the SQL windows; see `_per_view_stage`."""

    malformed: Table
    """kafka_partition, kafka_offset, event_time, payload, error: records that are no page view."""
    messages: Table
    """The `clickstream.events` records, rendered: record_key, value."""
    minutes: Table
    """Partial counts per (minute, page, user): user_id, page_id, views, event_time (rowtime);
    late ones dropped already."""
    sessions: Table
    """Partial counts per chain of one user's views: user_id, page_id, views, event_time (rowtime)."""


def _as_text(timestamp: str) -> str:
    """SQL rendering of a TIMESTAMP/TIMESTAMP_LTZ as `YYYY-MM-DD hh:mm:ss.SSS` in the session time
    zone (the job sets UTC)."""
    return f"CAST(CAST({timestamp} AS TIMESTAMP(3)) AS STRING)"


def _interval(seconds: int) -> str:
    """A SQL interval literal for a whole number of seconds. (`INTERVAL 'n' SECOND` rejects n > 99
    and Flink has no type for a wider SECOND(p); DAY TO SECOND covers 99 days.)"""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{secs:02d}' DAY TO SECOND"


def _per_view_stage(t_env: StreamTableEnvironment, raw: Table, registry_url: str, session_gap_seconds: int,
                    events_message_bytes: int) -> _PerView:
    """The per-view stage: `io.clickstreamer.flink.Pageviews.perView` (Java, flink_job/udf), which
    decodes each record once (DecodePageviews), renders its line of a `clickstream.events` message
    and counts it into partial rows (PageviewInsights), and drops the minute partials that are late
    (MinuteLateness, metric `lateViews`); its documentation draws the graph.

    The one call into Java, and the one place that reaches PyFlink's private handles (`_j_tenv`,
    `_j_table`): a Java operator between two Tables has no public PyFlink API, Py4J can call the
    Java side that has one."""
    from pyflink.java_gateway import get_gateway

    pageviews = get_gateway().jvm.io.clickstreamer.flink.Pageviews
    tables = pageviews.perView(t_env._j_tenv, raw._j_table, registry_url, session_gap_seconds * 1000,
                               WINDOW_SECONDS * 1000, events_message_bytes)
    return _PerView(*(Table(j_table, t_env) for j_table in tables))


def build_insights(t_env: StreamTableEnvironment, raw: Table, registry_url: str, session_gap_seconds: int,
                   events_message_bytes: int = JobConfig.events_message_bytes) -> Insights:
    """The real-time insights of design §3 from raw `pageviews` records.

    `raw` has kafka_partition INT, kafka_offset BIGINT, event_time (a rowtime attribute) and
    payload BYTES (Confluent-Avro, writer schemas in the registry at `registry_url`). Records that
    are not page views become `malformed` rows; MALFORMED_BASE64 (Java) renders their bytes and
    counts them (`malformedRecords`).

    Windows are event-time: tumbling WINDOW_SECONDS (1 minute), and per-user sessions closed after
    `session_gap_seconds` without a view. Unique users are exact per (minute, page) and never
    summed; page lists are distinct (order carries no meaning: ClickHouse sorts them).

    The windows see only the per-view stage's partial rows (`_per_view_stage`: up to
    `events_message_bytes` of lines per `clickstream.events` message, counts per (minute, page,
    user) and per chain of one user's views, emitted before each watermark and at most 100 ms
    after their views), and give exactly the results they would give over the views themselves
    (PageviewInsights' documentation says why, lateness included). Whether a minute partial is
    late is decided once, before the minute windows, by MinuteLateness: it drops and counts late
    views (metric `lateViews`) and keeps the two levels of minute windows below from ever
    following one upstream subtask alone after an idle stretch (issue 19), so that they drop
    nothing themselves.
    """
    per_view = _per_view_stage(t_env, raw, registry_url, session_gap_seconds, events_message_bytes)
    malformed = t_env.sql_query(f"""
        SELECT CAST(kafka_partition AS STRING) || '|' || CAST(kafka_offset AS STRING) AS record_key,
               kafka_partition,
               kafka_offset,
               {_as_text('event_time')}                                         AS kafka_timestamp,
               error,
               MALFORMED_BASE64(payload, error)                                 AS payload_base64
        FROM {per_view.malformed}""")
    minute_views, session_views = per_view.minutes, per_view.sessions
    # Counting the (minute, page, user) rows per page gives exact uniques.
    per_page_user = t_env.sql_query(f"""
        SELECT window_start,
               window_end,
               page_id,
               user_id,
               SUM(`views`)                              AS `views`
        FROM TABLE(TUMBLE(TABLE {minute_views}, DESCRIPTOR(event_time), {_interval(WINDOW_SECONDS)}))
        GROUP BY window_start, window_end, page_id, user_id""")
    page_stats = t_env.sql_query(f"""
        SELECT {_as_text('window_start')} || '|' || page_id AS record_key,
               {_as_text('window_start')}                AS window_start,
               {_as_text('window_end')}                  AS window_end,
               page_id,
               SUM(`views`)                              AS `views`,
               COUNT(*)                                  AS unique_users
        FROM {per_page_user}
        GROUP BY window_start, window_end, page_id""")
    user_activity = t_env.sql_query(f"""
        SELECT {_as_text('window_start')} || '|' || user_id AS record_key,
               {_as_text('window_start')}                AS window_start,
               {_as_text('window_end')}                  AS window_end,
               user_id,
               SUM(`views`)                              AS `views`,
               ARRAY_AGG(page_id)                        AS page_ids
        FROM {per_page_user}
        GROUP BY window_start, window_end, user_id""")
    sessions = t_env.sql_query(f"""
        SELECT user_id || '|' || {_as_text('window_start')} AS record_key,
               user_id,
               {_as_text('window_start')}                AS session_start,
               {_as_text('window_end')}                  AS session_end,
               SUM(`views`)                              AS `views`,
               ARRAY_AGG(DISTINCT page_id)               AS page_ids
        FROM TABLE(SESSION(TABLE {session_views} PARTITION BY user_id, DESCRIPTOR(event_time),
                           {_interval(session_gap_seconds)}))
        GROUP BY window_start, window_end, user_id""")
    return Insights(per_view.messages, page_stats, user_activity, sessions, malformed)


# ---------------------------------------------------------------------------------------------
# Source and sinks: declared from the configuration, never from literals in SQL.
# ---------------------------------------------------------------------------------------------

SINK_COLUMNS = {
    # Messages rendered already (PageviewInsights): JSON lines of kafka_partition, kafka_offset,
    # event_time, viewtime, user_id, page_id.
    "events": [("record_key", DataTypes.STRING()), ("value", DataTypes.BYTES())],
    "page_stats": [("record_key", DataTypes.STRING()), ("window_start", DataTypes.STRING()),
                   ("window_end", DataTypes.STRING()), ("page_id", DataTypes.STRING()),
                   ("views", DataTypes.BIGINT()), ("unique_users", DataTypes.BIGINT())],
    "user_activity": [("record_key", DataTypes.STRING()), ("window_start", DataTypes.STRING()),
                      ("window_end", DataTypes.STRING()), ("user_id", DataTypes.STRING()),
                      ("views", DataTypes.BIGINT()),
                      ("page_ids", DataTypes.ARRAY(DataTypes.STRING()))],
    "sessions": [("record_key", DataTypes.STRING()), ("user_id", DataTypes.STRING()),
                 ("session_start", DataTypes.STRING()), ("session_end", DataTypes.STRING()),
                 ("views", DataTypes.BIGINT()), ("page_ids", DataTypes.ARRAY(DataTypes.STRING()))],
    "malformed": [("record_key", DataTypes.STRING()), ("kafka_partition", DataTypes.INT()),
                  ("kafka_offset", DataTypes.BIGINT()), ("kafka_timestamp", DataTypes.STRING()),
                  ("error", DataTypes.STRING()), ("payload_base64", DataTypes.STRING())],
}


def create_table_environment(cfg: JobConfig) -> StreamTableEnvironment:
    t_env = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment(),
                                          EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("pipeline.name", cfg.job_name)
    conf.set("table.local-time-zone", "UTC")
    conf.set("execution.checkpointing.interval", f"{cfg.checkpoint_interval} s")
    # Aligned (exactly-once) checkpoints keep window state consistent with source offsets, so a
    # replay re-emits the same counts; the sink guarantee is chosen separately.
    conf.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    conf.set("table.exec.source.idle-timeout", f"{cfg.idle_timeout} s")
    # Rows are not held by reference across operators in this plan; skipping defensive copies
    # between chained operators is a large part of the throughput.
    conf.set("pipeline.object-reuse", "true")
    if cfg.parallelism:
        conf.set("parallelism.default", str(cfg.parallelism))
    return t_env


def register_functions(t_env: TableEnvironment) -> None:
    for name, java_class in JAVA_FUNCTIONS.items():
        t_env.create_java_temporary_system_function(name, java_class)


def declare_source(t_env: TableEnvironment, cfg: JobConfig, name: str = "pageviews_raw") -> Table:
    """`pageviews` as raw bytes with partition, offset and record timestamp (the event time)."""
    schema = (Schema.new_builder()
              .column_by_metadata("kafka_partition", DataTypes.INT(), "partition", True)
              .column_by_metadata("kafka_offset", DataTypes.BIGINT(), "offset", True)
              .column_by_metadata("event_time", DataTypes.TIMESTAMP_LTZ(3), "timestamp", True)
              .column("payload", DataTypes.BYTES())
              .watermark("event_time", f"event_time - {_interval(cfg.watermark_delay)}")
              .build())
    builder = (TableDescriptor.for_connector("kafka")
               .schema(schema)
               .option("topic", cfg.source_topic)
               .option("properties.bootstrap.servers", cfg.bootstrap_servers)
               .option("properties.group.id", cfg.group_id)
               .option("properties.auto.offset.reset", "earliest")
               .option("scan.startup.mode", cfg.startup_mode)
               .option("value.format", "raw"))
    if cfg.bounded:
        builder = builder.option("scan.bounded.mode", "latest-offset")
    descriptor = builder.build()
    t_env.create_temporary_table(name, descriptor)
    return t_env.from_path(name)


def _sink_descriptor(cfg: JobConfig, topic: str, columns) -> TableDescriptor:
    schema = Schema.new_builder()
    for column, data_type in columns:
        schema = schema.column(column, data_type)
    # (record_key, value BYTES) is a message rendered already (PageviewInsights): its bytes are
    # written as they are, by the Kafka sink of flink_job/udf (MessageSinkFactory), which takes the
    # same options as connector `kafka` and is cheaper per record.
    if [c for c, _ in columns] == ["record_key", "value"]:
        builder = TableDescriptor.for_connector("kafka-messages")
    else:
        builder = (TableDescriptor.for_connector("kafka")
                   .option("key.format", "raw")
                   .option("key.fields", "record_key")
                   .option("value.fields-include", "EXCEPT_KEY")
                   .option("value.format", "json")
                   .option("value.json.timestamp-format.standard", "SQL"))
    builder = (builder
               .schema(schema.build())
               .option("topic", topic)
               .option("properties.bootstrap.servers", cfg.bootstrap_servers)
               .option("sink.delivery-guarantee", cfg.delivery_guarantee)
               # Batches, not one request per row: the producer waits up to 100 ms to fill a batch.
               .option("properties.linger.ms", "100")
               .option("properties.batch.size", "262144")
               .option("properties.compression.type", "lz4"))
    if cfg.delivery_guarantee == "exactly-once":
        builder = (builder
                   .option("sink.transactional-id-prefix", f"{cfg.transactional_id_prefix}-{topic}")
                   .option("properties.transaction.timeout.ms", str(cfg.transaction_timeout * 1000)))
    return builder.build()


def declare_sinks(t_env: TableEnvironment, cfg: JobConfig) -> dict[str, str]:
    """One Kafka JSON sink per output; returns output name -> temporary table name."""
    topics = {"events": cfg.events_topic, "page_stats": cfg.page_stats_topic,
              "user_activity": cfg.user_activity_topic, "sessions": cfg.sessions_topic,
              "malformed": cfg.malformed_topic}
    names = {}
    for output, topic in topics.items():
        names[output] = f"sink_{output}"
        t_env.create_temporary_table(names[output], _sink_descriptor(cfg, topic, SINK_COLUMNS[output]))
    return names


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Submit the job; returns its id."""
    cfg = parse_args(argv)
    t_env = create_table_environment(cfg)
    register_functions(t_env)
    insights = build_insights(t_env, declare_source(t_env, cfg), cfg.schema_registry_url, cfg.session_gap,
                              cfg.events_message_bytes)
    sinks = declare_sinks(t_env, cfg)
    statements = t_env.create_statement_set()
    for output, table in insights._asdict().items():
        statements.add_insert(sinks[output], table)
    result = statements.execute()
    job_id = str(result.get_job_client().get_job_id())
    LOG.info("submitted %s as job %s (%s)", cfg.job_name, job_id, cfg)
    return job_id


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    main()
