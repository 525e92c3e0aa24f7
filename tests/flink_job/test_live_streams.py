"""The job on a live stream: page views written while it runs, paced by the wall clock, with quiet
stretches longer than the source idle timeout, one partition silent while the others are busy,
and views that arrive late (but within the watermark delay). Every such view must count: exact
page-minute, unique-user, user-minute and session rows, whatever the parallelism and the order in
which partitions resume (issue 19).

Time is scaled: event time runs SPEED times faster than the wall clock, so an event-minute takes a
few seconds and the idle timeout (wall-clock seconds) is passed by a quiet stretch of a minute or
so of event time. Its own Flink cluster: two TaskManagers, so that parallelism 3 spans both.
"""
from __future__ import annotations

import random
import threading
import time

import pytest

from tests.flink_job.conftest import JobRunner
from tests.flink_job.pageviews import Record, expected_insights, pageview_record, produce, produce_paced
from tests.flink_job.test_job_on_kafka import GAP_S, T0, Outputs, Topics, _job_args, _placed, _wait_for_expected
from tests.support.flink import FlinkCluster
from tests.support.processes import wait_for

SPEED = 12
"""Event milliseconds per wall-clock millisecond: an event-minute takes 5 s."""
DELAY_S = 15
"""Watermark delay, event seconds (1.25 s of wall clock): leaves room for the sources to read
their partitions a little apart in time on a busy machine, beyond how late the late views are."""
LATE_MS = 4_000
"""The latest a late view is, event time: well inside the delay."""
IDLE_S = 3
"""Source idle timeout, wall-clock seconds (36 event-seconds)."""
PARTITIONS = 3
PERIOD_MS = 333
"""Time between views on a sending partition (event time): about 3 a second."""
SPARSE_MS = 7_000
"""The same on a sparse partition: its newest view, and so its watermark, trails the others' by
seconds."""
# (from, to) in event seconds after T0, the partitions sending then, and how often. Gaps are quiet
# for every partition: 80 and 70 event-seconds, about 6 s of wall clock, twice the timeout.
SEGMENTS = [
    (0, 30, (0, 1, 2), PERIOD_MS),
    (30, 150, (0, 1), PERIOD_MS),   # partition 2 silent for 10 s of wall clock, the others busy
    (230, 236, (2,), PERIOD_MS),    # after a quiet stretch, partition 2 resumes first, late views first
    (236, 330, (0, 1, 2), PERIOD_MS),
    (400, 480, (0, 1), PERIOD_MS),  # after another, 0 and 1 resume and 2 stays silent for a while,
    (440, 480, (2,), SPARSE_MS),    # then resumes sparse: its watermark trails the others' throughout
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, decode_jar):
    started = FlinkCluster.start(tmp_path_factory.mktemp("flink-live"), taskmanagers=2, slots=2,
                                 extra_jars=[decode_jar])
    yield JobRunner(started)
    started.stop()


