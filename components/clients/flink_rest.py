"""A typed client for the Flink REST API (Flink 1.20), for PyFlink jobs on a session cluster.

How a Python job gets submitted (proven on 1.20.3 by tests/integration/test_flink_job.py):
REST has no upload for `.py` files, so we upload a tiny jar of our own (a valid, empty jar: only its
id is needed), then `POST /jars/{id}/run` with `entryClass=org.apache.flink.client.python.PythonDriver`
and `programArgsList=["-py", <path of job.py inside the JobManager>, *args]`. The JobManager adds its
flink-python jar by itself and runs the Python program, which builds and submits the job graph. We
choose the job id (`jobId` in the request), so a submission whose answer got lost can be found.

When the Python program fails, the REST answer only says "Python process exits with code: 1"; the
traceback is in the JobManager log, which REST serves (`/jobmanager/logs/{file}`) with every line of
the Python program's output logged by `PythonDriver`. That is where the root cause is read from.

No Pulumi import here: the dynamic provider in components/resources/flink_job.py adapts this.
"""
from __future__ import annotations

import io
import re
import time
import uuid
import zipfile
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import requests

from ..errors import JobFailedToStart, RequestRejected, ServiceUnavailable, WaitTimedOut
from ._http import HttpService, RetryPolicy, body_text

SERVICE = "Flink"
PYTHON_DRIVER = "org.apache.flink.client.python.PythonDriver"
DRIVER_JAR_NAME = "clickstreamer-pydriver.jar"

TERMINAL = ("FAILED", "CANCELED", "FINISHED", "SUSPENDED")
_DRIVER_LOGGER = "org.apache.flink.client.python.PythonDriver"


def driver_jar() -> bytes:
    """The jar uploaded to obtain a jar id: a manifest only, byte-for-byte stable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as jar:
        info = zipfile.ZipInfo("META-INF/MANIFEST.MF", date_time=(2020, 1, 1, 0, 0, 0))
        jar.writestr(info, "Manifest-Version: 1.0\r\nCreated-By: clickstreamer\r\n\r\n")
    return buffer.getvalue()


@dataclass(frozen=True)
class Vertex:
    name: str
    parallelism: int  # the vertex's own, as the job set it
    status: str  # Flink's aggregate: RUNNING as soon as one subtask runs
    ready: int = 0  # subtasks RUNNING or FINISHED (a bounded source's subtasks finish)

    @property
    def all_running(self) -> bool:
        return self.parallelism > 0 and self.ready >= self.parallelism


@dataclass(frozen=True)
class JobInfo:
    id: str
    name: str
    state: str
    vertices: tuple[Vertex, ...]

    @classmethod
    def from_json(cls, body: Mapping) -> "JobInfo":
        return cls(
            id=body["jid"], name=body.get("name", ""), state=body.get("state", ""),
            vertices=tuple(Vertex(v.get("name", ""), int(v.get("parallelism", 0)), v.get("status", ""),
                                  sum(int((v.get("tasks") or {}).get(state, 0)) for state in ("RUNNING", "FINISHED")))
                           for v in body.get("vertices", [])),
        )

    @property
    def parallelism(self) -> int:
        """The job's parallelism: its widest vertex (some operators are forced to 1)."""
        return max((v.parallelism for v in self.vertices), default=0)

    def summary(self) -> str:
        vertices = "; ".join(f"{v.name[:40]} {v.ready}/{v.parallelism} {v.status}" for v in self.vertices)
        return f"{self.state} [{vertices}]"


@dataclass(frozen=True)
class Overview:
    taskmanagers: int
    slots_total: int
    slots_available: int
    flink_version: str


