-- What: consume topic `clickstream.events` (valid page views, docs/data-contract.md) into
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
