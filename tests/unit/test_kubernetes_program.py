"""The whole program on the Kubernetes platform (`platform: kubernetes`), built under Pulumi's mocks:
the operators' charts, every custom resource checked against the CRD of the version pinned,
readiness and dependency order, one source of truth with the Docker platform (connector config,
migrations, Grafana files, job arguments), secrets, outputs, scale settings and config validation.

CRDs: Strimzi 0.45.0 and Flink operator 1.10.0 schemas come from Maven Central at test time
(tests/unit/crds/fetch.py, cached in .cache/crds/). The Altinity ClickHouseInstallation and the
charts' values have no registry copy: the minimal schemas below were read from the upstream files
named next to them.

No cluster runs here: what a real cluster adds (image pulls, operator reconciliation, load
balancers) is covered by docs/kubernetes.md, not by these tests.
"""
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from components.clients.clickhouse import users_xml
from components.config import parse_config
from components.errors import ConfigError
from components.k8s.common import file_set
from components.k8s.operators import CHARTS, KAFKA_VERSION
from components.contract import INSIGHT_TOPICS
from components.spec import OUTPUT_KEYS, Endpoints, datagen_config, job_arguments, migration_params
from tests.unit.crds.fetch import crd_folder
from tests.unit.crds.schema import load_crds, validate
from tests.unit.harness import (FLINK_JOB_ID, FLINK_SAVEPOINT, LOAD_BALANCER_IP, REPO_ROOT, Recording, build_program,
                                generated_password, plain_strings)

REGISTRY = "registry.example.com/clickstreamer"
K8S = {"platform": "kubernetes",
       "kubernetes": {"flinkImage": f"{REGISTRY}/flink:1.20.3-1", "connectBuildRegistry": REGISTRY}}
NS = "clickstream"
OPS_NS = "clickstream-operators"

RELEASE = "kubernetes:helm.sh/v3:Release"
SECRET = "kubernetes:core/v1:Secret"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
MIGRATIONS = "pulumi-python:dynamic/clickhouse:SchemaMigrations"
CR_GROUPS = ("kafka.strimzi.io/", "flink.apache.org/", "clickhouse.altinity.com/")


def k8s_config(**kubernetes) -> dict:
    """The default Kubernetes stack config with `kubernetes.*` overrides (and top-level ones as `_section`)."""
    config = {"platform": "kubernetes", "kubernetes": {**K8S["kubernetes"]}}
    for key, value in kubernetes.items():
        if key.startswith("_"):
            config[key[1:]] = value
        else:
            config["kubernetes"][key] = value
    return config


@pytest.fixture(scope="module")
def program() -> Recording:
    return build_program(K8S)


@pytest.fixture(scope="module")
def docker() -> Recording:
    return build_program()


@pytest.fixture(scope="session")
def crds() -> dict:
    return load_crds(crd_folder())


def custom_resources(rec: Recording):
    return [r for r in rec.resources if r.type.startswith("kubernetes:") and
            r.type[len("kubernetes:"):].startswith(CR_GROUPS)]


def api_kind(resource) -> tuple[str, str]:
    api, kind = resource.type[len("kubernetes:"):].rsplit(":", 1)
    return api, kind


def of_kind(rec: Recording, kind: str):
    return [r for r in custom_resources(rec) if api_kind(r)[1] == kind]


def one(rec: Recording, kind: str):
    found = of_kind(rec, kind)
    assert len(found) == 1, f"{len(found)} {kind} resources: {[r.name for r in found]}"
    return found[0]


def releases(rec: Recording) -> dict:
    return {r.inputs["chart"]: r for r in rec.of_type(RELEASE)}


def pod_schema(crds: dict) -> dict:
    """The Kubernetes Pod spec schema, as embedded in the FlinkDeployment CRD's podTemplate."""
    return crds[("flink.apache.org/v1beta1", "FlinkDeployment")]["properties"]["spec"]["properties"][
        "podTemplate"]["properties"]["spec"]


def pvc_spec_schema(crds: dict) -> dict:
    volume = pod_schema(crds)["properties"]["volumes"]["items"]["properties"]
    return volume["ephemeral"]["properties"]["volumeClaimTemplate"]["properties"]["spec"]


# --- operators and charts ------------------------------------------------------------------------

def test_each_operator_and_grafana_come_from_their_pinned_chart(program):
    found = releases(program)
    expected = {
        "strimzi-kafka-operator": ("0.45.0", "https://strimzi.io/charts/", OPS_NS, "strimzi"),
        "flink-kubernetes-operator": ("1.10.0", "https://archive.apache.org/dist/flink/flink-kubernetes-operator-1.10.0/",
                                      OPS_NS, "flink-operator"),
        "altinity-clickhouse-operator": ("0.25.6", "https://helm.altinity.com", OPS_NS, "clickhouse-operator"),
        "grafana": ("8.4.0", "https://grafana.github.io/helm-charts", NS, "grafana"),
    }
    assert set(found) == set(expected), f"charts: {sorted(found)}"
    for chart, (version, repo, namespace, release_name) in expected.items():
        r = found[chart]
        assert r.inputs["version"] == version, f"{chart}: version {r.inputs['version']}"
        assert r.inputs["repositoryOpts"]["repo"] == repo, chart
        assert r.inputs["namespace"] == namespace, chart
        assert r.inputs["name"] == release_name, chart
        assert r.inputs.get("skipAwait") is False, f"{chart}: dependents would start before its workloads are ready"


def test_operators_watch_only_the_pipeline_namespace(program):
    found = releases(program)
    assert found["strimzi-kafka-operator"].inputs["values"]["watchNamespaces"] == [NS]
    assert found["strimzi-kafka-operator"].inputs["values"]["watchAnyNamespace"] is False
    assert found["flink-kubernetes-operator"].inputs["values"]["watchNamespaces"] == [NS]
    watch = found["altinity-clickhouse-operator"].inputs["values"]["configs"]["files"]["config.yaml"]["watch"]
    assert watch["namespaces"] == [NS]


def test_pinned_chart_versions_are_the_versions_whose_crds_the_tests_read():
    pom = ET.parse(REPO_ROOT / "tests/support/maven/k8s-crds/pom.xml").getroot()
    props = {el.tag.split("}")[1]: el.text for el in pom.find("{http://maven.apache.org/POM/4.0.0}properties")}
    assert props["strimzi.version"] == CHARTS["strimzi"].version
    assert props["flink-operator.version"] == CHARTS["flink"].version
    assert KAFKA_VERSION.startswith("3."), "the brief: Strimzi running Kafka 3.x"