class FlinkClient:
    """The session cluster whose REST endpoint is `url` (e.g. `http://127.0.0.1:8081`)."""

    def __init__(self, url: str, retry: RetryPolicy = RetryPolicy(), session: Optional[requests.Session] = None) -> None:
        self.url = url.rstrip("/")
        self.http = HttpService(
            SERVICE, self.url, retry,
            unreachable_hint="check that the JobManager runs and its REST port is published at this address "
                             "(`docker logs` of the jobmanager container)",
            session=session,
        )

    # --- cluster -----------------------------------------------------------------------------
    def overview(self) -> Overview:
        body = self.http.call("GET", "/overview").json()
        return Overview(int(body.get("taskmanagers", 0)), int(body.get("slots-total", 0)),
                        int(body.get("slots-available", 0)), body.get("flink-version", ""))

    def driver_jar_id(self) -> str:
        """The id of our driver jar on the cluster, uploading it when the cluster has none."""
        for entry in self.http.call("GET", "/jars").json().get("files", []):
            if entry.get("name") == DRIVER_JAR_NAME:
                return entry["id"]
        r = self.http.call("POST", "/jars/upload",
                           files={"jarfile": (DRIVER_JAR_NAME, driver_jar(), "application/x-java-archive")})
        return r.json()["filename"].rsplit("/", 1)[-1]

    # --- jobs --------------------------------------------------------------------------------
    def submit_python(
        self,
        job_path: str,
        args: Sequence[str] = (),
        *,
        savepoint: Optional[str] = None,
        allow_non_restored_state: bool = False,
        flink_config: Optional[Mapping[str, str]] = None,
        job_id: Optional[str] = None,
        timeout: float = 180.0,
    ) -> str:
        """Run the PyFlink program at `job_path` (a path inside the JobManager); return its job id.

        No parallelism is sent: the job sets its own (from its arguments), else the cluster's default
        applies. Raises `JobFailedToStart` with the program's own error when it does not submit a job.
        """
        job_id = job_id or uuid.uuid4().hex
        body = {
            "entryClass": PYTHON_DRIVER,
            "programArgsList": ["-py", job_path, *args],
            "jobId": job_id,
            "allowNonRestoredState": allow_non_restored_state,
        }
        if savepoint:
            body["savepointPath"] = savepoint
        if flink_config:
            body["flinkConfiguration"] = {k: str(v) for k, v in flink_config.items()}
        for attempt in (1, 2):
            jar = self.driver_jar_id()
            try:
                # Not idempotent: a lost answer may hide a submitted job, so no blind retry.
                r = self.http.call("POST", f"/jars/{jar}/run", json=body, ok=(200, 400, 404, 500),
                                   retry_transport=False, timeout=timeout)
            except ServiceUnavailable:
                if self.job(job_id) is not None:
                    return job_id
                raise
            if r.status_code == 200:
                return r.json().get("jobid", job_id)
            if r.status_code == 404 and attempt == 1 and "jar" in r.text.lower():
                continue  # the JobManager restarted and lost its uploads: upload again once
            raise self._submission_failure(job_id, job_path, r, savepoint)
        raise AssertionError("unreachable")

    def job(self, job_id: str) -> Optional[JobInfo]:
        r = self.http.call("GET", f"/jobs/{job_id}", ok=(200, 404))
        return None if r.status_code == 404 else JobInfo.from_json(r.json())

    def exceptions(self, job_id: str) -> dict:
        r = self.http.call("GET", f"/jobs/{job_id}/exceptions", ok=(200, 404))
        return {} if r.status_code == 404 else r.json()

    def failure(self, job_id: str) -> tuple[str, str]:
        """(root cause, first lines of the trace) of the job's most recent failure, or ("", "")."""
        body = self.exceptions(job_id)
        entries = (body.get("exceptionHistory") or {}).get("entries") or []
        trace = (entries[0].get("stacktrace") if entries else None) or body.get("root-exception") or ""
        return java_root_cause(trace), exception_chain(trace)

    def wait_running(self, job_id: str, timeout: float = 180.0, max_failures: int = 3, interval: float = 0.5) -> JobInfo:
        """Wait until the job runs with every subtask of every vertex running, at the parallelism the
        job gave each vertex itself (read from REST: no expected number).

        A job that reaches a terminal state, or fails `max_failures` times while restarting, raises
        `JobFailedToStart` with the root cause from `/jobs/{id}/exceptions`.
        """
        deadline = time.monotonic() + timeout
        last: Optional[JobInfo] = None
        while True:
            info = self.job(job_id)
            if info is not None:
                last = info
                failures = len((self.exceptions(job_id).get("exceptionHistory") or {}).get("entries") or []) \
                    if info.state in ("RESTARTING", "FAILING", "FAILED") else 0
                if info.state in TERMINAL or failures >= max_failures:
                    cause, trace = self.failure(job_id)
                    raise JobFailedToStart(
                        f"Flink job {job_id} did not start: {cause or info.state}",
                        service=SERVICE, url=f"{self.url}/jobs/{job_id}/exceptions", state=info.summary(),
                        root_cause=cause or None, failures=failures or None, trace=trace or None,
                    )
                if info.state == "RUNNING" and info.vertices and all(v.all_running for v in info.vertices):
                    return info
            if time.monotonic() >= deadline:
                hint = "look at the JobManager log"
                try:
                    ov = self.overview()
                    needs = f"; the job needs {last.parallelism}" if last and last.parallelism else ""
                    hint = (f"the cluster has {ov.slots_available} free of {ov.slots_total} slots on "
                            f"{ov.taskmanagers} TaskManager(s){needs}")
                except ServiceUnavailable:
                    pass
                raise WaitTimedOut(
                    f"Flink job {job_id} did not have all its tasks RUNNING within {timeout:.0f}s",
                    service=SERVICE, url=f"{self.url}/jobs/{job_id}",
                    last_state=last.summary() if last else "not found", hint=hint,
                )
            time.sleep(interval)

    def stop_with_savepoint(self, job_id: str, target_directory: str, timeout: float = 300.0) -> str:
        """Stop the job with a savepoint in `target_directory`; return the savepoint's location.

        If the savepoint fails, Flink keeps the job running and this raises `RequestRejected`.
        """
        trigger = uuid.uuid4().hex  # our own trigger id makes the POST safe to retry
        self.http.call("POST", f"/jobs/{job_id}/stop", ok=(200, 202),
                       json={"targetDirectory": target_directory, "drain": False, "triggerId": trigger},
                       what=f"stopping job {job_id} with a savepoint")
        operation = self._await_trigger(f"/jobs/{job_id}/savepoints/{trigger}", timeout,
                                        f"the savepoint of job {job_id}")
        if "location" not in operation:
            cause = operation.get("failure-cause") or {}
            stack = cause.get("stack-trace") or cause.get("class") or repr(cause)
            raise RequestRejected(
                f"Flink could not stop job {job_id} with a savepoint: {java_root_cause(stack)}",
                service=SERVICE, url=f"{self.url}/jobs/{job_id}", target_directory=target_directory,
                hint="the job keeps running; a job must be RUNNING with all tasks up to take a savepoint, and "
                     "the target directory must be writable by JobManager and TaskManagers",
            )
        self.wait_state(job_id, ("FINISHED",), timeout=60)
        return operation["location"]

    def cancel(self, job_id: str, timeout: float = 60.0) -> bool:
        """Cancel the job; False when the cluster does not know it."""
        r = self.http.call("PATCH", f"/jobs/{job_id}", params={"mode": "cancel"}, ok=(200, 202, 404))
        if r.status_code == 404:
            return False
        self.wait_state(job_id, TERMINAL, timeout)
        return True

    def latest_savepoint(self, job_id: str) -> Optional[str]:
        """The newest savepoint Flink recorded for the job (it knows finished jobs for an hour)."""
        r = self.http.call("GET", f"/jobs/{job_id}/checkpoints", ok=(200, 404))
        if r.status_code == 404:
            return None
        savepoint = ((r.json().get("latest") or {}).get("savepoint")) or {}
        if savepoint.get("discarded"):
            return None
        return savepoint.get("external_path")

    def latest_checkpoint(self, job_id: str) -> Optional[str]:
        """The newest completed checkpoint of the job that is still on storage, if any."""
        r = self.http.call("GET", f"/jobs/{job_id}/checkpoints", ok=(200, 404))
        if r.status_code == 404:
            return None
        completed = ((r.json().get("latest") or {}).get("completed")) or {}
        return None if completed.get("discarded") else completed.get("external_path")

    def wait_state(self, job_id: str, states: Sequence[str], timeout: float) -> JobInfo:
        deadline = time.monotonic() + timeout
        while True:
            info = self.job(job_id)
            if info is None or info.state in states:
                return info
            if time.monotonic() >= deadline:
                raise WaitTimedOut(f"Flink job {job_id} did not reach {'/'.join(states)} within {timeout:.0f}s",
                                   service=SERVICE, url=f"{self.url}/jobs/{job_id}", last_state=info.summary())
            time.sleep(0.3)

    # --- diagnostics -------------------------------------------------------------------------
    def python_driver_output(self) -> list[str]:
        """What the most recent PyFlink program printed, from the JobManager log (empty if no log)."""
        logs = self.http.call("GET", "/jobmanager/logs", ok=(200, 404))
        if logs.status_code != 200:
            return []
        names = [entry["name"] for entry in logs.json().get("logs", [])
                 if entry["name"].endswith(".log") and "taskexecutor" not in entry["name"]]
        for name in names:
            text = self.http.call("GET", f"/jobmanager/logs/{name}", ok=(200, 404), timeout=60).text
            if _DRIVER_LOGGER in text:
                return last_python_run(text)
        return []

    def _await_trigger(self, path: str, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        status = ""
        while True:
            body = self.http.call("GET", path).json()
            status = (body.get("status") or {}).get("id", "")
            if status == "COMPLETED":
                return body.get("operation") or {}
            if time.monotonic() >= deadline:
                raise WaitTimedOut(f"{what} did not complete within {timeout:.0f}s", service=SERVICE,
                                   url=f"{self.url}{path}", last_state=status)
            time.sleep(0.3)

    def _submission_failure(self, job_id: str, job_path: str, response: requests.Response,
                            savepoint: Optional[str]) -> JobFailedToStart:
        try:
            errors = response.json().get("errors") or []
        except ValueError:
            errors = [body_text(response)]
        rest_error = "\n".join(errors)
        output: list[str] = []
        if "Python process exits" in rest_error or "ProgramAbortException" in rest_error:
            try:
                output = self.python_driver_output()
            except ServiceUnavailable:
                output = []
        cause = python_root_cause(output) or java_root_cause(rest_error) or f"HTTP {response.status_code}"
        return JobFailedToStart(
            f"Flink did not start {job_path}: {cause}",
            service=SERVICE, url=f"{self.url}/jars/…/run", status=response.status_code, job_id=job_id,
            savepoint=savepoint, root_cause=cause,
            python_output="\n".join(output[-25:]) or None,
            rest_error=None if output else "\n".join(rest_error.splitlines()[:8]),
        )


def java_root_cause(trace: str) -> str:
    """The innermost `Caused by:` of a Java stack trace, else its first line."""
    lines = [line.strip() for line in (trace or "").splitlines() if line.strip()]
    causes = [line[len("Caused by: "):] for line in lines if line.startswith("Caused by: ")]
    if causes:
        return causes[-1]
    return lines[0] if lines else ""


def exception_chain(trace: str) -> str:
    """The exception lines of a Java stack trace (its first line and each `Caused by:`), no frames."""
    lines = [line.rstrip() for line in (trace or "").splitlines() if line.strip()]
    chain = [line for line in lines[1:] if line.startswith("Caused by: ")]
    return "\n".join(lines[:1] + chain)


_PY_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b(:.*)?$")


def python_root_cause(output: Sequence[str]) -> str:
    """The root cause in a PyFlink program's output: the innermost Java `Caused by:` a py4j error
    carries, else the Python exception line that ended the traceback, else the last line that
    reports an error (argparse's usage errors), else the last line printed."""
    lines = [line.rstrip() for line in output if line.strip()]
    causes = [line.strip()[len("Caused by: "):] for line in lines if line.strip().startswith("Caused by: ")]
    if causes:
        return causes[-1]
    exceptions = [line for line in lines if _PY_EXCEPTION.match(line)]
    if exceptions:
        return exceptions[-1]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [""])[-1]


def last_python_run(log_text: str) -> list[str]:
    """The lines the last PyFlink program printed, as `PythonDriver` logged them."""
    marker = f" {_DRIVER_LOGGER} "
    messages = []
    for line in log_text.splitlines():
        if marker in line and " - " in line:
            messages.append(line.split(" - ", 1)[1] if "[] - " not in line else line.split("[] - ", 1)[1])
    starts = [i for i, m in enumerate(messages) if "Python Process Started" in m]
    if not starts:
        return []
    run = messages[starts[-1] + 1:]
    ends = [i for i, m in enumerate(run) if "Python Process Exited" in m]
    return run[:ends[0]] if ends else run
