"""The whole program on the Docker platform, built under Pulumi's mocks: services, image contracts,
published ports, health-gated ordering, secrets and outputs. Each test builds the program fresh."""
from __future__ import annotations

import re

import pytest

from components.spec import OUTPUT_KEYS
from tests.unit.harness import (Recording, build_program, built_image_id, generated_password, plain_strings,
                                 pulled_image_id)

CONTAINER = "docker:index/container:Container"


@pytest.fixture(scope="module")
def program() -> Recording:
    return build_program()


def env_of(container) -> dict[str, str]:
    return dict(item.split("=", 1) for item in container.revealed("envs") or [])


def image_name_of(rec: Recording, container) -> str:
    """The image reference a container runs: pulled (RemoteImage) or built FROM a base (Image)."""
    image_id = container.inputs["image"]
    for r in rec.of_type("docker:index/remoteImage:RemoteImage"):
        if image_id == pulled_image_id(r.inputs["name"]):
            return r.inputs["name"]
    for r in rec.of_type("docker:index/image:Image"):
        if image_id == built_image_id(r.name):
            args = r.inputs["build"]["args"]
            return next(v for k, v in args.items() if k.endswith(("_BASE", "_IMAGE")))
    raise AssertionError(f"{container.name}: image {image_id} comes from no image resource")


def test_every_service_runs_its_pinned_image(program):
    expected = {
        "clickstream-kafka-broker": "confluentinc/cp-kafka:7.4.1",
        "clickstream-schema-registry-server": "confluentinc/cp-schema-registry:7.4.1",
        "clickstream-connect-worker": "confluentinc/cp-kafka-connect:7.4.1",
        "clickstream-clickhouse-server": "clickhouse/clickhouse-server:24.7.3",
        "clickstream-flink-jobmanager": "flink:1.20.3-scala_2.12-java17",
        "clickstream-flink-taskmanager-0": "flink:1.20.3-scala_2.12-java17",
        "clickstream-grafana-server": "grafana/grafana:11.1.1",
        "clickstream-collector-server": "python:3.11.11-slim-bookworm",
    }
    containers = {c.name: c for c in program.of_type(CONTAINER)}
    assert set(containers) == set(expected), f"containers: {sorted(containers)}"
    for name, image in expected.items():
        assert image_name_of(program, containers[name]) == image, name


def test_built_images_pin_their_additions(program):
    images = {r.name: r.inputs for r in program.of_type("docker:index/image:Image")}
    assert images["clickstream-connect-image"]["build"]["args"]["DATAGEN_VERSION"] == "0.6.5"
    assert images["clickstream-grafana-image"]["build"]["args"]["CLICKHOUSE_PLUGIN_VERSION"] == "4.14.1"
    for name, inputs in images.items():
        assert inputs["skipPush"] is True, f"{name} would be pushed to a registry"
        assert not inputs["imageName"].endswith(":latest"), name


def test_data_lives_in_named_volumes(program):
    volumes = {r.name for r in program.of_type("docker:index/volume:Volume")}
    assert volumes == {"clickstream-kafka-data", "clickstream-clickhouse-data", "clickstream-grafana-data",
                       "clickstream-flink-data"}
    mounts = {
        "clickstream-kafka-broker": "/var/lib/kafka/data",
        "clickstream-clickhouse-server": "/var/lib/clickhouse",
        "clickstream-grafana-server": "/var/lib/grafana",
    }
    for name, path in mounts.items():
        volumes_in = program.named(name).inputs.get("volumes", [])
        assert [v["containerPath"] for v in volumes_in] == [path], name
    for name in ("clickstream-flink-jobmanager", "clickstream-flink-taskmanager-0"):
        targets = {m["target"]: m["type"] for m in program.named(name).inputs["mounts"]}
        assert targets["/opt/flink/data"] == "volume", f"{name}: checkpoints/savepoints not on the shared volume"


