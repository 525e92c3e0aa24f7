"""Write the Grafana dashboards (grafana/dashboards/*.json) from the definitions below.

    .venv/bin/python scripts/build_dashboards.py          # rewrite the JSON files
    .venv/bin/python scripts/build_dashboards.py --check  # exit 1 if a committed file differs

The JSON is generated so that every panel is built the same way (datasource bound to the
provisioned uid `clickhouse`, SQL editor, ids and grid positions assigned in order) and the SQL is
readable here. tests/grafana/ checks the committed files equal this output, and runs every query
below against the migrated schema (tests/grafana/test_panel_queries.py).

Query rules (clickhouse_schema/README.md): tables are named without a database (the datasource's
default database); ReplacingMergeTree tables are read with FINAL or through the `v_*` views that
apply it; unique users are counted from user ids (uniqExact), never summed; a time-series query
returns `time` first and is ordered by it (the plugin turns long frames wide, which needs sorted
time). Macros are the plugin's (grafana-clickhouse-datasource 4.14.1): `$__timeFilter` for DateTime
columns, `$__timeFilter_ms` for DateTime64(3) ones, `$__conditionalAll` so that "All" adds no filter.

A time filter must reach the primary key of what it reads (the dashboards refresh every few
seconds and the rollups never expire). v_views_1m is therefore not used: its minute is computed
after an ARRAY JOIN, so no filter reaches page_stats_1h and each refresh would merge every retained
hour; v_page_stats_1m gives the same numbers from a key range of page_stats_1m.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "grafana" / "dashboards"

DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "clickhouse"}
PLUGIN_VERSION = "4.14.1"
SCHEMA_VERSION = 39  # Grafana 11.1
TAG = "clickstreamer"

FORMAT_TIME_SERIES = 0  # sqlutil.FormatOptionTimeSeries: long frames are made wide
FORMAT_TABLE = 1


def sql(text: str, **subqueries: str) -> str:
    """Dedented SQL; a line holding only NAME is replaced by `subqueries[NAME]`, indented like it."""
    lines = []
    for line in textwrap.dedent(text).strip().splitlines():
        name = line.strip()
        if name in subqueries:
            pad = line[: len(line) - len(line.lstrip())]
            lines.extend(pad + inner for inner in subqueries[name].splitlines())
        else:
            lines.append(line)
    return "\n".join(lines)


# Filters shared by several panels. `$__conditionalAll(<condition>, $var)` is replaced by the plugin
# before variables are interpolated: with "All" selected the condition disappears (1=1).
PAGE_FILTER = "$__conditionalAll(page_id IN (${page:singlequote}), $page)"
USER_FILTER = "$__conditionalAll(user_id IN (${user:singlequote}), $user)"
SESSION_FILTER = (
    "$__timeFilter_ms(session_start)\n"
    f"  AND {USER_FILTER}\n"
    "  AND $__conditionalAll(hasAny(page_ids, [${page:singlequote}]), $page)"
)
# Time buckets: never finer than the per-minute rollups, coarser when the range is long.
BUCKET = "INTERVAL greatest(60, $__interval_s) second"
TOP_PAGES = sql(f"""
    SELECT page_id
    FROM v_page_stats_1m
    WHERE $__timeFilter(minute) AND {PAGE_FILTER}
    GROUP BY page_id
    ORDER BY sum(views) DESC, page_id
    LIMIT 10
