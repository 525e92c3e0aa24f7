"""The pipeline, platform-neutral: what both platforms run, as plain data.

`components/docker/` and `components/k8s/` each render this in their own syntax (container env and
labels, or custom resources and chart values); they never import each other. What is here is
decided once for both: the topics, the job's program arguments, the schema's migration
parameters, the datagen connector, the settings each service gets, the paths files are mounted at,
and the stack outputs. What differs by platform is only how services reach each other (`Endpoints`)
and what a platform adds for its own runtime (listeners, pod fields, resource requests).

No Pulumi here: every function takes the validated config (`components.config`) and plain values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from .clients.datagen import DatagenSettings, datagen_connector_config
from .config import PipelineConfig
from .contract import INSIGHT_TOPICS, TOPIC_CONTRACTS

# --- names both platforms give the same thing ----------------------------------------------------

DATAGEN_CONNECTOR_NAME = "datagen-pageviews"
JOB_GROUP_ID = "clickstream-insights"  # the Flink job's consumer group on `pageviews`
CLICKHOUSE_KAFKA_GROUP = "clickhouse-clickstream"  # prefix of the Kafka tables' consumer groups
CONNECT_GROUP_ID = "clickstream-connect"

# --- ports inside the services (published or exposed by each platform its own way) ----------------

FLINK_REST_PORT = 8081
CONNECT_REST_PORT = 8083
SCHEMA_REGISTRY_PORT = 8081
CLICKHOUSE_HTTP_PORT = 8123
CLICKHOUSE_NATIVE_PORT = 9000
GRAFANA_PORT = 3000
COLLECTOR_PORT = 8090

# --- paths inside the containers: both platforms mount the same files at the same places ----------

FLINK_DATA_DIR = "/opt/flink/data"  # checkpoints and savepoints (a volume / a PVC)
FLINK_JOB_DIR = "/opt/flink/usrlib/clickstream"  # flink_job/ (a bind mount / a ConfigMap)
FLINK_JOB_PATH = f"{FLINK_JOB_DIR}/job.py"
GRAFANA_PLUGIN_DIR = "/var/lib/grafana-plugins"  # where images/grafana bakes the ClickHouse plugin
GRAFANA_SECRETS_DIR = "/run/secrets"  # password files read through __FILE / $__file{}
GRAFANA_ADMIN_PASSWORD_FILE = f"{GRAFANA_SECRETS_DIR}/grafana_admin_password"
GRAFANA_READER_PASSWORD_FILE = f"{GRAFANA_SECRETS_DIR}/clickhouse_reader_password"
GRAFANA_SECRET_KEY_FILE = f"{GRAFANA_SECRETS_DIR}/grafana_secret_key"
# Repository folder under grafana/ -> where Grafana reads it.
GRAFANA_MOUNTS = {"provisioning": "/etc/grafana/provisioning", "dashboards": "/etc/grafana/dashboards"}


@dataclass(frozen=True)
class Endpoints:
    """How the services reach each other on one platform (container network or cluster DNS)."""

    kafka_bootstrap: str  # e.g. kafka:29092, or <cluster>-kafka-bootstrap.<ns>.svc:9092
    schema_registry_url: str
    clickhouse_host: str  # ClickHouse's HTTP interface, host part (port: CLICKHOUSE_HTTP_PORT)


# --- topics ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Topic:
    role: str  # `pageviews`, or a role of components.contract.INSIGHT_TOPICS
    name: str
    partitions: int
    config: Mapping[str, str]


def topics(cfg: PipelineConfig) -> list[Topic]:
    """The pipeline's topics: datagen's source first, then the job's outputs (docs/data-contract.md)."""
    config = {"retention.ms": str(cfg.kafka.pageviews_retention_hours * 3600 * 1000), "cleanup.policy": "delete"}
    return [Topic("pageviews", cfg.kafka.pageviews_topic, cfg.kafka.pageviews_partitions, config),
            *(Topic(role, name, cfg.kafka.insight_partitions, config) for role, name in INSIGHT_TOPICS.items())]


# --- the job, the schema and the connector ----------------------------------------------------------

def job_arguments(cfg: PipelineConfig, endpoints: Endpoints,
                  topics: Mapping[str, str] = INSIGHT_TOPICS) -> list[str]:
    """Program arguments of flink_job/job.py: every endpoint, name and job setting comes from here.
    The job owns its parallelism and checkpointing: no cluster setting repeats them. `topics`: the
    output topics by role (tests give their own names)."""
    f = cfg.flink
    return [
        "--bootstrap-servers", endpoints.kafka_bootstrap,
        "--schema-registry-url", endpoints.schema_registry_url,
        "--source-topic", cfg.kafka.pageviews_topic,
        "--group-id", JOB_GROUP_ID,
        "--events-topic", topics["events"],
        "--page-stats-topic", topics["page_stats"],
        "--user-activity-topic", topics["user_activity"],
        "--sessions-topic", topics["sessions"],
        "--malformed-topic", topics["malformed"],
        "--checkpoint-interval", str(f.checkpoint_interval_seconds),
        "--session-gap", str(f.session_gap_minutes * 60),
        "--watermark-delay", str(f.watermark_delay_seconds),
        "--idle-timeout", str(f.source_idle_timeout_seconds),
        "--delivery-guarantee", f.delivery_guarantee,
        "--parallelism", str(f.parallelism),
    ]


