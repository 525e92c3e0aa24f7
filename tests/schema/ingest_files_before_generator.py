"""The repeatable ingestion files as shipped before scripts/build_ingest_sql.py replaced them (one
file per source, written by hand), verbatim: a live stack was migrated with these and its ledger
names them. tests/schema/test_ingest_sql.py upgrades a database migrated with them to the
generated files."""
from __future__ import annotations

R_INGEST_EVENTS = """-- What: consume topic `clickstream.events` (valid page views, docs/data-contract.md) into
-- `pageviews`; messages that do not parse or lack a contract field go to `ingest_errors_events`.
-- Why repeatable: broker list, topic and consumer group come from the deployment's config; when
-- they change, the Kafka table and its two views are dropped and created again (offsets are kept
-- by the consumer group in Kafka, and a re-read collapses on the dedup key). Columns are Nullable
-- here so a missing field is seen (NULL) rather than defaulted; such messages go to the errors.
DROP VIEW IF EXISTS {{ database | ident }}.ingest_events_mv;
DROP VIEW IF EXISTS {{ database | ident }}.ingest_events_errors_mv;
DROP TABLE IF EXISTS {{ database | ident }}.kafka_events;

CREATE TABLE {{ database | ident }}.kafka_events
(
    kafka_partition Nullable(UInt32),
    kafka_offset    Nullable(UInt64),
    event_time      Nullable(DateTime64(3, 'UTC')),
    viewtime        Nullable(Int64),
    user_id         Nullable(String),
    page_id         Nullable(String)
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{{ kafka_brokers | lit }}',
         kafka_topic_list = '{{ topic_events | lit }}',
         kafka_group_name = '{{ kafka_group | lit }}.events',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream';

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_events_mv
TO {{ database | ident }}.pageviews
AS WITH arrayFilter(f -> f != '', [
        if(src.kafka_partition IS NULL, 'kafka_partition', ''), if(src.kafka_offset IS NULL, 'kafka_offset', ''),
        if(src.event_time IS NULL, 'event_time', ''), if(src.viewtime IS NULL, 'viewtime', ''),
        if(src.user_id IS NULL, 'user_id', ''), if(src.page_id IS NULL, 'page_id', '')]) AS missing
SELECT
    assumeNotNull(src.event_time)      AS event_time,
    assumeNotNull(src.page_id)         AS page_id,
    assumeNotNull(src.user_id)         AS user_id,
    assumeNotNull(src.viewtime)        AS viewtime,
    assumeNotNull(src.kafka_partition) AS kafka_partition,
    assumeNotNull(src.kafka_offset)    AS kafka_offset
FROM {{ database | ident }}.kafka_events AS src
WHERE length(_error) = 0 AND empty(missing);

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_events_errors_mv
TO {{ database | ident }}.ingest_errors_events
AS WITH arrayFilter(f -> f != '', [
        if(src.kafka_partition IS NULL, 'kafka_partition', ''), if(src.kafka_offset IS NULL, 'kafka_offset', ''),
        if(src.event_time IS NULL, 'event_time', ''), if(src.viewtime IS NULL, 'viewtime', ''),
        if(src.user_id IS NULL, 'user_id', ''), if(src.page_id IS NULL, 'page_id', '')]) AS missing
SELECT
    _topic                                           AS topic,
    _partition                                       AS partition,
    _offset                                          AS offset,
    ifNull(_timestamp_ms, toDateTime64(0, 3, 'UTC')) AS kafka_timestamp,
    if(length(_error) > 0, _error,
       concat('missing or null field(s): ', arrayStringConcat(missing, ', '))) AS error,
    _raw_message                                     AS raw_message
FROM {{ database | ident }}.kafka_events AS src
WHERE length(_error) > 0 OR notEmpty(missing);
"""

