-- What: `page_stats_1h`, the hourly rollup of page views, filled by the materialized view
-- `page_stats_1h_mv` from every insert into `page_stats_1m` (explicit TO table, no POPULATE: the
-- view only sees rows inserted after it exists, and the ingest views start after it).
-- Why 60 minute slots merged with max, not a sum: the view sees each inserted block, and a replay
-- inserts a minute again. Each row carries an array of 60 counts (its minute's count in its slot,
-- 0 elsewhere); maxForEach keeps per slot the largest count seen, so a replayed minute is not added
-- twice and a late, larger count replaces the smaller one, as in 002. Hourly views = the sum of the
-- slots; views per minute over all pages = the slots summed across pages (010's views). An array
-- merge is cheap: a day is ~2,400 rows whatever the event rate. (maxMap would do the same but
-- merges ~10x slower.)
CREATE TABLE IF NOT EXISTS {{ database | ident }}.page_stats_1h
(
    hour            DateTime('UTC'),
    page_id         LowCardinality(String),
    views_by_minute AggregateFunction(maxForEach, Array(UInt64)),
    ingested_at     SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now()
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, page_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{ database | ident }}.page_stats_1h_mv
TO {{ database | ident }}.page_stats_1h
AS SELECT
    toStartOfHour(window_start) AS hour,
    page_id,
    maxForEachState(arrayMap(slot -> if(slot = toMinute(window_start), views, 0), range(60))) AS views_by_minute
FROM {{ database | ident }}.page_stats_1m
GROUP BY hour, page_id;
