"""Record the Kafka Connect REST answers the datagen unit tests run on.

    PYTHONPATH=. .venv/bin/python tests/integration/recorded/record_connect.py

Part 1 records, verbatim, answers of a real Apache Kafka 3.4.1 distributed worker (the Kafka inside
Confluent Platform 7.4.1) started from Maven jars (tests/support/kafka.py), with the FileStream
connectors: a config validation with an unknown key, a RUNNING status and a task that FAILED in
`poll()`.

Part 2 derives the datagen answers, because the kafka-connect-datagen plugin is not obtainable here
(Confluent artifacts are not on Maven Central). The derivation keeps everything the worker itself
contributes (the connector-level config entries, their order and rendering, the status shape, the
worker's stack frames) and replaces only what the plugin contributes, taken from
kafka-connect-datagen v0.6.5 (the version images/connect installs):
- config entries: `DatagenConnectorConfig.conf()` (names, types, defaults, importance, docs),
  rendered the way the worker rendered FileStreamSource's own keys in part 1 (no group, order -1,
  width NONE, display name = key);
- validation errors: `DatagenConnector.validate` ("Must set exactly one of schema.string,
  schema.filename, quickstart" on each schema-source key) and ConfigDef's type errors ("Invalid
  value … for configuration …: Not a number of type INT"), the text the worker produced in part 1;
- the finished task's trace: `DatagenTask.poll` line 144 throws
  `ConnectException("Stopping connector: generated the configured %d number of messages")`
  (the same frame appears in a real trace quoted in vdesabou/kafka-docker-playground#7288), above
  the worker frames of the task that failed in `poll()` in part 1.
Converters: the stack's connector uses io.confluent.connect.avro.AvroConverter, present in cp-kafka-connect but
not on this worker's classpath, so part 1 validates with JsonConverter and part 2 writes the stack's
converter class names into those entries' values.
"""
from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import requests

OUT = Path(__file__).resolve().parent
DATAGEN = "io.confluent.kafka.connect.datagen.DatagenConnector"
SEED = {
    "connector.class": DATAGEN,
    "kafka.topic": "pageviews",
    "quickstart": "pageviews",
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "io.confluent.connect.avro.AvroConverter",
    "value.converter.schema.registry.url": "http://schema-registry:8081",
    "value.converter.schemas.enable": "false",
    "max.interval": "100",
    "iterations": "10000000",
    "tasks.max": "1",
}
SCHEMA_SOURCE_ERROR = "Must set exactly one of schema.string, schema.filename, quickstart"
# DatagenConnectorConfig.conf() of v0.6.5: (name, type, default, importance, documentation)
NO_DEFAULT = object()
DATAGEN_KEYS = [
    ("kafka.topic", "STRING", NO_DEFAULT, "HIGH", "Topic to write to"),
    ("max.interval", "LONG", "500", "HIGH", "Max interval between messages (ms)"),
    ("iterations", "INT", "-1", "HIGH", "Number of messages to send from each task, or less than 1 for unlimited"),
    ("schema.string", "STRING", "", "HIGH", "The literal JSON-encoded Avro schema to use"),
    ("schema.filename", "STRING", "", "HIGH", "Filename of schema to use"),
    ("schema.keyfield", "STRING", "", "HIGH", "Name of field to use as the message key"),
    ("quickstart", "STRING", "", "HIGH", "Name of quickstart to use"),
    ("random.seed", "LONG", None, "LOW", "Numeric seed for generating random data. Two connectors started with "
     "the same seed will deterministically produce the same data. Each task will generate different data than "
     "the other tasks in the same connector."),
]
PARSERS = {"INT": int, "LONG": int, "STRING": str}


def record(name: str, source: str, request: dict, response) -> None:
    path = OUT / name
    path.write_text(json.dumps({"_source": source, "request": request, "response": response}, indent=2) + "\n")
    print("wrote", path.relative_to(OUT.parents[2]))


