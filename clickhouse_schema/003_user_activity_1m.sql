-- What: `user_activity_1m`, views and distinct pages per (minute, user) (topic
-- `clickstream.user_activity_1m`).
-- Why: the source of every unique-user count wider than one (minute, page): users per minute
-- (one row per user) and users per hour and page (page_users_1h, through `page_ids`).
-- ReplacingMergeTree(views) keyed by (window_start, user_id), for the reasons in 002. `page_ids`
-- is stored sorted (the ingest view sorts it) so a replayed row equals the original.
CREATE TABLE IF NOT EXISTS {{ database | ident }}.user_activity_1m
(
    window_start DateTime64(3, 'UTC'),
    window_end   DateTime64(3, 'UTC'),
    user_id      String,
    views        UInt64,
    page_ids     Array(LowCardinality(String)),
    ingested_at  DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(views)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, user_id);
