"""Dashboard query latency: rollup tables vs the raw table, same data, same run (chdb 2.1.1).

    PYTHONPATH=. .venv/bin/python bench/clickhouse_queries.py [--events 10000000] [--runs 15]

1. Migrates an empty chdb data folder with clickhouse_schema/ (the production files).
2. Writes N generated page views as JSONEachRow (the `clickstream.events` contract) with
   ClickHouse itself, then times loading that file into `pageviews` (parse + insert): the load rate.
   Generated: one day, 10,000 users active in shifting 10-minute stretches (so sessions end and
   start), 100 pages with a skewed popularity.
3. Derives the job's outputs from the raw rows, as the Flink job computes them (per-minute page
   stats, per-minute user activity, 5-minute-gap sessions), and inserts them into their tables, so
   the hourly materialized views fire as in production. Then OPTIMIZE FINAL on every table: what
   the server's background merges do over time (chdb runs none).
4. Times each dashboard query against the rollups and its equivalent against `pageviews`, checks
   both give the same answer, and prints medians and ratios.

Latency is ClickHouse's own elapsed time for the query (what the server spends). chdb also
reloads all table metadata for every query (it is an embedded engine without a server); that
per-query overhead is printed separately and is not part of a server's query time. Every timed
query runs with `compile_aggregate_expressions = 0`, on both sides: chdb starts each query afresh
and so pays LLVM compilation of aggregate expressions (~50 ms) every time, which a server does once
and caches.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from components.clients.migrations import Migrator, discover  # noqa: E402
from tests.support.chdb_executor import ChdbExecutor  # noqa: E402
from tests.support.clock import DAY  # noqa: E402

DB = "clickstream"
PARAMS = {
    "kafka_brokers": "kafka:29092", "kafka_group": "clickhouse-bench",
    "topic_events": "clickstream.events", "topic_page_stats_1m": "clickstream.page_stats_1m",
    "topic_user_activity_1m": "clickstream.user_activity_1m", "topic_sessions": "clickstream.sessions",
    "topic_malformed": "clickstream.malformed", "raw_ttl_days": 3650,
}
START = f"{DAY} 00:00:00"  # yesterday (UTC): a whole day, all of it in the past
SESSION_GAP_MS = 5 * 60 * 1000

# (name, rollup query, raw query); both return the same rows.
QUERIES = [
    (
        "views per minute (24 h)",
        f"SELECT minute, views FROM {DB}.v_views_1m ORDER BY minute",
        f"SELECT toDateTime(toStartOfMinute(event_time)) AS minute, count() AS views FROM {DB}.pageviews "
        "GROUP BY minute ORDER BY minute",
    ),
    (
        "top 10 pages (24 h)",
        f"SELECT page_id, sum(views) AS views FROM (SELECT hour, page_id, arraySum(maxForEachMerge(views_by_minute)) AS views "
        f"FROM {DB}.page_stats_1h GROUP BY hour, page_id) GROUP BY page_id ORDER BY views DESC, page_id LIMIT 10",
        f"SELECT page_id, count() AS views FROM {DB}.pageviews GROUP BY page_id ORDER BY views DESC, page_id LIMIT 10",
    ),
    (
        "unique users per hour",
        f"SELECT hour, unique_users FROM {DB}.v_users_1h ORDER BY hour",
        f"SELECT toStartOfHour(event_time) AS hour, uniqExact(user_id) AS unique_users FROM {DB}.pageviews "
        "GROUP BY hour ORDER BY hour",
    ),
    (
        "sessions per hour",
        f"SELECT hour, sessions, total_views FROM {DB}.v_sessions_1h ORDER BY hour",
        "SELECT toStartOfHour(session_start) AS hour, count() AS sessions, sum(views) AS total_views FROM ("
        + "SELECT user_id, sid, min(event_time) AS session_start, count() AS views FROM ("
        + "SELECT user_id, event_time, sum(is_new) OVER (PARTITION BY user_id ORDER BY event_time "
        + "ROWS UNBOUNDED PRECEDING) AS sid FROM ("
        + "SELECT user_id, event_time, dateDiff('millisecond', lagInFrame(event_time, 1, toDateTime64(0, 3, 'UTC')) "
        + f"OVER (PARTITION BY user_id ORDER BY event_time ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), event_time) > {SESSION_GAP_MS} AS is_new "
        + f"FROM {DB}.pageviews)) GROUP BY user_id, sid) GROUP BY hour ORDER BY hour",
    ),
]


def generate_sql(events: int, path: Path) -> str:
    """ClickHouse writes the contract's JSON lines itself: generating 10M rows in Python is minutes."""
    step_ms = 86_400_000 / events
    return (
        f"INSERT INTO FUNCTION file('{path}', 'JSONEachRow') "
        "SELECT toUInt32(number % 3) AS kafka_partition, intDiv(number, 3) AS kafka_offset, "
        f"toDateTime64('{START}', 3, 'UTC') + toIntervalMillisecond(toUInt64(number * {step_ms})) AS event_time, "
        "toInt64(number * 10 + 1) AS viewtime, "
        # 500 users active at a time; the active set moves on every 10 minutes
        f"concat('User_', toString((intDiv(toUInt64(number * {step_ms}), 600000) * 500 + cityHash64(number, 1) % 500) % 10000)) AS user_id, "
        "concat('Page_', toString(toUInt32(pow((cityHash64(number, 2) % 1000000) / 1e6, 2) * 100))) AS page_id "
        f"FROM numbers({events})"
    )