""")


# --- building blocks ----------------------------------------------------------------------------

@dataclass
class Panel:
    kind: str  # timeseries | stat | table | row
    title: str
    description: str = ""
    query: str = ""
    w: int = 12
    h: int = 8
    unit: Optional[str] = None
    decimals: Optional[int] = None
    thresholds: Optional[list[tuple[Optional[float], str]]] = None
    options: dict[str, Any] = field(default_factory=dict)


def target(query: str, fmt: int) -> dict[str, Any]:
    return {
        "refId": "A",
        "datasource": dict(DATASOURCE),
        "editorType": "sql",
        "format": fmt,
        "queryType": "timeseries" if fmt == FORMAT_TIME_SERIES else "table",
        "pluginVersion": PLUGIN_VERSION,
        "rawSql": query,
    }


def field_config(p: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if p.unit:
        defaults["unit"] = p.unit
    if p.decimals is not None:
        defaults["decimals"] = p.decimals
    if p.thresholds:
        defaults["color"] = {"mode": "thresholds"}
        defaults["thresholds"] = {"mode": "absolute", "steps": [
            {"color": color, "value": value} for value, color in p.thresholds]}
    if p.kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                              "showPoints": "auto", "spanNulls": False}
    return {"defaults": defaults, "overrides": []}


def panel_options(p: Panel) -> dict[str, Any]:
    if p.kind == "timeseries":
        base = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "desc"}}
    elif p.kind == "stat":
        base = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value", "graphMode": "none", "justifyMode": "auto",
                "orientation": "auto", "textMode": "auto"}
    elif p.kind == "table":
        base = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    else:
        base = {}
    return {**base, **p.options}


class Grid:
    """Places panels left to right, wrapping at Grafana's 24 columns; ids in placement order."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.row_h = 0

    def add(self, p: Panel) -> None:
        if p.kind == "row":
            self._wrap()
            self.panels.append({"id": len(self.panels) + 1, "type": "row", "title": p.title,
                                "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                                "panels": []})
            self.y += 1
            return
        if self.x + p.w > 24:
            self._wrap()
        fmt = FORMAT_TIME_SERIES if p.kind == "timeseries" else FORMAT_TABLE
        self.panels.append({
            "id": len(self.panels) + 1,
            "type": p.kind,
            "title": p.title,
            "description": p.description,
            "datasource": dict(DATASOURCE),
            "gridPos": {"h": p.h, "w": p.w, "x": self.x, "y": self.y},
            "targets": [target(p.query, fmt)],
            "fieldConfig": field_config(p),
            "options": panel_options(p),
        })
        self.x += p.w
        self.row_h = max(self.row_h, p.h)

    def _wrap(self) -> None:
        if self.x:
            self.y += self.row_h
        self.x = self.row_h = 0


def query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-value variable with "All" (no allValue: `$__conditionalAll` drops the filter)."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": dict(DATASOURCE),
        "definition": query,
        "query": query,
        "refresh": 2,  # on time-range change: the choices follow the range
        "multi": True,
        "includeAll": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
        "skipUrlSync": False,
    }


def dashboard(uid: str, title: str, description: str, refresh: str, panels: list[Panel],
              variables: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    grid = Grid()
    for p in panels:
        grid.add(p)
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": [TAG], "asDropdown": False, "includeVars": False,
                   "keepTime": True, "title": "Clickstreamer", "icon": "external link", "targetBlank": False}],
        "panels": grid.panels,
    }


# --- Clickstream live ------------------------------------------------------------------------------

PAGE_VARIABLE = query_variable("page", "Page", sql("""
    SELECT DISTINCT page_id
    FROM page_stats_1h
    WHERE hour >= toStartOfHour($__fromTime, 'UTC') AND hour <= $__toTime
    ORDER BY page_id
"""))

USER_VARIABLE = query_variable("user", "User", sql("""
    SELECT DISTINCT user_id
    FROM user_activity_1m
    WHERE $__timeFilter(window_start)
    ORDER BY user_id
"""))

AGE_THRESHOLDS = [(None, "green"), (120, "orange"), (600, "red")]

