"""The datagen connector's specifics, on recorded Connect answers (tests/integration/recorded/: how
each file was recorded or derived is written in its `_source` and in record_connect.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.clients.connect_rest import ConnectorStatus, Validation, failure_reason
from components.clients.datagen import (DATAGEN_CLASS, DatagenSettings, classify_status, config_problems,
                                        datagen_connector_config)

RECORDED = Path(__file__).resolve().parents[1] / "integration" / "recorded"
DEFAULT_CONFIG = {
    "connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector",
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


def recorded(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())


def problems_of(name: str) -> list[str]:
    answer = recorded(name)
    return config_problems(answer["request"]["body"], Validation.from_json(answer["response"]))


def test_default_settings_build_the_deployed_config():
    assert datagen_connector_config(DatagenSettings()) == DEFAULT_CONFIG


def test_every_setting_is_typed_and_overridable():
    config = datagen_connector_config(DatagenSettings(
        topic="clicks", schema_registry_url="http://sr:8081", max_interval_ms=500, iterations=-1, tasks_max=2,
        random_seed=42, value_schemas_enable=True))
    assert config == {**DEFAULT_CONFIG, "kafka.topic": "clicks", "value.converter.schema.registry.url": "http://sr:8081",
                      "max.interval": "500", "iterations": "-1", "tasks.max": "2", "random.seed": "42",
                      "value.converter.schemas.enable": "true"}


@pytest.mark.parametrize("settings, field", [
    (DatagenSettings(max_interval_ms=0), "max_interval_ms"),
    (DatagenSettings(iterations=0), "iterations"),
    (DatagenSettings(tasks_max=0), "tasks_max"),
    (DatagenSettings(topic=""), "topic"),
])
def test_invalid_settings_are_refused_naming_the_field(settings, field):
    with pytest.raises(ValueError, match=field):
        datagen_connector_config(settings)


def test_the_default_config_validates_clean():
    answer = recorded("datagen-0.6.5-validate-seed.json")
    assert answer["request"]["body"] == {**DEFAULT_CONFIG, "name": "datagen-pageviews"}
    assert problems_of("datagen-0.6.5-validate-seed.json") == []


def test_a_misspelt_optional_key_is_named_though_the_worker_reports_no_error():
    answer = recorded("datagen-0.6.5-validate-misspelt-max-interval.json")
    assert answer["response"]["error_count"] == 0  # Connect ignores keys it does not know
    assert problems_of("datagen-0.6.5-validate-misspelt-max-interval.json") == [
        f"max.intervall: not a config key of {DATAGEN_CLASS}; did you mean 'max.interval'?"]


def test_a_misspelt_quickstart_names_the_schema_keys_and_the_typo():
    assert problems_of("datagen-0.6.5-validate-misspelt-quickstart.json") == [
        "schema.string: Must set exactly one of schema.string, schema.filename, quickstart",
        "schema.filename: Must set exactly one of schema.string, schema.filename, quickstart",
        "quickstart: Must set exactly one of schema.string, schema.filename, quickstart",
        f"quickstrat: not a config key of {DATAGEN_CLASS}; did you mean 'quickstart'?",
    ]


def test_a_bad_value_is_named_with_the_workers_message():
    assert problems_of("datagen-0.6.5-validate-bad-iterations.json") == [
        "iterations: Invalid value ten for configuration iterations: Not a number of type INT"]


def test_reaching_iterations_is_finished_not_failed():
    status = ConnectorStatus.from_json(recorded("datagen-0.6.5-status-iterations-reached.json")["response"])
    assert [t.state for t in status.tasks] == ["FAILED"]
    assert classify_status(status, DEFAULT_CONFIG) == "finished"


@pytest.mark.parametrize("iterations", ["-1", "500"])
def test_the_same_trace_under_another_iterations_setting_is_a_failure(iterations):
    status = ConnectorStatus.from_json(recorded("datagen-0.6.5-status-iterations-reached.json")["response"])
    assert classify_status(status, {**DEFAULT_CONFIG, "iterations": iterations}) == "failed"


def test_the_iterations_rule_belongs_to_datagen_only():
    status = ConnectorStatus.from_json(recorded("datagen-0.6.5-status-iterations-reached.json")["response"])
    assert classify_status(status, {**DEFAULT_CONFIG, "connector.class": "FileStreamSource"}) == "failed"


def test_any_other_task_failure_is_a_failure_with_its_root_cause():
    status = ConnectorStatus.from_json(recorded("connect-3.4.1-status-task-failed-in-poll.json")["response"])
    assert classify_status(status, DEFAULT_CONFIG) == "failed"
    assert failure_reason(status) == \
        "task 0: java.nio.file.FileSystemException: /etc/hostname/not-a-directory: Not a directory"


def test_running_tasks_are_running():
    status = ConnectorStatus.from_json(recorded("connect-3.4.1-status-running.json")["response"])
    assert classify_status(status, DEFAULT_CONFIG) == "running"


def test_a_finished_task_next_to_running_ones_still_counts_as_running():
    body = recorded("datagen-0.6.5-status-iterations-reached.json")["response"]
    running = recorded("connect-3.4.1-status-running.json")["response"]["tasks"][0]
    status = ConnectorStatus.from_json({**body, "tasks": [body["tasks"][0], {**running, "id": 1}]})
    assert classify_status(status, {**DEFAULT_CONFIG, "tasks.max": "2"}) == "running"