# Minimal values schemas of the charts (keys the templates read), in the CRD-schema format so that the
# same validator checks them. Read from the charts' values.yaml and templates at the pinned versions:
# strimzi-kafka-operator 0.45.0 (helm-charts/helm3/strimzi-kafka-operator/values.yaml), flink-kubernetes-
# operator 1.10.0 (helm/flink-kubernetes-operator/values.yaml), altinity-clickhouse-operator 0.25.6
# (deploy/helm/clickhouse-operator/values.yaml), grafana 8.4.0 (charts/grafana/values.yaml and
# templates/_pod.tpl).
_S, _B, _I = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
_STRINGS = {"type": "array", "items": _S}
_MAP = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_GRAFANA_TOP_LEVEL = (
    "global rbac serviceAccount replicas headlessService automountServiceAccountToken autoscaling "
    "podDisruptionBudget deploymentStrategy readinessProbe livenessProbe image testFramework dnsPolicy dnsConfig "
    "securityContext containerSecurityContext createConfigmap extraConfigmapMounts extraEmptyDirMounts "
    "extraLabels downloadDashboardsImage downloadDashboards podPortName gossipPortName service serviceMonitor "
    "extraExposePorts hostAliases ingress resources nodeSelector tolerations affinity topologySpreadConstraints "
    "extraInitContainers extraContainers extraContainerVolumes persistence initChownData adminUser admin env "
    "envValueFrom envFromSecret envRenderSecret envFromSecrets envFromConfigMaps enableServiceLinks "
    "extraSecretMounts extraVolumeMounts extraVolumes lifecycleHooks plugins datasources alerting notifiers "
    "dashboardProviders dashboards dashboardsConfigMaps grafana.ini ldap smtp sidecar namespaceOverride "
    "revisionHistoryLimit imageRenderer networkPolicy enableKubeBackwardCompatibility useStatefulSet "
    "extraObjects assertNoLeakedSecrets nameOverride fullnameOverride podAnnotations podLabels"
).split()
CHART_VALUES = {
    "strimzi-kafka-operator": {"type": "object", "properties": {
        "watchNamespaces": _STRINGS, "watchAnyNamespace": _B,
        "extraEnvs": {"type": "array", "items": {"type": "object", "required": ["name", "value"],
                                                 "properties": {"name": _S, "value": _S}}}}},
    "flink-kubernetes-operator": {"type": "object", "properties": {
        "watchNamespaces": _STRINGS, "webhook": {"type": "object", "properties": {"create": _B}}}},
    "altinity-clickhouse-operator": {"type": "object", "properties": {
        "crdHook": {"type": "object", "properties": {"enabled": _B}},
        "configs": {"type": "object", "properties": {"files": {"type": "object", "properties": {
            "config.yaml": {"type": "object", "properties": {
                "watch": {"type": "object", "properties": {"namespaces": _STRINGS}}}}}}}}}},
    "grafana": {"type": "object", "properties": {
        **{key: _MAP for key in _GRAFANA_TOP_LEVEL},
        "fullnameOverride": _S, "replicas": _I, "plugins": _STRINGS,
        "image": {"type": "object", "properties": {k: _S for k in ("registry", "repository", "tag", "sha", "pullPolicy")}},
        "persistence": {"type": "object", "properties": {
            "enabled": _B, "size": _S, "storageClassName": _S, "type": _S, "accessModes": _STRINGS,
            "annotations": {"type": "object", "additionalProperties": _S}}},
        "service": {"type": "object", "properties": {"type": _S, "port": _I, "targetPort": _I}},
        "testFramework": {"type": "object", "properties": {"enabled": _B}},
        "env": {"type": "object", "additionalProperties": _S},
        "initChownData": {"type": "object", "properties": {"enabled": _B}},
        "podAnnotations": {"type": "object", "additionalProperties": _S},
        "extraSecretMounts": {"type": "array", "items": {"type": "object", "required": ["name", "mountPath"], "properties": {
            "name": _S, "secretName": _S, "mountPath": _S, "readOnly": _B, "defaultMode": _I, "optional": _B,
            "subPath": _S, "items": {"type": "array"}}}},
        "extraConfigmapMounts": {"type": "array", "items": {"type": "object", "required": ["name", "mountPath", "configMap"],
                                                            "properties": {
            "name": _S, "configMap": _S, "mountPath": _S, "readOnly": _B, "optional": _B, "subPath": _S,
            "items": {"type": "array", "items": {"type": "object", "required": ["key", "path"],
                                                 "properties": {"key": _S, "path": _S}}}}}},
    }},
}


@pytest.mark.parametrize("chart", sorted(CHART_VALUES))
def test_chart_values_use_keys_the_pinned_chart_reads(program, chart):
    values = releases(program)[chart].inputs["values"]
    assert validate(values, CHART_VALUES[chart], ".values") == [], chart


# --- custom resources against their CRDs -----------------------------------------------------------

def test_the_pipeline_is_made_of_the_operators_resources(program):
    kinds = sorted((api_kind(r)[1], r.inputs["metadata"]["name"]) for r in custom_resources(program))
    assert kinds == sorted([
        ("Kafka", "clickstream"), ("KafkaNodePool", "nodes"),
        ("KafkaTopic", "pageviews"), *(("KafkaTopic", t.replace("_", "-")) for t in INSIGHT_TOPICS.values()),
        ("KafkaConnect", "clickstream"), ("KafkaConnector", "datagen-pageviews"),
        ("FlinkDeployment", "clickstream-insights"), ("ClickHouseInstallation", "clickstream"),
    ])
    for r in custom_resources(program):
        assert r.inputs["metadata"]["namespace"] == NS, r.name


def test_strimzi_and_flink_resources_match_the_crds_of_the_pinned_versions(program, crds):
    checked = 0
    for r in custom_resources(program):
        api, kind = api_kind(r)
        if api.startswith("clickhouse.altinity.com/"):
            continue
        assert (api, kind) in crds, f"{r.name}: no CRD serves {api} {kind}"
        schema = crds[(api, kind)]["properties"]["spec"]
        assert validate(r.inputs["spec"], schema, ".spec") == [], r.name
        checked += 1
    assert checked == 11


def test_the_crd_check_finds_misspelt_fields_bad_enums_and_missing_fields(program, crds):
    pool = one(program, "KafkaNodePool").inputs["spec"]
    schema = crds[("kafka.strimzi.io/v1beta2", "KafkaNodePool")]["properties"]["spec"]
    bad = {**pool, "replica": 3, "roles": ["broker", "zookeeper"]}
    del bad["storage"]
    problems = validate(bad, schema, ".spec")
    assert any(".spec.replica: unknown field" in p for p in problems), problems
    assert any("'zookeeper' is not one of" in p for p in problems), problems
    assert any("required field 'storage'" in p for p in problems), problems
    flink = one(program, "FlinkDeployment").inputs["spec"]
    schema = crds[("flink.apache.org/v1beta1", "FlinkDeployment")]["properties"]["spec"]
    problems = validate({**flink, "flinkVersion": "v2_0", "job": {**flink["job"], "upgradeMode": "last_state"}}, schema)
    assert len(problems) == 2, problems


# Minimal schema of ClickHouseInstallation (clickhouse.altinity.com/v1) for the parts the pipeline
# writes, read from Altinity/clickhouse-operator release-0.25.6,
# deploy/helm/clickhouse-operator/crds/CustomResourceDefinition-clickhouseinstallations.clickhouse.altinity.com.yaml.
# Key sets are the CRD's own at each level walked; `users`/`profiles` and the templates' `spec` are
# x-kubernetes-preserve-unknown-fields there too (the pod and claim specs are checked against the
# Kubernetes schemas below).
_BOOL_STRING = {"type": "string", "enum": ["", "0", "1", "False", "false", "True", "true", "No", "no", "Yes", "yes",
                                           "Off", "off", "On", "on", "Disable", "disable", "Enable", "enable",
                                           "Disabled", "disabled", "Enabled", "enabled"]}
_TEMPLATE_NAMES = {"type": "object", "properties": {k: _S for k in (
    "hostTemplate", "podTemplate", "dataVolumeClaimTemplate", "logVolumeClaimTemplate", "serviceTemplate",
    "clusterServiceTemplate", "shardServiceTemplate", "replicaServiceTemplate", "volumeClaimTemplate")} | {
    "serviceTemplates": _STRINGS}}
