"""A typed client for the Kafka Connect REST API (Apache Kafka 3.4 = Confluent Platform 7.4).

What it relies on, as measured against a real 3.4.1 distributed worker (tests/integration):
- `PUT /connectors/{name}/config` creates (201) or replaces (200) a connector's whole config;
- `PUT /connector-plugins/{class}/config/validate` answers 200 with one entry per config key the
  worker knows for that plugin, errors inside; keys it does not know are silently absent, so a
  misspelt optional key is only caught by comparing our keys with the ones it lists;
- `GET /connectors/{name}/status` can 404 right after creation (status is written asynchronously)
  and keeps answering for a moment after a delete;
- 409 (rebalance in progress, no known leader) and 500 "Request timed out" are transient.

No Pulumi import here: the dynamic provider in components/resources/connector.py adapts this.
"""
from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional
from urllib.parse import quote

import requests

from ..errors import ConnectorFailed, RequestRejected, WaitTimedOut
from ._http import HttpService, RetryPolicy, body_text

SERVICE = "Kafka Connect"

# Connector-level keys whose suffix is free-form: the worker validates what sits behind these
# prefixes with the converter's or transform's own rules, or passes it through to a client.
DYNAMIC_PREFIXES = (
    "key.converter.", "value.converter.", "header.converter.",
    "transforms.", "predicates.",
    "producer.override.", "consumer.override.", "admin.override.",
    "topic.creation.",
)

RUNNING, FAILED, PAUSED, UNASSIGNED, RESTARTING = "RUNNING", "FAILED", "PAUSED", "UNASSIGNED", "RESTARTING"


@dataclass(frozen=True)
class TaskStatus:
    id: int
    state: str
    worker_id: str = ""
    trace: Optional[str] = None


@dataclass(frozen=True)
class ConnectorStatus:
    """`GET /connectors/{name}/status`: the connector's own state and one entry per task."""

    name: str
    state: str
    worker_id: str = ""
    trace: Optional[str] = None
    tasks: tuple[TaskStatus, ...] = ()
    type: str = ""

    @classmethod
    def from_json(cls, body: Mapping) -> "ConnectorStatus":
        connector = body.get("connector") or {}
        return cls(
            name=body["name"],
            state=connector.get("state", ""),
            worker_id=connector.get("worker_id", ""),
            trace=connector.get("trace"),
            tasks=tuple(
                TaskStatus(int(t["id"]), t.get("state", ""), t.get("worker_id", ""), t.get("trace"))
                for t in sorted(body.get("tasks") or [], key=lambda t: int(t["id"]))
            ),
            type=body.get("type", ""),
        )

    def summary(self) -> str:
        tasks = ", ".join(f"{t.id}:{t.state}" for t in self.tasks) or "none yet"
        return f"connector {self.state}, tasks [{tasks}]"


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