R_INGEST_MALFORMED = """-- What: consume topic `clickstream.malformed` (records the job could not decode) into
-- `malformed_events`; messages of that topic that do not parse themselves go to
-- `ingest_errors_malformed`.
-- Why repeatable: broker list, topic and consumer group come from the deployment's config; when
-- they change, the Kafka table and its two views are dropped and created again (offsets are kept
-- by the consumer group in Kafka, and a re-read collapses on the dedup key). Columns are Nullable
-- here so a missing field is seen (NULL) rather than defaulted; such messages go to the errors.
DROP VIEW IF EXISTS {{ database | ident }}.ingest_malformed_mv;
DROP VIEW IF EXISTS {{ database | ident }}.ingest_malformed_errors_mv;
DROP TABLE IF EXISTS {{ database | ident }}.kafka_malformed;

CREATE TABLE {{ database | ident }}.kafka_malformed
(
    kafka_partition Nullable(UInt32),
    kafka_offset    Nullable(UInt64),
    kafka_timestamp Nullable(DateTime64(3, 'UTC')),
    error           Nullable(String),
    payload_base64  Nullable(String)
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{{ kafka_brokers | lit }}',
         kafka_topic_list = '{{ topic_malformed | lit }}',
         kafka_group_name = '{{ kafka_group | lit }}.malformed',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream';

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_malformed_mv
TO {{ database | ident }}.malformed_events
AS WITH arrayFilter(f -> f != '', [
        if(src.kafka_partition IS NULL, 'kafka_partition', ''), if(src.kafka_offset IS NULL, 'kafka_offset', ''),
        if(src.kafka_timestamp IS NULL, 'kafka_timestamp', ''), if(src.error IS NULL, 'error', ''),
        if(src.payload_base64 IS NULL, 'payload_base64', '')]) AS missing
SELECT
    assumeNotNull(src.kafka_timestamp) AS kafka_timestamp,
    assumeNotNull(src.kafka_partition) AS kafka_partition,
    assumeNotNull(src.kafka_offset)    AS kafka_offset,
    assumeNotNull(src.error)           AS error,
    assumeNotNull(src.payload_base64)  AS payload_base64
FROM {{ database | ident }}.kafka_malformed AS src
WHERE length(_error) = 0 AND empty(missing);

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_malformed_errors_mv
TO {{ database | ident }}.ingest_errors_malformed
AS WITH arrayFilter(f -> f != '', [
        if(src.kafka_partition IS NULL, 'kafka_partition', ''), if(src.kafka_offset IS NULL, 'kafka_offset', ''),
        if(src.kafka_timestamp IS NULL, 'kafka_timestamp', ''), if(src.error IS NULL, 'error', ''),
        if(src.payload_base64 IS NULL, 'payload_base64', '')]) AS missing
SELECT
    _topic                                           AS topic,
    _partition                                       AS partition,
    _offset                                          AS offset,
    ifNull(_timestamp_ms, toDateTime64(0, 3, 'UTC')) AS kafka_timestamp,
    if(length(_error) > 0, _error,
       concat('missing or null field(s): ', arrayStringConcat(missing, ', '))) AS error,
    _raw_message                                     AS raw_message
FROM {{ database | ident }}.kafka_malformed AS src
WHERE length(_error) > 0 OR notEmpty(missing);
"""

R_INGEST_PAGE_STATS_1M = """-- What: consume topic `clickstream.page_stats_1m` (views and unique users per minute and page)
-- into `page_stats_1m`; messages that do not parse or lack a field go to `ingest_errors_page_stats_1m`.
-- Why repeatable: broker list, topic and consumer group come from the deployment's config; when
-- they change, the Kafka table and its two views are dropped and created again (offsets are kept
-- by the consumer group in Kafka, and a re-read collapses on the dedup key). Columns are Nullable
-- here so a missing field is seen (NULL) rather than defaulted; such messages go to the errors.
DROP VIEW IF EXISTS {{ database | ident }}.ingest_page_stats_1m_mv;
DROP VIEW IF EXISTS {{ database | ident }}.ingest_page_stats_1m_errors_mv;
DROP TABLE IF EXISTS {{ database | ident }}.kafka_page_stats_1m;

CREATE TABLE {{ database | ident }}.kafka_page_stats_1m
(
    window_start Nullable(DateTime64(3, 'UTC')),
    window_end   Nullable(DateTime64(3, 'UTC')),
    page_id      Nullable(String),
    views        Nullable(UInt64),
    unique_users Nullable(UInt64)
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{{ kafka_brokers | lit }}',
         kafka_topic_list = '{{ topic_page_stats_1m | lit }}',
         kafka_group_name = '{{ kafka_group | lit }}.page_stats_1m',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream';

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_page_stats_1m_mv
TO {{ database | ident }}.page_stats_1m
AS WITH arrayFilter(f -> f != '', [
        if(src.window_start IS NULL, 'window_start', ''), if(src.window_end IS NULL, 'window_end', ''),
        if(src.page_id IS NULL, 'page_id', ''), if(src.views IS NULL, 'views', ''),
        if(src.unique_users IS NULL, 'unique_users', '')]) AS missing
SELECT
    assumeNotNull(src.window_start) AS window_start,
    assumeNotNull(src.window_end)   AS window_end,
    assumeNotNull(src.page_id)      AS page_id,
    assumeNotNull(src.views)        AS views,
    assumeNotNull(src.unique_users) AS unique_users
FROM {{ database | ident }}.kafka_page_stats_1m AS src
WHERE length(_error) = 0 AND empty(missing);

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_page_stats_1m_errors_mv
TO {{ database | ident }}.ingest_errors_page_stats_1m
AS WITH arrayFilter(f -> f != '', [
        if(src.window_start IS NULL, 'window_start', ''), if(src.window_end IS NULL, 'window_end', ''),
        if(src.page_id IS NULL, 'page_id', ''), if(src.views IS NULL, 'views', ''),
        if(src.unique_users IS NULL, 'unique_users', '')]) AS missing
SELECT
    _topic                                           AS topic,
    _partition                                       AS partition,
    _offset                                          AS offset,
    ifNull(_timestamp_ms, toDateTime64(0, 3, 'UTC')) AS kafka_timestamp,
    if(length(_error) > 0, _error,
       concat('missing or null field(s): ', arrayStringConcat(missing, ', '))) AS error,
    _raw_message                                     AS raw_message
FROM {{ database | ident }}.kafka_page_stats_1m AS src
WHERE length(_error) > 0 OR notEmpty(missing);
"""