CHI_SPEC = {"type": "object", "properties": {
    "taskID": _S, "stop": _BOOL_STRING, "restart": {"type": "string", "enum": ["", "RollingUpdate"]},
    "suspend": _BOOL_STRING, "troubleshoot": _BOOL_STRING, "namespaceDomainPattern": _S,
    "templating": _MAP, "reconciling": _MAP, "reconcile": _MAP, "useTemplates": {"type": "array"},
    "defaults": {"type": "object", "properties": {
        "replicasUseFQDN": _BOOL_STRING, "distributedDDL": _MAP, "storageManagement": _MAP, "templates": _TEMPLATE_NAMES}},
    "configuration": {"type": "object", "properties": {
        "zookeeper": _MAP, "users": _MAP, "profiles": _MAP, "quotas": _MAP, "settings": _MAP, "files": _MAP,
        "clusters": {"type": "array", "items": {"type": "object", "properties": {
            "name": _S, "zookeeper": _MAP, "settings": _MAP, "files": _MAP, "templates": _TEMPLATE_NAMES,
            "schemaPolicy": _MAP, "insecure": _BOOL_STRING, "secure": _BOOL_STRING, "secret": _MAP,
            "pdbManaged": _BOOL_STRING, "pdbMaxUnavailable": _I, "reconcile": _MAP,
            "layout": {"type": "object", "properties": {
                "shardsCount": _I, "replicasCount": _I, "shards": {"type": "array"}, "replicas": {"type": "array"}}},
        }}}}},
    "templates": {"type": "object", "properties": {
        "hostTemplates": {"type": "array"}, "serviceTemplates": {"type": "array"},
        "podTemplates": {"type": "array", "items": {"type": "object", "properties": {
            "name": _S, "generateName": _S, "zone": _MAP,
            "distribution": {"type": "string", "enum": ["", "Unspecified", "OnePerHost"]},
            "podDistribution": {"type": "array"}, "metadata": _MAP, "spec": _MAP}}},
        "volumeClaimTemplates": {"type": "array", "items": {"type": "object", "properties": {
            "name": _S, "provisioner": {"type": "string", "enum": ["", "StatefulSet", "Operator"]},
            "reclaimPolicy": {"type": "string", "enum": ["", "Retain", "Delete"]},
            "metadata": _MAP, "spec": _MAP}}},
    }},
}}


def test_clickhouse_installation_matches_the_pinned_altinity_crd(program, crds):
    chi = one(program, "ClickHouseInstallation")
    assert api_kind(chi)[0] == "clickhouse.altinity.com/v1"
    spec = chi.inputs["spec"]
    assert validate(spec, CHI_SPEC, ".spec") == []
    for pod in spec["templates"]["podTemplates"]:
        assert validate(pod["spec"], pod_schema(crds), ".podTemplates.spec") == []
    for claim in spec["templates"]["volumeClaimTemplates"]:
        assert validate(claim["spec"], pvc_spec_schema(crds), ".volumeClaimTemplates.spec") == []
    defaults = spec["defaults"]["templates"]
    assert defaults["podTemplate"] in [t["name"] for t in spec["templates"]["podTemplates"]]
    assert defaults["dataVolumeClaimTemplate"] in [t["name"] for t in spec["templates"]["volumeClaimTemplates"]]
    layout = spec["configuration"]["clusters"][0]["layout"]
    assert (layout["shardsCount"], layout["replicasCount"]) == (1, 1), "the schema is single-node (see clickhouse.py)"


def test_pod_specs_outside_crds_match_the_kubernetes_pod_schema(program, crds):
    deployment = program.named("clickstream-schema-registry-deployment")
    assert validate(deployment.inputs["spec"]["template"]["spec"], pod_schema(crds), ".template.spec") == []
    claim = program.named("clickstream-flink-state")
    assert validate(claim.inputs["spec"], pvc_spec_schema(crds), ".spec") == []


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def test_object_names_are_valid_and_unique(program):
    seen: dict[tuple, str] = {}
    for r in program.resources:
        if not r.type.startswith("kubernetes:") or r.type == RELEASE:
            continue
        meta = r.inputs.get("metadata") or {}
        name = meta.get("name")
        if name is None:  # auto-named by Pulumi
            continue
        assert _DNS_SUBDOMAIN.fullmatch(name), f"{r.name}: {name!r} is not a DNS-1123 name"
        if r.type == SERVICE:
            assert len(name) <= 63 and "." not in name, f"{r.name}: a Service name must be a DNS-1123 label"
        key = (r.type, meta.get("namespace"), name)
        assert key not in seen, f"{r.name} and {seen[key]} are the same object {key}"
        seen[key] = r.name


# --- readiness and order ------------------------------------------------------------------------------

def test_every_custom_resource_waits_for_its_operator_to_report_it_ready(program):
    expected = {
        "Kafka": "condition=Ready", "KafkaTopic": "condition=Ready", "KafkaConnect": "condition=Ready",
        "KafkaConnector": "condition=Ready", "ClickHouseInstallation": "jsonpath={.status.status}=Completed",
        "FlinkDeployment": '["jsonpath={.status.lifecycleState}=STABLE", "jsonpath={.status.jobStatus.state}=RUNNING"]',
    }
    for r in custom_resources(program):
        kind = api_kind(r)[1]
        annotations = r.inputs["metadata"].get("annotations") or {}
        if kind == "KafkaNodePool":  # no Ready condition of its own: the Kafka resource's covers its nodes
            assert program.depends_on("clickstream-kafka-cluster", r.name)
            continue
        assert annotations.get("pulumi.com/waitFor") == expected[kind], f"{r.name}: {annotations}"


def test_kafka_runs_in_kraft_mode_on_node_pools(program):
    kafka = one(program, "Kafka").inputs
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    assert "zookeeper" not in kafka["spec"]
    assert kafka["spec"]["kafka"]["version"] == KAFKA_VERSION
    assert kafka["spec"]["entityOperator"] == {"topicOperator": {}}
    pool = one(program, "KafkaNodePool").inputs
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"] and pool["spec"]["replicas"] == 3
    for topic in of_kind(program, "KafkaTopic"):
        assert topic.inputs["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"], topic.name
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == (3, 2)
    assert (config["transaction.state.log.replication.factor"], config["transaction.state.log.min.isr"]) == (3, 2)


@pytest.mark.parametrize("dependent, dependency", [
    ("clickstream-operators-strimzi", "clickstream-namespace"),
    ("clickstream-operators-strimzi", "clickstream-operators-namespace"),
    ("clickstream-operators-flink", "clickstream-namespace"),
    ("clickstream-operators-clickhouse", "clickstream-namespace"),
    # operator -> cluster
    ("clickstream-kafka-pool-nodes", "clickstream-operators-strimzi"),
    ("clickstream-kafka-cluster", "clickstream-operators-strimzi"),
    ("clickstream-kafka-cluster", "clickstream-kafka-pool-nodes"),
    ("clickstream-clickhouse-installation", "clickstream-operators-clickhouse"),
    ("clickstream-flink-deployment", "clickstream-operators-flink"),
    # cluster -> topic / connector
    ("clickstream-kafka-topic-pageviews", "clickstream-kafka-cluster"),
    ("clickstream-kafka-topic-sessions", "clickstream-kafka-cluster"),
    ("clickstream-schema-registry-deployment", "clickstream-kafka-cluster"),
    ("clickstream-connect-worker", "clickstream-kafka-cluster"),
    ("clickstream-connect-datagen", "clickstream-connect-worker"),
    ("clickstream-connect-datagen", "clickstream-kafka-topic-pageviews"),
    ("clickstream-connect-datagen", "clickstream-schema-registry-service"),
    ("clickstream-clickhouse-schema", "clickstream-clickhouse-installation"),
    ("clickstream-clickhouse-schema", "clickstream-kafka-topic-events"),
    # -> job
    ("clickstream-flink-deployment", "clickstream-connect-datagen"),
    ("clickstream-flink-deployment", "clickstream-kafka-topic-pageviews"),
    ("clickstream-flink-deployment", "clickstream-kafka-topic-malformed"),
    ("clickstream-flink-deployment", "clickstream-schema-registry-service"),
    ("clickstream-flink-deployment", "clickstream-clickhouse-schema"),
    ("clickstream-flink-deployment", "clickstream-flink-job-code"),
    ("clickstream-flink-deployment", "clickstream-flink-state"),
    ("clickstream-grafana-release", "clickstream-clickhouse-schema"),
    ("clickstream-grafana-release", "clickstream-grafana-secret-files"),
    ("clickstream-grafana-release", "clickstream-grafana-dashboards"),
])
def test_dependency_order_operator_cluster_topic_connector_job(program, dependent, dependency):
    assert program.depends_on(dependent, dependency), f"{dependent} does not wait for {dependency}"


