"""Throughput of the insights job on a real Kafka broker and Flink cluster, next to a pass-through.

    cd /work/main && PYTHONPATH=. .venv-flink/bin/python bench/flink_throughput.py \
        [--events 10000000] [--repetitions 3] [--partitions 2] [--parallelism 1] [--no-copy]

What it does, all on 127.0.0.1 (Kafka 3.4.1 KRaft from Maven jars, Flink 1.20.3 from the wheel,
the test Schema Registry stand-in of tests/support/schema_registry.py):
1. writes N datagen-like pageviews (Confluent-Avro, the exact pageviews schema, record timestamps
   spread over `--event-minutes` of event time) to `pageviews`, once: every job reads these;
2. starts one Flink cluster (JobManager + one TaskManager) per job, and keeps it for all of that
   job's runs, so every run after the first finds a warm JVM, and the TaskManager's peak RSS is that
   job's alone:
   - pass-through: Kafka in -> discard (the same raw source, no decode, a blackhole sink);
   - copy: Kafka in -> one Kafka message out per record, keyed by partition|offset, with the
     insights job's producer settings (no decode, no state): what writing one message per event
     costs (the insights job packs many events into each `clickstream.events` message);
   - insights: flink_job/job.py, all five Kafka outputs;
3. runs one warm-up round (not counted), then `--repetitions` rounds of every job in turn, so load
   from other work on the machine falls on all of them alike. Every job runs bounded (it stops at
   the offsets latest at start), so "finished" means every event was read and, for the insights
   job, every window fired and every output was flushed. Each insights run writes fresh topics and
   is checked: `clickstream.events` holds exactly N page views (lines) and the views of each
   aggregate topic sum to N;
4. prints, per job, the median over the rounds (and the range) of events/s (N / time from the
   first source subtask RUNNING to the last subtask FINISHED, from Flink's REST API; submission and
   deployment excluded), the TaskManager's CPU seconds per million events (user + system, from
   /proc), the broker's, the TaskManager's peak RSS (VmHWM) and the load average; then the median of
   the per-round ratios to the pass-through, and the targets.

`python bench/flink_throughput.py --passthrough-job|--copy-job ...` is that job itself (run by
`flink run`); both reuse the insights job's source declaration (and the copy job its sink).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

JOBS = ("pass-through", "copy", "insights")


# ---------------------------------------------------------------------------------------------
# The reference jobs (run inside `flink run`).
# ---------------------------------------------------------------------------------------------

def passthrough_job(argv: list[str]) -> None:
    """Kafka in -> discard: the source the insights job declares, raw bytes, a blackhole sink."""
    from pyflink.table import DataTypes, Schema, TableDescriptor

    from flink_job import job

    cfg = job.parse_args(argv)
    t_env = job.create_table_environment(cfg)
    source = job.declare_source(t_env, cfg)
    sink = Schema.new_builder()
    for name, data_type in [("kafka_partition", DataTypes.INT()), ("kafka_offset", DataTypes.BIGINT()),
                            ("event_time", DataTypes.TIMESTAMP_LTZ(3)), ("payload", DataTypes.BYTES())]:
        sink = sink.column(name, data_type)
    t_env.create_temporary_table("discard", TableDescriptor.for_connector("blackhole").schema(sink.build()).build())
    source.execute_insert("discard")


def copy_job(argv: list[str]) -> None:
    """Kafka in -> one message out per record (key partition|offset, value the raw bytes), through
    the sink the insights job declares for `clickstream.events` (--events-topic)."""
    from pyflink.table import DataTypes

    from flink_job import job

    cfg = job.parse_args(argv)
    t_env = job.create_table_environment(cfg)
    source = job.declare_source(t_env, cfg)
    columns = [("record_key", DataTypes.STRING()), ("value", DataTypes.BYTES())]
    t_env.create_temporary_table("copy", job._sink_descriptor(cfg, cfg.events_topic, columns))
    t_env.sql_query(f"""
        SELECT CAST(kafka_partition AS STRING) || '|' || CAST(kafka_offset AS STRING) AS record_key,
               payload                                                          AS `value`
        FROM {source}""").execute_insert("copy")


# ---------------------------------------------------------------------------------------------
# Measuring.
# ---------------------------------------------------------------------------------------------

def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _peak_rss_mb(pid: int) -> float:
    """VmHWM of the TaskManager JVM (the java process under the taskmanager.sh wrapper, if any)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    peak = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            pass
    return peak / 1024


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the JVM under a wrapper script)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _cause(output: str) -> str:
    """The exception lines of a `flink run` failure (Python's and Java's), or the output's tail."""
    causes = [line for line in output.splitlines()
              if ("Exception: " in line or "Error: " in line) and not line.startswith("\t")
              and "Python process exits" not in line]
    return "\n".join(causes[:6]) if causes else output[-3000:]


