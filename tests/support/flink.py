"""A real Flink session cluster (JobManager + TaskManagers) on 127.0.0.1, from the `apache-flink`
wheel in `.venv-flink`, with the connector jars of the Maven jar set `flink`.

The wheel ships Flink's scripts and jars but not a writable FLINK_HOME, so `start()` assembles one
in the caller's folder: scripts copied, jars linked, a generated `conf/config.yaml` (every bind
address 127.0.0.1, free ports, filesystem checkpoint storage so stop-with-savepoint works, Python
from `.venv-flink`). Stdlib only.

    cluster = FlinkCluster.start(tmp_path / "flink", taskmanagers=1, slots=2)
    cluster.rest_url  # http://127.0.0.1:<port>
    cluster.kill_taskmanager(0); cluster.add_taskmanager()
    cluster.stop()
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from .maven import CACHE_DIR, REPO_ROOT, JarResolutionError, jar_set
from .processes import Service, free_port, log_tail, wait_for

FLINK_VENV = Path(os.environ.get("CLICKSTREAMER_FLINK_VENV", REPO_ROOT / ".venv-flink"))


def flink_python() -> Path:
    return FLINK_VENV / "bin" / "python"


def pyflink_home() -> Path:
    """The `pyflink` package folder of `.venv-flink` (it holds bin/, lib/, opt/, conf/)."""
    found = sorted(FLINK_VENV.glob("lib/python3*/site-packages/pyflink"))
    if not found:
        raise RuntimeError(f"no pyflink in {FLINK_VENV}: run `make venv-flink` first")
    return found[0]


UDF_PROJECT = REPO_ROOT / "flink_job" / "udf"


def udf_jar() -> Path:
    """The job's Java function jar (flink_job/udf), built by Maven into `.cache/udf/<sources hash>/`:
    built once per version of the pom and sources, so checkouts with other sources that share the
    cache (git worktrees) never overwrite each other's jar."""
    sources = sorted(p for p in UDF_PROJECT.rglob("*") if p.is_file() and "target" not in p.parts)
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path.relative_to(UDF_PROJECT)).encode() + b"\0" + path.read_bytes())
    out = CACHE_DIR / "udf" / digest.hexdigest()[:16]
    jar = out / "build" / "clickstream-flink-udf.jar"
    if jar.is_file():
        return jar
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarResolutionError("`mvn` is not on PATH: install Maven (Debian package `maven`)")
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [mvn, "-q", "-B", f"-Dmaven.repo.local={CACHE_DIR / 'm2'}", f"-Dudf.build.dir={out / 'work'}",
         "-f", str(UDF_PROJECT / "pom.xml"), "package"],
        capture_output=True, text=True,
    )
    built = out / "work" / jar.name
    if done.returncode != 0 or not built.is_file():
        raise JarResolutionError(f"building {UDF_PROJECT} failed (exit {done.returncode}):\n"
                                 f"{done.stdout[-4000:]}{done.stderr[-4000:]}")
    # Moved into place whole, last: a jar at `jar` is always complete.
    jar.parent.mkdir(exist_ok=True)
    built.replace(jar)
    return jar


def _java_opts_all(pyflink: Path) -> str:
    # Java 17 needs the wheel's --add-opens list; overriding env.java.opts.all would drop it.
    match = re.search(r"^\s*all:\s*(.+)$", (pyflink / "conf" / "config.yaml").read_text(), re.M)
    return match.group(1).strip() if match else ""


