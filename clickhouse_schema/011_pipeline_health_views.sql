-- What: the views the pipeline-health dashboard reads: rows ingested per minute per table, and
-- per table the last ingestion time and the newest event time (freshness, ingestion lag).
-- Why: every ingested table carries `ingested_at` (set by ClickHouse at insert); counting without
-- FINAL is deliberate, since these views measure what arrived, replays included (the error
-- tables are counted through `ingest_errors`, which deduplicates).
CREATE VIEW IF NOT EXISTS {{ database | ident }}.v_ingested_1m AS
SELECT 'pageviews' AS source_table, toStartOfMinute(ingested_at) AS minute, count() AS rows
FROM {{ database | ident }}.pageviews GROUP BY minute
UNION ALL
SELECT 'page_stats_1m' AS source_table, toStartOfMinute(ingested_at) AS minute, count() AS rows
FROM {{ database | ident }}.page_stats_1m GROUP BY minute
UNION ALL
SELECT 'user_activity_1m' AS source_table, toStartOfMinute(ingested_at) AS minute, count() AS rows
FROM {{ database | ident }}.user_activity_1m GROUP BY minute
UNION ALL
SELECT 'sessions' AS source_table, toStartOfMinute(ingested_at) AS minute, count() AS rows
FROM {{ database | ident }}.sessions GROUP BY minute
UNION ALL
SELECT 'malformed_events' AS source_table, toStartOfMinute(ingested_at) AS minute, count() AS rows
FROM {{ database | ident }}.malformed_events GROUP BY minute
UNION ALL
SELECT 'ingest_errors' AS source_table, toStartOfMinute(ingested_at) AS minute, count() AS rows
FROM {{ database | ident }}.ingest_errors GROUP BY minute;

CREATE VIEW IF NOT EXISTS {{ database | ident }}.v_freshness AS
SELECT 'pageviews' AS source_table, count() AS rows, max(ingested_at) AS last_ingested_at,
       max(event_time) AS last_event_time
FROM {{ database | ident }}.pageviews
UNION ALL
SELECT 'page_stats_1m' AS source_table, count() AS rows, max(ingested_at) AS last_ingested_at,
       max(window_end) AS last_event_time
FROM {{ database | ident }}.page_stats_1m
UNION ALL
SELECT 'user_activity_1m' AS source_table, count() AS rows, max(ingested_at) AS last_ingested_at,
       max(window_end) AS last_event_time
FROM {{ database | ident }}.user_activity_1m
UNION ALL
SELECT 'sessions' AS source_table, count() AS rows, max(ingested_at) AS last_ingested_at,
       max(session_end) AS last_event_time
FROM {{ database | ident }}.sessions
UNION ALL
SELECT 'malformed_events' AS source_table, count() AS rows, max(ingested_at) AS last_ingested_at,
       max(kafka_timestamp) AS last_event_time
FROM {{ database | ident }}.malformed_events;
