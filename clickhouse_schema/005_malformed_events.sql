-- What: `malformed_events`, the `pageviews` records the job could not decode (topic
-- `clickstream.malformed`): where they were, why they failed, and their bytes (base64).
-- Why: malformed input never stops the job; it is kept aside here for a person to inspect and
-- counted on the pipeline-health dashboard. Keyed by the source record (partition, offset) so a
-- replay collapses; daily partitions so the raw-records TTL (R_raw_ttl.sql) drops whole parts.
CREATE TABLE IF NOT EXISTS {{ database | ident }}.malformed_events
(
    kafka_timestamp DateTime64(3, 'UTC'),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    error           String,
    payload_base64  String,
    ingested_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(kafka_timestamp)
ORDER BY (kafka_timestamp, kafka_partition, kafka_offset)
SETTINGS ttl_only_drop_parts = 1;
