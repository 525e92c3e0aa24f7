"""KubernetesPipeline: the pipeline of components/spec.py on a Kubernetes cluster, on operators
rather than hand-written replicas:

    Namespaces ── Operators (Helm: Strimzi, Flink operator, Altinity) ─┬─ Kafka (node pools) ─┬─ KafkaTopics ─────┐
                                                                       │                      ├─ SchemaRegistry ──┤
                                                                       │                      └─ KafkaConnect ── KafkaConnector
                                                                       ├─ ClickHouseInstallation ── SchemaMigrations ─┤
                                                                       └─ FlinkDeployment ◄── topics, connector, schema, migrations
    Grafana (Helm) ◄── SchemaMigrations
    Collector (Deployment + Service; registers pageviews v2 in its init container) ◄── SchemaRegistry, topic

The same typed config, the same secrets (components/secrets.py) and the same stack outputs
(components/spec.py `stack_outputs`) as on Docker; URLs are in-cluster Service addresses
(docs/kubernetes.md has the port-forward commands that reach them from outside).
"""
from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from .. import spec
from ..config import PipelineConfig
from ..secrets import PipelineSecrets, ensure_passwords
from .clickhouse import POD_LABELS as CLICKHOUSE_PODS, SERVICE_NAME as CLICKHOUSE_SERVICE, ClickHouseArgs, KubernetesClickHouse
from .collector import CollectorArgs, KubernetesCollector
from .common import K8sPlacement
from .connect import ConnectArgs, StrimziConnect
from .flink import FlinkArgs, KubernetesFlink
from .grafana import GrafanaArgs, KubernetesGrafana
from .kafka import KafkaArgs, StrimziKafka, replication
from .network import NetworkPolicies, NetworkPoliciesArgs
from .operators import Operators, OperatorsArgs
from .schema_registry import SERVICE_NAME as SCHEMA_REGISTRY_SERVICE, SchemaRegistry, SchemaRegistryArgs


# Where the schema migrations reach ClickHouse by default: `kubectl -n <namespace> port-forward
# svc/clickhouse-clickstream 18123:8123` on the machine running `pulumi up` (docs/kubernetes.md).
PORT_FORWARD_URL = "http://127.0.0.1:18123"