JOB_OUTPUT = [
    # what the Flink job emits to clickstream.page_stats_1m / user_activity_1m / sessions
    f"INSERT INTO {DB}.page_stats_1m (window_start, window_end, page_id, views, unique_users) "
    f"SELECT toStartOfMinute(event_time) AS ws, ws + 60, page_id, count(), uniqExact(user_id) FROM {DB}.pageviews "
    "GROUP BY ws, page_id",
    f"INSERT INTO {DB}.user_activity_1m (window_start, window_end, user_id, views, page_ids) "
    f"SELECT toStartOfMinute(event_time) AS ws, ws + 60, user_id, count(), arraySort(groupUniqArray(page_id)) "
    f"FROM {DB}.pageviews GROUP BY ws, user_id",
    f"INSERT INTO {DB}.sessions (user_id, session_start, session_end, views, page_ids) "
    f"SELECT user_id, min(event_time), max(event_time) + toIntervalMillisecond({SESSION_GAP_MS}), count(), "
    "arraySort(groupUniqArray(page_id)) FROM ("
    "SELECT user_id, event_time, page_id, sum(is_new) OVER (PARTITION BY user_id ORDER BY event_time "
    "ROWS UNBOUNDED PRECEDING) AS sid FROM ("
    "SELECT user_id, event_time, page_id, dateDiff('millisecond', lagInFrame(event_time, 1, toDateTime64(0, 3, 'UTC')) "
    f"OVER (PARTITION BY user_id ORDER BY event_time ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), event_time) > {SESSION_GAP_MS} AS is_new "
    f"FROM {DB}.pageviews)) GROUP BY user_id, sid",
]


NO_JIT = " SETTINGS compile_aggregate_expressions = 0"


