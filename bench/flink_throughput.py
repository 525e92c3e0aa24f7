"""Throughput of the insights job on a real Kafka broker and Flink cluster, next to a pass-through.

    cd /work/main && PYTHONPATH=. .venv-flink/bin/python bench/flink_throughput.py [--events N]

What it does, all on 127.0.0.1 (Kafka 3.4.1 KRaft from Maven jars, Flink 1.20.3 from the wheel,
the test Schema Registry stand-in of tests/support/schema_registry.py):
1. writes N datagen-like pageviews (Confluent-Avro, the exact pageviews schema, record timestamps
   spread over `--event-minutes` of event time) to `pageviews`;
2. runs a pass-through job (Kafka in -> discard: the same raw source, a blackhole sink) over them;
3. runs the insights job (flink_job/job.py, all five Kafka outputs) over the same records;
   both jobs run bounded (`--bounded`: they stop at the offsets latest at start), so "finished" means
   every event was read and, for the insights job, every window fired and every output was flushed;
4. prints events/s for each (N / time from the first source subtask RUNNING to the last subtask
   FINISHED, from Flink's REST API; job submission and start-up are excluded), the ratio, and the
   peak RSS (VmHWM) of the TaskManager process, a fresh TaskManager per job.

`python bench/flink_throughput.py --passthrough-job ...` is the pass-through job itself (run by
`flink run`); it reuses the insights job's source declaration.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def passthrough_job(argv: list[str]) -> None:
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


def _cause(output: str) -> str:
    """The exception lines of a `flink run` failure (Python's and Java's), or the output's tail."""
    causes = [line for line in output.splitlines()
              if ("Exception: " in line or "Error: " in line) and not line.startswith("\t")
              and "Python process exits" not in line]
    return "\n".join(causes[:6]) if causes else output[-3000:]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_job(cluster, script: Path, args: list[str], timeout: float, broker_pid: int) -> dict:
    """Submit with `flink run -d`, wait until FINISHED, return timing, CPU and memory."""
    from tests.support.processes import wait_for

    tm_pid = cluster.taskmanagers[-1].process.pid
    cpu_before = {"tm": _cpu_seconds(tm_pid), "broker": _cpu_seconds(broker_pid)}
    load_before = os.getloadavg()[0]

    cmd = [str(cluster.home / "bin" / "flink"), "run", "-m", cluster.rest_url.removeprefix("http://"),
           "-d", "-py", str(script), *args]
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

    wait_for(f"job {job_id} to finish", finished, timeout, interval=1)
    details = _get(f"{cluster.rest_url}/jobs/{job_id}")
    first_running, last_finished = None, 0
    for vertex in details["vertices"]:
        times = _get(f"{cluster.rest_url}/jobs/{job_id}/vertices/{vertex['id']}/subtasktimes")
        for subtask in times["subtasks"]:
            ts = subtask["timestamps"]
            if vertex["name"].startswith("Source"):
                first_running = min(first_running or ts["RUNNING"], ts["RUNNING"])
            last_finished = max(last_finished, ts.get("FINISHED", 0))
    return {"job_id": job_id, "seconds": (last_finished - first_running) / 1000,
            "wall_seconds": details["duration"] / 1000,
            "tm_cpu": _cpu_seconds(tm_pid) - cpu_before["tm"],
            "broker_cpu": _cpu_seconds(broker_pid) - cpu_before["broker"],
            "load": (load_before + os.getloadavg()[0]) / 2,
            "tm_peak_rss_mb": _peak_rss_mb(cluster.taskmanagers[-1].process.pid)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--event-minutes", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    if "--passthrough-job" in sys.argv:
        argv = [a for a in sys.argv[1:] if a != "--passthrough-job"]
        return passthrough_job(argv)
    args = parser.parse_args()

    from tests.flink_job.pageviews import (OUTPUT_TOPICS, PAGEVIEWS_SCHEMA, PAGEVIEWS_SUBJECT,
                                           TopicReader, create_topics)
    from tests.support.flink import FlinkCluster, udf_jar
    from tests.support.kafka import KafkaBroker
    from tests.support.schema_registry import SchemaRegistryTestServer

    work = Path(tempfile.mkdtemp(prefix="flink-bench-"))
    broker = registry = None
    try:
        jar = udf_jar()
        broker = KafkaBroker.start(work / "kafka")
        registry = SchemaRegistryTestServer.start()
        schema_id = registry.register(PAGEVIEWS_SUBJECT, PAGEVIEWS_SCHEMA)
        create_topics(broker.bootstrap, {"pageviews": args.partitions, **{t: args.partitions for t in OUTPUT_TOPICS}})
        started = time.monotonic()
        _produce_bench_events(broker.bootstrap, schema_id, args.events, args.partitions, args.event_minutes)
        print(f"produced {args.events:,} pageviews in {time.monotonic() - started:.1f}s", flush=True)

        common = ["--bootstrap-servers", broker.bootstrap, "--schema-registry-url", registry.url,
                  "--bounded", "--startup-mode", "earliest-offset", "--parallelism", str(args.parallelism)]
        results = {}
        for name, script, extra in [
            ("pass-through", Path(__file__).resolve(), ["--passthrough-job", "--group-id", "bench-pass"]),
            ("insights", REPO_ROOT / "flink_job" / "job.py", ["--group-id", "bench-insights"]),
        ]:
            cluster = FlinkCluster.start(work / name, taskmanagers=1, slots=max(2, args.parallelism),
                                         extra_jars=[jar])
            try:
                results[name] = run_job(cluster, script, [*common, *extra], timeout=900,
                                        broker_pid=broker.service.process.pid)
            finally:
                cluster.stop()
            r = results[name]
            million = args.events / 1e6
            print(f"{name:>12}: {args.events / r['seconds']:>10,.0f} events/s  "
                  f"({r['seconds']:.1f}s processing, {r['wall_seconds']:.1f}s job wall time; "
                  f"CPU per million events: TaskManager {r['tm_cpu'] / million:.2f}s, "
                  f"broker {r['broker_cpu'] / million:.2f}s; TaskManager peak RSS "
                  f"{r['tm_peak_rss_mb']:.0f} MB; machine load average {r['load']:.1f} on "
                  f"{os.cpu_count()} cores)", flush=True)

        reader = TopicReader(broker.bootstrap, "clickstream.events")
        count = 0
        while True:
            before = len(reader.records)
            reader.poll(5)
            if len(reader.records) == before:
                break
        count = len(reader.records)
        reader.close()
        ratio = results["pass-through"]["seconds"] / results["insights"]["seconds"]
        rate = args.events / results["insights"]["seconds"]
        print(f"insights / pass-through: {ratio:.2f}   (clickstream.events holds {count:,} of "
              f"{args.events:,} events)")
        print(f"targets: >= 100,000 events/s: {'met' if rate >= 100_000 else 'MISSED'} ({rate:,.0f}); "
              f">= 0.5 of pass-through: {'met' if ratio >= 0.5 else 'MISSED'} ({ratio:.2f})")
        if count != args.events:
            raise SystemExit(f"the insights job wrote {count} events, expected {args.events}")
    finally:
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
    start_ms = 1_795_870_800_000  # 2026-11-28 13:00:00 UTC
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
