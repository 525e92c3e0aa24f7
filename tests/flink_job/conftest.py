"""Real engines for the Flink job's tests: one Kafka broker (KRaft), one Schema Registry test
stand-in and one Flink session cluster per module, the job's Java functions on its classpath.

Run: `cd /work/main && PYTHONPATH=. .venv-flink/bin/python -m pytest tests/flink_job -q`
"""
from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from tests.flink_job.pageviews import PAGEVIEWS_SCHEMA, PAGEVIEWS_SUBJECT
from tests.support.flink import FlinkCluster, udf_jar
from tests.support.kafka import KafkaBroker
from tests.support.processes import wait_for
from tests.support.schema_registry import SchemaRegistryTestServer

REPO_ROOT = Path(__file__).resolve().parents[2]
JOB_PY = REPO_ROOT / "flink_job" / "job.py"


@pytest.fixture(scope="session")
def decode_jar() -> Path:
    return udf_jar()


@pytest.fixture(scope="module")
def registry():
    server = SchemaRegistryTestServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def schema_id(registry) -> int:
    return registry.register(PAGEVIEWS_SUBJECT, PAGEVIEWS_SCHEMA)


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    broker = KafkaBroker.start(tmp_path_factory.mktemp("kafka"))
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def flink(tmp_path_factory, decode_jar):
    cluster = FlinkCluster.start(tmp_path_factory.mktemp("flink"), taskmanagers=1, slots=2,
                                 extra_jars=[decode_jar])
    yield JobRunner(cluster)
    cluster.stop()


@dataclass
class JobRunner:
    """Submits flink_job/job.py to the cluster the way `flink run -d` does and inspects it by REST."""

    cluster: FlinkCluster

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.cluster.rest_url}{path}", timeout=10) as response:
            return json.load(response)

    def submit(self, args: list[str]) -> str:
        cmd = [str(self.cluster.home / "bin" / "flink"), "run", "-m",
               self.cluster.rest_url.removeprefix("http://"), "-d", "-py", str(JOB_PY), *args]
        done = subprocess.run(cmd, env=self.cluster.env, capture_output=True, text=True, timeout=300)
        ids = [line.split()[-1] for line in done.stdout.splitlines()
               if "Job has been submitted with JobID" in line]
        assert done.returncode == 0 and ids, (
            f"flink run failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        job_id = ids[0]
        self.wait_state(job_id, "RUNNING", timeout=120)
        return job_id

    def state(self, job_id: str) -> str:
        return self.get(f"/jobs/{job_id}")["state"]

    def wait_state(self, job_id: str, state: str, timeout: float) -> None:
        def reached() -> bool:
            current = self.state(job_id)
            if current in ("FAILED", "CANCELED") and current != state:
                raise AssertionError(f"job {job_id} is {current}: {self.root_cause(job_id)}")
            return current == state

        wait_for(f"job {job_id} to be {state}", reached, timeout, interval=0.5)

    def wait_all_tasks_running(self, job_id: str, timeout: float) -> None:
        def running() -> bool:
            vertices = self.get(f"/jobs/{job_id}")["vertices"]
            return all(v["status"] == "RUNNING" for v in vertices)

        wait_for(f"every task of job {job_id} RUNNING", running, timeout, interval=0.5)

    def root_cause(self, job_id: str) -> Optional[str]:
        exceptions = self.get(f"/jobs/{job_id}/exceptions")
        return (exceptions.get("root-exception") or "")[:2000] or None

    def checkpoints(self, job_id: str) -> dict:
        return self.get(f"/jobs/{job_id}/checkpoints")

    def operator_metric(self, job_id: str, suffix: str) -> int:
        """Sum of an operator metric (e.g. `malformedRecords`) over every vertex and subtask."""
        total, seen, listed = 0, False, []
        for vertex in self.get(f"/jobs/{job_id}")["vertices"]:
            base = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
            all_names = [m["id"] for m in self.get(base)]
            listed += all_names
            names = [n for n in all_names if n.endswith("." + suffix)]
            if names:
                values = self.get(f"{base}?get={','.join(names)}")
                total += sum(int(float(v["value"])) for v in values)
                seen = True
        if not seen:
            raise AssertionError(f"no operator of job {job_id} reports a metric named {suffix}; "
                                 f"{len(listed)} metrics listed")
        return total

    def cancel(self, job_id: str) -> None:
        request = urllib.request.Request(f"{self.cluster.rest_url}/jobs/{job_id}?mode=cancel", method="PATCH")
        with urllib.request.urlopen(request, timeout=10):
            pass
        self.wait_state(job_id, "CANCELED", timeout=60)