def timed(ex: ChdbExecutor, sql: str) -> tuple[float, float, bytes]:
    """(engine seconds, wall seconds, output) of one query."""
    started = time.perf_counter()
    result = ex.query(sql, "TSV")
    return result.elapsed(), time.perf_counter() - started, result.bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per rollup query (after one warm-up)")
    parser.add_argument("--raw-runs", type=int, default=5, help="timed runs per raw query (after one warm-up)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data here (default: a temp folder)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-clickhouse-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        ex = ChdbExecutor(work / "clickhouse")
        Migrator(ex, DB).apply(discover(REPO / "clickhouse_schema"), PARAMS)

        source = work / "events.jsonl"
        source.unlink(missing_ok=True)
        ex.command(generate_sql(args.events, source))
        load_s, load_wall, _ = timed(ex, (
            f"INSERT INTO {DB}.pageviews (kafka_partition, kafka_offset, event_time, viewtime, user_id, page_id) "
            f"SELECT * FROM file('{source}', 'JSONEachRow', 'kafka_partition UInt32, kafka_offset UInt64, "
            "event_time DateTime64(3, \\'UTC\\'), viewtime Int64, user_id String, page_id String')"))
        source.unlink()
        job_s = 0.0
        for sql in JOB_OUTPUT:
            job_s += timed(ex, sql)[0]
        optimize_s = 0.0
        for (table,) in ex.rows(f"SELECT name FROM system.tables WHERE database = '{DB}' AND engine LIKE '%MergeTree'"):
            optimize_s += timed(ex, f"OPTIMIZE TABLE {DB}.{table} FINAL")[0]

        counts = dict(ex.rows(
            f"SELECT table, sum(rows) FROM system.parts WHERE database = '{DB}' AND active GROUP BY table"))
        raw_bytes, all_bytes = ex.rows(
            f"SELECT sumIf(bytes_on_disk, table = 'pageviews'), sum(bytes_on_disk) FROM system.parts "
            f"WHERE database = '{DB}' AND active")[0]
        floor = [timed(ex, "SELECT 1") for _ in range(args.runs)]
        overhead = statistics.median(wall for _, wall, _ in floor)
        engine_floor = statistics.median(engine for engine, _, _ in floor)

        millions = args.events / 1e6
        print(f"chdb {ex.rows('SELECT version()')[0][0]}, {args.events:,} page views over one day")
        print(f"load (JSONEachRow parse + insert into pageviews): {load_s:.1f} s = {args.events / load_s:,.0f} rows/s"
              f" (wall {load_wall:.1f} s)")
        print(f"job output derived and inserted (hourly views fired): {job_s:.1f} s; OPTIMIZE FINAL: {optimize_s:.1f} s")
        print("rows: " + ", ".join(f"{t} {counts.get(t, 0):,}" for t in
                                   ("pageviews", "page_stats_1m", "user_activity_1m", "sessions", "page_stats_1h", "page_users_1h", "users_1h")))
        print(f"on disk: pageviews {raw_bytes / millions / 2**20:.1f} MiB per million events; "
              f"all tables {all_bytes / millions / 2**20:.1f} MiB per million events")
        print(f"chdb per-query overhead (SELECT 1, wall, median): {overhead * 1000:.0f} ms, not included below; "
              f"engine time of SELECT 1 (median): {engine_floor * 1000:.1f} ms, included below")
        print()
        print(f"machine load average (1 min) before the queries: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'query':<26} {'rollup ms':>10} {'raw ms':>10} {'raw/rollup':>11} {'raw FINAL ms':>13} {'ratio':>8}"
              f"   (engine time, median of {args.runs} rollup / {args.raw_runs} raw runs; minimums in brackets)")
        failures = []
        for name, rollup_sql, raw_sql in QUERIES:
            # the raw table as it is, and with FINAL: what an exact answer needs when replays are
            # not merged away yet (the rollups are exact either way)
            raw_final_sql = raw_sql.replace(f"FROM {DB}.pageviews", f"FROM {DB}.pageviews FINAL")
            medians, minimums, answers = [], [], []
            for sql, runs in ((rollup_sql + NO_JIT, args.runs), (raw_sql + NO_JIT, args.raw_runs),
                              (raw_final_sql + NO_JIT, args.raw_runs)):
                answers.append(timed(ex, sql)[2])  # warm-up, and the answer
                times = [timed(ex, sql)[0] for _ in range(runs)]
                medians.append(statistics.median(times))
                minimums.append(min(times))
            same = answers[0] == answers[1] == answers[2]
            ratio = medians[1] / medians[0]
            print(f"{name:<26} {medians[0] * 1000:>10.1f} {medians[1] * 1000:>10.1f} {ratio:>10.1f}x"
                  f" {medians[2] * 1000:>13.1f} {medians[2] / medians[0]:>7.1f}x"
                  f"   [{minimums[0] * 1000:.1f} / {minimums[1] * 1000:.1f} / {minimums[2] * 1000:.1f} ms]"
                  + ("" if same else "   ANSWERS DIFFER"))
            if not same:
                failures.append(f"{name}: rollup and raw answers differ")
            if medians[0] >= 0.050:
                failures.append(f"{name}: rollup median {medians[0] * 1000:.1f} ms is not under 50 ms")
            if ratio < 20:
                failures.append(f"{name}: rollup only {ratio:.1f}x faster than raw without FINAL (target 20x)")
        print(f"machine load average (1 min) after: {os.getloadavg()[0]:.1f}")
        print()
        print("targets met" if not failures else "targets missed:\n  " + "\n  ".join(failures))
        return 1 if failures and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
