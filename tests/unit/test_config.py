"""Stack configuration: defaults, typing, and one clear error per bad key, raised before any
resource is registered."""
from __future__ import annotations

import pytest

from components.config import PipelineConfig, parse_config
from components.errors import ConfigError
from tests.unit.harness import Recording, build_program


def test_defaults_are_valid_and_resolve_the_8081_clash():
    cfg = parse_config({})
    assert cfg == PipelineConfig()
    assert cfg.ports.schema_registry == 8081 and cfg.ports.flink_ui != cfg.ports.schema_registry
    assert cfg.bind_address == "127.0.0.1"


def test_values_typed_as_strings_by_the_cli_are_accepted():
    cfg = parse_config({"flink": {"taskmanagers": "2", "slotsPerTaskmanager": "3", "parallelism": "6"},
                        "grafana": {"anonymousAccess": "true"}, "ports": '{"grafana": "3300"}'})
    assert (cfg.flink.taskmanagers, cfg.flink.slots_per_taskmanager, cfg.flink.parallelism) == (2, 3, 6)
    assert cfg.grafana.anonymous_access is True and cfg.ports.grafana == 3300


BAD_CONFIGS = [
    # (config, key named in the error, words of what is allowed)
    ({"platform": "swarm"}, "clickstreamer:platform", "docker, kubernetes"),
    ({"bindAddress": "localhost"}, "clickstreamer:bindAddress", "loopback address"),
    ({"images": {"kafka": "confluentinc/cp-kafka"}}, "clickstreamer:images.kafka", "pinned to a release tag or digest"),
    ({"images": {"grafanaBase": "grafana/grafana:latest"}}, "clickstreamer:images.grafanaBase", "moving tags"),
    ({"images": {"datagenVersion": "0.7.1"}}, "clickstreamer:images.datagenVersion", "0.6.x"),
    ({"ports": {"flinkUi": 8081}}, "clickstreamer:ports.flinkUi", "already used by ports.schemaRegistry"),
    ({"ports": {"grafana": 70000}}, "clickstreamer:ports.grafana", "between 1 and 65535"),
    ({"ports": {"kafka": "ninety"}}, "clickstreamer:ports.kafka", "whole number"),
    ({"kafka": {"clusterId": "not-a-cluster-id"}}, "clickstreamer:kafka.clusterId", "22-character"),
    ({"kafka": {"pageviewsPartitions": 0}}, "clickstreamer:kafka.pageviewsPartitions", "between 1 and 1000"),
    ({"kafka": {"pageviewsTopic": "page views"}}, "clickstreamer:kafka.pageviewsTopic", "Kafka topic name"),
    ({"datagen": {"quickstart": "users"}}, "clickstreamer:datagen.quickstart", "pageviews"),
    ({"datagen": {"iterations": 0}}, "clickstreamer:datagen.iterations", "-1 for unlimited"),
    ({"datagen": {"maxInterval": 100}}, "clickstreamer:datagen.maxInterval", "unknown key; allowed: iterations, maxIntervalMs"),
    ({"flink": {"parallelism": 5}}, "clickstreamer:flink.parallelism", "taskmanagers x slotsPerTaskmanager = 2"),
    ({"flink": {"taskmanagers": 0}}, "clickstreamer:flink.taskmanagers", "between 1 and 64"),
    ({"flink": {"onDestroy": "drop"}}, "clickstreamer:flink.onDestroy", "savepoint, cancel"),
    ({"flink": {"taskmanagerMemory": "512m"}}, "clickstreamer:flink.taskmanagerMemory", "between 1024m"),
    ({"flink": {"checkpointIntervalSeconds": "often"}}, "clickstreamer:flink.checkpointIntervalSeconds", "whole number"),
    ({"clickhouse": {"database": "click-stream"}}, "clickstreamer:clickhouse.database", "identifier"),
    ({"clickhouse": {"user": "default"}}, "clickstreamer:clickhouse.user", "must not be `default`"),
    ({"clickhouse": {"readerUser": "clickstream"}}, "clickstreamer:clickhouse.readerUser", "must differ"),
    ({"grafana": {"anonymousAccess": "maybe"}}, "clickstreamer:grafana.anonymousAccess", "true or false"),
    ({"retention": {"rawEventsDays": 0}}, "clickstreamer:retention.rawEventsDays", "between 1 and 3650"),
    ({"flink": "parallelism=2"}, "clickstreamer:flink", "must be an object"),
    ({"colour": "blue"}, "clickstreamer:colour", "unknown key"),
    ({"platform": "kubernetes"}, "clickstreamer:kubernetes.flinkImage", "required on kubernetes"),
]


