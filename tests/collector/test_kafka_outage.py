"""Kafka down under load: the broker is killed (SIGKILL) while clients keep sending, then started
again. A 202 means the event reached Kafka or will: every accepted event is in the topic exactly
once (idempotent producer), nothing refused is; while the broker is away the bounded queue fills
and further requests get 503 + Retry-After, and readiness says so."""
from __future__ import annotations

import json
import threading
import time
import uuid

import requests

from tests.collector.conftest import V2_READER, create_topic, delivered_all, read_topic, register_pageviews
from tests.support.collector import CollectorProcess
from tests.support.kafka import KafkaBroker
from tests.support.processes import wait_for

CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
QUEUE = 2000


def test_every_accepted_event_survives_a_broker_crash(tmp_path, registry):
    broker = KafkaBroker.start(tmp_path / "kafka")
    collector = None
    try:
        topic = "pageviews-outage"
        create_topic(broker.bootstrap, topic)
        register_pageviews(registry.url, topic)
        collector = CollectorProcess.start(tmp_path / "collector", broker.bootstrap, registry.url, topic, {
            "sites": "localhost", "queueSize": QUEUE, "ratePerSecond": 100000, "rateBurst": 100000,
            "deliveryTimeoutSeconds": 120})

        accepted: list[str] = []
        refused: list[str] = []
        retry_after: set = set()
        other: list[int] = []
        stop = threading.Event()
        lock = threading.Lock()

        def send() -> None:
            session = requests.Session()
            while not stop.is_set():
                batch = [{"name": "pageview", "url": "http://localhost/load", "id": uuid.uuid4().hex}
                         for _ in range(10)]
                response = session.post(collector.endpoint, data=json.dumps(batch), timeout=10,
                                        headers={"Content-Type": "text/plain", "User-Agent": CHROME})
                with lock:
                    ids = [e["id"] for e in batch]
                    if response.status_code == 202:
                        accepted.extend(ids)
                    elif response.status_code == 503:
                        refused.extend(ids)
                        retry_after.add(response.headers.get("Retry-After"))
                    else:
                        other.append(response.status_code)
                time.sleep(0.005)

        senders = [threading.Thread(target=send) for _ in range(3)]
        for sender in senders:
            sender.start()
        try:
            wait_for("events accepted with the broker up", lambda: len(accepted) >= 500, 30)
            broker.kill()
            wait_for("readiness to report the broker gone", lambda: requests.get(
                f"{collector.url}/readyz", timeout=5).status_code == 503, 20)
            wait_for("the bounded queue to fill and refuse with 503", lambda: len(refused) >= 100, 60)
            broker.restart()
            at_restart = len(accepted)
            wait_for("events accepted again after the restart", lambda: len(accepted) >= at_restart + 500, 60)
        finally:
            stop.set()
            for sender in senders:
                sender.join(15)

        assert not other, f"statuses other than 202/503 under load: {sorted(set(other))}"
        assert retry_after == {"5"}
        wait_for("every accepted event acknowledged by Kafka", lambda: delivered_all(collector), 120)
        in_kafka = [record.decode(registry, V2_READER)["event_id"] for record in read_topic(broker.bootstrap, topic)]
        assert len(in_kafka) == len(set(in_kafka)), f"{len(in_kafka) - len(set(in_kafka))} duplicates in Kafka"
        missing = set(accepted) - set(in_kafka)
        assert not missing, f"{len(missing)} of {len(accepted)} accepted events are not in Kafka"
        assert set(in_kafka) == set(accepted), "an event that was refused (503) reached Kafka"
        assert collector.metrics().get('collector_events_dropped_total{reason="queue_full"}') == len(refused)
        print(f"accepted {len(accepted)}, refused {len(refused)} while the broker was down, all accepted in Kafka")
    finally:
        if collector:
            collector.stop()
        broker.stop()