def test_no_dependency_cycles(program):
    for r in program.resources:
        assert not program.depends_on(r.name, r.name), f"{r.name} depends on itself"


# --- one source of truth with the Docker platform ---------------------------------------------------

def test_the_connector_config_is_the_docker_platforms_dict(program, docker):
    spec = one(program, "KafkaConnector").inputs["spec"]
    reassembled = {**spec["config"], "connector.class": spec["class"], "tasks.max": str(int(spec["tasksMax"]))}
    docker_config = docker.named("clickstream-connect-datagen").inputs["config"]
    sr_url = program.stack_outputs["schemaRegistryUrl"]
    assert reassembled == {**docker_config, "value.converter.schema.registry.url": sr_url}
    assert reassembled == datagen_config(parse_config(K8S), Endpoints("", sr_url, ""))
    assert "connector.class" not in spec["config"] and "tasks.max" not in spec["config"], \
        "Strimzi refuses these inside config"
    assert one(program, "KafkaConnector").inputs["metadata"]["name"] == docker.named(
        "clickstream-connect-datagen").inputs["connector_name"]


def test_the_worker_gets_the_docker_workers_converters_and_both_plugins(program):
    spec = one(program, "KafkaConnect").inputs["spec"]
    assert one(program, "KafkaConnect").inputs["metadata"]["annotations"]["strimzi.io/use-connector-resources"] == "true"
    assert spec["config"]["value.converter"] == "io.confluent.connect.avro.AvroConverter"
    assert spec["config"]["value.converter.schema.registry.url"] == program.stack_outputs["schemaRegistryUrl"]
    assert spec["bootstrapServers"] == program.stack_outputs["kafkaBootstrap"]
    plugins = {p["name"]: p["artifacts"] for p in spec["build"]["plugins"]}
    assert plugins["kafka-connect-datagen"][0]["url"].endswith("/confluentinc-kafka-connect-datagen-0.6.5.zip")
    assert plugins["kafka-connect-avro-converter"][0]["url"].endswith("/confluentinc-kafka-connect-avro-converter-7.4.1.zip")
    image = spec["build"]["output"]["image"]
    assert image.startswith(f"{REGISTRY}/clickstreamer-connect:") and "0.6.5" in image and KAFKA_VERSION in image
    assert "image" not in spec


def test_the_migrations_are_the_docker_resource_over_the_same_files(program, docker):
    k8s_schema, docker_schema = program.named("clickstream-clickhouse-schema"), docker.named("clickstream-clickhouse-schema")
    assert k8s_schema.type == docker_schema.type == MIGRATIONS
    assert k8s_schema.inputs["migrations"] == docker_schema.inputs["migrations"]
    assert k8s_schema.inputs["schema_dir"] == docker_schema.inputs["schema_dir"] == str(REPO_ROOT / "clickhouse_schema")
    cfg = parse_config(K8S)
    assert k8s_schema.inputs["params"] == migration_params(cfg, Endpoints(program.stack_outputs["kafkaBootstrap"], "", ""))
    differing = {k for k in docker_schema.inputs["params"] if docker_schema.inputs["params"][k] != k8s_schema.inputs["params"][k]}
    assert differing == {"kafka_brokers"}
    assert k8s_schema.inputs["url"] == "http://127.0.0.1:18123", "by default through a kubectl port-forward"
    assert k8s_schema.inputs["database"] == docker_schema.inputs["database"]


def test_every_grafana_file_reaches_the_pod_where_docker_mounts_it(program, docker):
    docker_mounts = {Path(m["source"]).relative_to(REPO_ROOT / "grafana").as_posix(): m["target"]
                     for m in docker.named("clickstream-grafana-server").inputs["mounts"]}
    values = releases(program)["grafana"].inputs["values"]
    chart_mounts = {m["configMap"]: m for m in values["extraConfigmapMounts"]}
    assert len(chart_mounts) == len(docker_mounts) == 2
    for folder, target in docker_mounts.items():
        config_map = program.named(f"clickstream-grafana-{folder}").inputs
        mount = chart_mounts[config_map["metadata"]["name"]]
        assert mount["mountPath"] == target, folder
        assert "subPath" not in mount, f"{folder}: a subPath mount would not see file updates"
        mounted = {item["path"]: config_map.get("data", {})[item["key"]] for item in mount.get("items", [])}
        files = {p.relative_to(REPO_ROOT / "grafana" / folder).as_posix(): p.read_text()
                 for p in sorted((REPO_ROOT / "grafana" / folder).rglob("*")) if p.is_file()}
        assert mounted == files, f"grafana/{folder}: files and mounted content differ"
    unmounted = [p.relative_to(REPO_ROOT / "grafana").as_posix() for p in (REPO_ROOT / "grafana").rglob("*")
                 if p.is_file() and p.suffix != ".md" and p.relative_to(REPO_ROOT / "grafana").parts[0] not in docker_mounts]
    assert unmounted == [], f"grafana files that reach neither platform: {unmounted}"


def test_grafana_gets_the_docker_environment_with_in_cluster_clickhouse(program, docker):
    docker_env = dict(e.split("=", 1) for e in docker.named("clickstream-grafana-server").inputs["envs"])
    env = releases(program)["grafana"].inputs["values"]["env"]
    moved = {"GF_PATHS_PLUGINS"}  # set through grafana.ini: the chart derives it from there
    assert set(env) == set(docker_env) - moved
    differing = {k for k in env if env[k] != docker_env[k]}
    assert differing == {"CLICKHOUSE_HOST"}
    assert env["CLICKHOUSE_HOST"] == f"clickhouse-clickstream.{NS}.svc"


def test_every_secret_file_and_env_reference_of_the_provisioning_files_is_provided(program):
    values = releases(program)["grafana"].inputs["values"]
    secret = program.named("clickstream-grafana-secret-files")
    mount = next(m for m in values["extraSecretMounts"] if m["secretName"] == secret.inputs["metadata"]["name"])
    provided_files = {f"{mount['mountPath']}/{key}" for key in secret.revealed("stringData")}
    assert values["env"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] in provided_files
    text = "\n".join(p.read_text() for p in (REPO_ROOT / "grafana").rglob("*") if p.is_file())
    for name in re.findall(r"\$__env\{(\w+)\}", text):
        assert name in values["env"], f"grafana files read $__env{{{name}}}, which is not set"
    for path in re.findall(r"\$__file\{([^}]+)\}", text):
        assert path in provided_files, f"grafana files read $__file{{{path}}}, which is not mounted"


def test_a_baked_grafana_image_keeps_its_plugin_path():
    rec = build_program(k8s_config(grafanaImage=f"{REGISTRY}/grafana:11.1.1-clickhouse-4.14.1"))
    values = releases(rec)["grafana"].inputs["values"]
    assert values["image"] == {"registry": "registry.example.com", "repository": "clickstreamer/grafana",
                               "tag": "11.1.1-clickhouse-4.14.1"}
    assert values["plugins"] == []
    assert values["grafana.ini"]["paths"]["plugins"] == "/var/lib/grafana-plugins", \
        "the chart's GF_PATHS_PLUGINS would hide the baked plugin"


def test_without_a_baked_image_the_chart_installs_the_pinned_plugin(program):
    values = releases(program)["grafana"].inputs["values"]
    assert values["image"] == {"registry": "docker.io", "repository": "grafana/grafana", "tag": "11.1.1"}
    assert values["plugins"] == ["grafana-clickhouse-datasource 4.14.1"]


