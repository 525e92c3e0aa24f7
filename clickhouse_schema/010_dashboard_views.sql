-- What: the views the live-overview dashboard reads: per-minute and per-hour views and unique
-- users, per page and overall, and sessions.
-- Why: they hold the read rules in one place: ReplacingMergeTree tables are read with FINAL, hourly
-- states are merged (from the smallest table that answers), unique users come from user ids
-- (never a sum of counts). Grafana panels add their time filter on `minute` / `hour` /
-- `session_start`.
CREATE VIEW IF NOT EXISTS {{ database | ident }}.v_page_stats_1m AS
SELECT window_start AS minute, page_id, views, unique_users
FROM {{ database | ident }}.page_stats_1m FINAL;

-- From the hourly slots (007): ~2,400 rows a day instead of every (minute, page) row. Minutes
-- without any view are left out, as they would be counting raw events.
CREATE VIEW IF NOT EXISTS {{ database | ident }}.v_views_1m AS
SELECT hour + toIntervalMinute(slot) AS minute, views
FROM
(
    SELECT hour, sumForEach(slots) AS per_minute
    FROM
    (
        SELECT hour, page_id, maxForEachMerge(views_by_minute) AS slots
        FROM {{ database | ident }}.page_stats_1h
        GROUP BY hour, page_id
    )
    GROUP BY hour
)
ARRAY JOIN per_minute AS views, range(60) AS slot
WHERE views > 0;

CREATE VIEW IF NOT EXISTS {{ database | ident }}.v_users_1m AS
SELECT window_start AS minute, count() AS unique_users, sum(views) AS views
FROM {{ database | ident }}.user_activity_1m FINAL
GROUP BY minute;

CREATE VIEW IF NOT EXISTS {{ database | ident }}.v_page_stats_1h AS
SELECT hour, page_id, v.views AS views, u.unique_users AS unique_users
FROM
(
    SELECT hour, page_id, arraySum(maxForEachMerge(views_by_minute)) AS views
    FROM {{ database | ident }}.page_stats_1h
    GROUP BY hour, page_id
) AS v
LEFT JOIN
(
    SELECT hour, page_id, uniqExactMerge(users) AS unique_users
    FROM {{ database | ident }}.page_users_1h
    GROUP BY hour, page_id
) AS u USING (hour, page_id);

CREATE VIEW IF NOT EXISTS {{ database | ident }}.v_users_1h AS
SELECT hour, uniqExactMerge(users) AS unique_users
FROM {{ database | ident }}.users_1h
GROUP BY hour;

-- `span_seconds` runs from the first view to the window end, which includes the session gap.
CREATE VIEW IF NOT EXISTS {{ database | ident }}.v_sessions AS
SELECT user_id, session_start, session_end, views, page_ids, length(page_ids) AS pages,
       dateDiff('millisecond', session_start, session_end) / 1000 AS span_seconds
FROM {{ database | ident }}.sessions FINAL;

CREATE VIEW IF NOT EXISTS {{ database | ident }}.v_sessions_1h AS
SELECT toStartOfHour(session_start) AS hour, count() AS sessions, sum(views) AS total_views,
       avg(views) AS avg_views, avg(length(page_ids)) AS avg_pages,
       avg(dateDiff('millisecond', session_start, session_end) / 1000) AS avg_span_seconds
FROM {{ database | ident }}.sessions FINAL
GROUP BY hour;