def part1(url: str) -> dict:
    session = requests.Session()
    real = {}
    version = session.get(f"{url}/").json()
    worker = f"Apache Kafka {version['version']} (commit {version['commit']}) Connect worker, recorded by record_connect.py"

    body = {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "name": "files",
            "topic": "lines", "file": "/tmp/in.txt", "batch.sizee": "10", "tasks.max": "1",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false"}
    r = session.put(f"{url}/connector-plugins/FileStreamSourceConnector/config/validate", json=body)
    assert r.status_code == 200, r.text
    real["validate"] = r.json()
    record("connect-3.4.1-validate-filestream-unknown-key.json",
           f"{worker}: verbatim answer; note `batch.sizee` is absent from it and error_count is 0",
           {"method": "PUT", "path": "/connector-plugins/FileStreamSourceConnector/config/validate", "body": body},
           real["validate"])

    Path("/tmp/record-connect-in.txt").write_text("a\nb\n")
    running = {"connector.class": "FileStreamSource", "file": "/tmp/record-connect-in.txt", "topic": "lines", "tasks.max": "1"}
    assert session.put(f"{url}/connectors/files-ok/config", json=running).status_code == 201
    real["running"] = wait_status(session, url, "files-ok", lambda s: s["tasks"] and s["tasks"][0]["state"] == "RUNNING")
    record("connect-3.4.1-status-running.json", f"{worker}: verbatim answer",
           {"method": "GET", "path": "/connectors/files-ok/status"}, real["running"])

    # A path below a regular file: opening it fails with "Not a directory", an IOException that
    # FileStreamSourceTask.poll rethrows as ConnectException, so the task FAILS inside poll().
    failing = {"connector.class": "FileStreamSource", "file": "/etc/hostname/not-a-directory", "topic": "lines", "tasks.max": "1"}
    assert session.put(f"{url}/connectors/files-broken/config", json=failing).status_code == 201
    real["failed"] = wait_status(session, url, "files-broken", lambda s: s["tasks"] and s["tasks"][0]["state"] == "FAILED")
    record("connect-3.4.1-status-task-failed-in-poll.json", f"{worker}: verbatim answer",
           {"method": "GET", "path": "/connectors/files-broken/status"}, real["failed"])
    return real


def wait_status(session, url, name, done, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = session.get(f"{url}/connectors/{name}/status")
        if r.status_code == 200 and done(r.json()):
            return r.json()
        time.sleep(0.5)
    raise AssertionError(f"status of {name} never matched; last {r.status_code} {r.text}")


def datagen_entry(key, type_, default, importance, doc, config, errors):
    raw = config.get(key)
    if raw is None:
        value = None if default is NO_DEFAULT else default
    else:
        try:
            value = str(PARSERS[type_](raw))
        except ValueError:
            value = None
            errors = [f"Invalid value {raw} for configuration {key}: Not a number of type {type_}", *errors]
    if default is NO_DEFAULT and raw is None:
        errors = [f'Missing required configuration "{key}" which has no default value.', *errors]
    return {
        "definition": {"name": key, "type": type_, "required": default is NO_DEFAULT,
                       "default_value": None if default is NO_DEFAULT else default, "importance": importance,
                       "documentation": doc, "group": None, "width": "NONE", "display_name": key,
                       "dependents": [], "order": -1},
        "value": {"name": key, "value": value, "recommended_values": [], "errors": errors, "visible": True},
    }


def datagen_validate(real_validate: dict, config: dict) -> dict:
    own = {"file", "topic", "batch.size"}  # FileStreamSourceConnector's own keys: the plugin's part
    common = [copy.deepcopy(e) for e in real_validate["configs"] if e["definition"]["name"] not in own]
    for entry in common:
        name = entry["definition"]["name"]
        entry["value"]["value"] = config.get(name, entry["definition"]["default_value"])
        entry["value"]["errors"] = []
    set_sources = [k for k in ("schema.string", "schema.filename", "quickstart") if config.get(k)]
    plugin = []
    for key, type_, default, importance, doc in DATAGEN_KEYS:
        errors = [SCHEMA_SOURCE_ERROR] if key in ("schema.string", "schema.filename", "quickstart") \
            and len(set_sources) != 1 and (key in set_sources or not set_sources) else []
        plugin.append(datagen_entry(key, type_, default, importance, doc, config, errors))
    configs = common + plugin
    return {"name": DATAGEN, "error_count": sum(len(e["value"]["errors"]) for e in configs),
            "groups": real_validate["groups"], "configs": configs}


def part2(real: dict) -> None:
    derived = ("derived by record_connect.py (see its docstring): worker part from "
               "connect-3.4.1-validate-filestream-unknown-key.json, plugin part from kafka-connect-datagen v0.6.5 "
               "DatagenConnectorConfig.conf() and DatagenConnector.validate")
    cases = {
        "datagen-0.6.5-validate-seed.json": dict(SEED),
        "datagen-0.6.5-validate-misspelt-max-interval.json":
            {("max.intervall" if k == "max.interval" else k): v for k, v in SEED.items()},
        "datagen-0.6.5-validate-misspelt-quickstart.json":
            {("quickstrat" if k == "quickstart" else k): v for k, v in SEED.items()},
        "datagen-0.6.5-validate-bad-iterations.json": {**SEED, "iterations": "ten"},
    }
    for name, config in cases.items():
        record(name, derived, {"method": "PUT", "path": f"/connector-plugins/{DATAGEN}/config/validate",
                               "body": {**config, "name": "datagen-pageviews"}},
               datagen_validate(real["validate"], {**config, "name": "datagen-pageviews"}))

    failed = real["failed"]
    worker_frames = [line for line in failed["tasks"][0]["trace"].split("\n")
                     if line.startswith("\tat org.apache.kafka.connect.runtime.") or line.startswith("\tat java.")]
    worker_frames = worker_frames[:worker_frames.index(next(f for f in worker_frames if "Thread.run" in f)) + 1]
    trace = "\n".join([
        "org.apache.kafka.connect.errors.ConnectException: Stopping connector: generated the configured 10000000 number of messages",
        "\tat io.confluent.kafka.connect.datagen.DatagenTask.poll(DatagenTask.java:144)",
        *worker_frames,
    ]) + "\n"
    finished = copy.deepcopy(failed)
    finished["name"] = "datagen-pageviews"
    finished["tasks"][0]["trace"] = trace
    record("datagen-0.6.5-status-iterations-reached.json",
           "derived by record_connect.py (see its docstring): shape and worker frames from "
           "connect-3.4.1-status-task-failed-in-poll.json, exception and top frame from kafka-connect-datagen "
           "v0.6.5 DatagenTask.poll, for iterations=10000000",
           {"method": "GET", "path": "/connectors/datagen-pageviews/status"}, finished)


def main() -> None:
    sys.path.insert(0, str(OUT.parents[2]))
    from tests.support.kafka import ConnectWorker, KafkaBroker

    work = Path(tempfile.mkdtemp(prefix="record-connect-"))
    broker = KafkaBroker.start(work / "kafka")
    worker = None
    try:
        worker = ConnectWorker.start(work / "connect", broker, timeout=180)
        part2(part1(worker.url))
    finally:
        if worker:
            worker.stop()
        broker.stop()


if __name__ == "__main__":
    main()