K8S = {"platform": "kubernetes", "kubernetes": {"flinkImage": "registry.example.com/clickstreamer/flink:1.20.3-1",
                                                 "connectBuildRegistry": "registry.example.com/clickstreamer"}}


def on_kubernetes(**sections) -> dict:
    config = {**K8S, **sections}
    config["kubernetes"] = {**K8S["kubernetes"], **sections.get("kubernetes", {})}
    return config


# Unsafe or late-failing configs, one or more per class (issue: secure by default).
BAD_CONFIGS += [
    ({"kafka": {"pageviewsTopic": ".."}}, "clickstreamer:kafka.pageviewsTopic", "not `.` or `..`"),
    ({"kafka": {"pageviewsTopic": "__consumer_offsets"}}, "clickstreamer:kafka.pageviewsTopic", "reserved"),
    ({"kafka": {"pageviewsTopic": "_schemas"}}, "clickstreamer:kafka.pageviewsTopic", "reserved"),
    ({"kafka": {"pageviewsTopic": "_connect-offsets"}}, "clickstreamer:kafka.pageviewsTopic", "reserved"),
    ({"kafka": {"pageviewsTopic": "clickstream.sessions"}}, "clickstreamer:kafka.pageviewsTopic", "output topics"),
    (on_kubernetes(kafka={"pageviewsTopic": "Clickstream.Events"}), "clickstreamer:kafka.pageviewsTopic",
     "Kubernetes object 'clickstream.events'"),
    ({"bindAddress": "224.0.0.1"}, "clickstreamer:bindAddress", "loopback address"),
    ({"bindAddress": "0.0.0.0"}, "clickstreamer:bindAddress", "set expose.address and expose.services"),
    ({"expose": {"address": "0.0.0.0", "services": "flinkUi"}}, "clickstreamer:expose.services",
     "flinkUi is an admin API"),
    ({"expose": {"address": "0.0.0.0", "services": "schemaRegistry"}}, "clickstreamer:expose.services",
     "set expose.acknowledgeUnauthenticated"),
    ({"expose": {"address": "0.0.0.0", "services": "grafana"}, "grafana": {"anonymousAccess": True}},
     "clickstreamer:expose.services", "grafana.anonymousAccess"),
    ({"expose": {"services": "grafana"}}, "clickstreamer:expose.address", "required"),
    ({"expose": {"address": "239.1.1.1", "services": "grafana"}}, "clickstreamer:expose.address", "unicast"),
    ({"images": {"kafka": "confluentinc/cp-kafka:LATEST"}}, "clickstreamer:images.kafka", "moving tags"),
    ({"images": {"clickhouse": "clickhouse/clickhouse-server:main"}}, "clickstreamer:images.clickhouse", "moving tags"),
    ({"images": {"grafanaBase": "grafana/grafana:11"}}, "clickstreamer:images.grafanaBase", "moving tags"),
    ({"images": {"flinkBase": "flink:1.19.1-scala_2.12-java17"}}, "clickstreamer:images.flinkBase", "Flink 1.20.x"),
    ({"kafka": {"heap": "64m"}}, "clickstreamer:kafka.heap", "between 256m and 31g"),
    ({"kafka": {"heap": "900g"}}, "clickstreamer:kafka.heap", "between 256m and 31g"),
    ({"flink": {"jobmanagerMemory": "999g"}}, "clickstreamer:flink.jobmanagerMemory", "and 64g"),
    (on_kubernetes(kubernetes={"clickhouseMemory": "64Mi"}), "clickstreamer:kubernetes.clickhouseMemory",
     "between 256Mi and 256Gi"),
    ({"flink": {"deliveryGuarantee": "exactly-once", "checkpointIntervalSeconds": 1200}},
     "clickstreamer:flink.checkpointIntervalSeconds", "900 s transaction timeout"),
    ({"clickhouse": {"database": "system"}}, "clickstreamer:clickhouse.database", "ClickHouse's own databases"),
    ({"clickhouse": {"database": "INFORMATION_SCHEMA"}}, "clickstreamer:clickhouse.database", "own databases"),
    ({"clickhouse": {"readerUser": "default"}}, "clickstreamer:clickhouse.readerUser", "must not be `default`"),
    (on_kubernetes(clickhouse={"readerUser": "default"}), "clickstreamer:clickhouse.readerUser", "must not be `default`"),
    (on_kubernetes(kubernetes={"namespace": "kube-system"}), "clickstreamer:kubernetes.namespace", "`kube-*`"),
    (on_kubernetes(bindAddress="127.0.0.2"), "clickstreamer:bindAddress", "docker platform only"),
    (on_kubernetes(expose={"address": "0.0.0.0", "services": "grafana"}), "clickstreamer:expose", "docker platform only"),
    (on_kubernetes(ports={"grafana": 3300}), "clickstreamer:ports", "docker platform only"),
    (on_kubernetes(flink={"onDestroy": "cancel"}), "clickstreamer:flink.onDestroy", "docker platform only"),
    (on_kubernetes(flink={"taskmanagers": 2}), "clickstreamer:flink.taskmanagers", "docker platform only"),
    ({"kubernetes": {"namespace": "analytics"}}, "clickstreamer:kubernetes", "kubernetes platform only"),
    ({"clickhouse": {"dropDataOnDestroy": True}}, "clickstreamer:clickhouse.dropDataOnDestroy",
     "moved: set clickstreamer:dropDataOnDestroy instead"),
    ({"kafka": {"allowTopicDataLoss": True}}, "clickstreamer:kafka.allowTopicDataLoss",
     "moved: set clickstreamer:allowDataLoss instead"),
]