def test_the_flink_job_gets_the_docker_arguments_code_and_path(program, docker):
    spec = one(program, "FlinkDeployment").inputs["spec"]
    docker_job = docker.named("clickstream-flink-job").inputs
    args = spec["job"]["args"]
    assert args[:2] == ["-py", docker_job["job_path"]]
    cfg = parse_config(K8S)
    expected = job_arguments(cfg, Endpoints(program.stack_outputs["kafkaBootstrap"],
                                            program.stack_outputs["schemaRegistryUrl"], ""))
    assert args[2:] == expected
    docker_pairs, k8s_pairs = dict(zip(docker_job["args"][::2], docker_job["args"][1::2])), dict(zip(expected[::2], expected[1::2]))
    assert {k for k in k8s_pairs if k8s_pairs[k] != docker_pairs[k]} == {"--bootstrap-servers", "--schema-registry-url"}
    assert spec["job"]["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    assert spec["job"]["jarURI"] == "local:///opt/flink/opt/flink-python-1.20.3.jar"
    assert spec["flinkVersion"] == "v1_20" and spec["image"] == f"{REGISTRY}/flink:1.20.3-1"
    assert (spec["job"]["upgradeMode"], spec["job"]["state"]) == ("savepoint", "running")
    assert spec["job"]["parallelism"] == 2 and k8s_pairs["--parallelism"] == "2", "the operator's and the job's"


def test_the_job_code_is_an_immutable_config_map_mounted_at_the_docker_path(program):
    code = program.named("clickstream-flink-job-code")
    assert code.inputs["immutable"] is True, "a code change must make a new ConfigMap, hence a pod template change"
    assert "name" not in code.inputs["metadata"], "auto-named, so the replacement is created before the old one goes"
    files = {p.relative_to(REPO_ROOT / "flink_job").as_posix(): p.read_text()
             for p in sorted((REPO_ROOT / "flink_job").rglob("*.py")) if "__pycache__" not in p.parts}
    assert "job.py" in files
    template = one(program, "FlinkDeployment").inputs["spec"]["podTemplate"]
    volume = next(v for v in template["spec"]["volumes"] if v["name"] == "job-code")
    assert volume["configMap"]["name"].startswith("clickstream-flink-job-code-"), "the ConfigMap's generated name"
    mounted = {item["path"]: code.inputs["data"][item["key"]] for item in volume["configMap"]["items"]}
    assert mounted == files
    container = next(c for c in template["spec"]["containers"] if c["name"] == "flink-main-container")
    assert {"name": "job-code", "mountPath": "/opt/flink/usrlib/clickstream", "readOnly": True} in container["volumeMounts"]
    digest = hashlib.sha256(b"".join(rel.encode() + b"\0" + content.encode() + b"\0" for rel, content in files.items()))
    assert template["metadata"]["annotations"]["clickstreamer.io/job-code"] == digest.hexdigest()


def test_file_sets_keep_nested_paths_binary_files_and_change_with_any_file(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "top.yaml").write_text("x: 1\n")
    (tmp_path / "a" / "b" / "deep.json").write_text('{"k": "ü"}')
    (tmp_path / "a" / "logo.png").write_bytes(b"\x89PNG\xff\x00")
    before = file_set(tmp_path)
    assert before.paths == ["a/b/deep.json", "a/logo.png", "top.yaml"]
    assert {i["key"] for i in before.items} == set(before.data) | set(before.binary_data)
    assert before.data["a.b.deep.json"] == '{"k": "ü"}' and before.binary_data["a.logo.png"] == "iVBOR/8A"
    (tmp_path / "a" / "b" / "deep.json").write_text('{"k": "v"}')
    assert file_set(tmp_path).digest != before.digest


def test_checkpoints_and_savepoints_live_on_the_shared_volume_by_default(program):
    spec = one(program, "FlinkDeployment").inputs["spec"]
    conf = spec["flinkConfiguration"]
    assert all(isinstance(v, str) for v in conf.values()), "flinkConfiguration is a map of strings"
    assert conf["state.checkpoints.dir"] == "file:///opt/flink/data/checkpoints"
    assert conf["state.savepoints.dir"] == "file:///opt/flink/data/savepoints"
    assert conf["high-availability.type"] == "kubernetes"
    assert conf["taskmanager.numberOfTaskSlots"] == "2"
    # The job's own settings: set by the job from its arguments, never by the cluster too.
    assert not {"parallelism.default", "execution.checkpointing.interval",
                "execution.checkpointing.externalized-checkpoint-retention"} & set(conf)
    claim = program.named("clickstream-flink-state").inputs["spec"]
    assert claim["accessModes"] == ["ReadWriteMany"] and claim["resources"]["requests"]["storage"] == "10Gi"
    mounts = spec["podTemplate"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "flink-state", "mountPath": "/opt/flink/data"} in mounts
    assert "replicas" not in spec["taskManager"], "the operator lets replicas override the job's parallelism"


def test_an_object_store_state_dir_replaces_the_volume():
    rec = build_program(k8s_config(flinkStateDir="s3://bucket/clickstream/"))
    assert not rec.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    spec = one(rec, "FlinkDeployment").inputs["spec"]
    assert spec["flinkConfiguration"]["state.savepoints.dir"] == "s3://bucket/clickstream/savepoints"
    assert spec["flinkConfiguration"]["high-availability.storageDir"] == "s3://bucket/clickstream/ha"
    env = spec["podTemplate"]["spec"]["containers"][0]["env"]
    assert {"name": "ENABLE_BUILT_IN_PLUGINS", "value": "flink-s3-fs-presto-1.20.3.jar"} in env


def test_a_suspended_job_is_awaited_as_suspended():
    deployment = one(build_program(k8s_config(flinkJobState="suspended")), "FlinkDeployment").inputs
    assert deployment["spec"]["job"]["state"] == "suspended"
    assert deployment["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.lifecycleState}=SUSPENDED"


def test_schema_registry_runs_the_docker_image_without_its_kubernetes_traps(program, docker):
    pod = program.named("clickstream-schema-registry-deployment").inputs["spec"]["template"]["spec"]
    assert pod["enableServiceLinks"] is False, "a `schema-registry` Service would inject SCHEMA_REGISTRY_PORT"
    container = pod["containers"][0]
    assert container["image"] == parse_config(K8S).images.schema_registry == "confluentinc/cp-schema-registry:7.4.1"
    env = {e["name"]: e for e in container["env"]}
    docker_env = {e.split("=", 1)[0] for e in docker.named("clickstream-schema-registry-server").inputs["envs"]}
    assert docker_env <= set(env), f"missing: {docker_env - set(env)}"
    assert "SCHEMA_REGISTRY_PORT" not in env
    assert env["SCHEMA_REGISTRY_HOST_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"]["value"] == f"PLAINTEXT://{program.stack_outputs['kafkaBootstrap']}"
    assert env["SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR"]["value"] == "3"
    assert container["readinessProbe"]["httpGet"]["path"] == "/subjects"


# --- secrets ------------------------------------------------------------------------------------------

PASSWORD_NAMES = ("clickstream-clickhouse-password", "clickstream-clickhouse-reader-password",
                  "clickstream-grafana-admin-password")


def _sensitive(passwords):
    return [*passwords, *(hashlib.sha256(p.encode()).hexdigest() for p in passwords)]


def _carriers(rec: Recording, needles) -> set[str]:
    """Resources whose inputs hold any of `needles` (secret or not)."""
    found = set()
    for r in rec.resources:
        text = repr({key: r.revealed(key) for key in r.raw_inputs})
        if any(n in text for n in needles):
            found.add(r.name)
    return found


def test_every_password_and_its_hash_is_secret_everywhere(program):
    sensitive = _sensitive([generated_password(n) for n in PASSWORD_NAMES])
    for r in program.resources:
        for text in plain_strings(r.raw_inputs):
            for value in sensitive:
                assert value not in text, f"{r.name} carries a password (or its hash) outside a secret"
    assert _carriers(program, sensitive) == {
        "clickstream-clickhouse-credentials", "clickstream-grafana-secret-files", "clickstream-clickhouse-schema"}
    for name in ("clickstream-clickhouse-credentials", "clickstream-grafana-secret-files"):
        secret = program.named(name)
        assert secret.type == SECRET
        covered = secret.secret_paths()
        for key in secret.revealed("stringData"):
            assert any(f"stringData.{key}".startswith(path) for path in covered), f"{name}: {key} is not secret"
    assert "password" in program.named("clickstream-clickhouse-schema").secret_paths()
    assert {"grafanaAdminPassword", "clickhousePassword", "clickhouseReaderPassword"} <= program.secret_outputs


def _leaf_paths(element, parents=()):
    """Every leaf element of `element` with the elements above it (not `element` itself)."""
    for child in element:
        if len(child):
            yield from _leaf_paths(child, (*parents, child))
        else:
            yield (*parents, child)


def test_clickhouse_users_reference_the_secret_by_key(program):
    users = one(program, "ClickHouseInstallation").inputs["spec"]["configuration"]["users"]
    secret = program.named("clickstream-clickhouse-credentials")
    keys = secret.revealed("stringData")
    for user, password in (("clickstream", "clickstream-clickhouse-password"),
                           ("grafana_reader", "clickstream-clickhouse-reader-password")):
        ref = users[f"{user}/password_sha256_hex"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret.inputs["metadata"]["name"]
        assert keys[ref["key"]] == hashlib.sha256(generated_password(password).encode()).hexdigest()
        assert users[f"{user}/networks/ip"] == ["::/0"], f"{user}: the operator limits users to its pods by default"
    assert users["grafana_reader/profile"] == "dashboards_readonly"
    assert users["grafana_reader/grants/query"] == ["GRANT SELECT ON clickstream.*"]
    profiles = one(program, "ClickHouseInstallation").inputs["spec"]["configuration"]["profiles"]
    # The same profile as the Docker users file: read-only, and the bounds on the settings the
    # Grafana plugin may send per query (without them the reader could lift its own time and
    # memory limits).
    assert profiles == {
        "dashboards_readonly/readonly": 1,
        "dashboards_readonly/max_execution_time": 60,
        "dashboards_readonly/constraints/max_execution_time/max": 300,
        "dashboards_readonly/constraints/max_execution_time/changeable_in_readonly": "",
        "dashboards_readonly/constraints/max_memory_usage/max": 4_000_000_000,
    }
    docker_profile = ET.fromstring(users_xml("clickstream", "clickstream", "grafana_reader")) \
        .find("profiles/grafana_reader_profile")
    assert {k.replace("dashboards_readonly/", "", 1): v for k, v in profiles.items()} == {
        "/".join(e.tag for e in path): int(path[-1].text) if path[-1].text else "" for path in _leaf_paths(docker_profile)}
    assert not any("password" in k and "sha256" not in k for k in users), "only hashes, by reference"
    # The reader's quota: the Docker users file's, by the same definition.
    assert users["grafana_reader/quota"] == "dashboards_quota"
    quotas = one(program, "ClickHouseInstallation").inputs["spec"]["configuration"]["quotas"]
    docker_quota = ET.fromstring(users_xml("clickstream", "clickstream", "grafana_reader")).find("quotas/grafana_reader_quota")
    assert {k.replace("dashboards_quota/", "", 1): v for k, v in quotas.items()} == {
        "/".join(e.tag for e in path): int(path[-1].text) for path in _leaf_paths(docker_quota)}


def test_grafana_reads_its_passwords_from_the_mounted_secret(program):
    values = releases(program)["grafana"].inputs["values"]
    files = program.named("clickstream-grafana-secret-files").revealed("stringData")
    assert files == {"grafana_admin_password": generated_password("clickstream-grafana-admin-password"),
                     "clickhouse_reader_password": generated_password("clickstream-clickhouse-reader-password"),
                     "grafana_secret_key": generated_password("clickstream-grafana-secret-key")}
    assert values["env"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert values["env"]["GF_SECURITY_SECRET_KEY__FILE"] == "/run/secrets/grafana_secret_key", \
        "Grafana's default secret_key is public"
    assert "adminPassword" not in values and "admin" not in values, "the chart would render its own password Secret"
    assert [m["mountPath"] for m in values["extraSecretMounts"]] == ["/run/secrets"]


def test_given_passwords_are_used_and_stay_secret():
    given = {"clickhousePassword": "owner-pass-1234567", "grafanaAdminPassword": "admin-pass-1234567"}
    rec = build_program(K8S, secrets=given)
    assert {r.name for r in rec.of_type("random:index/randomPassword:RandomPassword")} == {
        "clickstream-clickhouse-reader-password", "clickstream-grafana-secret-key"}
    assert rec.stack_outputs["clickhousePassword"] == "owner-pass-1234567"
    assert {"clickhousePassword", "grafanaAdminPassword"} <= rec.secret_outputs
    for r in rec.resources:
        for text in plain_strings(r.raw_inputs):
            for value in _sensitive(given.values()):
                assert value not in text, r.name


# --- outputs ------------------------------------------------------------------------------------------

def test_both_platforms_export_the_same_keys(program, docker):
    assert tuple(program.stack_outputs) == tuple(docker.stack_outputs) == OUTPUT_KEYS


def test_outputs_are_in_cluster_addresses_and_the_operators_view(program):
    out = program.stack_outputs
    assert out["grafanaUrl"] == f"http://grafana.{NS}.svc:80"
    assert out["flinkUrl"] == f"http://clickstream-insights-rest.{NS}.svc:8081"
    assert out["connectUrl"] == f"http://clickstream-connect-api.{NS}.svc:8083"
    assert out["schemaRegistryUrl"] == f"http://schema-registry.{NS}.svc:8081"
    assert out["clickhouseUrl"] == f"http://clickhouse-clickstream.{NS}.svc:8123"
    assert out["kafkaBootstrap"] == f"clickstream-kafka-bootstrap.{NS}.svc:9092"
    assert out["flinkJobId"] == FLINK_JOB_ID and out["flinkLastSavepoint"] == FLINK_SAVEPOINT
    assert out["schemaVersion"] == "000"  # the mocked migrations resource's version output
    assert (out["clickhouseUser"], out["clickhouseReaderUser"], out["grafanaAdminUser"]) == (
        "clickstream", "grafana_reader", "admin")


# --- scale and placement settings -------------------------------------------------------------------

def test_scale_settings_reach_the_specs():
    rec = build_program(k8s_config(
        kafkaReplicas=5, kafkaControllerReplicas=3, storageClass="fast-ssd", kafkaStorageSize="500Gi",
        kafkaCpu="4", kafkaMemory="16Gi", clickhouseStorageSize="2Ti", clickhouseCpu="8", clickhouseMemory="64Gi",
        connectReplicas=3, schemaRegistryReplicas=2, flinkTaskmanagerCpu="2500m", grafanaStorageSize="5Gi",
        flinkStorageSize="100Gi",
        _kafka={"pageviewsPartitions": 24, "insightPartitions": 12, "heap": "6g"},
        _flink={"parallelism": 16, "slotsPerTaskmanager": 4, "taskmanagerMemory": "8g"},
        _datagen={"tasksMax": 6},
    ))
    pools = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in of_kind(rec, "KafkaNodePool")}
    assert (pools["controllers"]["roles"], pools["controllers"]["replicas"]) == (["controller"], 3)
    assert (pools["brokers"]["roles"], pools["brokers"]["replicas"]) == (["broker"], 5)
    broker_disk = pools["brokers"]["storage"]["volumes"][0]
    assert (broker_disk["size"], broker_disk["class"], broker_disk["deleteClaim"]) == ("500Gi", "fast-ssd", False)
    assert pools["brokers"]["resources"] == {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"memory": "16Gi"}}
    assert pools["brokers"]["jvmOptions"] == {"-Xms": "6g", "-Xmx": "6g"}
    topics = {r.inputs["spec"]["topicName"]: r.inputs["spec"] for r in of_kind(rec, "KafkaTopic")}
    assert (topics["pageviews"]["partitions"], topics["pageviews"]["replicas"]) == (24, 3)
    assert all(topics[t]["partitions"] == 12 for t in INSIGHT_TOPICS.values())
    assert one(rec, "KafkaConnect").inputs["spec"]["replicas"] == 3
    assert one(rec, "KafkaConnector").inputs["spec"]["tasksMax"] == 6
    assert rec.named("clickstream-schema-registry-deployment").inputs["spec"]["replicas"] == 2
    flink = one(rec, "FlinkDeployment").inputs["spec"]
    assert flink["job"]["parallelism"] == 16 and flink["flinkConfiguration"]["taskmanager.numberOfTaskSlots"] == "4"
    assert flink["taskManager"]["resource"] == {"cpu": 2.5, "memory": "8g"}
    assert rec.named("clickstream-flink-state").inputs["spec"]["storageClassName"] == "fast-ssd"
    chi = one(rec, "ClickHouseInstallation").inputs["spec"]["templates"]
    assert chi["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast-ssd"
    assert chi["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "2Ti"
    assert chi["podTemplates"][0]["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "8", "memory": "64Gi"}
    persistence = releases(rec)["grafana"].inputs["values"]["persistence"]
    assert (persistence["size"], persistence["storageClassName"]) == ("5Gi", "fast-ssd")


def test_a_single_broker_cluster_uses_replication_factor_one():
    rec = build_program(k8s_config(kafkaReplicas=1))
    config = one(rec, "Kafka").inputs["spec"]["kafka"]["config"]
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == (1, 1)
    assert all(t.inputs["spec"]["replicas"] == 1 for t in of_kind(rec, "KafkaTopic"))
    env = {e["name"]: e.get("value") for e in rec.named("clickstream-schema-registry-deployment").inputs[
        "spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR"] == "1"


def test_a_prebuilt_connect_image_replaces_the_build():
    rec = build_program(k8s_config(connectImage=f"{REGISTRY}/connect-strimzi:0.45.0-datagen-0.6.5",
                                   connectBuildRegistry=""))
    spec = one(rec, "KafkaConnect").inputs["spec"]
    assert spec["image"] == f"{REGISTRY}/connect-strimzi:0.45.0-datagen-0.6.5" and "build" not in spec


def test_the_build_pushes_with_the_configured_secret():
    spec = one(build_program(k8s_config(connectPushSecret="registry-push")), "KafkaConnect").inputs["spec"]
    assert spec["build"]["output"]["pushSecret"] == "registry-push"


def test_a_configured_clickhouse_url_replaces_the_load_balancer():
    rec = build_program(k8s_config(clickhouseUrl="https://clickhouse.example.com:8443"))
    assert "clickstream-clickhouse-external" not in {r.name for r in rec.resources}
    assert rec.named("clickstream-clickhouse-schema").inputs["url"] == "https://clickhouse.example.com:8443"


def test_nothing_is_exposed_by_default(program):
    assert not [r.name for r in program.of_type(SERVICE) if r.inputs["spec"].get("type") in ("LoadBalancer", "NodePort")]
    assert program.stack_outputs["exposed"] == {}


def test_a_load_balancer_only_when_asked_and_narrowed_to_the_configured_ranges():
    rec = build_program(k8s_config(clickhouseLoadBalancer=True,
                                   clickhouseLoadBalancerSourceRanges="203.0.113.0/24, 198.51.100.7/32"))
    spec = rec.named("clickstream-clickhouse-external").inputs["spec"]
    assert spec["type"] == "LoadBalancer"
    assert spec["loadBalancerSourceRanges"] == ["203.0.113.0/24", "198.51.100.7/32"]
    assert spec["selector"] == {"clickhouse.altinity.com/chi": "clickstream"}
    assert rec.named("clickstream-clickhouse-schema").inputs["url"] == f"http://{LOAD_BALANCER_IP}:8123"
    assert rec.depends_on("clickstream-clickhouse-schema", "clickstream-clickhouse-external")
    assert rec.stack_outputs["exposed"] == {"clickhouseHttp": f"http://{LOAD_BALANCER_IP}:8123"}


def test_the_namespace_is_closed_to_all_but_its_own_pods_and_the_operators(program):
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in program.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert policies["clickstreamer-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    assert policies["clickstreamer-within-namespace"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert policies["clickstreamer-from-operators"]["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": OPS_NS}}}]}]
    assert set(policies) == {"clickstreamer-default-deny", "clickstreamer-within-namespace", "clickstreamer-from-operators"}
    assert all(r.inputs["metadata"]["namespace"] == NS for r in program.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"))
    lb = build_program(k8s_config(clickhouseLoadBalancer=True, clickhouseLoadBalancerSourceRanges="203.0.113.0/24"))
    opened = lb.named("clickstream-network-clickhouse-load-balancer").inputs["spec"]
    assert opened["podSelector"] == {"matchLabels": {"clickhouse.altinity.com/chi": "clickstream"}}
    assert opened["ingress"] == [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"protocol": "TCP", "port": 8123}]}]


def test_every_pod_this_project_writes_meets_the_restricted_standard(program):
    def check(pod_spec: dict, containers: list, where: str) -> None:
        pod = pod_spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in containers:
            c = container["securityContext"]
            assert c["allowPrivilegeEscalation"] is False and c["capabilities"] == {"drop": ["ALL"]}, where

    registry = program.named("clickstream-schema-registry-deployment").inputs["spec"]["template"]["spec"]
    check(registry, registry["containers"], "schema registry")
    flink = one(program, "FlinkDeployment").inputs["spec"]["podTemplate"]["spec"]
    check(flink, flink["containers"], "flink")
    chi = one(program, "ClickHouseInstallation").inputs["spec"]["templates"]["podTemplates"][0]["spec"]
    check(chi, chi["containers"], "clickhouse")
    grafana = releases(program)["grafana"].inputs["values"]
    check({"securityContext": grafana["securityContext"]}, [{"securityContext": grafana["containerSecurityContext"]}],
          "grafana")
    assert grafana["initChownData"] == {"enabled": False}, "the chart's chown init container runs as root"
    strimzi = releases(program)["strimzi-kafka-operator"].inputs["values"]
    assert "extraEnvs" not in strimzi, "Strimzi's restricted provider refuses the in-cluster Connect build"
    prebuilt = build_program(k8s_config(connectImage=f"{REGISTRY}/connect:0.45.0-datagen-0.6.5", connectBuildRegistry=""))
    assert releases(prebuilt)["strimzi-kafka-operator"].inputs["values"]["extraEnvs"] == [
        {"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"}]


def test_a_load_balancer_without_source_ranges_is_refused():
    with pytest.raises(ConfigError) as caught:
        parse_config(k8s_config(clickhouseLoadBalancer=True))
    assert "clickstreamer:kubernetes.clickhouseLoadBalancerSourceRanges = '': is required" in str(caught.value)


def test_existing_namespaces_are_used_as_they_are():
    rec = build_program(k8s_config(createNamespaces=False, namespace="analytics", operatorsNamespace="operators"))
    assert not rec.of_type(NAMESPACE)
    assert {r.inputs["namespace"] for r in rec.of_type(RELEASE)} == {"analytics", "operators"}
    assert all(r.inputs["metadata"]["namespace"] == "analytics" for r in custom_resources(rec))
    assert rec.stack_outputs["kafkaBootstrap"] == "clickstream-kafka-bootstrap.analytics.svc:9092"


def test_the_docker_platform_registers_no_kubernetes_resource(docker):
    assert not [r.name for r in docker.resources if r.type.startswith("kubernetes:")]


# --- config validation of the Kubernetes keys --------------------------------------------------------

BAD_K8S = [
    ({"operatorsNamespace": NS}, "kubernetes.operatorsNamespace", "must differ from kubernetes.namespace"),
    ({"kafkaControllerReplicas": 2}, "kubernetes.kafkaControllerReplicas", "odd number"),
    ({"kafkaMemory": "1Gi"}, "kubernetes.kafkaMemory", "512Mi above kafka.heap = 1g"),
    ({"kafkaCpu": "0m"}, "kubernetes.kafkaCpu", "above 0"),
    ({"clickhouseMemory": "4GB"}, "kubernetes.clickhouseMemory", "768Mi or 4Gi"),
    ({"connectReplicas": 0}, "kubernetes.connectReplicas", "between 1 and 20"),
    ({"connectImage": "quay.io/x/connect:latest"}, "kubernetes.connectImage", "moving tags"),
    ({"connectBuildRegistry": "registry.example.com/team/image:tag"}, "kubernetes.connectBuildRegistry", "without a tag"),
    ({"grafanaImage": "grafana"}, "kubernetes.grafanaImage", "pinned to a release tag"),
    ({"clickhouseUrl": "clickhouse:8123"}, "kubernetes.clickhouseUrl", "http(s)://host[:port]"),
    ({"clickhouseLoadBalancerSourceRanges": "10.0.0.0/8,office"}, "kubernetes.clickhouseLoadBalancerSourceRanges",
     "'office' is not a CIDR"),
    ({"flinkStateDir": "/mnt/flink"}, "kubernetes.flinkStateDir", "s3, s3a"),
    ({"flinkStorageAccessMode": "ReadOnlyMany"}, "kubernetes.flinkStorageAccessMode", "ReadWriteMany, ReadWriteOnce"),
    ({"flinkJobState": "stopped"}, "kubernetes.flinkJobState", "running, suspended"),
    ({"createNamespaces": "sometimes"}, "kubernetes.createNamespaces", "true or false"),
    ({"connectBuildRegistry": ""}, "kubernetes.connectImage", "kubernetes.connectBuildRegistry for Strimzi"),
]


@pytest.mark.parametrize("overrides, key, allowed", BAD_K8S, ids=[c[1] for c in BAD_K8S])
def test_bad_kubernetes_config_fails_before_any_resource_naming_the_key(overrides, key, allowed):
    recording = Recording()
    with pytest.raises(Exception) as caught:
        build_program(k8s_config(**overrides), recording=recording)
    lines = [line for line in str(caught.value).splitlines() if f"clickstreamer:{key} = " in line]
    assert lines, f"{key} not named in:\n{caught.value}"
    assert allowed in lines[0], lines[0]
    assert recording.resources == []


def test_kubernetes_keys_are_refused_on_docker_rather_than_ignored():
    with pytest.raises(ConfigError) as caught:
        parse_config({"kubernetes": {"kafkaMemory": "1Gi"}})
    assert caught.value.problems == ["clickstreamer:kubernetes = {'kafkaMemory': '1Gi'}: is read on the kubernetes "
                                     "platform only; remove it for platform docker"]


def test_the_defaults_of_the_kubernetes_keys_are_valid_and_kept():
    cfg = parse_config(K8S).kubernetes
    assert (cfg.namespace, cfg.operators_namespace, cfg.kafka_replicas, cfg.kafka_storage_size) == (
        NS, OPS_NS, 3, "20Gi")
    assert (cfg.create_namespaces, cfg.kafka_controller_replicas, cfg.flink_storage_access_mode, cfg.flink_job_state) == (
        True, 0, "ReadWriteMany", "running")
    with pytest.raises(ConfigError):
        parse_config({"platform": "kubernetes"})


def test_the_crd_files_are_fetched_not_committed():
    tracked = [p for p in (REPO_ROOT / "tests").rglob("*") if p.suffix in (".yaml", ".yml") and "Crd" in p.name]
    assert tracked == []
    docs = list(yaml.safe_load_all((crd_folder() / "04A-Crd-kafkanodepool.yaml").read_text()))
    assert docs[0]["metadata"]["name"] == "kafkanodepools.kafka.strimzi.io"


@pytest.mark.parametrize("drop", [False, True])
def test_destroy_keeps_every_volume_and_topic_unless_asked(drop):
    rec = build_program({**k8s_config(), "dropDataOnDestroy": drop})
    keep = not drop
    assert rec.named("clickstream-namespace").retain_on_delete is keep, "a deleted namespace deletes its volumes"
    assert rec.named("clickstream-flink-state").retain_on_delete is keep
    assert all(t.retain_on_delete is keep for t in of_kind(rec, "KafkaTopic")), "the topic operator deletes topics"
    assert all(v["deleteClaim"] is drop for pool in of_kind(rec, "KafkaNodePool")
               for v in pool.inputs["spec"]["storage"]["volumes"])
    claim = one(rec, "ClickHouseInstallation").inputs["spec"]["templates"]["volumeClaimTemplates"][0]
    assert claim["reclaimPolicy"] == ("Delete" if drop else "Retain")
    persistence = releases(rec)["grafana"].inputs["values"]["persistence"]
    assert persistence.get("annotations") == (None if drop else {"helm.sh/resource-policy": "keep"})
    assert rec.named("clickstream-clickhouse-schema").inputs["drop_on_destroy"] is drop


# --- the website collector --------------------------------------------------------------------------

COLLECTOR_IMAGE = f"{REGISTRY}/collector:0.1.0"


@pytest.fixture(scope="module")
def with_collector() -> Recording:
    return build_program(k8s_config(collectorImage=COLLECTOR_IMAGE, collectorReplicas=3))


def test_without_a_collector_image_no_website_side_is_deployed(program):
    assert not [r.name for r in program.resources if "collector" in r.name]
    assert program.stack_outputs["collectorUrl"] == "" and program.stack_outputs["demoSiteUrl"] == ""


def test_the_collector_runs_its_image_with_the_docker_settings_in_cluster(with_collector, docker, crds):
    from collector.settings import from_env

    deployment = with_collector.named("clickstream-collector-deployment")
    spec = deployment.inputs["spec"]
    pod = spec["template"]["spec"]
    assert validate(pod, pod_schema(crds), ".template.spec") == []
    assert spec["replicas"] == 3 and pod["enableServiceLinks"] is False
    container = pod["containers"][0]
    assert container["image"] == COLLECTOR_IMAGE
    env = {item["name"]: item["value"] for item in container["env"]}
    settings = from_env(env)
    assert settings.bootstrap_servers == with_collector.stack_outputs["kafkaBootstrap"]
    assert settings.schema_registry_url == with_collector.stack_outputs["schemaRegistryUrl"]
    docker_env = dict(item.split("=", 1) for item in docker.named("clickstream-collector-server").inputs["envs"])
    differing = {k for k in env if env[k] != docker_env.get(k)}
    assert differing == {"COLLECTOR_BOOTSTRAP_SERVERS", "COLLECTOR_SCHEMA_REGISTRY_URL"}, \
        "only the endpoints may differ from the Docker platform's settings"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["runAsNonRoot"] is True


def test_the_schema_is_registered_before_the_collector_starts(with_collector):
    pod = with_collector.named("clickstream-collector-deployment").inputs["spec"]["template"]["spec"]
    init = pod["initContainers"][0]
    assert init["image"] == COLLECTOR_IMAGE
    assert init["command"] == ["python", "-m", "collector.register",
                               with_collector.stack_outputs["schemaRegistryUrl"], "pageviews-value"]
    assert with_collector.depends_on("clickstream-collector-deployment", "clickstream-schema-registry-deployment")
    assert with_collector.depends_on("clickstream-collector-deployment", "clickstream-kafka-topic-pageviews")


def test_the_collector_service_and_urls(with_collector):
    service = with_collector.named("clickstream-collector-service")
    assert service.inputs["spec"]["ports"][0]["port"] == 8090
    assert with_collector.stack_outputs["collectorUrl"] == f"http://collector.{NS}.svc:8090"
    assert with_collector.stack_outputs["demoSiteUrl"] == f"http://collector.{NS}.svc:8090/demo/"


def test_the_collector_pods_meet_the_restricted_standard_too(with_collector):
    spec = with_collector.named("clickstream-collector-deployment").inputs["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 65534
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in [*spec["initContainers"], *spec["containers"]]:
        c = container["securityContext"]
        assert c["allowPrivilegeEscalation"] is False and c["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert c["seccompProfile"] == {"type": "RuntimeDefault"} and c["readOnlyRootFilesystem"] is True
