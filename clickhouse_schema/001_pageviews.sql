-- What: `pageviews`, the raw valid page views (topic `clickstream.events`, docs/data-contract.md).
-- Why: ad-hoc queries and the "raw" side of the benchmark. One row per source record: the dedup key
-- (kafka_partition, kafka_offset) of the `pageviews` topic is in the sorting key, and a replayed
-- record carries the same event_time and page_id, so ReplacingMergeTree collapses it within its
-- day partition. Sorted by page, then time: dashboard filters are a time range, optionally a page.
-- Daily partitions let the TTL (set by R_raw_ttl.sql from the stack's retention) drop whole parts.
CREATE TABLE IF NOT EXISTS {{ database | ident }}.pageviews
(
    event_time      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    page_id         LowCardinality(String),
    user_id         String,
    viewtime        Int64,
    kafka_partition UInt32,
    kafka_offset    UInt64,
    ingested_at     DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(event_time)
ORDER BY (page_id, event_time, kafka_partition, kafka_offset)
SETTINGS ttl_only_drop_parts = 1;