LIVE = [
    Panel("row", "Overview: all pages"),
    Panel("stat", "Views", w=6, h=4,
          description="Page views in the time range, all pages (per-minute rollup page_stats_1m via v_page_stats_1m).",
          query=sql("""
              SELECT sum(views) AS views
              FROM v_page_stats_1m
              WHERE $__timeFilter(minute)
          """)),
    Panel("stat", "Unique users", w=6, h=4,
          description="Distinct users in the time range, counted from user ids in user_activity_1m "
                      "(exact; per-minute counts are never added up).",
          query=sql("""
              SELECT uniqExact(user_id) AS unique_users
              FROM user_activity_1m
              WHERE $__timeFilter(window_start)
          """)),
    Panel("stat", "Active users (last 5 min)", w=6, h=4,
          description="Distinct users with a page view in the 5 minutes before the end of the range "
                      "(now, for a live range). Reads the raw pageviews table: the per-minute rollups "
                      "only arrive once their minute has closed.",
          query=sql("""
              SELECT uniqExact(user_id) AS active_users
              FROM pageviews
              WHERE event_time > $__toTime_ms - INTERVAL 5 MINUTE AND event_time <= $__toTime_ms
          """)),
    Panel("stat", "Data age (now - newest event)", w=6, h=4, unit="s", decimals=1, thresholds=AGE_THRESHOLDS,
          description="Seconds since the newest event time in the raw events and in the per-minute "
                      "page statistics (v_freshness). A minute window is written once it closes, so "
                      "page_stats_1m normally trails by one to two minutes.",
          options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "/^age_s$/", "values": True}},
          query=sql("""
              SELECT source_table, dateDiff('millisecond', last_event_time, now64(3)) / 1000 AS age_s
              FROM v_freshness
              WHERE source_table IN ('pageviews', 'page_stats_1m')
              ORDER BY source_table
          """)),
    Panel("timeseries", "Views per minute", w=12,
          description="Page views per minute over all pages (per-minute rollup page_stats_1m via v_page_stats_1m).",
          query=sql("""
              SELECT minute AS time, sum(views) AS views
              FROM v_page_stats_1m
              WHERE $__timeFilter(minute)
              GROUP BY time
              ORDER BY time
          """)),
    Panel("timeseries", "Unique users per minute", w=12,
          description="Distinct users per minute over all pages (v_users_1m: one user_activity_1m row per user and minute).",
          query=sql("""
              SELECT minute AS time, unique_users
              FROM v_users_1m
              WHERE $__timeFilter(minute)
              ORDER BY time
          """)),
    Panel("row", "Pages: $page"),
    Panel("table", "Top pages", w=8, h=9,
          description="Views and distinct users per selected page over the time range. Views add up "
                      "per-minute rows of v_page_stats_1m; users are distinct user ids from "
                      "user_activity_1m (never a sum of per-minute counts).",
          query=sql(f"""
              SELECT v.page_id AS page_id, v.views AS views, u.unique_users AS unique_users
              FROM
              (
                  SELECT page_id, sum(views) AS views
                  FROM v_page_stats_1m
                  WHERE $__timeFilter(minute) AND {PAGE_FILTER}
                  GROUP BY page_id
              ) AS v
              LEFT JOIN
              (
                  SELECT page_id, uniqExact(user_id) AS unique_users
                  FROM user_activity_1m
                  ARRAY JOIN page_ids AS page_id
                  WHERE $__timeFilter(window_start) AND {PAGE_FILTER}
                  GROUP BY page_id
              ) AS u USING (page_id)
              ORDER BY views DESC, page_id
              LIMIT 20
          """)),
    Panel("timeseries", "Views by page", w=16, h=9,
          description="Views per page per time bucket (a minute, or longer on long ranges), for the "
                      "10 selected pages with the most views in the range (v_page_stats_1m).",
          query=sql(f"""
              SELECT toStartOfInterval(minute, {BUCKET}) AS time, page_id, sum(views) AS views
              FROM v_page_stats_1m
              WHERE $__timeFilter(minute)
                AND page_id IN
                (
                    TOP_PAGES
                )
              GROUP BY time, page_id
              ORDER BY time, page_id
          """, TOP_PAGES=TOP_PAGES)),
    Panel("timeseries", "Unique users by page", w=16,
          description="Distinct users per page per time bucket, for the same 10 pages. Counted from "
                      "user ids (user_activity_1m), so a bucket longer than a minute counts a user once.",
          query=sql(f"""
              SELECT toStartOfInterval(window_start, {BUCKET}) AS time, page_id, uniqExact(user_id) AS unique_users
              FROM user_activity_1m
              ARRAY JOIN page_ids AS page_id
              WHERE $__timeFilter(window_start)
                AND page_id IN
                (
                    TOP_PAGES
                )
              GROUP BY time, page_id
              ORDER BY time, page_id
          """, TOP_PAGES=TOP_PAGES)),
    Panel("table", "Pages by hour", w=8,
          description="Hourly views and distinct users per selected page, for every hour that "
                      "overlaps the range (hourly rollups page_stats_1h and page_users_1h via v_page_stats_1h).",
          query=sql(f"""
              SELECT hour, page_id, views, unique_users
              FROM v_page_stats_1h
              WHERE hour >= toStartOfHour($__fromTime, 'UTC') AND hour <= $__toTime
                AND {PAGE_FILTER}
              ORDER BY hour DESC, views DESC, page_id
              LIMIT 500
          """)),
    Panel("row", "Users and sessions: $user"),
    Panel("stat", "Sessions", w=8, h=4,
          description="Sessions that started in the range, of the selected users, that viewed at "
                      "least one selected page (v_sessions).",
          query=sql(f"""
              SELECT count() AS sessions
              FROM v_sessions
              WHERE {SESSION_FILTER}
          """)),
    Panel("stat", "Average session length", w=8, h=4, unit="s", decimals=1,
          description="Mean time from a session's first view to its window end (last view plus the "
                      "session gap), same sessions as 'Sessions'.",
          query=sql(f"""
              SELECT avgOrNull(span_seconds) AS avg_session_s
              FROM v_sessions
              WHERE {SESSION_FILTER}
          """)),
    Panel("stat", "Pages per session", w=8, h=4, decimals=2,
          description="Mean number of distinct pages per session, same sessions as 'Sessions'.",
          query=sql(f"""
              SELECT avgOrNull(pages) AS pages_per_session
              FROM v_sessions
              WHERE {SESSION_FILTER}
          """)),
    Panel("timeseries", "Views by user", w=24,
          description="Views per user per time bucket (all pages), for the 10 selected users with the "
                      "most views in the range (user_activity_1m, read with FINAL).",
          query=sql(f"""
              SELECT toStartOfInterval(window_start, {BUCKET}) AS time, user_id, sum(views) AS views
              FROM user_activity_1m FINAL
              WHERE $__timeFilter(window_start)
                AND user_id IN
                (
                    SELECT user_id
                    FROM user_activity_1m FINAL
                    WHERE $__timeFilter(window_start) AND {USER_FILTER}
                    GROUP BY user_id
                    ORDER BY sum(views) DESC, user_id
                    LIMIT 10
                )
              GROUP BY time, user_id
              ORDER BY time, user_id
          """)),
    Panel("table", "Sessions (latest first)", w=24, h=9,
          description="The sessions counted above, newest first (v_sessions). span_seconds includes "
                      "the session gap.",
          query=sql(f"""
              SELECT session_start, session_end, user_id, views, pages, page_ids, span_seconds
              FROM v_sessions
              WHERE {SESSION_FILTER}
              ORDER BY session_start DESC, user_id
              LIMIT 100
          """)),
]