# The website collector (issue 17).
BAD_CONFIGS += [
    ({"collector": {"sites": ""}}, "clickstreamer:collector.sites", "at least one host name"),
    ({"collector": {"sites": "https://example.com"}}, "clickstreamer:collector.sites", "not a lower-case host name"),
    ({"collector": {"trustedProxies": "10.0.0.0/33"}}, "clickstreamer:collector.trustedProxies", "IP address or CIDR"),
    ({"collector": {"queueSize": 10}}, "clickstreamer:collector.queueSize", "between 100 and 10000000"),
    ({"collector": {"ratePerSecond": 0}}, "clickstreamer:collector.ratePerSecond", "between 1 and 100000"),
    ({"collector": {"deliveryTimeoutSeconds": 1}}, "clickstreamer:collector.deliveryTimeoutSeconds", "between 10"),
    ({"collector": {"scriptName": "../x.js"}}, "clickstreamer:collector.scriptName", "ending in .js"),
    ({"collector": {"endpointPath": "api/event"}}, "clickstreamer:collector.endpointPath", "absolute URL path"),
    ({"collector": {"endpointPath": "/metrics"}}, "clickstreamer:collector.endpointPath", "/healthz, /readyz"),
    ({"collector": {"scriptName": "e.js", "endpointPath": "/e.js"}}, "clickstreamer:collector.endpointPath",
     "the script's path"),
    ({"collector": {"enabled": "yes"}}, "clickstreamer:collector.enabled", "true or false"),
    ({"ports": {"collector": 3000}}, "clickstreamer:ports.collector", "already used by ports.grafana"),
    ({"images": {"collectorBase": "python:3.11"}}, "clickstreamer:images.collectorBase", "moving tags"),
    (on_kubernetes(kubernetes={"collectorImage": "registry.example.com/collector:latest"}),
     "clickstreamer:kubernetes.collectorImage", "moving tags"),
    (on_kubernetes(kubernetes={"collectorMemory": "64Mi"}), "clickstreamer:kubernetes.collectorMemory", "128Mi"),
    (on_kubernetes(kubernetes={"collectorReplicas": 0}), "clickstreamer:kubernetes.collectorReplicas", "between 1"),
]


