"""Schema Registry (`confluentinc/cp-schema-registry`): holds the Avro schema datagen registers for
`pageviews` (subject `pageviews-value`). Its state lives in Kafka's `_schemas` topic, so it has
no volume of its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from ..spec import SCHEMA_REGISTRY_PORT as PORT
from .common import DockerPlacement, env_list, healthcheck, replace_safely

INTERNAL_HOST = "schema-registry"
SCHEMA_REGISTRY_MEMORY_MB = 1024  # heap 512m (components/spec.py) and the JVM's overhead


@dataclass
class SchemaRegistryArgs:
    placement: DockerPlacement
    image: str  # pinned cp-schema-registry image; changing it replaces the container
    settings: dict  # components/spec.py schema_registry_settings (with the internal Kafka bootstrap)
    host_port: int  # host port for the REST API (8081 by default; Flink's UI moves to 8082)
    kafka: pulumi.Resource  # the broker container: created only after it is healthy


def schema_registry_environment(args: SchemaRegistryArgs) -> list[str]:
    return env_list({"SCHEMA_REGISTRY_HOST_NAME": INTERNAL_HOST, **args.settings})


class SchemaRegistry(pulumi.ComponentResource):
    container: docker.Container
    internal_url: str
    """URL for containers on the stack network."""
    url: str
    """URL on the Docker host."""

    def __init__(self, name: str, args: SchemaRegistryArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:SchemaRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.placement
        self.internal_url = f"http://{INTERNAL_HOST}:{PORT}"
        self.url = p.url(args.host_port, "schemaRegistry")

        image = docker.RemoteImage(f"{name}-image", name=args.image, keep_locally=True, opts=child)
        self.container = p.container(
            f"{name}-server",
            alias=INTERNAL_HOST, service="schema-registry",
            image=image.image_id,
            envs=schema_registry_environment(args),
            ports=[p.publish(PORT, args.host_port, "schemaRegistry")],
            healthcheck=healthcheck(f"curl -fsS http://localhost:{PORT}/subjects >/dev/null",
                                    interval=5, timeout=5, retries=36, start_period=15),
            memory=SCHEMA_REGISTRY_MEMORY_MB,
            wait_timeout=240,
            opts=replace_safely(child, depends_on=[args.kafka]),
        )
        self.register_outputs({"container": self.container, "internal_url": self.internal_url, "url": self.url})
