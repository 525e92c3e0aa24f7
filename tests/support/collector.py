"""The website collector as the stack runs it: `python -m collector` in its own process on 127.0.0.1,
configured through the same COLLECTOR_* environment the stack renders (components/spec.py), with
the test's broker, registry, topic and port put in.

    collector = CollectorProcess.start(tmp_path, broker.bootstrap, registry.url, topic)
    requests.post(collector.endpoint, data=json.dumps(event), headers=...)
    collector.stop()  # SIGTERM: uvicorn's graceful shutdown flushes the producer
"""
from __future__ import annotations

import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from components import spec
from components.config import parse_config

from .processes import Service, free_port, log_tail, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]


def collector_env(bootstrap: str, registry_url: str, topic: str, port: int, config: Optional[dict] = None) -> dict:
    cfg = parse_config({"kafka": {"pageviewsTopic": topic}, "collector": config or {}})
    env = spec.collector_environment(cfg, spec.Endpoints(kafka_bootstrap=bootstrap, schema_registry_url=registry_url,
                                                         clickhouse_host="unused"))
    env.update(COLLECTOR_LISTEN_HOST="127.0.0.1", COLLECTOR_LISTEN_PORT=str(port))
    return env


@dataclass
class CollectorProcess:
    url: str
    endpoint: str
    service: Service
    env: dict

    @classmethod
    def start(cls, workdir: Path, bootstrap: str, registry_url: str, topic: str, config: Optional[dict] = None,
              timeout: float = 30, ready: bool = True) -> "CollectorProcess":
        """Start it and wait until /readyz answers 200 (`ready=False`: until it serves /healthz)."""
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = collector_env(bootstrap, registry_url, topic, port, config)
        service = Service("collector", [sys.executable, "-m", "collector"], workdir / "collector.log",
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env}, cwd=REPO_ROOT)
        url = f"http://127.0.0.1:{port}"
        collector = cls(url, url + env["COLLECTOR_ENDPOINT_PATH"], service, env)
        collector.wait_ready(timeout, "/readyz" if ready else "/healthz")
        return collector

    def wait_ready(self, timeout: float = 30, path: str = "/readyz") -> None:
        def ready() -> bool:
            self.service.assert_alive()
            with urllib.request.urlopen(f"{self.url}{path}", timeout=2) as r:
                return r.status == 200

        wait_for(f"collector answering {self.url}{path}", ready, timeout,
                 hint=f"log tail:\n{log_tail(self.service.log, 15)}")

    def metrics(self) -> dict[str, float]:
        """Prometheus samples by `name{labels}` (counters by their `_total` names)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            text = r.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                samples[key] = float(value)
        return samples

    def dropped(self, reason: str) -> float:
        return self.metrics().get(f'collector_events_dropped_total{{reason="{reason}"}}', 0.0)

    def stop(self) -> None:
        self.service.stop()
