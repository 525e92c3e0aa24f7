"""Kafka on Strimzi: a `Kafka` cluster in KRaft mode whose nodes come from `KafkaNodePool`s, and the
pipeline's topics as `KafkaTopic`s (the same names, partitions and retention as the Docker
platform's topic resources: `pageviews` and the insight topics of docs/data-contract.md).

Node pools: by default one pool whose nodes are brokers and KRaft controllers (`kafka_replicas`
nodes); with `controller_replicas > 0`, a dedicated controller pool (the production layout) and a
broker-only pool. The topic operator (in the cluster's entity operator) owns the topics: a topic
typo cannot create a topic because auto-creation is off, as on Docker.

In-cluster clients bootstrap from the `plain` listener: `<cluster>-kafka-bootstrap.<ns>.svc:9092`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import pulumi

from ..kafka import INSIGHT_TOPICS
from .common import SLOW, K8sPlacement, ObservedCustomResource, resources, wait_for
from .operators import KAFKA_METADATA_VERSION, KAFKA_VERSION

API_VERSION = "kafka.strimzi.io/v1beta2"
CLUSTER_NAME = "clickstream"
PLAIN_PORT = 9092


@dataclass
class KafkaArgs:
    placement: K8sPlacement
    replicas: int = 3  # broker nodes; adding one is a scale-out Strimzi performs without downtime
    controller_replicas: int = 0  # 0: the brokers are the controllers; odd n: a dedicated controller pool
    storage_size: str = "20Gi"  # per broker; a larger size expands the PVC when the class allows it
    controller_storage_size: str = "5Gi"
    cpu: str = "500m"
    memory: str = "2Gi"
    heap: str = "1g"  # -Xms/-Xmx inside `memory`
    pageviews_topic: str = "pageviews"
    pageviews_partitions: int = 3  # raising is in place; Strimzi refuses to lower partitions
    pageviews_retention_hours: int = 168
    insight_partitions: int = 3
    insight_topics: dict = field(default_factory=lambda: dict(INSIGHT_TOPICS))
    depends_on: tuple = ()  # the Strimzi operator release


def replication(brokers: int) -> tuple[int, int]:
    """(replication factor, min in-sync replicas) for a cluster of `brokers`: 3/2 from three brokers
    on, so one broker can be down without stopping writes; 1/1 on a single broker."""
    rf = min(3, brokers)
    return rf, max(1, rf - 1)


def broker_config(args: KafkaArgs) -> dict[str, object]:
    rf, min_isr = replication(args.replicas)
    return {
        # Topics are resources (KafkaTopic); a typo must not silently create a new one.
        "auto.create.topics.enable": False,
        "default.replication.factor": rf,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        # The Flink job's exactly-once sink commits Kafka transactions per checkpoint.
        "transaction.state.log.min.isr": min_isr,
    }


def topic_resource_name(topic: str) -> str:
    """A DNS-1123 name for a KafkaTopic; the real name goes in `spec.topicName`."""
    return re.sub(r"[^a-z0-9.-]", "-", topic.lower()).strip("-.")[:253]


class StrimziKafka(pulumi.ComponentResource):
    """The Kafka cluster, its node pools and the pipeline's topics."""

    cluster: ObservedCustomResource
    """The `Kafka` resource; ready (condition Ready) once every node runs."""
    node_pools: list[ObservedCustomResource]
    bootstrap: str
    """In-cluster bootstrap address (`clickstream-kafka-bootstrap.<ns>.svc:9092`)."""
    pageviews: ObservedCustomResource
    insight_topics: dict[str, ObservedCustomResource]

    def __init__(self, name: str, args: KafkaArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:StrimziKafka", name, None, opts)
        p = args.placement
        self.bootstrap = f"{p.service_host(f'{CLUSTER_NAME}-kafka-bootstrap')}:{PLAIN_PORT}"
        cluster_label = {"strimzi.io/cluster": CLUSTER_NAME}

        def volume(size: str) -> dict[str, object]:
            disk: dict[str, object] = {"id": 0, "type": "persistent-claim", "size": size,
                                       "deleteClaim": False, "kraftMetadata": "shared"}
            if p.storage_class:
                disk["class"] = p.storage_class
            return {"type": "jbod", "volumes": [disk]}

        jvm = {"-Xms": args.heap, "-Xmx": args.heap}
        pools = []
        if args.controller_replicas:
            pools.append(("controllers", ["controller"], args.controller_replicas, args.controller_storage_size))
            pools.append(("brokers", ["broker"], args.replicas, args.storage_size))
        else:
            pools.append(("nodes", ["controller", "broker"], args.replicas, args.storage_size))

        ordered = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on), custom_timeouts=SLOW)
        self.node_pools = [
            ObservedCustomResource(
                f"{name}-pool-{pool}",
                api_version=API_VERSION,
                kind="KafkaNodePool",
                metadata=p.metadata(pool, "kafka", labels=cluster_label),
                spec={"replicas": replicas, "roles": roles, "storage": volume(size),
                      "resources": resources(args.cpu, args.memory), "jvmOptions": jvm},
                opts=ordered,
            )
            for pool, roles, replicas, size in pools
        ]
        self.cluster = ObservedCustomResource(
            f"{name}-cluster",
            api_version=API_VERSION,
            kind="Kafka",
            metadata=p.metadata(CLUSTER_NAME, "kafka", annotations={
                "strimzi.io/node-pools": "enabled",
                "strimzi.io/kraft": "enabled",
                **wait_for("condition=Ready"),
            }),
            spec={
                "kafka": {
                    "version": KAFKA_VERSION,
                    "metadataVersion": KAFKA_METADATA_VERSION,
                    "listeners": [{"name": "plain", "port": PLAIN_PORT, "type": "internal", "tls": False}],
                    "config": broker_config(args),
                },
                "entityOperator": {"topicOperator": {}},
            },
            # The pools exist first so that the cluster operator finds its nodes on the first reconcile.
            opts=pulumi.ResourceOptions.merge(ordered, pulumi.ResourceOptions(depends_on=self.node_pools)),
        )

        rf, _ = replication(args.replicas)
        retention_ms = str(args.pageviews_retention_hours * 3600 * 1000)
        topic_opts = pulumi.ResourceOptions(parent=self, depends_on=[self.cluster], custom_timeouts=SLOW)

        def topic(role: str, topic_name: str, partitions: int) -> ObservedCustomResource:
            return ObservedCustomResource(
                f"{name}-topic-{role.replace('_', '-')}",
                api_version=API_VERSION,
                kind="KafkaTopic",
                metadata=p.metadata(topic_resource_name(topic_name), "kafka", labels=cluster_label,
                                    annotations=wait_for("condition=Ready")),
                spec={"topicName": topic_name, "partitions": partitions, "replicas": rf,
                      "config": {"retention.ms": retention_ms, "cleanup.policy": "delete"}},
                opts=topic_opts,
            )

        self.pageviews = topic("pageviews", args.pageviews_topic, args.pageviews_partitions)
        self.insight_topics = {role: topic(role, name_, args.insight_partitions)
                               for role, name_ in args.insight_topics.items()}
        self.register_outputs({"cluster": self.cluster, "bootstrap": self.bootstrap,
                               "pageviews": self.pageviews, "insight_topics": self.insight_topics})