def test_kafka_env_is_a_valid_single_node_kraft_broker(program):
    env = env_of(program.named("clickstream-kafka-broker"))
    for key in ("KAFKA_PROCESS_ROLES", "KAFKA_NODE_ID", "CLUSTER_ID", "KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS",
                "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_CONTROLLER_LISTENER_NAMES", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"):
        assert env.get(key), f"kafka: {key} is required by cp-kafka in KRaft mode"
    for refused in ("KAFKA_ADVERTISED_PORT", "KAFKA_ADVERTISED_HOST", "KAFKA_HOST", "KAFKA_PORT", "KAFKA_ZOOKEEPER_CONNECT"):
        assert refused not in env, f"kafka: cp-kafka's configure exits when {refused} is set"
    listeners = dict(item.split("://") for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in listeners, "kafka: the controller listener must be listened on"
    assert controller not in advertised, "kafka: a KRaft broker must not advertise its controller listener"
    assert set(listeners) <= set(protocols), "kafka: every listener needs a security protocol"
    assert set(advertised) <= set(listeners), "kafka: every advertised listener must be listened on"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    assert advertised["PLAINTEXT"] == "kafka:29092", "kafka: containers reach the broker as kafka:29092"
    assert advertised["PLAINTEXT_HOST"] == "127.0.0.1:9092", "kafka: host clients use the published port"
    node_id = env["KAFKA_NODE_ID"]
    voter_host_port = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")
    assert voter_host_port[0] == node_id and voter_host_port[1].endswith(listeners[controller].split(":")[-1])
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"])
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert env[key] == "1", f"kafka: {key} must be 1 on a single broker"
    assert program.named("clickstream-kafka-broker").inputs["hostname"] == "kafka"


def test_schema_registry_and_connect_env_satisfy_their_images(program):
    sr = env_of(program.named("clickstream-schema-registry-server"))
    assert sr["SCHEMA_REGISTRY_HOST_NAME"] and sr["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"].endswith("kafka:29092")
    assert "SCHEMA_REGISTRY_PORT" not in sr, "schema registry: the image exits when SCHEMA_REGISTRY_PORT is set"

    connect = env_of(program.named("clickstream-connect-worker"))
    for key in ("CONNECT_BOOTSTRAP_SERVERS", "CONNECT_GROUP_ID", "CONNECT_CONFIG_STORAGE_TOPIC",
                "CONNECT_OFFSET_STORAGE_TOPIC", "CONNECT_STATUS_STORAGE_TOPIC", "CONNECT_KEY_CONVERTER",
                "CONNECT_VALUE_CONVERTER", "CONNECT_REST_ADVERTISED_HOST_NAME"):
        assert connect.get(key), f"connect: {key} is required by cp-kafka-connect"
    assert connect["CONNECT_VALUE_CONVERTER"] == "io.confluent.connect.avro.AvroConverter"
    assert connect["CONNECT_VALUE_CONVERTER_SCHEMA_REGISTRY_URL"] == "http://schema-registry:8081"
    assert connect["CONNECT_KEY_CONVERTER"] == "org.apache.kafka.connect.storage.StringConverter"
    assert "/usr/share/confluent-hub-components" in connect["CONNECT_PLUGIN_PATH"].split(",")
    for key in ("CONNECT_CONFIG_STORAGE_REPLICATION_FACTOR", "CONNECT_OFFSET_STORAGE_REPLICATION_FACTOR",
                "CONNECT_STATUS_STORAGE_REPLICATION_FACTOR"):
        assert connect[key] == "1", f"connect: {key} must be 1 on a single broker"
    worker = program.named("clickstream-connect-worker")
    assert worker.inputs["hostname"] == connect["CONNECT_REST_ADVERTISED_HOST_NAME"], \
        "connect: the image healthcheck curls the advertised host name from inside the container"


def test_flink_properties_survive_the_1_20_entrypoint(program):
    jm = program.named("clickstream-flink-jobmanager")
    props = env_of(jm)["FLINK_PROPERTIES"].splitlines()
    parsed = {}
    for line in props:
        key, value = line.split(": ", 1)
        assert not re.search(r"\s", value), f"flink: {key} has whitespace, which the 1.20 entrypoint strips"
        parsed[key] = value
    assert parsed["jobmanager.rpc.address"] == jm.inputs["hostname"]
    assert parsed["state.checkpoint-storage"] == "filesystem", "stop-with-savepoint needs filesystem storage"
    assert parsed["state.savepoints.dir"].startswith("file:///opt/flink/data/")
    assert parsed["taskmanager.numberOfTaskSlots"] == "2"
    # The job's own settings: set by the job from its arguments, never by the cluster too.
    assert not {"parallelism.default", "execution.checkpointing.interval"} & set(parsed)
    tm = program.named("clickstream-flink-taskmanager-0")
    assert env_of(tm)["FLINK_PROPERTIES"] == env_of(jm)["FLINK_PROPERTIES"]
    assert jm.inputs["command"] == ["jobmanager"] and tm.inputs["command"] == ["taskmanager"]


def test_clickhouse_has_no_open_default_user_and_a_nofile_ulimit(program):
    server = program.named("clickstream-clickhouse-server")
    assert {"name": "nofile", "soft": 262144, "hard": 262144} in server.inputs["ulimits"]
    upload = server.inputs["uploads"][0]
    assert upload["file"].startswith("/etc/clickhouse-server/users.d/")
    users = upload["content"]
    assert '<default remove="remove"/>' in users, "clickhouse: the open `default` user must be removed"
    assert "<readonly>1</readonly>" in users and "GRANT SELECT ON `clickstream`.*" in users
    assert "<password>" not in users, "clickhouse: the users file holds no password, only env references"
    env = dict(item.split("=", 1) for item in server.revealed("envs"))
    for user, variable in (("clickstream", "CLICKHOUSE_OWNER_PASSWORD_SHA256"),
                           ("grafana_reader", "CLICKHOUSE_READER_PASSWORD_SHA256")):
        assert f'from_env="{variable}"' in users
        assert re.fullmatch(r"[0-9a-f]{64}", env[variable]), f"clickhouse: {variable} must be a sha256 hex digest"
    assert "envs" in server.secret_paths(), "clickhouse: the password hashes are secret in state"
    for refused in ("CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD"):
        assert refused not in env, f"clickhouse: {refused} would make the entrypoint write its own users file"


def test_published_ports_bind_to_localhost_by_default(program):
    published = {}
    for c in program.of_type(CONTAINER):
        for port in c.inputs.get("ports", []):
            assert port["ip"] == "127.0.0.1", f"{c.name} publishes {port['external']} on {port['ip']}"
            published[port["external"]] = c.name
    assert published == {
        9092: "clickstream-kafka-broker", 8081: "clickstream-schema-registry-server",
        8083: "clickstream-connect-worker", 8082: "clickstream-flink-jobmanager",
        8123: "clickstream-clickhouse-server", 3000: "clickstream-grafana-server",
        8090: "clickstream-collector-server",
    }, "ClickHouse's native port is published only when asked"
    assert program.stack_outputs["exposed"] == {}, "nothing is exposed beyond the host by default"


def test_bind_address_and_ports_come_from_config():
    rec = build_program({"bindAddress": "127.0.0.2", "ports": {"grafana": 3300, "flinkUi": 18081}})
    for c in rec.of_type(CONTAINER):
        for port in c.inputs.get("ports", []):
            assert port["ip"] == "127.0.0.2", c.name
    assert {"internal": 3000, "external": 3300, "ip": "127.0.0.2"} in rec.named("clickstream-grafana-server").inputs["ports"]
    assert rec.stack_outputs["grafanaUrl"] == "http://127.0.0.2:3300"
    assert rec.stack_outputs["flinkUrl"] == "http://127.0.0.2:18081"


def test_only_the_services_asked_for_are_exposed_and_the_admin_apis_stay_on_loopback():
    rec = build_program({"expose": {"address": "0.0.0.0", "services": "grafana,schemaRegistry,clickhouseNative",
                                    "acknowledgeUnauthenticated": True},
                         "ports": {"clickhouseNative": 9000}})
    bound = {(c.name, port["external"]): port["ip"] for c in rec.of_type(CONTAINER) for port in c.inputs.get("ports", [])}
    assert bound == {
        ("clickstream-grafana-server", 3000): "0.0.0.0",
        ("clickstream-schema-registry-server", 8081): "0.0.0.0",
        ("clickstream-clickhouse-server", 9000): "0.0.0.0",
        ("clickstream-clickhouse-server", 8123): "127.0.0.1",
        ("clickstream-kafka-broker", 9092): "127.0.0.1",
        ("clickstream-connect-worker", 8083): "127.0.0.1",
        ("clickstream-flink-jobmanager", 8082): "127.0.0.1",
        ("clickstream-collector-server", 8090): "127.0.0.1",
    }
    assert rec.stack_outputs["exposed"] == {"grafana": "0.0.0.0:3000", "schemaRegistry": "0.0.0.0:8081",
                                            "clickhouseNative": "0.0.0.0:9000"}
    assert rec.stack_outputs["grafanaUrl"] == "http://127.0.0.1:3000", "0.0.0.0 answers on loopback too"


def test_containers_are_health_gated(program):
    for c in program.of_type(CONTAINER):
        check = c.inputs.get("healthcheck")
        assert check and check["tests"][0] == "CMD-SHELL" and check["tests"][1], f"{c.name} has no healthcheck"
        assert c.inputs["wait"] is True, f"{c.name}: dependents would start before it is healthy"
        assert c.inputs["restart"] == "unless-stopped", c.name
        assert c.inputs["mustRun"] is True, c.name


@pytest.mark.parametrize("dependent, dependency", [
    ("clickstream-schema-registry-server", "clickstream-kafka-broker"),
    ("clickstream-kafka-topic-pageviews", "clickstream-kafka-broker"),
    ("clickstream-connect-worker", "clickstream-schema-registry-server"),
    ("clickstream-connect-datagen", "clickstream-connect-worker"),
    ("clickstream-connect-datagen", "clickstream-kafka-topic-pageviews"),
    ("clickstream-clickhouse-schema", "clickstream-clickhouse-server"),
    ("clickstream-clickhouse-schema", "clickstream-kafka-topic-events"),
    ("clickstream-flink-taskmanager-0", "clickstream-flink-jobmanager"),
    ("clickstream-flink-job", "clickstream-flink-taskmanager-0"),
    ("clickstream-flink-job", "clickstream-kafka-topic-pageviews"),
    ("clickstream-flink-job", "clickstream-kafka-topic-sessions"),
    ("clickstream-flink-job", "clickstream-schema-registry-server"),
    ("clickstream-flink-job", "clickstream-clickhouse-schema"),
    ("clickstream-flink-job", "clickstream-connect-datagen"),
    ("clickstream-grafana-server", "clickstream-clickhouse-schema"),
    ("clickstream-collector-schema", "clickstream-schema-registry-server"),
    ("clickstream-collector-schema", "clickstream-kafka-topic-pageviews"),
    ("clickstream-collector-server", "clickstream-collector-schema"),
    ("clickstream-collector-server", "clickstream-kafka-topic-pageviews"),
])
def test_dependency_edges_of_the_design(program, dependent, dependency):
    assert program.depends_on(dependent, dependency), f"{dependent} does not wait for {dependency}"


def test_no_dependency_cycles(program):
    for r in program.resources:
        assert not program.depends_on(r.name, r.name), f"{r.name} depends on itself"


def test_replacing_a_container_cannot_collide_on_names_or_ports(program):
    for c in program.of_type(CONTAINER):
        assert "name" not in c.inputs or not c.inputs["name"], f"{c.name} has a fixed container name"
        if c.inputs.get("ports"):
            assert c.delete_before_replace, f"{c.name}: its replacement would fail to bind the same host port"


def test_every_password_is_secret_everywhere(program):
    passwords = [generated_password(n) for n in (
        "clickstream-clickhouse-password", "clickstream-clickhouse-reader-password", "clickstream-grafana-admin-password")]
    for r in program.resources:
        for text in plain_strings(r.raw_inputs):
            for pw in passwords:
                assert pw not in text, f"{r.name} carries a password outside a secret"
    for c in program.of_type(CONTAINER):
        for item in c.revealed("envs") or []:
            assert not re.search(r"PASSWORD=", item), f"{c.name} puts a password in its environment: {item.split('=')[0]}"
    assert {"grafanaAdminPassword", "clickhousePassword", "clickhouseReaderPassword"} <= program.secret_outputs
    assert "password" in program.named("clickstream-clickhouse-schema").secret_paths()


def test_given_passwords_are_used_and_stay_secret():
    given = {"clickhousePassword": "owner-pass-1234567", "grafanaAdminPassword": "admin-pass-1234567"}
    rec = build_program(secrets=given)
    assert not rec.of_type("random:index/randomPassword:RandomPassword") or \
        {r.name for r in rec.of_type("random:index/randomPassword:RandomPassword")} == {
            "clickstream-clickhouse-reader-password", "clickstream-grafana-secret-key"}
    assert rec.stack_outputs["clickhousePassword"] == "owner-pass-1234567"
    assert "clickhousePassword" in rec.secret_outputs
    for r in rec.resources:
        for text in plain_strings(r.raw_inputs):
            assert "owner-pass-1234567" not in text and "admin-pass-1234567" not in text, r.name


def test_outputs_carry_every_url(program):
    out = program.stack_outputs
    assert set(OUTPUT_KEYS) <= set(out), f"missing outputs: {set(OUTPUT_KEYS) - set(out)}"
    for key in ("grafanaUrl", "flinkUrl", "connectUrl", "schemaRegistryUrl", "clickhouseUrl"):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", out[key]), f"{key} = {out[key]}"
    assert out["kafkaBootstrap"] == "127.0.0.1:9092"


def test_flink_job_is_submitted_with_its_code_hash_and_endpoints(program):
    job = program.named("clickstream-flink-job")
    assert re.fullmatch(r"[0-9a-f]{64}", job.inputs["code_hash"])
    args = job.inputs["args"]
    pairs = dict(zip(args[::2], args[1::2]))
    assert pairs["--bootstrap-servers"] == "kafka:29092"
    assert pairs["--schema-registry-url"] == "http://schema-registry:8081"
    assert job.inputs["job_path"].startswith("/opt/flink/usrlib/clickstream/")
    assert pairs["--parallelism"] == "2" and pairs["--checkpoint-interval"] == "10"
    assert "parallelism" not in job.inputs, "the job sets its parallelism itself, from its arguments"


def test_flink_image_context_excludes_the_mounted_job_code():
    """The Flink image is built from the repo root narrowed by .dockerignore: everything its
    Dockerfile COPYs is let in, and the job's Python code is not (it is mounted, so editing it must
    not rebuild the image and replace the cluster under the running job)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    rules = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "the context must start from nothing"
    allowed = {rule[1:] for rule in rules[1:] if rule.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) ", (root / "images/flink/Dockerfile").read_text(), re.M))
    assert copied and copied <= allowed, f"COPY sources not in the context: {copied - allowed}"
    assert not any(a.startswith("flink_job/") and a.endswith(".py") or a in ("flink_job", "flink_job/")
                   for a in allowed), f"job code enters the image context: {allowed}"
    mounts = {m["target"]: m for m in build_program().named("clickstream-flink-jobmanager").inputs["mounts"]}
    job_mount = mounts["/opt/flink/usrlib/clickstream"]
    assert job_mount["type"] == "bind" and job_mount["source"].endswith("flink_job") and job_mount["readOnly"]


def test_grafana_gets_a_generated_secret_key_as_a_file(program):
    server = program.named("clickstream-grafana-server")
    assert "GF_SECURITY_SECRET_KEY__FILE=/run/secrets/grafana_secret_key" in server.inputs["envs"]
    upload = next(u for u in server.revealed("uploads") if u["file"] == "/run/secrets/grafana_secret_key")
    assert upload["permissions"] == "0400"
    assert "uploads[2].content" in server.secret_paths(), "the key reaches the container only as a secret"


def test_no_process_in_any_container_gains_privileges(program):
    for c in program.of_type(CONTAINER):
        assert c.inputs.get("securityOpts") == ["no-new-privileges:true"], c.name


def test_every_jvm_and_grafana_container_has_a_memory_limit_above_its_heap(program):
    limits = {c.name: c.inputs.get("memory") for c in program.of_type(CONTAINER)}
    assert limits["clickstream-kafka-broker"] == 1024 + 768, "heap 1g and the JVM's overhead"
    assert limits["clickstream-flink-taskmanager-0"] == 1728 + 512, "process size and the Python workers"
    assert limits["clickstream-flink-jobmanager"] == 1600 + 512
    assert limits["clickstream-connect-worker"] == 1024 + 768
    assert limits["clickstream-schema-registry-server"] == 1024 and limits["clickstream-grafana-server"] == 512
    # ClickHouse sizes its caches from the host's memory and has no size in the stack config yet.
    assert limits["clickstream-clickhouse-server"] is None


@pytest.mark.parametrize("drop", [False, True])
def test_destroy_keeps_every_data_volume_and_the_database_unless_asked(drop):
    rec = build_program({"dropDataOnDestroy": drop})
    volumes = rec.of_type("docker:index/volume:Volume")
    assert {v.inputs["name"] for v in volumes} == {f"clickstreamer-unit-{s}" for s in ("kafka", "clickhouse", "flink", "grafana")}, \
        "named by stack and service, so the next up finds a kept volume"
    for volume in volumes:
        assert volume.retain_on_delete is (not drop), volume.name
        assert volume.ignore_changes == ["name"], f"{volume.name}: a volume with a generated name must not be replaced"
    assert rec.named("clickstream-clickhouse-schema").inputs["drop_on_destroy"] is drop
    for topic in rec.of_type("pulumi-python:dynamic/kafka:Topic"):
        assert topic.retain_on_delete is (not drop), f"{topic.name}: its records are on the kept volume"
        assert topic.inputs["adopt_existing"] is (not drop), f"{topic.name}: the next up takes the kept topic over"


def test_a_changed_grafana_admin_password_reaches_the_running_grafana(program):
    resource = program.named("clickstream-grafana-admin")
    assert resource.type == "pulumi-python:dynamic/grafana:AdminPassword"
    assert "password" in resource.secret_paths() and "password" in resource.additional_secret_outputs
    assert resource.inputs["url"] == program.stack_outputs["grafanaUrl"] and resource.inputs["user"] == "admin"
    assert program.depends_on("clickstream-grafana-admin", "clickstream-grafana-server")


# --- the website collector -------------------------------------------------------------------------

def test_the_collector_reads_every_setting_it_needs_from_its_environment(program):
    from collector.settings import from_env

    server = program.named("clickstream-collector-server")
    settings = from_env(env_of(server))
    assert settings.bootstrap_servers == "kafka:29092"
    assert settings.schema_registry_url == "http://schema-registry:8081"
    assert (settings.topic, settings.listen_host, settings.listen_port) == ("pageviews", "0.0.0.0", 8090)
    assert settings.sites == ("localhost", "127.0.0.1") and settings.trusted_proxies == ()
    image = program.named("clickstream-collector-image").inputs
    assert image["build"]["context"].endswith("/collector") and image["build"]["dockerfile"].endswith(
        "images/collector/Dockerfile")
    assert "/readyz" in server.inputs["healthcheck"]["tests"][1]


def test_the_stack_registers_pageviews_v2_as_full_transitive(program):
    from collector.schemas import schema_text

    schema = program.named("clickstream-collector-schema")
    assert schema.type == "pulumi-python:dynamic/schemaregistry:SubjectSchema"
    assert schema.inputs["subject"] == "pageviews-value"
    assert schema.inputs["compatibility"] == "FULL_TRANSITIVE"
    assert schema.inputs["schema"] == schema_text()
    assert schema.inputs["url"] == program.stack_outputs["schemaRegistryUrl"], "registered from where pulumi runs"


def test_collector_and_demo_site_urls_are_outputs(program):
    assert program.stack_outputs["collectorUrl"] == "http://127.0.0.1:8090"
    assert program.stack_outputs["demoSiteUrl"] == "http://127.0.0.1:8090/demo/"


def test_collector_settings_come_from_config():
    rec = build_program({"ports": {"collector": 9999}, "kafka": {"pageviewsTopic": "web"},
                         "collector": {"sites": "example.com", "trustedProxies": "10.0.0.0/8", "demoSite": False,
                                       "scriptName": "a.js", "endpointPath": "/e"}})
    env = env_of(rec.named("clickstream-collector-server"))
    assert (env["COLLECTOR_SITES"], env["COLLECTOR_TRUSTED_PROXIES"]) == ("example.com", "10.0.0.0/8")
    assert (env["COLLECTOR_TOPIC"], env["COLLECTOR_SCRIPT_NAME"], env["COLLECTOR_ENDPOINT_PATH"]) == ("web", "a.js", "/e")
    assert env["COLLECTOR_DEMO_SITE"] == "false"
    assert rec.named("clickstream-collector-schema").inputs["subject"] == "web-value"
    assert rec.stack_outputs["collectorUrl"] == "http://127.0.0.1:9999" and rec.stack_outputs["demoSiteUrl"] == ""


def test_the_collector_is_exposed_for_browsers_when_asked():
    """Public by design (validated, rate-limited events only): no acknowledgement needed."""
    rec = build_program({"expose": {"address": "192.0.2.10", "services": "collector"}})
    ports = rec.named("clickstream-collector-server").inputs["ports"]
    assert ports == [{"internal": 8090, "external": 8090, "ip": "192.0.2.10"}]
    assert rec.stack_outputs["exposed"] == {"collector": "192.0.2.10:8090"}
    assert rec.stack_outputs["collectorUrl"] == "http://192.0.2.10:8090"
    assert rec.stack_outputs["demoSiteUrl"] == "http://192.0.2.10:8090/demo/"


def test_a_disabled_collector_leaves_no_resource_and_empty_urls():
    rec = build_program({"collector": {"enabled": False}})
    assert not [r.name for r in rec.resources if "collector" in r.name]
    assert rec.stack_outputs["collectorUrl"] == "" and rec.stack_outputs["demoSiteUrl"] == ""
