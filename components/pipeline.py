"""ClickstreamPipeline: the whole Website → Kafka → Flink → ClickHouse → Grafana pipeline as one
component, wiring one component per service in the dependency order of design.md §2:

    Network ─┬─ Kafka ─┬─ SchemaRegistry ─┬─ Connect ── DatagenConnector ─┐
             │         └─ Topic(pageviews) ┘                             │
             ├─ ClickHouse ── SchemaMigrations ──────────────────────────┤
             ├─ Flink(JobManager, TaskManagers) ── FlinkJob ◄────────────┘
             └─ Grafana (needs SchemaMigrations)

`platform: kubernetes` builds the same logical pipeline from components/k8s/.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from .clickhouse import INTERNAL_HOST as CLICKHOUSE_HOST, HTTP_PORT as CLICKHOUSE_HTTP_PORT, ClickHouse, ClickHouseArgs
from .config import PipelineConfig
from .connect import Connect, ConnectArgs
from .docker_common import DockerPlacement
from .flink import Flink, FlinkArgs
from .grafana import Grafana, GrafanaArgs
from .kafka import INSIGHT_TOPICS, Kafka, KafkaArgs
from .schema_registry import SchemaRegistry, SchemaRegistryArgs

# Output keys both platforms export (tests/unit checks they match).
OUTPUT_KEYS = (
    "grafanaUrl", "flinkUrl", "connectUrl", "schemaRegistryUrl", "clickhouseUrl", "kafkaBootstrap",
    "schemaVersion", "flinkJobId", "flinkLastSavepoint",
    "grafanaAdminUser", "grafanaAdminPassword", "clickhouseUser", "clickhousePassword",
    "clickhouseReaderUser", "clickhouseReaderPassword",
)


@dataclass
class PipelineSecrets:
    """Passwords as given in stack config (secret Outputs), or None to generate them."""

    clickhouse_password: Optional[pulumi.Input[str]] = None
    clickhouse_reader_password: Optional[pulumi.Input[str]] = None
    grafana_admin_password: Optional[pulumi.Input[str]] = None

    def __repr__(self) -> str:  # never show a secret
        given = [k for k, v in vars(self).items() if v is not None]
        return f"PipelineSecrets(given={given})"


def ensure_password(name: str, given: Optional[pulumi.Input[str]], parent: pulumi.Resource) -> pulumi.Output[str]:
    """The configured password, or a generated one (kept in state, stable across updates)."""
    if given is not None:
        return pulumi.Output.secret(given)
    generated = random.RandomPassword(name, length=24, special=False, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)


def migration_params(cfg: PipelineConfig, kafka_bootstrap: str, topics: dict[str, str]) -> dict[str, str]:
    """Values rendered into clickhouse_schema/ files (see clickhouse_schema/README.md)."""
    return {
        "kafka_brokers": kafka_bootstrap,
        "kafka_group": "clickhouse-clickstream",
        "topic_events": topics["events"],
        "topic_page_stats_1m": topics["page_stats"],
        "topic_user_activity_1m": topics["user_activity"],
        "topic_sessions": topics["sessions"],
        "topic_malformed": topics["malformed"],
        "raw_ttl_days": cfg.retention.raw_events_days,
    }


def job_arguments(cfg: PipelineConfig, kafka_bootstrap: str, schema_registry_url: str,
                  topics: dict[str, str]) -> list[str]:
    """Program arguments of flink_job/job.py: every endpoint and name comes from here."""
    f = cfg.flink
    return [
        "--bootstrap-servers", kafka_bootstrap,
        "--schema-registry-url", schema_registry_url,
        "--source-topic", cfg.kafka.pageviews_topic,
        "--group-id", "clickstream-insights",
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


class ClickstreamPipeline(pulumi.ComponentResource):
    """Every service of the pipeline, on one Docker host."""

    kafka: Kafka
    schema_registry: SchemaRegistry
    connect: Connect
    clickhouse: ClickHouse
    flink: Flink
    grafana: Grafana
    outputs: dict[str, pulumi.Input]
    """Stack outputs, keyed by OUTPUT_KEYS."""

    def __init__(self, name: str, cfg: PipelineConfig, secrets: PipelineSecrets,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:ClickstreamPipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stack = pulumi.get_stack()

        clickhouse_password = ensure_password(f"{name}-clickhouse-password", secrets.clickhouse_password, self)
        reader_password = ensure_password(f"{name}-clickhouse-reader-password", secrets.clickhouse_reader_password, self)
        grafana_password = ensure_password(f"{name}-grafana-admin-password", secrets.grafana_admin_password, self)

        network = docker.Network(
            f"{name}-network", driver="bridge",
            labels=[docker.NetworkLabelArgs(label="clickstreamer.stack", value=stack)], opts=child,
        )
        placement = DockerPlacement(network_name=network.name, bind_address=cfg.bind_address,
                                    host_address=cfg.host_address, stack_label=stack)

        self.kafka = Kafka(f"{name}-kafka", KafkaArgs(
            placement=placement, image=cfg.images.kafka, cluster_id=cfg.kafka.cluster_id,
            host_port=cfg.ports.kafka, heap=cfg.kafka.heap,
            pageviews_topic=cfg.kafka.pageviews_topic, pageviews_partitions=cfg.kafka.pageviews_partitions,
            pageviews_retention_hours=cfg.kafka.pageviews_retention_hours,
            insight_partitions=cfg.kafka.insight_partitions, allow_data_loss=cfg.kafka.allow_topic_data_loss,
        ), opts=child)
        topics = dict(INSIGHT_TOPICS)

        self.schema_registry = SchemaRegistry(f"{name}-schema-registry", SchemaRegistryArgs(
            placement=placement, image=cfg.images.schema_registry, kafka_bootstrap=self.kafka.internal_bootstrap,
            host_port=cfg.ports.schema_registry, kafka=self.kafka.container,
        ), opts=child)

        self.connect = Connect(f"{name}-connect", ConnectArgs(
            placement=placement, base_image=cfg.images.connect_base, datagen_version=cfg.images.datagen_version,
            kafka_bootstrap=self.kafka.internal_bootstrap, schema_registry_url=self.schema_registry.internal_url,
            host_port=cfg.ports.connect, topic=cfg.kafka.pageviews_topic,
            max_interval_ms=cfg.datagen.max_interval_ms, iterations=cfg.datagen.iterations,
            tasks_max=cfg.datagen.tasks_max,
            depends_on=(self.schema_registry.container, self.kafka.pageviews),
        ), opts=child)

        self.clickhouse = ClickHouse(f"{name}-clickhouse", ClickHouseArgs(
            placement=placement, image=cfg.images.clickhouse, http_port=cfg.ports.clickhouse_http,
            native_port=cfg.ports.clickhouse_native, database=cfg.clickhouse.database,
            user=cfg.clickhouse.user, password=clickhouse_password,
            reader_user=cfg.clickhouse.reader_user, reader_password=reader_password,
            migration_params=migration_params(cfg, self.kafka.internal_bootstrap, topics),
            drop_data_on_destroy=cfg.clickhouse.drop_data_on_destroy,
            depends_on=tuple(self.kafka.insight_topics.values()),
        ), opts=child)

        self.flink = Flink(f"{name}-flink", FlinkArgs(
            placement=placement, base_image=cfg.images.flink_base, host_port=cfg.ports.flink_ui,
            taskmanagers=cfg.flink.taskmanagers, slots_per_taskmanager=cfg.flink.slots_per_taskmanager,
            parallelism=cfg.flink.parallelism, checkpoint_interval_seconds=cfg.flink.checkpoint_interval_seconds,
            jobmanager_memory=cfg.flink.jobmanager_memory, taskmanager_memory=cfg.flink.taskmanager_memory,
            on_destroy=cfg.flink.on_destroy,
            job_args=job_arguments(cfg, self.kafka.internal_bootstrap, self.schema_registry.internal_url, topics),
            job_depends_on=[self.kafka.pageviews, *self.kafka.insight_topics.values(),
                            self.schema_registry.container, self.connect.datagen, self.clickhouse.migrations],
        ), opts=child)

        self.grafana = Grafana(f"{name}-grafana", GrafanaArgs(
            placement=placement, base_image=cfg.images.grafana_base,
            plugin_version=cfg.images.grafana_clickhouse_plugin, host_port=cfg.ports.grafana,
            admin_user=cfg.grafana.admin_user, admin_password=grafana_password,
            anonymous_access=cfg.grafana.anonymous_access,
            clickhouse_host=CLICKHOUSE_HOST, clickhouse_port=CLICKHOUSE_HTTP_PORT,
            clickhouse_database=cfg.clickhouse.database, clickhouse_user=cfg.clickhouse.reader_user,
            clickhouse_password=reader_password,
            depends_on=(self.clickhouse.migrations,),
        ), opts=child)

        self.outputs = {
            "grafanaUrl": self.grafana.url,
            "flinkUrl": self.flink.url,
            "connectUrl": self.connect.url,
            "schemaRegistryUrl": self.schema_registry.url,
            "clickhouseUrl": self.clickhouse.url,
            "kafkaBootstrap": self.kafka.host_bootstrap,
            "schemaVersion": self.clickhouse.migrations.version,
            "flinkJobId": self.flink.job.job_id,
            "flinkLastSavepoint": self.flink.job.last_savepoint,
            "grafanaAdminUser": cfg.grafana.admin_user,
            "grafanaAdminPassword": grafana_password,
            "clickhouseUser": cfg.clickhouse.user,
            "clickhousePassword": clickhouse_password,
            "clickhouseReaderUser": cfg.clickhouse.reader_user,
            "clickhouseReaderPassword": reader_password,
        }
        self.register_outputs(self.outputs)
