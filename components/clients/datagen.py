"""kafka-connect-datagen on a Kafka Connect worker: its connector config, and how to read its status.

kafka-connect-datagen ends each task with a ConnectException once it has produced `iterations`
records, so the worker shows the task FAILED (kafka-connect-datagen v0.6.x `DatagenTask.poll`);
`classify_status` reports that as finished, not failed. Plain data and functions over the Connect
REST client's types (components/clients/connect_rest.py); no Pulumi import here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from .connect_rest import ConnectorStatus, TaskStatus, Validation

DATAGEN_CLASS = "io.confluent.kafka.connect.datagen.DatagenConnector"
# The message kafka-connect-datagen's DatagenTask.poll throws once `iterations` records are produced.
DATAGEN_DONE = "Stopping connector: generated the configured {n} number of messages"


@dataclass(frozen=True)
class DatagenSettings:
    """Typed settings of the datagen connector; the defaults are what the stack deploys."""

    topic: str = "pageviews"  # Kafka topic datagen writes
    quickstart: str = "pageviews"  # bundled schema (key field `viewtime`)
    schema_registry_url: str = "http://schema-registry:8081"  # as the worker reaches it
    max_interval_ms: int = 100  # each poll sleeps up to this: ~20 records/s per task
    iterations: int = 10_000_000  # records per task, then the task ends (shown FAILED); -1 = no end
    tasks_max: int = 1
    key_converter: str = "org.apache.kafka.connect.storage.StringConverter"  # key = decimal viewtime
    value_converter: str = "io.confluent.connect.avro.AvroConverter"
    value_schemas_enable: bool = False
    random_seed: Optional[int] = None  # fixed seed = the same data on every run

    def problems(self) -> list[str]:
        found = []
        if not self.topic:
            found.append("topic: must not be empty")
        if not self.quickstart:
            found.append("quickstart: must name a bundled quickstart, e.g. 'pageviews'")
        if not isinstance(self.max_interval_ms, int) or self.max_interval_ms < 1:
            found.append(f"max_interval_ms: must be a whole number of milliseconds >= 1, got {self.max_interval_ms!r}")
        if not isinstance(self.iterations, int) or self.iterations == 0 or self.iterations < -1:
            found.append(f"iterations: must be a positive count, or -1 for no end, got {self.iterations!r}")
        if not isinstance(self.tasks_max, int) or self.tasks_max < 1:
            found.append(f"tasks_max: must be >= 1, got {self.tasks_max!r}")
        return found


def datagen_connector_config(settings: DatagenSettings = DatagenSettings()) -> dict[str, str]:
    """The connector config for `settings`: a string map, as the Connect REST API takes it."""
    problems = settings.problems()
    if problems:
        raise ValueError("invalid datagen settings: " + "; ".join(problems))
    config = {
        "connector.class": DATAGEN_CLASS,
        "kafka.topic": settings.topic,
        "quickstart": settings.quickstart,
        "key.converter": settings.key_converter,
        "value.converter": settings.value_converter,
        "value.converter.schema.registry.url": settings.schema_registry_url,
        "value.converter.schemas.enable": "true" if settings.value_schemas_enable else "false",
        "max.interval": str(settings.max_interval_ms),
        "iterations": str(settings.iterations),
        "tasks.max": str(settings.tasks_max),
    }
    if settings.random_seed is not None:
        config["random.seed"] = str(settings.random_seed)
    return config


def is_datagen(config: Mapping[str, str]) -> bool:
    cls = str(config.get("connector.class", ""))
    return cls == DATAGEN_CLASS or cls in ("DatagenConnector", "Datagen")


def datagen_task_finished(task: TaskStatus, config: Mapping[str, str]) -> bool:
    """True when `task` is FAILED only because datagen produced all its `iterations` records."""
    try:
        iterations = int(config.get("iterations", "-1"))
    except ValueError:
        return False
    return (is_datagen(config) and iterations > 0 and task.state == "FAILED"
            and DATAGEN_DONE.format(n=iterations) in (task.trace or ""))


def classify_status(status: ConnectorStatus, config: Mapping[str, str]) -> str:
    """"running", "finished" (datagen done), "failed" or "pending" for a connector with `config`."""
    finished = [t for t in status.tasks if datagen_task_finished(t, config)]
    failed = [t for t in status.tasks if t.state == "FAILED" and t not in finished]
    if status.state == "FAILED" or failed:
        return "failed"
    if status.state != "RUNNING" or not status.tasks:
        return "pending"
    if len(finished) == len(status.tasks):
        return "finished"
    if all(t.state == "RUNNING" or t in finished for t in status.tasks):
        return "running"
    return "pending"


def config_problems(config: Mapping[str, str], validation: Validation) -> list[str]:
    """Every problem the worker reports plus the keys it does not know, as `key: message` lines."""
    return [str(p) for p in validation.all_problems(config)]
