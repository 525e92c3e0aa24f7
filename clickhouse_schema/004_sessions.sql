-- What: `sessions`, one row per user session from the job's session windows (topic
-- `clickstream.sessions`): first view, window end (last view + gap), views, distinct pages.
-- Why ReplacingMergeTree(session_end) keyed by (user_id, session_start), sorted by start time for
-- the dashboards' time filter: a replayed session collapses; a session re-emitted with a later end
-- keeps the latest. `page_ids` is stored sorted (the ingest view sorts it).
CREATE TABLE IF NOT EXISTS {{ database | ident }}.sessions
(
    user_id       String,
    session_start DateTime64(3, 'UTC'),
    session_end   DateTime64(3, 'UTC'),
    views         UInt64,
    page_ids      Array(LowCardinality(String)),
    ingested_at   DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree(session_end)
PARTITION BY toYYYYMM(session_start)
ORDER BY (session_start, user_id);