@dataclass(frozen=True)
class Validation:
    """The answer of `/connector-plugins/{class}/config/validate`, reduced to what we act on."""

    plugin: str
    error_count: int
    problems: tuple[ConfigProblem, ...]
    known_keys: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_json(cls, body: Mapping) -> "Validation":
        problems = []
        known = set()
        for entry in body.get("configs", []):
            definition = entry.get("definition") or {}
            value = entry.get("value") or {}
            key = definition.get("name") or value.get("name")
            known.add(key)
            for message in value.get("errors") or []:
                problems.append(ConfigProblem(key, message))
        return cls(body.get("name", ""), int(body.get("error_count", len(problems))), tuple(problems), frozenset(known))

    def unknown_keys(self, config: Mapping[str, str]) -> list[ConfigProblem]:
        """Keys of `config` the worker does not define for this plugin (typos, mostly)."""
        found = []
        for key in sorted(config):
            if key in self.known_keys or key.startswith(DYNAMIC_PREFIXES):
                continue
            close = difflib.get_close_matches(key, sorted(self.known_keys), n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            found.append(ConfigProblem(key, f"not a config key of {self.plugin or 'this connector'}{hint}"))
        return found

    def all_problems(self, config: Mapping[str, str]) -> list[ConfigProblem]:
        return [*self.problems, *self.unknown_keys(config)]


def _transient(response: requests.Response) -> bool:
    # 409: rebalance / stale config / no leader yet. 500 "Request timed out": the worker's 90 s
    # internal wait for the leader expired. 503: the REST server is up, the herder is not ready.
    if response.status_code in (409, 503):
        return True
    return response.status_code == 500 and "timed out" in response.text.lower()


def _message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message") or body_text(response))
    except ValueError:
        return body_text(response)


class ConnectClient:
    """Kafka Connect at `url` (the REST root, e.g. `http://127.0.0.1:8083`)."""

    def __init__(self, url: str, retry: RetryPolicy = RetryPolicy(), session: Optional[requests.Session] = None) -> None:
        self.url = url.rstrip("/")
        self.http = HttpService(
            SERVICE, self.url, retry,
            unreachable_hint="check that the Connect worker is running and its REST port is published "
                             "at this address (its container healthcheck, `docker logs` of the worker)",
            session=session,
        )

    # --- reads -------------------------------------------------------------------------------
    def version(self) -> dict:
        return self.http.call("GET", "/").json()

    def plugins(self) -> list[dict]:
        return self.http.call("GET", "/connector-plugins", transient=_transient).json()

    def get_config(self, name: str) -> Optional[dict[str, str]]:
        r = self.http.call("GET", f"/connectors/{_seg(name)}/config", ok=(200, 404), transient=_transient)
        return None if r.status_code == 404 else r.json()

    def status(self, name: str) -> Optional[ConnectorStatus]:
        r = self.http.call("GET", f"/connectors/{_seg(name)}/status", ok=(200, 404), transient=_transient)
        return None if r.status_code == 404 else ConnectorStatus.from_json(r.json())

    def validate(self, config: Mapping[str, str]) -> Validation:
        """Validate `config` (which must carry `connector.class`) against the worker's plugin."""
        plugin = config.get("connector.class")
        if not plugin:
            raise RequestRejected("a connector config needs `connector.class`", service=SERVICE, url=self.url)
        r = self.http.call("PUT", f"/connector-plugins/{_seg(plugin)}/config/validate", json=dict(config),
                           ok=(200, 400, 404, 500), transient=_transient, what=f"validating {plugin}")
        if r.status_code != 200:
            # 3.4 answers an unknown plugin with 500 "Failed to find any class that implements Connector…".
            raise RequestRejected(
                f"{SERVICE} cannot validate a config for {plugin!r}: {_message(r)[:300]}",
                service=SERVICE, url=f"{self.url}/connector-plugins", status=r.status_code,
                hint="is the plugin installed on the worker? `GET /connector-plugins` lists what it has",
            )
        return Validation.from_json(r.json())

    # --- writes ------------------------------------------------------------------------------
    def put_config(self, name: str, config: Mapping[str, str]) -> bool:
        """Create or replace connector `name`; True when it was created."""
        r = self.http.call("PUT", f"/connectors/{_seg(name)}/config", json=dict(config),
                           ok=(200, 201, 400), transient=_transient, what=f"the config of connector {name!r}")
        if r.status_code == 400:
            raise RequestRejected(
                f"{SERVICE} rejected the config of connector {name!r}: {_message(r)}",
                service=SERVICE, url=f"{self.url}/connectors/{name}/config", status=400,
            )
        return r.status_code == 201

    def restart_failed(self, name: str) -> None:
        """Restart the connector and its FAILED tasks (KIP-745, Kafka 3.0+)."""
        self.http.call("POST", f"/connectors/{_seg(name)}/restart", params={"includeTasks": "true", "onlyFailed": "true"},
                       ok=(200, 202, 204), transient=_transient)

    def delete(self, name: str) -> bool:
        """Delete connector `name`; False when there was none. Offsets and the topic are kept."""
        r = self.http.call("DELETE", f"/connectors/{_seg(name)}", ok=(204, 200, 404), transient=_transient)
        return r.status_code != 404

    # --- waiting -----------------------------------------------------------------------------
    def wait_for(
        self,
        name: str,
        classify: Callable[[ConnectorStatus], str],
        timeout: float,
        interval: float = 0.5,
    ) -> tuple[str, ConnectorStatus]:
        """Poll the status until `classify` says "running", "finished" or "failed".

        Returns (outcome, status) for "running"/"finished"; raises `ConnectorFailed` for "failed"
        and `WaitTimedOut` when neither happens before `timeout`.
        """
        deadline = time.monotonic() + timeout
        last: Optional[ConnectorStatus] = None
        while True:
            status = self.status(name)
            if status is not None:
                last = status
                outcome = classify(status)
                if outcome in ("running", "finished"):
                    return outcome, status
                if outcome == "failed":
                    raise ConnectorFailed(
                        f"connector {name!r} failed: {failure_reason(status)}",
                        service=SERVICE, url=f"{self.url}/connectors/{name}/status",
                        state=status.summary(), trace=first_trace_lines(status),
                    )
            if time.monotonic() >= deadline:
                raise WaitTimedOut(
                    f"connector {name!r} did not reach RUNNING within {timeout:.0f}s",
                    service=SERVICE, url=f"{self.url}/connectors/{name}/status",
                    last_state=last.summary() if last else "no status yet (404)",
                    hint="tasks stay UNASSIGNED while the worker group rebalances; look at the worker log",
                )
            time.sleep(interval)

    def wait_deleted(self, name: str, timeout: float = 30, interval: float = 0.3) -> None:
        """A DELETE returns before the worker stops the tasks; wait until the status is gone too."""
        deadline = time.monotonic() + timeout
        while True:
            if self.get_config(name) is None and self.status(name) is None:
                return
            if time.monotonic() >= deadline:
                raise WaitTimedOut(
                    f"connector {name!r} still reported after delete ({timeout:.0f}s)",
                    service=SERVICE, url=f"{self.url}/connectors/{name}",
                    hint="the worker may be rebalancing; retry the destroy",
                )
            time.sleep(interval)


def default_classify(status: ConnectorStatus) -> str:
    """RUNNING when the connector and every task run; failed when any of them FAILED."""
    states = [status.state, *(t.state for t in status.tasks)]
    if FAILED in states:
        return "failed"
    if status.state == RUNNING and status.tasks and all(t.state == RUNNING for t in status.tasks):
        return "running"
    return "pending"


def trace_root_cause(trace: Optional[str]) -> str:
    """The innermost `Caused by:` of a Java stack trace, else its first line."""
    if not trace:
        return ""
    lines = [line.strip() for line in trace.splitlines() if line.strip()]
    causes = [line[len("Caused by: "):] for line in lines if line.startswith("Caused by: ")]
    return causes[-1] if causes else lines[0]


def failure_reason(status: ConnectorStatus) -> str:
    if status.state == FAILED:
        return trace_root_cause(status.trace) or "connector FAILED (no trace)"
    for task in status.tasks:
        if task.state == FAILED:
            return f"task {task.id}: {trace_root_cause(task.trace) or 'FAILED (no trace)'}"
    return status.summary()


def first_trace_lines(status: ConnectorStatus, lines: int = 6) -> str:
    traces = [status.trace] if status.state == FAILED else [t.trace for t in status.tasks if t.state == FAILED]
    text = next((t for t in traces if t), "")
    return "\n".join(text.splitlines()[:lines])


def _seg(value: str) -> str:
    return quote(value, safe="")
