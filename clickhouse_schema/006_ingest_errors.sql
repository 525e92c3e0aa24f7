-- What: where Kafka messages ClickHouse cannot ingest land: one table per ingested topic
-- (`ingest_errors_<source>`) and the view `ingest_errors` over all of them.
-- Why: the Kafka tables run with kafka_handle_error_mode = 'stream', so a message that is not valid
-- JSON, or lacks a field of the data contract, goes here (with ClickHouse's reason and the raw
-- bytes) instead of blocking its topic. One table per source keeps one writer per table (the
-- source's error view in R_ingest_<source>.sql). Keyed by (topic, partition, offset): a re-read
-- collapses. Daily partitions so the raw-records TTL (R_raw_ttl.sql) drops whole parts.
CREATE TABLE IF NOT EXISTS {{ database | ident }}.ingest_errors_events
(
    topic           LowCardinality(String),
    partition       UInt64,
    offset          UInt64,
    kafka_timestamp DateTime64(3, 'UTC'),
    error           String,
    raw_message     String,
    ingested_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(kafka_timestamp)
ORDER BY (topic, partition, offset)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS {{ database | ident }}.ingest_errors_page_stats_1m
(
    topic           LowCardinality(String),
    partition       UInt64,
    offset          UInt64,
    kafka_timestamp DateTime64(3, 'UTC'),
    error           String,
    raw_message     String,
    ingested_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(kafka_timestamp)
ORDER BY (topic, partition, offset)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS {{ database | ident }}.ingest_errors_user_activity_1m
(
    topic           LowCardinality(String),
    partition       UInt64,
    offset          UInt64,
    kafka_timestamp DateTime64(3, 'UTC'),
    error           String,
    raw_message     String,
    ingested_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(kafka_timestamp)
ORDER BY (topic, partition, offset)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS {{ database | ident }}.ingest_errors_sessions
(
    topic           LowCardinality(String),
    partition       UInt64,
    offset          UInt64,
    kafka_timestamp DateTime64(3, 'UTC'),
    error           String,
    raw_message     String,
    ingested_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(kafka_timestamp)
ORDER BY (topic, partition, offset)
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS {{ database | ident }}.ingest_errors_malformed
(
    topic           LowCardinality(String),
    partition       UInt64,
    offset          UInt64,
    kafka_timestamp DateTime64(3, 'UTC'),
    error           String,
    raw_message     String,
    ingested_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(kafka_timestamp)
ORDER BY (topic, partition, offset)
SETTINGS ttl_only_drop_parts = 1;

CREATE VIEW IF NOT EXISTS {{ database | ident }}.ingest_errors AS
SELECT 'events' AS source, topic, partition, offset, kafka_timestamp, error, raw_message, ingested_at
FROM {{ database | ident }}.ingest_errors_events FINAL
UNION ALL
SELECT 'page_stats_1m' AS source, topic, partition, offset, kafka_timestamp, error, raw_message, ingested_at
FROM {{ database | ident }}.ingest_errors_page_stats_1m FINAL
UNION ALL
SELECT 'user_activity_1m' AS source, topic, partition, offset, kafka_timestamp, error, raw_message, ingested_at
FROM {{ database | ident }}.ingest_errors_user_activity_1m FINAL
UNION ALL
SELECT 'sessions' AS source, topic, partition, offset, kafka_timestamp, error, raw_message, ingested_at
FROM {{ database | ident }}.ingest_errors_sessions FINAL
UNION ALL
SELECT 'malformed' AS source, topic, partition, offset, kafka_timestamp, error, raw_message, ingested_at
FROM {{ database | ident }}.ingest_errors_malformed FINAL;
