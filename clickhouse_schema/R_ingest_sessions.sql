-- What: consume topic `clickstream.sessions` (user sessions) into `sessions`, `page_ids` sorted so a
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