# --- Pipeline health -------------------------------------------------------------------------------

HEALTH = [
    Panel("stat", "Data age by table (now - newest event)", w=12, h=5, unit="s", decimals=1,
          thresholds=AGE_THRESHOLDS,
          description="Seconds since the newest event time of each ingested table (v_freshness). "
                      "Growing ages mean nothing new arrives: check Flink, the Kafka tables and the errors below.",
          options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "/^age_s$/", "values": True}},
          query=sql("""
              SELECT source_table, dateDiff('millisecond', last_event_time, now64(3)) / 1000 AS age_s
              FROM v_freshness
              ORDER BY source_table
          """)),
    Panel("stat", "Schema version", w=4, h=5,
          description="Highest versioned migration applied (ledger table schema_migrations).",
          query=sql("""
              SELECT max(version) AS schema_version
              FROM schema_migrations
          """)),
    Panel("stat", "Malformed events", w=4, h=5, thresholds=[(None, "green"), (1, "orange")],
          description="Source records the Flink job could not decode, in the range (malformed_events, FINAL).",
          query=sql("""
              SELECT count() AS malformed
              FROM malformed_events FINAL
              WHERE $__timeFilter_ms(kafka_timestamp)
          """)),
    Panel("stat", "Ingest errors", w=4, h=5, thresholds=[(None, "green"), (1, "red")],
          description="Kafka messages ClickHouse could not ingest, in the range (ingest_errors, deduplicated).",
          query=sql("""
              SELECT count() AS ingest_errors
              FROM ingest_errors
              WHERE $__timeFilter_ms(kafka_timestamp)
          """)),
    Panel("timeseries", "Rows ingested per minute by table", w=12,
          description="Rows written per minute of ingestion time, per table (v_ingested_1m). Counts "
                      "what arrived, replays included, until a background merge collapses them.",
          query=sql("""
              SELECT minute AS time, source_table, rows
              FROM v_ingested_1m
              WHERE $__timeFilter(minute)
              ORDER BY time, source_table
          """)),
    Panel("timeseries", "Raw event delay (event to ClickHouse)", w=12, unit="s",
          description="Seconds from a page view's event time to its arrival in pageviews, median and "
                      "maximum per time bucket. Read with FINAL: a replayed record counts with its "
                      "latest arrival. Raw table: only it keeps per-event arrival times.",
          query=sql(f"""
              SELECT toStartOfInterval(event_time, {BUCKET}) AS time,
                     quantileExact(0.5)(delay_s) AS p50_delay_s,
                     max(delay_s) AS max_delay_s
              FROM
              (
                  SELECT event_time, dateDiff('millisecond', event_time, ingested_at) / 1000 AS delay_s
                  FROM pageviews FINAL
                  WHERE $__timeFilter_ms(event_time)
              )
              GROUP BY time
              ORDER BY time
          """)),
    Panel("timeseries", "Malformed events per minute", w=12,
          description="Undecodable source records per minute of their Kafka time (malformed_events, FINAL).",
          query=sql("""
              SELECT toStartOfMinute(kafka_timestamp) AS time, count() AS malformed
              FROM malformed_events FINAL
              WHERE $__timeFilter_ms(kafka_timestamp)
              GROUP BY time
              ORDER BY time
          """)),
    Panel("timeseries", "Ingest errors per minute by source", w=12,
          description="Messages ClickHouse could not ingest, per minute of their Kafka time and per "
                      "source topic (ingest_errors).",
          query=sql("""
              SELECT toStartOfMinute(kafka_timestamp) AS time, source, count() AS errors
              FROM ingest_errors
              WHERE $__timeFilter_ms(kafka_timestamp)
              GROUP BY time, source
              ORDER BY time, source
          """)),
    Panel("table", "Ingested tables", w=24, h=6,
          description="Per ingested table: rows stored (replays included until merged), newest event "
                      "time, last insert, and their ages (v_freshness).",
          query=sql("""
              SELECT source_table, rows, last_event_time, last_ingested_at,
                     dateDiff('millisecond', last_event_time, now64(3)) / 1000 AS age_s,
                     dateDiff('second', last_ingested_at, now()) AS since_last_insert_s
              FROM v_freshness
              ORDER BY source_table
          """)),
    Panel("table", "Malformed events (latest first)", w=12,
          description="Undecodable source records in the range: where they were, why, and their bytes "
                      "(base64) for inspection.",
          query=sql("""
              SELECT kafka_timestamp, kafka_partition, kafka_offset, error, payload_base64, ingested_at
              FROM malformed_events FINAL
              WHERE $__timeFilter_ms(kafka_timestamp)
              ORDER BY kafka_timestamp DESC, kafka_partition, kafka_offset
              LIMIT 100
          """)),
    Panel("table", "Ingest errors (latest first)", w=12,
          description="Messages ClickHouse could not ingest in the range, with ClickHouse's reason and the raw message.",
          query=sql("""
              SELECT kafka_timestamp, source, topic, partition, offset, error, raw_message
              FROM ingest_errors
              WHERE $__timeFilter_ms(kafka_timestamp)
              ORDER BY kafka_timestamp DESC, source, partition, offset
              LIMIT 100
          """)),
    Panel("table", "Schema migrations", w=24,
          description="Applied migrations, newest first: versioned files once each, repeatable files "
                      "with their last application (ledgers schema_migrations and schema_repeatables).",
          query=sql("""
              SELECT name, kind, applied_at
              FROM
              (
                  SELECT name, 'versioned' AS kind, applied_at
                  FROM schema_migrations
                  UNION ALL
                  SELECT name, 'repeatable' AS kind, max(applied_at) AS applied_at
                  FROM schema_repeatables
                  GROUP BY name
              )
              ORDER BY applied_at DESC, name
          """)),
]


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> dashboard model."""
    return {
        "clickstream-live.json": dashboard(
            "clickstream-live", "Clickstream live",
            "Page views, users, pages and sessions from the Flink job's insights, live.",
            "10s", LIVE, (PAGE_VARIABLE, USER_VARIABLE)),
        "pipeline-health.json": dashboard(
            "clickstream-pipeline-health", "Pipeline health",
            "Is data flowing: freshness, ingestion per table, delays, malformed input and ingest errors.",
            "30s", HEALTH),
    }


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, model in dashboards().items():
        path = OUT_DIR / name
        text = render(model)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(REPO)))
        else:
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("out of date (run scripts/build_dashboards.py):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
