"""Load on the website collector with `wrk` (Debian), on loopback, against the real broker.

    PYTHONPATH=. .venv/bin/python bench/collector_load.py [--seconds 15] [--rate 5000] [--batch 20]

What it does, all on 127.0.0.1 (Kafka 3.4.1 KRaft from Maven jars, the Schema Registry stand-in,
`python -m collector` configured by the stack's own rendering, rate limits lifted):
1. throughput: `wrk` with 16 connections POSTs batches of `--batch` events (text/plain, as the
   tracker sends them) for `--seconds`; events/s accepted (202s x batch), then, once the collector
   reports every accepted event acknowledged, the events counted in Kafka (end offsets): delivered
   must equal accepted (zero loss);
2. latency at a fixed rate: one event per request (what a browser sends), `wrk` connections paced
   with its Lua `delay()` to about `--rate` requests/s; p50 / p99 / max from `wrk --latency`, and the
   rate actually achieved;
3. where the time goes: the collector process's CPU seconds per 1,000 events in each phase (from
   /proc), and a single-thread micro-measure of the per-event steps (validate + enrich, Avro
   serialize, produce) next to the per-request HTTP cost.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["User-Agent"] = "%(ua)s"
local n = 0
request = function()
  n = n + 1
  local events = {}
  for i = 1, %(batch)d do
    events[i] = string.format('{"name":"pageview","url":"http://localhost/page/%%d?utm_source=bench",' ..
      '"referrer":"https://www.google.com/","title":"Bench","language":"en","screen":"1920x1080"}', (n * 7 + i) %% 100)
  end
  local body = "[" .. table.concat(events, ",") .. "]"
  return wrk.format(nil, "%(path)s", nil, body)
end
%(delay)s
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
end
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, path: str, seconds: int, connections: int, batch: int, delay_ms: float,
            workdir: Path) -> dict:
    delay = f"delay = function() return {delay_ms} end" if delay_ms else ""
    script = workdir / f"wrk-{uuid.uuid4().hex[:6]}.lua"
    script.write_text(LUA % {"ua": CHROME, "batch": batch, "path": path, "delay": delay})
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)

    def pct(p: str) -> float:
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"requests": requests, "failed": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(1) if errors else "", "p50_ms": pct("50"), "p99_ms": pct("99"),
            "raw": out}


def kafka_count(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-count"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


def micro_costs(registry_url: str, bootstrap: str, topic: str) -> dict:
    """Microseconds per event of each step, on one thread (the collector does them in its event loop)."""
    from collector import enrich
    from collector.settings import from_env
    from collector.sink import KafkaSink
    from tests.support.collector import collector_env

    settings = from_env(collector_env(bootstrap, registry_url, topic, 1, {"sites": "localhost"}))
    sink = KafkaSink(settings, on_delivered=lambda n: None, on_failed=lambda e: None)
    sink.resolve_schema()
    raw = {"name": "pageview", "url": "http://localhost/page/1?utm_source=bench", "referrer": "https://www.google.com/",
           "title": "Bench", "language": "en", "screen": "1920x1080"}
    body = json.dumps([raw] * 20).encode()
    salts = enrich.Salts()
    now = int(time.time() * 1000)

    def enrich_one():
        event = enrich.validate(raw)
        enrich.bot_reason(CHROME, event)
        return enrich.to_record(event, site="localhost", ip="127.0.0.1", user_agent=CHROME, receive_ms=now,
                                salts=salts, max_skew_ms=3_600_000)

    record = enrich_one()
    n = 20000
    costs = {
        "parse 20-event body, per event": timeit.timeit(lambda: enrich.parse_body(body), number=n // 20) / n * 1e6,
        "validate + enrich": timeit.timeit(enrich_one, number=n) / n * 1e6,
        "Avro serialize (registry serializer)": timeit.timeit(lambda: sink._serializer(record, sink._context),
                                                              number=n) / n * 1e6,
    }
    value = sink._serializer(record, sink._context)
    costs["produce (librdkafka enqueue)"] = timeit.timeit(
        lambda: sink.producer.produce(topic, value=value, key=b"k"), number=n) / n * 1e6
    sink.close(30)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rate", type=int, default=5000, help="requests/s (one event each) of the latency phase")
    parser.add_argument("--batch", type=int, default=20, help="events per request of the throughput phase")
    args = parser.parse_args()

    from tests.collector.conftest import create_topic, register_pageviews
    from tests.support.collector import CollectorProcess
    from tests.support.kafka import KafkaBroker
    from tests.support.processes import wait_for
    from tests.support.schema_registry import SchemaRegistryTestServer

    from collector.settings import MAX_BATCH_EVENTS
    assert args.batch <= MAX_BATCH_EVENTS
    workdir = Path(tempfile.mkdtemp(prefix="collector-bench-"))
    broker = KafkaBroker.start(workdir / "kafka")
    registry = SchemaRegistryTestServer.start()
    collector = None
    try:
        topic = "pageviews"
        create_topic(broker.bootstrap, topic, partitions=3)
        register_pageviews(registry.url, topic)
        collector = CollectorProcess.start(workdir / "collector", broker.bootstrap, registry.url, topic, {
            "sites": "localhost", "ratePerSecond": 100000, "rateBurst": 1000000, "queueSize": 1000000})
        pid = collector.service.process.pid
        path = collector.env["COLLECTOR_ENDPOINT_PATH"]

        def delivered() -> bool:
            m = collector.metrics()
            return m.get("collector_events_delivered_total", 0) >= m.get("collector_events_accepted_total", 0)

        # 1. throughput
        run_wrk(collector.url, path, 3, 16, args.batch, 0, workdir)  # warm-up, not counted
        wait_for("warm-up delivered", delivered, 120)
        def accepted_total() -> float:
            return collector.metrics().get("collector_events_accepted_total", 0)

        before_kafka, before_accepted, cpu0 = kafka_count(broker.bootstrap, topic), accepted_total(), cpu_seconds(pid)
        started = time.monotonic()
        result = run_wrk(collector.url, path, args.seconds, 16, args.batch, 0, workdir)
        elapsed_load = time.monotonic() - started
        wait_for("every accepted event delivered", delivered, 300)
        # The collector's own count: wrk leaves out the requests still in flight when it stops.
        accepted = int(accepted_total() - before_accepted)
        drained = time.monotonic() - started
        in_kafka = kafka_count(broker.bootstrap, topic) - before_kafka
        cpu_throughput = cpu_seconds(pid) - cpu0
        print(f"throughput ({args.batch} events per request, 16 connections, {args.seconds}s):")
        print(f"  accepted {accepted} events = {accepted / elapsed_load:,.0f} events/s "
              f"({result['requests'] / elapsed_load:,.0f} requests/s, {result['failed']} not 202, "
              f"socket errors: {result['socket_errors'] or 'none'})")
        print(f"  delivered (counted in Kafka) {in_kafka} = {in_kafka / drained:,.0f} events/s until the last "
              f"was acknowledged; lost: {accepted - in_kafka}")
        print(f"  request latency p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms")
        print(f"  collector CPU: {cpu_throughput / accepted * 1000 * 1000:.0f} ms per 1,000 events")

        # 2. latency at a fixed rate, one event per request
        connections = 32
        delay_ms = max(0.0, connections * 1000 / args.rate)
        cpu0 = cpu_seconds(pid)
        fixed = run_wrk(collector.url, path, args.seconds, connections, 1, delay_ms, workdir)
        rate = fixed["requests"] / args.seconds
        wait_for("fixed-rate events delivered", delivered, 120)
        cpu_fixed = cpu_seconds(pid) - cpu0
        print(f"latency at ~{args.rate} events/s target (1 event per request, {connections} connections paced "
              f"{delay_ms:.1f} ms):")
        print(f"  achieved {rate:,.0f} events/s; p50 {fixed['p50_ms']:.1f} ms, p99 {fixed['p99_ms']:.1f} ms; "
              f"{fixed['failed']} not 202")
        print(f"  collector CPU: {cpu_fixed / max(1, fixed['requests']) * 1000 * 1000:.0f} ms per 1,000 events "
              f"(one request each)")

        # 3. where the time goes
        print("per-event steps on one thread (µs):")
        for step, micros in micro_costs(registry.url, broker.bootstrap, topic).items():
            print(f"  {step}: {micros:.1f}")
        print(f"load average: {os.getloadavg()[0]:.2f}")
    finally:
        if collector:
            collector.stop()
        registry.stop()
        broker.stop()


if __name__ == "__main__":
    main()