def migration_params(cfg: PipelineConfig, endpoints: Endpoints,
                     topics: Mapping[str, str] = INSIGHT_TOPICS) -> dict[str, Any]:
    """Values rendered into clickhouse_schema/ files (see clickhouse_schema/README.md). `topics`: the
    job's output topics by role (tests give their own names)."""
    return {
        "kafka_brokers": endpoints.kafka_bootstrap,
        "kafka_group": CLICKHOUSE_KAFKA_GROUP,
        # `topic_<source>` of every topic the generated ingestion reads (components/contract.py).
        **{contract.topic_param: topics[role] for role, contract in TOPIC_CONTRACTS.items()},
        "raw_ttl_days": cfg.retention.raw_events_days,
    }


def datagen_config(cfg: PipelineConfig, endpoints: Endpoints) -> dict[str, str]:
    """The datagen connector's config (the rules are components/clients/datagen.py's)."""
    d = cfg.datagen
    return datagen_connector_config(DatagenSettings(
        topic=cfg.kafka.pageviews_topic, quickstart=d.quickstart, schema_registry_url=endpoints.schema_registry_url,
        max_interval_ms=d.max_interval_ms, iterations=d.iterations, tasks_max=d.tasks_max,
    ))


# --- each service's settings -------------------------------------------------------------------------

def connect_worker_settings(endpoints: Endpoints, replication_factor: int) -> dict[str, Any]:
    """Kafka Connect worker properties (`-1` replication: the broker's default)."""
    return {
        "group.id": CONNECT_GROUP_ID,
        "config.storage.topic": "_connect-configs",
        "offset.storage.topic": "_connect-offsets",
        "status.storage.topic": "_connect-status",
        "config.storage.replication.factor": replication_factor,
        "offset.storage.replication.factor": replication_factor,
        "status.storage.replication.factor": replication_factor,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "io.confluent.connect.avro.AvroConverter",
        "value.converter.schema.registry.url": endpoints.schema_registry_url,
        "offset.flush.interval.ms": 10000,
    }


def schema_registry_settings(endpoints: Endpoints, replication_factor: Optional[int]) -> dict[str, str]:
    """cp-schema-registry environment, less the host name each replica advertises. Without a
    replication factor the registry creates `_schemas` with as many replicas as there are brokers."""
    settings = {
        "SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS": f"PLAINTEXT://{endpoints.kafka_bootstrap}",
        # SCHEMA_REGISTRY_PORT is refused by the image; LISTENERS is the supported key.
        "SCHEMA_REGISTRY_LISTENERS": f"http://0.0.0.0:{SCHEMA_REGISTRY_PORT}",
    }
    if replication_factor is not None:
        settings["SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR"] = str(replication_factor)
    settings["SCHEMA_REGISTRY_HEAP_OPTS"] = "-Xms256m -Xmx512m"
    return settings


def flink_cluster_settings(state_root: str) -> dict[str, str]:
    """Flink settings of the cluster both platforms run: where state goes, how it restarts, which
    Python. Job settings (parallelism, checkpoint interval and retention) are the job's own.
    Flink 1.19 key names: the Kubernetes operator 1.10 validates those; Flink 1.20 reads them too."""
    return {
        # Filesystem storage on shared storage: stop-with-savepoint needs it, and it outlives pods.
        "state.checkpoint-storage": "filesystem",
        "state.checkpoints.dir": f"{state_root}/checkpoints",
        "state.savepoints.dir": f"{state_root}/savepoints",
        "restart-strategy.type": "exponential-delay",
        "python.executable": "python3",
        "python.client.executable": "python3",
    }


def grafana_environment(cfg: PipelineConfig, endpoints: Endpoints) -> dict[str, str]:
    """Grafana's environment. grafana/provisioning/datasources/*.yaml reads the CLICKHOUSE_* ones
    through $__env{...}, and the reader's password through $__file{GRAFANA_READER_PASSWORD_FILE}."""
    return {
        "GF_SECURITY_ADMIN_USER": cfg.grafana.admin_user,
        "GF_SECURITY_ADMIN_PASSWORD__FILE": GRAFANA_ADMIN_PASSWORD_FILE,
        "GF_SECURITY_SECRET_KEY__FILE": GRAFANA_SECRET_KEY_FILE,
        "GF_AUTH_ANONYMOUS_ENABLED": "true" if cfg.grafana.anonymous_access else "false",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
        "CLICKHOUSE_HOST": endpoints.clickhouse_host,
        "CLICKHOUSE_PORT": str(CLICKHOUSE_HTTP_PORT),
        "CLICKHOUSE_DATABASE": cfg.clickhouse.database,
        "CLICKHOUSE_READER_USER": cfg.clickhouse.reader_user,
    }


