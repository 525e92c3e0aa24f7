"""Kafka Connect: a worker built FROM `confluentinc/cp-kafka-connect` with kafka-connect-datagen
(images/connect), and the datagen connector that produces Avro `pageviews` as a resource.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from ..resources.connector import Connector
from ..spec import CONNECT_REST_PORT as PORT, DATAGEN_CONNECTOR_NAME
from .common import (JVM_OVERHEAD_MB, REPO_ROOT, DockerPlacement, env_list, healthcheck, local_image, megabytes,
                     replace_safely)

INTERNAL_HOST = "connect"
CONNECT_HEAP = "1g"


@dataclass
class ConnectArgs:
    placement: DockerPlacement
    base_image: str  # pinned cp-kafka-connect image the worker image is built FROM
    datagen_version: str  # kafka-connect-datagen version baked into the worker image (0.6.x)
    kafka_bootstrap: str  # internal bootstrap (kafka:29092)
    worker_settings: dict  # components/spec.py connect_worker_settings: worker properties
    datagen_config: dict  # components/spec.py datagen_config: the connector's config
    host_port: int  # host port of the REST API
    depends_on: tuple = ()  # Schema Registry container and the pageviews topic


def connect_environment(args: ConnectArgs) -> list[str]:
    """The cp-kafka-connect env: every worker property as CONNECT_<PROPERTY> (the image's
    `configure` script turns them back into properties; its `dub ensure` wants each key present)."""
    worker = {f"CONNECT_{key.upper().replace('.', '_')}": value for key, value in args.worker_settings.items()}
    return env_list({
        "CONNECT_BOOTSTRAP_SERVERS": args.kafka_bootstrap,
        **worker,
        # The image's own healthcheck curls this name from inside the container.
        "CONNECT_REST_ADVERTISED_HOST_NAME": INTERNAL_HOST,
        "CONNECT_REST_PORT": PORT,
        "CONNECT_PLUGIN_PATH": "/usr/share/java,/usr/share/confluent-hub-components",
        "CONNECT_LOG4J_LOGGERS": "org.reflections=ERROR",
        "KAFKA_HEAP_OPTS": f"-Xms256m -Xmx{CONNECT_HEAP}",
    })


class Connect(pulumi.ComponentResource):
    image: docker.Image
    container: docker.Container
    datagen: Connector
    """The datagen connector (its config: components/spec.py `datagen_config`)."""
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
        self.container = p.container(
            f"{name}-worker",
            alias=INTERNAL_HOST, service="connect",
            image=self.image.repo_digest,  # the local image id: a rebuild replaces the worker
            envs=connect_environment(args),
            ports=[p.publish(PORT, args.host_port)],
            # Healthy only once the datagen plugin is loaded, not merely when REST answers.
            healthcheck=healthcheck(
                f"curl -fsS http://localhost:{PORT}/connector-plugins | grep -q DatagenConnector",
                interval=5, timeout=10, retries=60, start_period=30,
            ),
            memory=megabytes(CONNECT_HEAP) + JVM_OVERHEAD_MB,
            wait_timeout=360,
            opts=replace_safely(child, depends_on=list(args.depends_on)),
        )
        self.datagen = Connector(
            f"{name}-datagen",
            connect_url=self.url,
            connector_name=DATAGEN_CONNECTOR_NAME,
            config=args.datagen_config,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container, *args.depends_on]),
        )
        self.register_outputs({"image": self.image, "container": self.container, "datagen": self.datagen, "url": self.url})
