"""Kafka on Strimzi: a `Kafka` cluster in KRaft mode whose nodes come from `KafkaNodePool`s, and the
pipeline's topics (components/spec.py `topics`: `pageviews` and the insight topics of
docs/data-contract.md) as `KafkaTopic`s.

Node pools: by default one pool whose nodes are brokers and KRaft controllers (`kafka_replicas`
nodes); with `controller_replicas > 0`, a dedicated controller pool (the production layout) and a
broker-only pool. The topic operator (in the cluster's entity operator) owns the topics: a topic
typo cannot create a topic because auto-creation is off, as on Docker.

In-cluster clients bootstrap from the `plain` listener: `<cluster>-kafka-bootstrap.<ns>.svc:9092`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi

from ..contract import topic_object_name
from ..spec import Topic
from .common import SLOW, K8sPlacement, ObservedCustomResource, resources, wait_for
from .operators import KAFKA_METADATA_VERSION, KAFKA_VERSION

API_VERSION = "kafka.strimzi.io/v1beta2"
CLUSTER_NAME = "clickstream"
PLAIN_PORT = 9092


@dataclass
class KafkaArgs:
    placement: K8sPlacement
    replicas: int  # broker nodes; adding one is a scale-out Strimzi performs without downtime
    controller_replicas: int  # 0: the brokers are the controllers; odd n: a dedicated controller pool
    storage_size: str  # per broker; a larger size expands the PVC when the class allows it
    controller_storage_size: str
    cpu: str
    memory: str
    heap: str  # -Xms/-Xmx inside `memory`
    topics: Sequence[Topic]  # components/spec.py `topics`: pageviews first; Strimzi refuses fewer partitions
    depends_on: tuple  # the Strimzi operator release


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


class StrimziKafka(pulumi.ComponentResource):
    """The Kafka cluster, its node pools and the pipeline's topics."""

    cluster: ObservedCustomResource
    """The `Kafka` resource; ready (condition Ready) once every node runs."""
    node_pools: list[ObservedCustomResource]
    bootstrap: str
    """In-cluster bootstrap address (`clickstream-kafka-bootstrap.<ns>.svc:9092`)."""
    pageviews: ObservedCustomResource
    insight_topics: dict[str, ObservedCustomResource]

    @staticmethod
    def bootstrap_address(placement: K8sPlacement) -> str:
        """In-cluster bootstrap of the `plain` listener: known before the cluster exists."""
        return f"{placement.service_host(f'{CLUSTER_NAME}-kafka-bootstrap')}:{PLAIN_PORT}"

    def __init__(self, name: str, args: KafkaArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:StrimziKafka", name, None, opts)
        p = args.placement
        self.bootstrap = self.bootstrap_address(p)
        cluster_label = {"strimzi.io/cluster": CLUSTER_NAME}

        def volume(size: str) -> dict[str, object]:
            disk: dict[str, object] = {"id": 0, "type": "persistent-claim", "size": size,
                                       "deleteClaim": not p.keep_data, "kraftMetadata": "shared"}
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
        # The topic operator deletes a topic whose KafkaTopic goes: kept by a destroy unless the data is to go too.
        topic_opts = pulumi.ResourceOptions(parent=self, depends_on=[self.cluster], custom_timeouts=SLOW,
                                            retain_on_delete=p.keep_data)
        made = {
            topic.role: ObservedCustomResource(
                f"{name}-topic-{topic.role.replace('_', '-')}",
                api_version=API_VERSION,
                kind="KafkaTopic",
                metadata=p.metadata(topic_object_name(topic.name), "kafka", labels=cluster_label,
                                    annotations=wait_for("condition=Ready")),
                spec={"topicName": topic.name, "partitions": topic.partitions, "replicas": rf,
                      "config": dict(topic.config)},
                opts=topic_opts,
            )
            for topic in args.topics
        }
        self.pageviews = made.pop("pageviews")
        self.insight_topics = made
        self.register_outputs({"cluster": self.cluster, "bootstrap": self.bootstrap,
                               "pageviews": self.pageviews, "insight_topics": self.insight_topics})
