"""ClickstreamPipeline: the pipeline of components/spec.py on one Docker host, as one component
wiring one component per service in dependency order:

    Network ─┬─ Kafka ─┬─ SchemaRegistry ─┬─ Connect ── DatagenConnector ─┐
             │         └─ Topics ─────────┘                              │
             ├─ ClickHouse ── SchemaMigrations ──────────────────────────┤
             ├─ Flink(JobManager, TaskManagers) ── FlinkJob ◄────────────┘
             ├─ Grafana (needs SchemaMigrations)
             └─ Collector (needs the pageviews topic; registers pageviews v2 first)
"""
from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker

from .. import spec
from ..config import PipelineConfig
from ..secrets import PipelineSecrets, ensure_passwords
from .clickhouse import INTERNAL_HOST as CLICKHOUSE_HOST, ClickHouse, ClickHouseArgs
from .collector import Collector, CollectorArgs
from .common import DockerPlacement
from .connect import Connect, ConnectArgs
from .flink import Flink, FlinkArgs
from .grafana import Grafana, GrafanaArgs
from .kafka import INTERNAL_HOST as KAFKA_HOST, INTERNAL_PORT as KAFKA_PORT, Kafka, KafkaArgs
from .schema_registry import INTERNAL_HOST as SCHEMA_REGISTRY_HOST, SchemaRegistry, SchemaRegistryArgs

# How the containers reach each other on the stack network.
ENDPOINTS = spec.Endpoints(
    kafka_bootstrap=f"{KAFKA_HOST}:{KAFKA_PORT}",
    schema_registry_url=f"http://{SCHEMA_REGISTRY_HOST}:{spec.SCHEMA_REGISTRY_PORT}",
    clickhouse_host=CLICKHOUSE_HOST,
)


