"""Kafka: one KRaft broker+controller (`confluentinc/cp-kafka`) with its data volume, and the
topics of the pipeline (components/spec.py `topics`: datagen's `pageviews`, and the insight topics
the Flink job writes and ClickHouse reads, docs/data-contract.md) as resources.

Two listeners: `PLAINTEXT://kafka:29092` for containers on the stack network, and
`PLAINTEXT_HOST` published on the host for host clients (the topic provider, the user's tools).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from ..resources.topic import KafkaTopic
from ..spec import Topic
from .common import JVM_OVERHEAD_MB, DockerPlacement, healthcheck, megabytes, replace_safely

INTERNAL_HOST = "kafka"
INTERNAL_PORT = 29092
CONTROLLER_PORT = 29093
HOST_LISTENER_PORT = 9092  # inside the container; published on the configured host port

@dataclass
class KafkaArgs:
    placement: DockerPlacement
    image: str  # pinned cp-kafka image; changing it replaces the broker container (data volume kept)
    cluster_id: str  # KRaft cluster id; must stay the same for the volume's lifetime
    host_port: int  # host port of the PLAINTEXT_HOST listener
    heap: str  # broker JVM heap
    topics: Sequence[Topic]  # components/spec.py `topics`: pageviews first
    allow_data_loss: bool  # let topic changes that drop data through (fewer partitions, recreation)


def kafka_environment(args: KafkaArgs) -> list[str]:
    """The cp-kafka env for a single-node KRaft broker (the image's `/etc/confluent/docker/configure`
    turns every KAFKA_* variable into a server property)."""
    host = args.placement.host_address
    return [
        "KAFKA_NODE_ID=1",
        "KAFKA_PROCESS_ROLES=broker,controller",
        f"KAFKA_CONTROLLER_QUORUM_VOTERS=1@{INTERNAL_HOST}:{CONTROLLER_PORT}",
        # Explicit: the image would derive listeners from the advertised ones and drop CONTROLLER.
        f"KAFKA_LISTENERS=PLAINTEXT://0.0.0.0:{INTERNAL_PORT},CONTROLLER://0.0.0.0:{CONTROLLER_PORT},"
        f"PLAINTEXT_HOST://0.0.0.0:{HOST_LISTENER_PORT}",
        f"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{INTERNAL_HOST}:{INTERNAL_PORT},"
        f"PLAINTEXT_HOST://{host}:{args.host_port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME=PLAINTEXT",
        f"CLUSTER_ID={args.cluster_id}",
        "KAFKA_LOG_DIRS=/var/lib/kafka/data",
        # One broker: internal topics cannot have the default replication factor of 3.
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=0",
        # Topics are Pulumi resources; a typo must not silently create a new one.
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE=false",
        f"KAFKA_HEAP_OPTS=-Xms{args.heap} -Xmx{args.heap}",
    ]


class Kafka(pulumi.ComponentResource):
    """The broker container and the pipeline's topics."""

    container: docker.Container
    """The broker; created (wait=True) only once its healthcheck passes."""
    internal_bootstrap: str
    """Bootstrap address for containers on the stack network (`kafka:29092`)."""
    host_bootstrap: str
    """Bootstrap address for clients on the Docker host."""
    pageviews: KafkaTopic
    """The topic datagen writes."""
    insight_topics: dict[str, KafkaTopic]
    """The topics the Flink job writes, by role (docs/data-contract.md)."""

    def __init__(self, name: str, args: KafkaArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:Kafka", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.placement
        self.internal_bootstrap = f"{INTERNAL_HOST}:{INTERNAL_PORT}"
        self.host_bootstrap = f"{p.host_address}:{args.host_port}"

        image = docker.RemoteImage(f"{name}-image", name=args.image, keep_locally=True, opts=child)
        volume = p.volume(f"{name}-data", "kafka", child)
        self.container = p.container(
            f"{name}-broker",
            alias=INTERNAL_HOST, service="kafka",
            image=image.image_id,
            envs=kafka_environment(args),
            ports=[p.publish(HOST_LISTENER_PORT, args.host_port)],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/var/lib/kafka/data")],
            # The tool is a JVM and would inherit the broker's KAFKA_HEAP_OPTS: give it a small heap.
            healthcheck=healthcheck(
                f"KAFKA_HEAP_OPTS=-Xmx128m kafka-broker-api-versions --bootstrap-server {INTERNAL_HOST}:{INTERNAL_PORT}"
                " >/dev/null 2>&1",
                interval=10, timeout=30, retries=18, start_period=20,
            ),
            memory=megabytes(args.heap) + JVM_OVERHEAD_MB,
            wait_timeout=300,
            opts=replace_safely(child),
        )

        # A destroy that keeps the data keeps the topics (their records are on the kept volume), and
        # the next up takes them over.
        topic_opts = pulumi.ResourceOptions(parent=self, depends_on=[self.container], retain_on_delete=p.keep_data)
        made = {
            topic.role: KafkaTopic(
                f"{name}-topic-{topic.role.replace('_', '-')}",
                bootstrap_servers=self.host_bootstrap,
                topic=topic.name,
                partitions=topic.partitions,
                replication_factor=1,
                config=dict(topic.config),
                allow_data_loss=args.allow_data_loss,
                adopt_existing=p.keep_data,
                opts=topic_opts,
            )
            for topic in args.topics
        }
        self.pageviews = made.pop("pageviews")
        self.insight_topics = made
        self.register_outputs({
            "container": self.container,
            "internal_bootstrap": self.internal_bootstrap,
            "host_bootstrap": self.host_bootstrap,
            "pageviews": self.pageviews,
            "insight_topics": self.insight_topics,
        })