R_INGEST_SESSIONS = """-- What: consume topic `clickstream.sessions` (user sessions) into `sessions`, `page_ids` sorted so a
-- replay equals the original; messages that do not parse or lack a field go to
-- `ingest_errors_sessions`.
-- Why repeatable: broker list, topic and consumer group come from the deployment's config; when
-- they change, the Kafka table and its two views are dropped and created again (offsets are kept
-- by the consumer group in Kafka, and a re-read collapses on the dedup key). Columns are Nullable
-- here so a missing field is seen (NULL) rather than defaulted; such messages go to the errors.
DROP VIEW IF EXISTS {{ database | ident }}.ingest_sessions_mv;
DROP VIEW IF EXISTS {{ database | ident }}.ingest_sessions_errors_mv;
DROP TABLE IF EXISTS {{ database | ident }}.kafka_sessions;

CREATE TABLE {{ database | ident }}.kafka_sessions
(
    user_id       Nullable(String),
    session_start Nullable(DateTime64(3, 'UTC')),
    session_end   Nullable(DateTime64(3, 'UTC')),
    views         Nullable(UInt64),
    page_ids      Array(String)
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{{ kafka_brokers | lit }}',
         kafka_topic_list = '{{ topic_sessions | lit }}',
         kafka_group_name = '{{ kafka_group | lit }}.sessions',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream';

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_sessions_mv
TO {{ database | ident }}.sessions
AS WITH arrayFilter(f -> f != '', [
        if(src.user_id IS NULL, 'user_id', ''), if(src.session_start IS NULL, 'session_start', ''),
        if(src.session_end IS NULL, 'session_end', ''), if(src.views IS NULL, 'views', ''),
        if(empty(src.page_ids), 'page_ids', '')]) AS missing
SELECT
    assumeNotNull(src.user_id)       AS user_id,
    assumeNotNull(src.session_start) AS session_start,
    assumeNotNull(src.session_end)   AS session_end,
    assumeNotNull(src.views)         AS views,
    arraySort(src.page_ids)          AS page_ids
FROM {{ database | ident }}.kafka_sessions AS src
WHERE length(_error) = 0 AND empty(missing);

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_sessions_errors_mv
TO {{ database | ident }}.ingest_errors_sessions
AS WITH arrayFilter(f -> f != '', [
        if(src.user_id IS NULL, 'user_id', ''), if(src.session_start IS NULL, 'session_start', ''),
        if(src.session_end IS NULL, 'session_end', ''), if(src.views IS NULL, 'views', ''),
        if(empty(src.page_ids), 'page_ids', '')]) AS missing
SELECT
    _topic                                           AS topic,
    _partition                                       AS partition,
    _offset                                          AS offset,
    ifNull(_timestamp_ms, toDateTime64(0, 3, 'UTC')) AS kafka_timestamp,
    if(length(_error) > 0, _error,
       concat('missing or null field(s): ', arrayStringConcat(missing, ', '))) AS error,
    _raw_message                                     AS raw_message
FROM {{ database | ident }}.kafka_sessions AS src
WHERE length(_error) > 0 OR notEmpty(missing);
"""