def run_job(cluster, script: Path, args: list[str], timeout: float, broker_pid: int) -> dict:
    """Submit with `flink run -d`, wait until FINISHED, return timing and CPU."""
    from tests.support.processes import wait_for

    tm_pid = cluster.taskmanagers[-1].process.pid
    cmd = [str(cluster.home / "bin" / "flink"), "run", "-m", cluster.rest_url.removeprefix("http://"),
           "-d", "-py", str(script), *args]
    cpu_before = {"tm": _cpu_seconds(tm_pid), "broker": _cpu_seconds(broker_pid)}
    load_before = os.getloadavg()[0]
    done = subprocess.run(cmd, env=cluster.env, capture_output=True, text=True, timeout=300)
    ids = [line.split()[-1] for line in done.stdout.splitlines() if "Job has been submitted with JobID" in line]
    if done.returncode != 0 or not ids:
        raise RuntimeError(f"flink run failed ({done.returncode}):\n{_cause(done.stdout + done.stderr)}")
    job_id = ids[0]

    def finished():
        state = _get(f"{cluster.rest_url}/jobs/{job_id}")["state"]
        if state in ("FAILED", "CANCELED"):
            raise RuntimeError(f"job {job_id} {state}: {_get(f'{cluster.rest_url}/jobs/{job_id}/exceptions')}")
        return state == "FINISHED"

    wait_for(f"job {job_id} to finish", finished, timeout, interval=0.5)
    cpu_after = {"tm": _cpu_seconds(tm_pid), "broker": _cpu_seconds(broker_pid)}
    details = _get(f"{cluster.rest_url}/jobs/{job_id}")
    first_running, last_finished = None, 0
    for vertex in details["vertices"]:
        times = _get(f"{cluster.rest_url}/jobs/{job_id}/vertices/{vertex['id']}/subtasktimes")
        for subtask in times["subtasks"]:
            ts = subtask["timestamps"]
            if vertex["name"].startswith("Source"):
                first_running = min(first_running or ts["RUNNING"], ts["RUNNING"])
            last_finished = max(last_finished, ts.get("FINISHED", 0))
    # The TaskManager's CPU between submission and the end includes deploying the tasks, which
    # both jobs pay alike; the JobManager's work is not counted.
    return {"job_id": job_id, "seconds": (last_finished - first_running) / 1000,
            "tm_cpu": cpu_after["tm"] - cpu_before["tm"],
            "broker_cpu": cpu_after["broker"] - cpu_before["broker"],
            "load": (load_before + os.getloadavg()[0]) / 2}


# ---------------------------------------------------------------------------------------------
# Checking what the insights job wrote.
# ---------------------------------------------------------------------------------------------

def _record_count(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4().hex}",
                         "isolation.level": "read_committed"})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        total = 0
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            total += high - low
        return total
    finally:
        consumer.close()


