"""A real Apache Kafka broker (KRaft, single node) and Kafka Connect worker on 127.0.0.1.

Both run from the Maven jar set `kafka` (Apache Kafka 3.4.1, the Kafka inside the Confluent 7.4.1
images). Ports are picked free at start; data lives in the caller's folder. Stdlib only.

    broker = KafkaBroker.start(tmp_path / "kafka")
    connect = ConnectWorker.start(tmp_path / "connect", broker)
    ...
    connect.stop(); broker.stop()
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .maven import jar_set
from .processes import Service, free_port, log_tail, wait_for

_LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.reflections=ERROR
"""


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java:
        raise RuntimeError("no `java` on PATH and no JAVA_HOME: install a JDK 17")
    return java


def _write_properties(path: Path, props: dict) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def _jvm(workdir: Path, heap: str) -> list[str]:
    log4j = workdir / "log4j.properties"
    log4j.write_text(_LOG4J)
    return [
        _java(), f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{log4j}",
        "-cp", str(jar_set("kafka") / "*"),
    ]


@dataclass
class KafkaBroker:
    """A single-node KRaft broker+controller. `bootstrap` is `127.0.0.1:<port>`."""

    workdir: Path
    port: int
    controller_port: int
    cluster_id: str
    service: Service
    overrides: dict = field(default_factory=dict)
    _command: list = field(default_factory=list, repr=False)  # what restart() runs again

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, workdir: Path, overrides: Optional[dict] = None, timeout: float = 60) -> "KafkaBroker":
        workdir.mkdir(parents=True, exist_ok=True)
        port, controller_port = free_port(), free_port()
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        props = {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": workdir / "data",
            "num.partitions": 1,
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 4,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 4,
            "group.initial.rebalance.delay.ms": 0,
            # Keep every record whatever its timestamp: the default 7-day retention deletes records
            # dated more than a week before the broker's clock (tests and benchmarks write known
            # days, and the date-independence runs shift the clock by a year).
            "log.retention.ms": -1,
            **(overrides or {}),
        }
        config = workdir / "server.properties"
        _write_properties(config, props)
        jvm = _jvm(workdir, "768m")
        fmt = subprocess.run(
            # `=`: a random id may start with "-", which would read as an option.
            [*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config)],
            capture_output=True, text=True,
        )
        if fmt.returncode != 0:
            raise RuntimeError(f"kafka-storage format failed: {fmt.stdout}{fmt.stderr}")
        log = workdir / "broker.log"
        service = Service("kafka broker", [*jvm, "kafka.Kafka", str(config)], log)
        broker = cls(workdir, port, controller_port, cluster_id, service, props)
        broker._command = [*jvm, "kafka.Kafka", str(config)]
        broker.wait_ready(timeout)
        return broker

    def restart(self, timeout: float = 60) -> None:
        """Start the broker again after stop() or kill(): same ports, same data."""
        assert not self.service.alive(), "the broker is still running"
        log = self.workdir / "broker.log"
        offset = log.stat().st_size if log.exists() else 0
        self.service = Service("kafka broker", self._command, log)

        def started() -> bool:
            self.service.assert_alive()
            with open(log, errors="replace") as f:
                f.seek(offset)
                return "Kafka Server started" in f.read()

        wait_for(f"Kafka broker restarted on {self.bootstrap}", started, timeout, hint=f"log: {log}")

    def wait_ready(self, timeout: float = 60) -> None:
        def started() -> bool:
            self.service.assert_alive()
            return "Kafka Server started" in self.service.log.read_text(errors="replace")

        wait_for(f"Kafka broker on {self.bootstrap}", started, timeout, hint=f"log: {self.service.log}")

    def stop(self) -> None:
        self.service.stop()

    def kill(self) -> None:
        self.service.kill()


@dataclass
class ConnectWorker:
    """A Kafka Connect distributed worker; `url` is its REST root `http://127.0.0.1:<port>`.

    The FileStream connectors (org.apache.kafka:connect-file) are on its classpath; the datagen
    plugin is not obtainable from Maven Central.
    """

    workdir: Path
    port: int
    group_id: str
    service: Service

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, workdir: Path, broker: KafkaBroker, overrides: Optional[dict] = None,
              timeout: float = 90) -> "ConnectWorker":
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        group_id = f"connect-{uuid.uuid4().hex[:8]}"
        props = {
            "bootstrap.servers": broker.bootstrap,
            "group.id": group_id,
            "listeners": f"http://127.0.0.1:{port}",
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": port,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "config.storage.topic": f"{group_id}-configs",
            "offset.storage.topic": f"{group_id}-offsets",
            "status.storage.topic": f"{group_id}-status",
            "config.storage.replication.factor": 1,
            "offset.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            "offset.flush.interval.ms": 1000,
            "plugin.path": "",
            **(overrides or {}),
        }
        config = workdir / "connect.properties"
        _write_properties(config, props)
        log = workdir / "connect.log"
        service = Service(
            "kafka connect",
            [*_jvm(workdir, "512m"), "org.apache.kafka.connect.cli.ConnectDistributed", str(config)],
            log,
        )
        worker = cls(workdir, port, group_id, service)
        worker.wait_ready(timeout)
        return worker

    def wait_ready(self, timeout: float = 90) -> None:
        def serving() -> bool:
            self.service.assert_alive()
            with urllib.request.urlopen(f"{self.url}/connectors", timeout=2) as r:
                return r.status == 200 and isinstance(json.load(r), list)

        wait_for(f"Kafka Connect REST at {self.url}", serving, timeout,
                 hint=f"log tail:\n{log_tail(self.service.log, 15)}")

    def stop(self) -> None:
        self.service.stop()

    def kill(self) -> None:
        self.service.kill()