class ClickstreamPipeline(pulumi.ComponentResource):
    """Every service of the pipeline, on one Docker host."""

    kafka: Kafka
    schema_registry: SchemaRegistry
    connect: Connect
    clickhouse: ClickHouse
    flink: Flink
    grafana: Grafana
    collector: Optional[Collector]
    """None when collector.enabled is false."""
    outputs: dict[str, pulumi.Input]
    """Stack outputs, keyed by components.spec.OUTPUT_KEYS."""

    def __init__(self, name: str, cfg: PipelineConfig, secrets: PipelineSecrets,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:ClickstreamPipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stack = pulumi.get_stack()
        passwords = ensure_passwords(name, secrets, self)

        network = docker.Network(
            f"{name}-network", driver="bridge",
            labels=[docker.NetworkLabelArgs(label="clickstreamer.stack", value=stack)], opts=child,
        )
        placement = DockerPlacement(network_name=network.name, bind_address=cfg.bind_address,
                                    host_address=cfg.host_address, stack_label=stack,
                                    expose_address=cfg.expose.address, exposed=cfg.expose.service_names,
                                    keep_data=not cfg.drop_data_on_destroy)

        self.kafka = Kafka(f"{name}-kafka", KafkaArgs(
            placement=placement, image=cfg.images.kafka, cluster_id=cfg.kafka.cluster_id,
            host_port=cfg.ports.kafka, heap=cfg.kafka.heap, topics=spec.topics(cfg),
            allow_data_loss=cfg.allow_data_loss,
        ), opts=child)

        self.schema_registry = SchemaRegistry(f"{name}-schema-registry", SchemaRegistryArgs(
            placement=placement, image=cfg.images.schema_registry, settings=spec.schema_registry_settings(ENDPOINTS, replication_factor=None),
            host_port=cfg.ports.schema_registry, kafka=self.kafka.container,
        ), opts=child)

        self.connect = Connect(f"{name}-connect", ConnectArgs(
            placement=placement, base_image=cfg.images.connect_base, datagen_version=cfg.images.datagen_version,
            kafka_bootstrap=ENDPOINTS.kafka_bootstrap,
            # One broker: Connect's internal topics cannot have the default replication factor of 3.
            worker_settings=spec.connect_worker_settings(ENDPOINTS, replication_factor=1),
            datagen_config=spec.datagen_config(cfg, ENDPOINTS), host_port=cfg.ports.connect,
            depends_on=(self.schema_registry.container, self.kafka.pageviews),
        ), opts=child)

        self.clickhouse = ClickHouse(f"{name}-clickhouse", ClickHouseArgs(
            placement=placement, image=cfg.images.clickhouse, http_port=cfg.ports.clickhouse_http,
            native_port=cfg.ports.clickhouse_native, database=cfg.clickhouse.database,
            user=cfg.clickhouse.user, password=passwords.clickhouse,
            reader_user=cfg.clickhouse.reader_user, reader_password=passwords.reader,
            migration_params=spec.migration_params(cfg, ENDPOINTS),
            drop_data_on_destroy=cfg.drop_data_on_destroy, allow_data_loss=cfg.allow_data_loss,
            depends_on=tuple(self.kafka.insight_topics.values()),
        ), opts=child)

        self.flink = Flink(f"{name}-flink", FlinkArgs(
            placement=placement, base_image=cfg.images.flink_base, host_port=cfg.ports.flink_ui,
            taskmanagers=cfg.flink.taskmanagers, slots_per_taskmanager=cfg.flink.slots_per_taskmanager,
            jobmanager_memory=cfg.flink.jobmanager_memory, taskmanager_memory=cfg.flink.taskmanager_memory,
            on_destroy=cfg.flink.on_destroy, job_args=spec.job_arguments(cfg, ENDPOINTS),
            job_depends_on=[self.kafka.pageviews, *self.kafka.insight_topics.values(),
                            self.schema_registry.container, self.connect.datagen, self.clickhouse.migrations],
        ), opts=child)

        self.grafana = Grafana(f"{name}-grafana", GrafanaArgs(
            placement=placement, base_image=cfg.images.grafana_base,
            plugin_version=cfg.images.grafana_clickhouse_plugin, host_port=cfg.ports.grafana,
            environment=spec.grafana_environment(cfg, ENDPOINTS), admin_password=passwords.grafana,
            clickhouse_password=passwords.reader, secret_key=passwords.grafana_secret_key,
            depends_on=(self.clickhouse.migrations,),
        ), opts=child)

        self.collector = None
        collector_url = demo_site_url = ""
        if cfg.collector.enabled:
            schema, compatibility = spec.pageviews_schema()
            self.collector = Collector(f"{name}-collector", CollectorArgs(
                placement=placement, base_image=cfg.images.collector_base, host_port=cfg.ports.collector,
                environment=spec.collector_environment(cfg, ENDPOINTS), registry_url=self.schema_registry.url,
                subject=spec.pageviews_subject(cfg), schema=schema, compatibility=compatibility,
                depends_on=(self.schema_registry.container, self.kafka.pageviews),
            ), opts=child)
            collector_url, demo_site_url = spec.collector_urls(cfg, self.collector.url)

        self.outputs = spec.stack_outputs(cfg, spec.ServiceOutputs(
            grafana_url=self.grafana.url, flink_url=self.flink.url, connect_url=self.connect.url,
            schema_registry_url=self.schema_registry.url, clickhouse_url=self.clickhouse.url,
            kafka_bootstrap=self.kafka.host_bootstrap, schema_version=self.clickhouse.migrations.version,
            flink_job_id=self.flink.job.job_id, flink_last_savepoint=self.flink.job.last_savepoint,
            collector_url=collector_url, demo_site_url=demo_site_url,
            exposed={service: where for service, where in (
                ("grafana", placement.exposure("grafana", cfg.ports.grafana)),
                ("schemaRegistry", placement.exposure("schemaRegistry", cfg.ports.schema_registry)),
                ("clickhouseNative", placement.exposure("clickhouseNative", cfg.ports.clickhouse_native)),
                ("collector", placement.exposure("collector", cfg.ports.collector) if self.collector else None),
            ) if where},
        ), passwords)
        self.register_outputs(self.outputs)