def _live_views(schema_id: int, seed: int) -> list[tuple[float, Record]]:
    """(due, record) in the order written: `due` is the event time the record is written at, its
    timestamp is `due` or, for one view in twenty and every partition's first view after a
    pause, up to LATE_MS earlier."""
    rng = random.Random(seed)
    planned = []
    for start, end, partitions, period_ms in SEGMENTS:
        for partition in partitions:
            for k in range((end - start) * 1000 // period_ms):
                due = T0 + start * 1000 + k * period_ms + rng.randrange(period_ms)
                late = k == 0 or rng.random() < 0.05
                ts = due - rng.randrange(500, LATE_MS + 1) if late else due
                planned.append((due, partition, ts))
    planned.sort()
    return [(due, pageview_record(schema_id, partition, ts, i + 1, f"User_{rng.randint(1, 9)}",
                                  f"Page_{rng.randint(10, 29)}"))
            for i, (due, partition, ts) in enumerate(planned)]


def _late_records_dropped(flink: JobRunner, job_id: str) -> dict[str, int]:
    """Flink's own numLateRecordsDropped per vertex (first 60 characters of its name), where not 0."""
    out = {}
    for vertex in flink.get(f"/jobs/{job_id}")["vertices"]:
        base = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        names = [m["id"] for m in flink.get(base) if m["id"].endswith("numLateRecordsDropped")]
        if names:
            dropped = sum(int(float(v["value"])) for v in flink.get(f"{base}?get={','.join(names)}"))
            if dropped:
                out[vertex["name"][:60]] = dropped
    return out


@pytest.mark.parametrize("parallelism", [2, 3])
def test_live_stream_with_idle_partitions_and_late_views_gives_exact_insights(
        kafka, registry, schema_id, cluster, parallelism, capsys):
    flink = cluster
    topics = Topics(kafka, source_partitions=PARTITIONS)
    planned = _live_views(schema_id, seed=parallelism)
    job_id = flink.submit(_job_args(kafka, registry, topics, parallelism=parallelism, watermark_delay=DELAY_S,
                                    idle_timeout=IDLE_S, checkpoint_interval=60, startup_mode="earliest-offset"))
    outputs = Outputs(kafka, topics)
    try:
        flink.wait_all_tasks_running(job_id, timeout=60)
        source = next(v["id"] for v in flink.get(f"/jobs/{job_id}")["vertices"] if "Source" in v["name"])

        def partitions_assigned() -> bool:
            names = [m["id"] for m in flink.get(f"/jobs/{job_id}/vertices/{source}/metrics")]
            return len({n.split(".partition.")[1].split(".")[0] for n in names if ".partition." in n}) == PARTITIONS

        wait_for("every partition assigned to a source reader", partitions_assigned, timeout=60)
        # Live from the first view: the stream starts once every reader has fetched (a reader's
        # first fetch can take longer than the watermark delay on a busy machine; its views would
        # then be legitimately late). A view on each partition ten minutes before the stream, in
        # the clickstream.events output, says so.
        warm_up = [pageview_record(schema_id, p, T0 - 600_000 + p, 999_900 + p, f"User_{p + 1}", "Page_10")
                   for p in range(PARTITIONS)]
        written: list = [produce(kafka.bootstrap, topics.source, warm_up)]
        wait_for("the warm-up views out", lambda: outputs.poll() or len(outputs.deduped()["events"]) == PARTITIONS,
                 timeout=60)
        started = time.monotonic()
        due = [started + (d - T0) / SPEED / 1000 for d, _ in planned]
        records = [r for _, r in planned]
        writer = threading.Thread(target=lambda: written.append(
            produce_paced(kafka.bootstrap, topics.source, records, due)), daemon=True)
        writer.start()
        writer.join(timeout=(due[-1] - started) + 60)
        assert len(written) == 2, "the live producer did not finish"
        # A view 90 s late, far beyond the delay, of a user seen nowhere else: its minute and its
        # own session had closed. A raw event like any other; dropped from the windows, counted.
        too_late = pageview_record(schema_id, 2, T0 + 390_000, 999_000, "User_0", "Page_10")
        # Last, a view far later on every partition: it closes every window above.
        sentinels = [pageview_record(schema_id, p, T0 + 3_600_000, 999_990 + p, "User_9", "Page_99")
                     for p in range(PARTITIONS)]
        written += [produce(kafka.bootstrap, topics.source, [too_late]),
                    produce(kafka.bootstrap, topics.source, sentinels)]
        views = _placed(warm_up + records + [too_late] + sentinels, [p for batch in written for p in batch])
        on_time = [v for v in views if v.user_id != "User_0"]
        watermark = T0 + 3_600_000 - DELAY_S * 1000 - 1
        expected = {**expected_insights(on_time, GAP_S, watermark),
                    "events": expected_insights(views, GAP_S, watermark)["events"]}
        assert len(expected["page_stats"]) > 100 and len(expected["sessions"]) > 20

        try:
            _wait_for_expected(outputs, expected, {}, timeout=90)
        except AssertionError as exc:
            try:
                late_views = flink.operator_metric(job_id, "lateViews")
            except AssertionError as missing:
                late_views = str(missing)
            raise AssertionError(f"{exc}\nnumLateRecordsDropped: {_late_records_dropped(flink, job_id)}; "
                                 f"lateViews: {late_views}") from None
        # (the REST metric store refreshes every few seconds)
        wait_for("the late view counted in lateViews",
                 lambda: flink.operator_metric(job_id, "lateViews") == 1, timeout=60)
        with capsys.disabled():
            print(f"\n[parallelism {parallelism}] {len(views)} views live over {due[-1] - started:.0f} s: exact; "
                  f"numLateRecordsDropped {_late_records_dropped(flink, job_id)}")
    finally:
        outputs.close()
        flink.cancel(job_id)
