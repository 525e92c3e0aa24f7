"""Real engines for the integration tests, one of each per test session and only when a test asks:
a Kafka broker, a Kafka Connect worker on it, a Flink session cluster (JobManager + 1 TaskManager,
2 slots). Tests share them and so must not depend on each other: every test uses its own topic,
connector and job names (`helpers.unique`).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.flink import FlinkCluster, udf_jar
from tests.support.kafka import ConnectWorker
from tests.support.maven import JarResolutionError


@pytest.fixture(scope="session")
def connect(kafka, tmp_path_factory):
    worker = ConnectWorker.start(tmp_path_factory.mktemp("connect"), kafka, timeout=180)
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def flink(tmp_path_factory):
    """The cluster has the job's Java functions in lib/, as the image has them in /opt/flink/lib.

    Only the test of the real job needs them: if they do not build, the cluster starts without
    them and that one test fails with the build error (`flink.udf_error`).
    """
    workdir = tmp_path_factory.mktemp("flink")
    try:
        # A private copy: the cached jar is rebuilt in place whenever its sources change, which must
        # not swap classes under a running cluster.
        jars, error = [Path(shutil.copy(udf_jar(), workdir / "clickstream-flink-udf.jar"))], None
    except JarResolutionError as exc:
        jars, error = [], str(exc)
    cluster = FlinkCluster.start(workdir, taskmanagers=1, slots=2, timeout=180, extra_jars=jars)
    cluster.udf_error = error
    yield cluster
    cluster.stop()


@pytest.fixture
def closed_port_url():
    """An http URL where nothing listens (a service that is down)."""
    from tests.support.processes import free_port

    return f"http://127.0.0.1:{free_port()}"