@pytest.mark.parametrize("config, key, allowed", BAD_CONFIGS, ids=[c[1].split(":")[1] for c in BAD_CONFIGS])
def test_bad_config_fails_before_any_resource_naming_the_key(config, key, allowed):
    recording = Recording()
    with pytest.raises(Exception) as caught:
        build_program(config, recording=recording)
    message = str(caught.value)
    lines = [line for line in message.splitlines() if f"{key} = " in line]
    assert lines, f"{key} not named in:\n{message}"
    assert allowed in lines[0], lines[0]
    assert recording.resources == [], f"registered before failing: {[r.name for r in recording.resources]}"


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        parse_config({"platform": "swarm", "ports": {"grafana": 0}, "flink": {"onDestroy": "x"}})
    assert len(caught.value.problems) == 3


def test_a_bad_secret_is_named_without_showing_it():
    with pytest.raises(Exception) as caught:
        build_program(secrets={"clickhousePassword": "short pw"})
    message = str(caught.value)
    assert "clickstreamer:clickhousePassword = [secret]" in message and "short pw" not in message


def test_a_password_with_a_control_character_is_refused_without_showing_it():
    with pytest.raises(ConfigError) as caught:
        parse_config({"grafanaAdminPassword": "long-enough\x07password"})
    assert "clickstreamer:grafanaAdminPassword = [secret]" in str(caught.value) and "password" not in str(caught.value).split("=")[-1][:20]


def test_a_password_set_as_plain_config_is_refused_without_showing_it():
    with pytest.raises(Exception) as caught:
        build_program({"clickhousePassword": "plain-text-password-1"})
    message = str(caught.value)
    assert "clickstreamer:clickhousePassword = [secret]: must be stored as a secret" in message
    assert "plain-text-password-1" not in message


@pytest.mark.parametrize("key", ["clickhousePasword", "grafanaAdminSecret"])
def test_a_misspelt_credential_key_is_named_without_its_value(key):
    with pytest.raises(Exception) as caught:
        build_program({key: "would-be-password-1"})
    message = str(caught.value)
    assert f"clickstreamer:{key} = [secret]: unknown key" in message and "would-be-password-1" not in message


def test_pinned_references_and_digests_are_accepted():
    digest = "sha256:" + "ab" * 32
    cfg = parse_config({"images": {"kafka": f"confluentinc/cp-kafka@{digest}",
                                   "clickhouse": f"clickhouse/clickhouse-server:24.7.3@{digest}",
                                   "grafanaBase": "grafana/grafana:11.1.1-ubuntu"}})
    assert cfg.images.kafka.endswith(digest)


def test_a_secret_with_a_dollar_is_refused_because_grafana_would_expand_it():
    with pytest.raises(ConfigError) as caught:
        parse_config({"clickhouseReaderPassword": "pa$HOMEword-long-enough"})
    assert "clickstreamer:clickhouseReaderPassword = [secret]" in str(caught.value)
    assert "pa$HOME" not in str(caught.value)


def test_secret_values_never_show_in_config_repr():
    from components.secrets import PipelineSecrets

    assert "hunter2" not in repr(PipelineSecrets(clickhouse_password="hunter2hunter2"))


def test_the_readme_documents_every_config_key():
    """README's configuration table is scripts/config_reference.py's output: no key undocumented."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    table = subprocess.run([sys.executable, str(root / "scripts" / "config_reference.py")], capture_output=True,
                           text=True, check=True).stdout
    readme = (root / "README.md").read_text()
    missing = [line for line in table.splitlines() if line not in readme]
    assert not missing, "README.md lacks these rows of `scripts/config_reference.py`:\n" + "\n".join(missing)


def test_an_ipv6_bind_address_is_bracketed_in_urls_and_the_kafka_listener():
    recording = build_program({"bindAddress": "::1"})
    assert recording.stack_outputs["grafanaUrl"] == "http://[::1]:3000"
    assert recording.stack_outputs["kafkaBootstrap"] == "[::1]:9092"
    broker_env = recording.named("clickstream-kafka-broker").inputs["envs"]
    assert any(e.endswith("PLAINTEXT_HOST://[::1]:9092") for e in broker_env), broker_env
    ports = recording.named("clickstream-grafana-server").inputs["ports"]
    assert ports[0]["ip"] == "::1", "Docker takes the bare address to bind"
