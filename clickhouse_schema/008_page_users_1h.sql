-- What: `page_users_1h`, the set of users per (hour, page) as an exact uniq state, filled by the
-- materialized view `page_users_1h_mv` from every insert into `user_activity_1m` (through its
-- `page_ids`; explicit TO table, no POPULATE).
-- Why: unique users of a page over an hour can never be summed from per-minute counts. A uniqExact
-- state is a set of user ids: merging is a union, so a replayed row changes nothing. Exact (not the
-- sampling `uniq`) so the numbers agree with the job's exact per-minute counts; sets stay small
-- (users of one page in one hour). Users over all pages: 009.
CREATE TABLE IF NOT EXISTS {{ database | ident }}.page_users_1h
(
    hour        DateTime('UTC'),
    page_id     LowCardinality(String),
    users       AggregateFunction(uniqExact, String),
    ingested_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now()
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, page_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{ database | ident }}.page_users_1h_mv
TO {{ database | ident }}.page_users_1h
AS SELECT
    toStartOfHour(window_start) AS hour,
    page_id,
    uniqExactState(user_id)     AS users
FROM {{ database | ident }}.user_activity_1m
ARRAY JOIN page_ids AS page_id
GROUP BY hour, page_id;
