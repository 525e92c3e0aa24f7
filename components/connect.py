"""Kafka Connect: a worker built FROM `confluentinc/cp-kafka-connect` with kafka-connect-datagen
(images/connect), and the datagen connector that produces Avro `pageviews` as a resource.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from .docker_common import REPO_ROOT, RESTART_POLICY, DockerPlacement, healthcheck, local_image, replace_safely
from .clients.datagen import DatagenSettings as DatagenConnectorSettings, datagen_connector_config
from .resources.connector import Connector

INTERNAL_HOST = "connect"
PORT = 8083
DATAGEN_CONNECTOR_NAME = "datagen-pageviews"


@dataclass
class ConnectArgs:
    placement: DockerPlacement
    base_image: str  # pinned cp-kafka-connect image the worker image is built FROM
    datagen_version: str  # kafka-connect-datagen version baked into the worker image (0.6.x)
    kafka_bootstrap: str  # internal bootstrap (kafka:29092)
    schema_registry_url: str  # internal Schema Registry URL for the AvroConverter
    host_port: int  # host port of the REST API
    topic: str  # topic datagen writes
    max_interval_ms: int = 100
    iterations: int = 10_000_000
    tasks_max: int = 1
    depends_on: tuple = ()  # Schema Registry container and the pageviews topic


def connect_environment(args: ConnectArgs) -> list[str]:
    """The cp-kafka-connect env (reference/images.md §3.1): every `dub ensure` key present."""
    return [
        f"CONNECT_BOOTSTRAP_SERVERS={args.kafka_bootstrap}",
        "CONNECT_GROUP_ID=clickstream-connect",
        "CONNECT_CONFIG_STORAGE_TOPIC=_connect-configs",
        "CONNECT_OFFSET_STORAGE_TOPIC=_connect-offsets",
        "CONNECT_STATUS_STORAGE_TOPIC=_connect-status",
        # One broker: Connect's internal topics default to replication factor 3.
        "CONNECT_CONFIG_STORAGE_REPLICATION_FACTOR=1",
        "CONNECT_OFFSET_STORAGE_REPLICATION_FACTOR=1",
        "CONNECT_STATUS_STORAGE_REPLICATION_FACTOR=1",
        "CONNECT_KEY_CONVERTER=org.apache.kafka.connect.storage.StringConverter",
        "CONNECT_VALUE_CONVERTER=io.confluent.connect.avro.AvroConverter",
        f"CONNECT_VALUE_CONVERTER_SCHEMA_REGISTRY_URL={args.schema_registry_url}",
        # The image's own healthcheck curls this name from inside the container.
        f"CONNECT_REST_ADVERTISED_HOST_NAME={INTERNAL_HOST}",
        f"CONNECT_REST_PORT={PORT}",
        "CONNECT_PLUGIN_PATH=/usr/share/java,/usr/share/confluent-hub-components",
        "CONNECT_OFFSET_FLUSH_INTERVAL_MS=10000",
        "CONNECT_LOG4J_LOGGERS=org.reflections=ERROR",
        "KAFKA_HEAP_OPTS=-Xms256m -Xmx1g",
    ]


class Connect(pulumi.ComponentResource):
    image: docker.Image
    container: docker.Container
    datagen: Connector
    """The datagen connector; its config is the seed's (components/resources/connector.py)."""
    url: str
    """REST API on the Docker host."""

    def __init__(self, name: str, args: ConnectArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:Connect", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.placement
        self.url = p.url(args.host_port)

        self.image = local_image(
            f"{name}-image",
            image_name=f"clickstreamer/connect-datagen:{args.base_image.rsplit(':', 1)[-1]}-{args.datagen_version}",
            context=REPO_ROOT / "images" / "connect",
            dockerfile=REPO_ROOT / "images" / "connect" / "Dockerfile",
            args={"CONNECT_BASE": args.base_image, "DATAGEN_VERSION": args.datagen_version},
            opts=child,
        )
        self.container = docker.Container(
            f"{name}-worker",
            image=self.image.repo_digest,  # the local image id: a rebuild replaces the worker
            hostname=INTERNAL_HOST,
            networks_advanced=p.network(INTERNAL_HOST),
            envs=connect_environment(args),
            ports=[p.publish(PORT, args.host_port)],
            # Healthy only once the datagen plugin is loaded, not merely when REST answers.
            healthcheck=healthcheck(
                f"curl -fsS http://localhost:{PORT}/connector-plugins | grep -q DatagenConnector",
                interval=5, timeout=10, retries=60, start_period=30,
            ),
            labels=p.labels("connect"),
            restart=RESTART_POLICY,
            must_run=True,
            wait=True,
            wait_timeout=360,
            opts=replace_safely(child, depends_on=list(args.depends_on)),
        )
        self.datagen = Connector(
            f"{name}-datagen",
            connect_url=self.url,
            connector_name=DATAGEN_CONNECTOR_NAME,
            config=datagen_connector_config(DatagenConnectorSettings(
                topic=args.topic,
                schema_registry_url=args.schema_registry_url,
                max_interval_ms=args.max_interval_ms,
                iterations=args.iterations,
                tasks_max=args.tasks_max,
            )),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container, *args.depends_on]),
        )
        self.register_outputs({"image": self.image, "container": self.container, "datagen": self.datagen, "url": self.url})