def _event_lines(bootstrap: str, topic: str) -> tuple[int, int]:
    """(messages, JSON lines) in a `clickstream.events` topic: a message holds one line per view."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4().hex}",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        remaining = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            if high > low:
                remaining[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in remaining])
        messages = lines = 0
        deadline = time.monotonic() + 600
        while remaining and time.monotonic() < deadline:
            for msg in consumer.consume(10000, timeout=1):
                if msg.error() is not None:
                    continue
                messages += 1
                lines += msg.value().count(b"\n") + 1
                if msg.offset() + 1 >= remaining.get(msg.partition(), 0):
                    remaining.pop(msg.partition(), None)
        return messages, lines
    finally:
        consumer.close()


def check_insights(bootstrap: str, topics: dict[str, str], events: int) -> int:
    """Every event is in `clickstream.events` once, and counted once in each aggregate; returns
    the number of `clickstream.events` messages."""
    from tests.flink_job.pageviews import TopicReader

    problems = []
    messages, count = _event_lines(bootstrap, topics["events"])
    if count != events:
        problems.append(f"clickstream.events holds {count} page views, expected {events}")
    for output in ("page_stats", "user_activity", "sessions"):
        reader = TopicReader(bootstrap, topics[output])
        while True:
            before = len(reader.records)
            reader.poll(3)
            if len(reader.records) == before:
                break
        reader.close()
        views = sum(r["views"] for r in reader.records)
        if views != events:
            problems.append(f"the views of {topics[output]} sum to {views}, expected {events}")
    malformed = _record_count(bootstrap, topics["malformed"])
    if malformed:
        problems.append(f"{malformed} records in {topics['malformed']}, expected none")
    if problems:
        raise SystemExit("the insights job's output is wrong: " + "; ".join(problems))
    return messages


def _stop_children(keep: set[int]) -> None:
    """SIGTERM to this process's child process groups (each Service runs in its own session),
    except `keep`."""
    import signal

    me = os.getpid()
    children = {int(p) for task in Path(f"/proc/{me}/task").iterdir()
                for p in (task / "children").read_text().split()}
    for pid in children - keep:
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def _delete_topics(bootstrap: str, topics) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})  # held: its futures die with it
    for future in admin.delete_topics(list(topics), operation_timeout=30).values():
        future.result(timeout=60)


# ---------------------------------------------------------------------------------------------

def _summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repetitions", type=int, default=3, help="measured rounds, after one warm-up round")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--event-minutes", type=int, default=30)
    parser.add_argument("--no-copy", action="store_true", help="skip the copy job")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    for mode, job in (("--passthrough-job", passthrough_job), ("--copy-job", copy_job)):
        if mode in sys.argv:
            return job([a for a in sys.argv[1:] if a != mode])
    args = parser.parse_args()

    from tests.flink_job.pageviews import OUTPUT_TOPICS, PAGEVIEWS_SCHEMA, PAGEVIEWS_SUBJECT, create_topics
    from tests.support.flink import FlinkCluster, udf_jar
    from tests.support.kafka import KafkaBroker
    from tests.support.schema_registry import SchemaRegistryTestServer

    jobs = [j for j in JOBS if not (args.no_copy and j == "copy")]
    work = Path(tempfile.mkdtemp(prefix="flink-bench-"))
    broker = registry = None
    clusters: dict = {}
    try:
        jar = udf_jar()
        broker = KafkaBroker.start(work / "kafka")
        registry = SchemaRegistryTestServer.start()
        schema_id = registry.register(PAGEVIEWS_SUBJECT, PAGEVIEWS_SCHEMA)
        create_topics(broker.bootstrap, {"pageviews": args.partitions})
        started = time.monotonic()
        _produce_bench_events(broker.bootstrap, schema_id, args.events, args.partitions, args.event_minutes)
        print(f"produced {args.events:,} pageviews in {time.monotonic() - started:.1f}s", flush=True)
        for name in jobs:
            for attempt in range(3):
                try:
                    # A modest JobManager: three clusters live side by side, each job on its own
                    # TaskManager.
                    clusters[name] = FlinkCluster.start(
                        work / f"{name}-{attempt}", taskmanagers=1, slots=max(2, args.parallelism),
                        extra_jars=[jar], conf={"jobmanager.memory.process.size": "768m"})
                    break
                except AssertionError as exc:
                    # free_port() cannot reserve a port: another process may take it before the
                    # JobManager binds it. Stop what that attempt started, then use fresh ports.
                    print(f"Flink cluster for {name} did not start ({str(exc)[:160]}...); retrying", flush=True)
                    _stop_children(keep={broker.service.process.pid,
                                         *(p.process.pid for c in clusters.values()
                                           for p in [c.jobmanager, *c.taskmanagers])})
            else:
                raise SystemExit(f"could not start a Flink cluster for {name}")

        common = ["--bootstrap-servers", broker.bootstrap, "--schema-registry-url", registry.url,
                  "--bounded", "--startup-mode", "earliest-offset", "--parallelism", str(args.parallelism)]
        results: dict[str, list[dict]] = {name: [] for name in jobs}
        for round_ in range(args.repetitions + 1):
            label = "warm-up" if round_ == 0 else f"round {round_}"
            for name in jobs:
                suffix = uuid.uuid4().hex[:8]
                # Every job parses the insights job's options, output topics included (required);
                # only those it writes are created.
                named = {o: f"{t}-{name}-{suffix}" for o, t in zip(
                    ("events", "page_stats", "user_activity", "sessions", "malformed"), OUTPUT_TOPICS)}
                extra = ["--group-id", f"bench-{name}-{suffix}",
                         *(arg for o, t in named.items() for arg in (f"--{o.replace('_', '-')}-topic", t))]
                if name == "pass-through":
                    script = Path(__file__).resolve()
                    extra.append("--passthrough-job")
                    topics = {}
                elif name == "copy":
                    script = Path(__file__).resolve()
                    extra.append("--copy-job")
                    topics = {"events": named["events"]}
                else:
                    script = REPO_ROOT / "flink_job" / "job.py"
                    topics = named
                if topics:
                    create_topics(broker.bootstrap, {t: args.partitions for t in topics.values()})
                r = run_job(clusters[name], script, [*common, *extra], timeout=1800,
                            broker_pid=broker.service.process.pid)
                if name == "insights":
                    r["messages"] = check_insights(broker.bootstrap, topics, args.events)
                elif name == "copy" and _record_count(broker.bootstrap, topics["events"]) != args.events:
                    raise SystemExit(f"the copy job did not write {args.events} records")
                if topics:
                    _delete_topics(broker.bootstrap, topics.values())
                million = args.events / 1e6
                packed = f"; {args.events / r['messages']:,.0f} views per events message" if "messages" in r else ""
                print(f"{label:>8} {name:>12}: {args.events / r['seconds']:>10,.0f} events/s "
                      f"({r['seconds']:.1f}s); CPU per million events: TaskManager {r['tm_cpu'] / million:.2f}s, "
                      f"broker {r['broker_cpu'] / million:.2f}s; load average {r['load']:.1f}{packed}", flush=True)
                if round_:
                    results[name].append(r)

        million = args.events / 1e6
        print(f"\n{args.events:,} events, {args.partitions} partitions, parallelism {args.parallelism}, "
              f"{os.cpu_count()} cores; median of {args.repetitions} rounds after a warm-up [min - max]:")
        print(f"{'job':>12} | {'events/s':>30} | {'TM CPU-s per million events':>27} | {'broker CPU-s/M':>14} | "
              f"{'TM peak RSS':>11} | {'load avg':>8}")
        rates = {}
        for name in jobs:
            rate = _summary([args.events / r["seconds"] for r in results[name]])
            cpu = _summary([r["tm_cpu"] / million for r in results[name]])
            broker_cpu = statistics.median(r["broker_cpu"] / million for r in results[name])
            rates[name] = rate[0]
            print(f"{name:>12} | {rate[0]:>10,.0f} [{rate[1]:>8,.0f} - {rate[2]:>8,.0f}] | "
                  f"{cpu[0]:>11.2f} [{cpu[1]:.2f} - {cpu[2]:.2f}] | {broker_cpu:>14.2f} | "
                  f"{_peak_rss_mb(clusters[name].taskmanagers[-1].process.pid):>8.0f} MB | "
                  f"{statistics.median(r['load'] for r in results[name]):>8.1f}")
        cpu_line = ", ".join(f"{name} {statistics.median(r['tm_cpu'] / million for r in results[name]):.2f}"
                             for name in jobs)
        print(f"TaskManager CPU-seconds per million events: {cpu_line}")
        # Per round, the jobs ran back to back under the same load: the ratio of each round is the
        # fairer figure, and its median the one reported.
        ratios = {name: statistics.median(
            (args.events / r["seconds"]) / (args.events / p["seconds"])
            for r, p in zip(results[name], results["pass-through"])) for name in jobs if name != "pass-through"}
        for name, ratio in ratios.items():
            print(f"{name} / pass-through: {ratio:.2f} (median of the rounds' ratios)")
        rate, ratio = rates["insights"], ratios["insights"]
        print(f"targets: >= 100,000 events/s: {'met' if rate >= 100_000 else 'MISSED'} ({rate:,.0f}); "
              f">= 0.5 of pass-through: {'met' if ratio >= 0.5 else 'MISSED'} ({ratio:.2f})")
        if statistics.median(r["load"] for r in results["insights"]) > (os.cpu_count() or 1):
            print("note: the load average exceeded the core count: other work shared the CPUs; repeat")
    finally:
        for cluster in clusters.values():
            cluster.stop()
        if registry:
            registry.stop()
        if broker:
            broker.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(work)])


def _produce_bench_events(bootstrap: str, schema_id: int, count: int, partitions: int, minutes: int) -> None:
    import random

    from confluent_kafka import Producer

    from tests.flink_job.pageviews import FastEncoder

    encoder = FastEncoder(schema_id)
    users = [f"User_{i}" for i in range(1, 10)]
    pages = [f"Page_{i}" for i in range(10, 100)]
    rng = random.Random(7)
    from tests.support.clock import epoch_ms

    start_ms = epoch_ms("13:00:00")  # yesterday (UTC), never older than the broker keeps
    step = minutes * 60_000 / count
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000,
                         "compression.type": "lz4", "queue.buffering.max.messages": 1_000_000})
    for i in range(count):
        viewtime = 1 + 10 * i
        value = encoder.encode(viewtime, users[rng.randrange(9)], pages[rng.randrange(90)])
        while True:
            try:
                producer.produce("pageviews", value, str(viewtime).encode(), partition=i % partitions,
                                 timestamp=start_ms + int(i * step))
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120):
        raise RuntimeError("could not deliver every benchmark event")


if __name__ == "__main__":
    main()
