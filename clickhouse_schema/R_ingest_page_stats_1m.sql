-- What: consume topic `clickstream.page_stats_1m` (views and unique users per minute and page)
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
