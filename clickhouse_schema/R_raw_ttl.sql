-- What: the retention of raw records: page views, malformed records and ingest errors expire
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