class KubernetesPipeline(pulumi.ComponentResource):
    """Every service of the pipeline, on a Kubernetes cluster (the current kubeconfig context)."""

    network: NetworkPolicies
    operators: Operators
    kafka: StrimziKafka
    schema_registry: SchemaRegistry
    connect: StrimziConnect
    clickhouse: KubernetesClickHouse
    flink: KubernetesFlink
    grafana: KubernetesGrafana
    collector: Optional[KubernetesCollector]
    """None unless collector.enabled and kubernetes.collectorImage is set."""
    outputs: dict[str, pulumi.Input]
    """Stack outputs, keyed by components.spec.OUTPUT_KEYS."""

    def __init__(self, name: str, cfg: PipelineConfig, secrets: PipelineSecrets,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:KubernetesPipeline", name, None, opts)
        kc = cfg.kubernetes
        child = pulumi.ResourceOptions(parent=self)

        passwords = ensure_passwords(name, secrets, self)

        namespaces: list[pulumi.Resource] = []
        if kc.create_namespaces:
            # Deleting a namespace deletes every volume in it: kept unless the data is to go too.
            keep = pulumi.ResourceOptions(parent=self, retain_on_delete=not cfg.drop_data_on_destroy)
            app_ns = k8s.core.v1.Namespace(f"{name}-namespace", metadata={"name": kc.namespace}, opts=keep)
            ops_ns = k8s.core.v1.Namespace(f"{name}-operators-namespace", metadata={"name": kc.operators_namespace},
                                           opts=child)
            namespaces = [app_ns, ops_ns]
            app_namespace: pulumi.Input[str] = app_ns.metadata.name
            ops_namespace: pulumi.Input[str] = ops_ns.metadata.name
        else:
            app_namespace, ops_namespace = kc.namespace, kc.operators_namespace
        placement = K8sPlacement(namespace=app_namespace, namespace_name=kc.namespace,
                                 storage_class=kc.storage_class, stack_label=pulumi.get_stack(),
                                 keep_data=not cfg.drop_data_on_destroy)
        endpoints = spec.Endpoints(
            kafka_bootstrap=StrimziKafka.bootstrap_address(placement),
            schema_registry_url=f"http://{placement.service_host(SCHEMA_REGISTRY_SERVICE)}:{spec.SCHEMA_REGISTRY_PORT}",
            clickhouse_host=placement.service_host(CLICKHOUSE_SERVICE),
        )

        load_balancer_ranges = tuple(c.strip() for c in kc.clickhouse_load_balancer_source_ranges.split(",") if c.strip())
        self.network = NetworkPolicies(f"{name}-network", NetworkPoliciesArgs(
            placement=placement, operators_namespace=kc.operators_namespace, clickhouse_pods=CLICKHOUSE_PODS,
            load_balancer_source_ranges=load_balancer_ranges if kc.clickhouse_load_balancer else (),
        ), opts=pulumi.ResourceOptions(parent=self, depends_on=namespaces))

        # The charts bind roles in the watched namespace, so it must exist before they install.
        self.operators = Operators(f"{name}-operators", OperatorsArgs(
            namespace=ops_namespace, watch_namespace=kc.namespace, restricted_pods=bool(kc.connect_image),
            depends_on=tuple(namespaces),
        ), opts=child)
        self.kafka = StrimziKafka(f"{name}-kafka", KafkaArgs(
            placement=placement, replicas=kc.kafka_replicas, controller_replicas=kc.kafka_controller_replicas,
            storage_size=kc.kafka_storage_size, controller_storage_size=kc.kafka_controller_storage_size,
            cpu=kc.kafka_cpu, memory=kc.kafka_memory, heap=cfg.kafka.heap, topics=spec.topics(cfg),
            depends_on=(self.operators.strimzi,),
        ), opts=child)

        self.schema_registry = SchemaRegistry(f"{name}-schema-registry", SchemaRegistryArgs(
            placement=placement, image=cfg.images.schema_registry,
            settings=spec.schema_registry_settings(endpoints, replication_factor=replication(kc.kafka_replicas)[0]),
            replicas=kc.schema_registry_replicas,
            cpu=kc.schema_registry_cpu, memory=kc.schema_registry_memory, depends_on=(self.kafka.cluster,),
        ), opts=child)

        self.connect = StrimziConnect(f"{name}-connect", ConnectArgs(
            placement=placement, kafka_bootstrap=endpoints.kafka_bootstrap,
            # -1: the broker's default.replication.factor, which follows the cluster's size.
            worker_settings=spec.connect_worker_settings(endpoints, replication_factor=-1),
            datagen_config=spec.datagen_config(cfg, endpoints), datagen_version=cfg.images.datagen_version,
            avro_converter_version=cfg.images.connect_base.rsplit(":", 1)[-1],
            image=kc.connect_image, build_registry=kc.connect_build_registry, push_secret=kc.connect_push_secret,
            replicas=kc.connect_replicas, cpu=kc.connect_cpu, memory=kc.connect_memory,
            depends_on=(self.kafka.cluster,),
            connector_depends_on=(self.kafka.pageviews, self.schema_registry.deployment, self.schema_registry.service),
        ), opts=child)

        self.clickhouse = KubernetesClickHouse(f"{name}-clickhouse", ClickHouseArgs(
            placement=placement, image=cfg.images.clickhouse, database=cfg.clickhouse.database,
            user=cfg.clickhouse.user, password=passwords.clickhouse,
            reader_user=cfg.clickhouse.reader_user, reader_password=passwords.reader,
            migration_params=spec.migration_params(cfg, endpoints),
            storage_size=kc.clickhouse_storage_size, cpu=kc.clickhouse_cpu, memory=kc.clickhouse_memory,
            # Default: reached through a `kubectl port-forward` (docs/kubernetes.md), nothing exposed.
            url=kc.clickhouse_url or ("" if kc.clickhouse_load_balancer else PORT_FORWARD_URL),
            load_balancer=kc.clickhouse_load_balancer,
            load_balancer_source_ranges=load_balancer_ranges,
            drop_data_on_destroy=cfg.drop_data_on_destroy, allow_data_loss=cfg.allow_data_loss,
            depends_on=(self.operators.clickhouse,),
            migrations_depend_on=tuple(self.kafka.insight_topics.values()),
        ), opts=child)

        self.flink = KubernetesFlink(f"{name}-flink", FlinkArgs(
            placement=placement, image=kc.flink_image, base_image=cfg.images.flink_base,
            job_args=spec.job_arguments(cfg, endpoints),
            parallelism=cfg.flink.parallelism, slots_per_taskmanager=cfg.flink.slots_per_taskmanager,
            jobmanager_memory=cfg.flink.jobmanager_memory, taskmanager_memory=cfg.flink.taskmanager_memory,
            jobmanager_cpu=kc.flink_jobmanager_cpu, taskmanager_cpu=kc.flink_taskmanager_cpu,
            state_dir=kc.flink_state_dir, storage_size=kc.flink_storage_size,
            storage_access_mode=kc.flink_storage_access_mode, job_state=kc.flink_job_state,
            depends_on=[self.operators.flink],
            job_depends_on=[self.kafka.pageviews, *self.kafka.insight_topics.values(), self.schema_registry.service,
                            self.connect.datagen, self.clickhouse.migrations],
        ), opts=child)

        self.grafana = KubernetesGrafana(f"{name}-grafana", GrafanaArgs(
            placement=placement, base_image=cfg.images.grafana_base,
            plugin_version=cfg.images.grafana_clickhouse_plugin, image=kc.grafana_image,
            environment=spec.grafana_environment(cfg, endpoints), admin_password=passwords.grafana,
            clickhouse_password=passwords.reader, secret_key=passwords.grafana_secret_key,
            storage_size=kc.grafana_storage_size,
            cpu=kc.grafana_cpu, memory=kc.grafana_memory, depends_on=(self.clickhouse.migrations,),
        ), opts=child)

        self.collector = None
        collector_url = demo_site_url = ""
        if cfg.collector.enabled and kc.collector_image:
            self.collector = KubernetesCollector(f"{name}-collector", CollectorArgs(
                placement=placement, image=kc.collector_image,
                environment=spec.collector_environment(cfg, endpoints),
                registry_url=endpoints.schema_registry_url, subject=spec.pageviews_subject(cfg),
                replicas=kc.collector_replicas, cpu=kc.collector_cpu, memory=kc.collector_memory,
                depends_on=(self.kafka.pageviews, self.schema_registry.deployment, self.schema_registry.service),
            ), opts=child)
            collector_url, demo_site_url = spec.collector_urls(cfg, self.collector.url)

        self.outputs = spec.stack_outputs(cfg, spec.ServiceOutputs(
            grafana_url=self.grafana.url, flink_url=self.flink.url, connect_url=self.connect.url,
            schema_registry_url=self.schema_registry.url, clickhouse_url=self.clickhouse.url,
            kafka_bootstrap=self.kafka.bootstrap, schema_version=self.clickhouse.migrations.version,
            flink_job_id=self.flink.job_id, flink_last_savepoint=self.flink.last_savepoint,
            collector_url=collector_url, demo_site_url=demo_site_url,
            # The LoadBalancer the migrations reach ClickHouse through is reachable beyond the cluster.
            exposed=self.clickhouse.migrations_url.apply(lambda url: {"clickhouseHttp": url})
            if self.clickhouse.external else {},
        ), passwords)
        self.register_outputs(self.outputs)