def pageviews_subject(cfg: PipelineConfig) -> str:
    """The Schema Registry subject of the pageviews values (TopicNameStrategy)."""
    return f"{cfg.kafka.pageviews_topic}-value"


def pageviews_schema() -> tuple[str, str]:
    """(schema text, compatibility level) the stack registers for the pageviews subject: v2, which
    the collector writes beside datagen's v1 (collector/schemas/)."""
    from collector.schemas import COMPATIBILITY, schema_text

    return schema_text(), COMPATIBILITY


def collector_environment(cfg: PipelineConfig, endpoints: Endpoints) -> dict[str, str]:
    """The collector's COLLECTOR_* environment (collector/settings.py reads every one of them)."""
    c = cfg.collector
    return {
        "COLLECTOR_LISTEN_HOST": "0.0.0.0",
        "COLLECTOR_LISTEN_PORT": str(COLLECTOR_PORT),
        "COLLECTOR_BOOTSTRAP_SERVERS": endpoints.kafka_bootstrap,
        "COLLECTOR_SCHEMA_REGISTRY_URL": endpoints.schema_registry_url,
        "COLLECTOR_TOPIC": cfg.kafka.pageviews_topic,
        "COLLECTOR_SITES": c.sites,
        "COLLECTOR_TRUSTED_PROXIES": c.trusted_proxies,
        "COLLECTOR_QUEUE_SIZE": str(c.queue_size),
        "COLLECTOR_RATE_PER_SECOND": str(c.rate_per_second),
        "COLLECTOR_RATE_BURST": str(c.rate_burst),
        "COLLECTOR_LINGER_MS": str(c.linger_ms),
        "COLLECTOR_DELIVERY_TIMEOUT_SECONDS": str(c.delivery_timeout_seconds),
        "COLLECTOR_MAX_CLOCK_SKEW_SECONDS": str(c.max_clock_skew_seconds),
        "COLLECTOR_SCRIPT_NAME": c.script_name,
        "COLLECTOR_ENDPOINT_PATH": c.endpoint_path,
        "COLLECTOR_DEMO_SITE": "true" if c.demo_site else "false",
    }


def collector_urls(cfg: PipelineConfig, base_url: str) -> tuple[str, str]:
    """(collector URL, demo site URL) of a collector at `base_url`; the demo's is empty when off."""
    return base_url, (f"{base_url}/demo/" if cfg.collector.demo_site else "")


# --- stack outputs -------------------------------------------------------------------------------

OUTPUT_KEYS = (
    "grafanaUrl", "flinkUrl", "connectUrl", "schemaRegistryUrl", "clickhouseUrl", "kafkaBootstrap",
    "schemaVersion", "flinkJobId", "flinkLastSavepoint", "exposed", "collectorUrl", "demoSiteUrl",
    "grafanaAdminUser", "grafanaAdminPassword", "clickhouseUser", "clickhousePassword",
    "clickhouseReaderUser", "clickhouseReaderPassword",
)


@dataclass(frozen=True)
class ServiceOutputs:
    """What a platform reports about the services it made (plain values or Pulumi outputs)."""

    grafana_url: Any
    flink_url: Any
    connect_url: Any
    schema_registry_url: Any
    clickhouse_url: Any
    kafka_bootstrap: Any
    schema_version: Any
    flink_job_id: Any
    flink_last_savepoint: Any
    exposed: Any  # service -> where it is reachable beyond the host / the namespace ({}: nothing)
    collector_url: Any = ""  # empty: the website side is not deployed
    demo_site_url: Any = ""


def stack_outputs(cfg: PipelineConfig, services: ServiceOutputs, passwords: Any) -> dict[str, Any]:
    """The stack outputs, keyed by OUTPUT_KEYS; `passwords` has .clickhouse, .reader, .grafana."""
    outputs = {
        "grafanaUrl": services.grafana_url,
        "flinkUrl": services.flink_url,
        "connectUrl": services.connect_url,
        "schemaRegistryUrl": services.schema_registry_url,
        "clickhouseUrl": services.clickhouse_url,
        "kafkaBootstrap": services.kafka_bootstrap,
        "schemaVersion": services.schema_version,
        "flinkJobId": services.flink_job_id,
        "flinkLastSavepoint": services.flink_last_savepoint,
        "exposed": services.exposed,
        "collectorUrl": services.collector_url,
        "demoSiteUrl": services.demo_site_url,
        "grafanaAdminUser": cfg.grafana.admin_user,
        "grafanaAdminPassword": passwords.grafana,
        "clickhouseUser": cfg.clickhouse.user,
        "clickhousePassword": passwords.clickhouse,
        "clickhouseReaderUser": cfg.clickhouse.reader_user,
        "clickhouseReaderPassword": passwords.reader,
    }
    assert tuple(outputs) == OUTPUT_KEYS
    return outputs
