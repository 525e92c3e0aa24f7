-- What: consume topic `clickstream.user_activity_1m` (views and pages per minute and user) into
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
