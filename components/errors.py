"""The project's exception tree: every error Clickstreamer raises on purpose is one of these.

    ClickstreamerError                 base; keyword context (service=, url=, hint=, ...) kept on .context
    ├── ConfigError                    stack configuration rejected before any resource is created
    ├── ServiceUnavailable             a service did not answer after bounded retries
    ├── RequestRejected                a service answered with an error we must not retry (4xx)
    ├── WaitTimedOut                   a service answered but never reached the awaited state
    ├── DataLossRefused                the change would drop data and was not explicitly allowed
    ├── MigrationError                 schema migrations: drift (edited applied file) or a failing statement
    ├── ConnectorFailed                a Kafka Connect connector or task reached FAILED; carries the trace's cause
    └── JobFailedToStart               a Flink job failed before running; carries the root cause

Context goes in keyword arguments so messages stay uniform and tests can assert on fields, e.g.
`ServiceUnavailable("Kafka Connect did not answer", service="kafka-connect", url=..., hint=...)`.
"""
from __future__ import annotations

from typing import Any


class ClickstreamerError(Exception):
    """Base class. `str(err)` is the message followed by its context, `key=value` per line."""

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        details = "".join(f"\n  {key}: {value}" for key, value in self.context.items())
        return f"{self.message}{details}"


class ConfigError(ClickstreamerError):
    """Bad stack configuration. `problems` lists one line per bad key (key, value, what is allowed)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")

    def __str__(self) -> str:
        return self.message


class ServiceUnavailable(ClickstreamerError):
    """A service could not be reached, or kept failing, within the retry budget."""


class RequestRejected(ClickstreamerError):
    """A service refused a request (a 4xx, an invalid config): retrying will not help."""


class WaitTimedOut(ClickstreamerError):
    """A service did not reach the awaited state before the deadline."""


class DataLossRefused(ClickstreamerError):
    """A change would drop data (fewer partitions, recreation, dropping tables) and was not allowed."""


class MigrationError(ClickstreamerError):
    """A schema migration could not run: an applied file was edited, or a statement failed."""


class ConnectorFailed(ClickstreamerError):
    """A connector or one of its tasks reported FAILED (other than datagen finishing its iterations)."""


class JobFailedToStart(ClickstreamerError):
    """A Flink job did not reach RUNNING; `root_cause` is the innermost exception Flink reported."""
