-- What: `users_1h`, the set of users per hour over all pages as an exact uniq state, filled by the
-- materialized view `users_1h_mv` from every insert into `user_activity_1m` (explicit TO table,
-- no POPULATE).
-- Why a table of its own: merging the per-page sets of 008 gives the same number but reads every
-- page's set; one set per hour is what the "unique users per hour" panel needs. Idempotent like
-- 008: a replayed row adds a user id already in the set.
CREATE TABLE IF NOT EXISTS {{ database | ident }}.users_1h
(
    hour        DateTime('UTC'),
    users       AggregateFunction(uniqExact, String),
    ingested_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now()
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{ database | ident }}.users_1h_mv
TO {{ database | ident }}.users_1h
AS SELECT
    toStartOfHour(window_start) AS hour,
    uniqExactState(user_id)     AS users
FROM {{ database | ident }}.user_activity_1m
GROUP BY hour;