R_INGEST_USER_ACTIVITY_1M = """-- What: consume topic `clickstream.user_activity_1m` (views and pages per minute and user) into
-- `user_activity_1m`, `page_ids` sorted so a replay equals the original; messages that do not parse
-- or lack a field go to `ingest_errors_user_activity_1m`.
-- Why repeatable: broker list, topic and consumer group come from the deployment's config; when
-- they change, the Kafka table and its two views are dropped and created again (offsets are kept
-- by the consumer group in Kafka, and a re-read collapses on the dedup key). Columns are Nullable
-- here so a missing field is seen (NULL) rather than defaulted; such messages go to the errors.
DROP VIEW IF EXISTS {{ database | ident }}.ingest_user_activity_1m_mv;
DROP VIEW IF EXISTS {{ database | ident }}.ingest_user_activity_1m_errors_mv;
DROP TABLE IF EXISTS {{ database | ident }}.kafka_user_activity_1m;

CREATE TABLE {{ database | ident }}.kafka_user_activity_1m
(
    window_start Nullable(DateTime64(3, 'UTC')),
    window_end   Nullable(DateTime64(3, 'UTC')),
    user_id      Nullable(String),
    views        Nullable(UInt64),
    page_ids     Array(String)
)
ENGINE = Kafka
SETTINGS kafka_broker_list = '{{ kafka_brokers | lit }}',
         kafka_topic_list = '{{ topic_user_activity_1m | lit }}',
         kafka_group_name = '{{ kafka_group | lit }}.user_activity_1m',
         kafka_format = 'JSONEachRow',
         kafka_handle_error_mode = 'stream';

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_user_activity_1m_mv
TO {{ database | ident }}.user_activity_1m
AS WITH arrayFilter(f -> f != '', [
        if(src.window_start IS NULL, 'window_start', ''), if(src.window_end IS NULL, 'window_end', ''),
        if(src.user_id IS NULL, 'user_id', ''), if(src.views IS NULL, 'views', ''),
        if(empty(src.page_ids), 'page_ids', '')]) AS missing
SELECT
    assumeNotNull(src.window_start) AS window_start,
    assumeNotNull(src.window_end)   AS window_end,
    assumeNotNull(src.user_id)      AS user_id,
    assumeNotNull(src.views)        AS views,
    arraySort(src.page_ids)         AS page_ids
FROM {{ database | ident }}.kafka_user_activity_1m AS src
WHERE length(_error) = 0 AND empty(missing);

CREATE MATERIALIZED VIEW {{ database | ident }}.ingest_user_activity_1m_errors_mv
TO {{ database | ident }}.ingest_errors_user_activity_1m
AS WITH arrayFilter(f -> f != '', [
        if(src.window_start IS NULL, 'window_start', ''), if(src.window_end IS NULL, 'window_end', ''),
        if(src.user_id IS NULL, 'user_id', ''), if(src.views IS NULL, 'views', ''),
        if(empty(src.page_ids), 'page_ids', '')]) AS missing
SELECT
    _topic                                           AS topic,
    _partition                                       AS partition,
    _offset                                          AS offset,
    ifNull(_timestamp_ms, toDateTime64(0, 3, 'UTC')) AS kafka_timestamp,
    if(length(_error) > 0, _error,
       concat('missing or null field(s): ', arrayStringConcat(missing, ', '))) AS error,
    _raw_message                                     AS raw_message
FROM {{ database | ident }}.kafka_user_activity_1m AS src
WHERE length(_error) > 0 OR notEmpty(missing);
"""

R_RAW_TTL = """-- What: the retention of raw records: page views, malformed records and ingest errors expire
-- `raw_ttl_days` after their event (or Kafka) time. Rollups and sessions are kept.
-- Why repeatable: retention is stack config (retention.rawEventsDays) and may change after the
-- tables exist; this file is applied again whenever the rendered value changes. The tables use
-- daily partitions with ttl_only_drop_parts, so expiry drops whole parts instead of rewriting them.
ALTER TABLE {{ database | ident }}.pageviews
    MODIFY TTL toDateTime(event_time) + toIntervalDay({{ raw_ttl_days | int }});

ALTER TABLE {{ database | ident }}.malformed_events
    MODIFY TTL toDateTime(kafka_timestamp) + toIntervalDay({{ raw_ttl_days | int }});

ALTER TABLE {{ database | ident }}.ingest_errors_events
    MODIFY TTL toDateTime(kafka_timestamp) + toIntervalDay({{ raw_ttl_days | int }});

ALTER TABLE {{ database | ident }}.ingest_errors_page_stats_1m
    MODIFY TTL toDateTime(kafka_timestamp) + toIntervalDay({{ raw_ttl_days | int }});

ALTER TABLE {{ database | ident }}.ingest_errors_user_activity_1m
    MODIFY TTL toDateTime(kafka_timestamp) + toIntervalDay({{ raw_ttl_days | int }});

ALTER TABLE {{ database | ident }}.ingest_errors_sessions
    MODIFY TTL toDateTime(kafka_timestamp) + toIntervalDay({{ raw_ttl_days | int }});

ALTER TABLE {{ database | ident }}.ingest_errors_malformed
    MODIFY TTL toDateTime(kafka_timestamp) + toIntervalDay({{ raw_ttl_days | int }});
"""

FILES = {
    "R_ingest_events.sql": R_INGEST_EVENTS,
    "R_ingest_malformed.sql": R_INGEST_MALFORMED,
    "R_ingest_page_stats_1m.sql": R_INGEST_PAGE_STATS_1M,
    "R_ingest_sessions.sql": R_INGEST_SESSIONS,
    "R_ingest_user_activity_1m.sql": R_INGEST_USER_ACTIVITY_1M,
    "R_raw_ttl.sql": R_RAW_TTL,
}
