-- What: consume topic `clickstream.malformed` (records the job could not decode) into
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