@dataclass
class FlinkCluster:
    home: Path
    rest_port: int
    jobmanager: Service
    taskmanagers: list[Service] = field(default_factory=list)
    env: dict = field(default_factory=dict)

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def checkpoint_dir(self) -> Path:
        return self.home / "checkpoints"

    @property
    def savepoint_dir(self) -> Path:
        return self.home / "savepoints"

    @classmethod
    def start(
        cls,
        workdir: Path,
        taskmanagers: int = 1,
        slots: int = 2,
        conf: Optional[dict] = None,
        timeout: float = 90,
        extra_jars: Iterable[Path] = (),
    ) -> "FlinkCluster":
        """`extra_jars` join the connector jars in lib/ (on every JobManager/TaskManager classpath,
        as /opt/flink/lib is in the image)."""
        pyflink = pyflink_home()
        home = workdir / "flink-home"
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "bin").exists():
            shutil.copytree(pyflink / "bin", home / "bin")
        # Real folders with linked files: Flink walks opt/ and lib/ without following a linked folder.
        for folder in ("opt",):
            (home / folder).mkdir(exist_ok=True)
            for jar in (pyflink / folder).glob("*.jar"):
                link = home / folder / jar.name
                link.exists() or link.symlink_to(jar)
        (home / "plugins").mkdir(exist_ok=True)
        (home / "log").mkdir(exist_ok=True)
        lib = home / "lib"
        lib.mkdir(exist_ok=True)
        for jar in [*(pyflink / "lib").glob("*.jar"), *jar_set("flink").glob("*.jar"), *extra_jars]:
            link = lib / jar.name
            link.exists() or link.symlink_to(jar)
        conf_dir = home / "conf"
        conf_dir.mkdir(exist_ok=True)
        for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties"):
            shutil.copy(pyflink / "conf" / name, conf_dir / name)
        rest_port = free_port()
        python = str(flink_python())
        settings = {
            "env.java.opts.all": _java_opts_all(pyflink),
            "jobmanager.bind-host": "127.0.0.1",
            "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.rpc.port": free_port(),
            "jobmanager.memory.process.size": "1024m",
            "taskmanager.bind-host": "127.0.0.1",
            "taskmanager.host": "127.0.0.1",
            "taskmanager.numberOfTaskSlots": slots,
            "taskmanager.memory.process.size": "1728m",
            "rest.address": "127.0.0.1",
            "rest.bind-address": "127.0.0.1",
            "rest.port": rest_port,
            "blob.server.port": free_port(),
            "parallelism.default": 1,
            "execution.checkpointing.storage": "filesystem",
            "execution.checkpointing.dir": f"file://{home / 'checkpoints'}",
            "execution.checkpointing.savepoint-dir": f"file://{home / 'savepoints'}",
            "python.executable": python,
            "python.client.executable": python,
            "heartbeat.timeout": 20000,
            **(conf or {}),
        }
        (conf_dir / "config.yaml").write_text(
            "".join(f"{key}: {json.dumps(value) if isinstance(value, str) else value}\n"
                    for key, value in settings.items())
        )
        env = {
            **os.environ,
            "FLINK_HOME": str(home),
            "FLINK_CONF_DIR": str(conf_dir),
            "FLINK_LOG_DIR": str(home / "log"),
            "PATH": f"{FLINK_VENV / 'bin'}:{os.environ.get('PATH', '')}",
        }
        jobmanager = Service(
            "flink jobmanager", [str(home / "bin" / "jobmanager.sh"), "start-foreground"],
            workdir / "jobmanager.out", env=env,
        )
        cluster = cls(home, rest_port, jobmanager, env=env)
        for _ in range(taskmanagers):
            cluster.add_taskmanager(wait=False)
        cluster.wait_ready(taskmanagers * slots, timeout)
        return cluster

    def add_taskmanager(self, wait: bool = True, timeout: float = 60) -> Service:
        index = len(self.taskmanagers)
        known = self._taskmanager_ids() if wait else set()
        tm = Service(
            f"flink taskmanager {index}", [str(self.home / "bin" / "taskmanager.sh"), "start-foreground"],
            self.home.parent / f"taskmanager-{index}.out", env=self.env,
        )
        self.taskmanagers.append(tm)
        if wait:
            # A new id, not a higher count: a killed TaskManager may still be listed until its
            # heartbeat times out, or may drop out while the new one registers.
            wait_for(f"TaskManager {index} to register with {self.rest_url}",
                     lambda: tm.assert_alive() or self._taskmanager_ids() - known, timeout)
        return tm

    def _taskmanager_ids(self) -> set:
        with urllib.request.urlopen(f"{self.rest_url}/taskmanagers", timeout=3) as response:
            return {t["id"] for t in json.load(response)["taskmanagers"]}

    def overview(self) -> dict:
        with urllib.request.urlopen(f"{self.rest_url}/overview", timeout=3) as response:
            return json.load(response)

    def wait_ready(self, slots: int, timeout: float = 90) -> None:
        def ready() -> bool:
            self.jobmanager.assert_alive()
            return self.overview().get("slots-total", 0) >= slots

        wait_for(f"Flink at {self.rest_url} with {slots} slots", ready, timeout,
                 hint=f"jobmanager log tail:\n{log_tail(self.jobmanager.log, 15)}")

    def kill_taskmanager(self, index: int = 0) -> None:
        """SIGKILL one TaskManager: a crash the job must recover from."""
        self.taskmanagers[index].kill()

    def logs(self) -> str:
        parts = [f"== {p.name}\n{log_tail(p)}" for p in sorted((self.home / "log").glob("*.log"))]
        return "\n".join(parts)

    def stop(self) -> None:
        for tm in self.taskmanagers:
            tm.stop()
        self.jobmanager.stop()
