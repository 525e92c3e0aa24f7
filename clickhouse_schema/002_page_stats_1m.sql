-- What: `page_stats_1m`, views and exact unique users per (minute, page), as the Flink job emits
-- them (topic `clickstream.page_stats_1m`).
-- Why ReplacingMergeTree(views) keyed by (window_start, page_id): a replay re-sends the same row,
-- which collapses; a window that fires again with more views (late data) supersedes the earlier,
-- smaller count, since counts of one window only grow. `unique_users` is exact for its row and is
-- never summed: wider windows count users from `user_activity_1m` (see page_users_1h).
-- Dashboards read it through views with FINAL (010_dashboard_views.sql).
CREATE TABLE IF NOT EXISTS {{ database | ident }}.page_stats_1m
(
    window_start DateTime64(3, 'UTC'),
    window_end   DateTime64(3, 'UTC'),
    page_id      LowCardinality(String),
    views        UInt64,
    unique_users UInt64,
    ingested_at  DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(views)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, page_id);
