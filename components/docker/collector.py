"""The website collector (collector/) on Docker: its image built FROM a pinned Python image
(images/collector), one container on the stack network publishing the collector's port (events,
the tracker script, the demo site), started only once the `pageviews` topic exists and the stack
has registered the pageviews v2 schema the collector writes with.

The schema step (`SubjectSchema`, components/resources/schema.py) runs from `pulumi up` against the
registry's host URL: it sets the subject's compatibility (FULL_TRANSITIVE) and registers v2; the
collector only looks it up (auto.register.schemas=false).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from ..resources.schema import SubjectSchema
from ..spec import COLLECTOR_PORT as PORT
from .common import REPO_ROOT, DockerPlacement, env_list, healthcheck, local_image, replace_safely

INTERNAL_HOST = "collector"
# Python, librdkafka and a full queue (collector.queueSize events of ~1 KB at the default 100,000).
MEMORY_MB = 512


@dataclass
class CollectorArgs:
    placement: DockerPlacement
    base_image: str  # pinned Python image the collector is installed on; a change rebuilds and replaces
    host_port: int
    environment: dict  # components/spec.py collector_environment
    registry_url: pulumi.Input[str]  # the Schema Registry as `pulumi up` reaches it (host port)
    subject: str  # the pageviews value subject
    schema: str  # pageviews v2 (Avro JSON)
    compatibility: str  # the subject's compatibility level
    depends_on: tuple = ()  # the registry container and the pageviews topic


class Collector(pulumi.ComponentResource):
    schema: SubjectSchema
    image: docker.Image
    container: docker.Container
    url: str
    """URL on the Docker host (events at its endpoint path, the tracker at /<scriptName>)."""

    def __init__(self, name: str, args: CollectorArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:Collector", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.placement
        self.url = p.url(args.host_port, "collector")

        self.schema = SubjectSchema(
            f"{name}-schema", url=args.registry_url, subject=args.subject, schema=args.schema,
            compatibility=args.compatibility,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.image = local_image(
            f"{name}-image",
            image_name=f"clickstreamer/collector:{args.base_image.rsplit(':', 1)[-1]}",
            context=REPO_ROOT / "collector",
            dockerfile=REPO_ROOT / "images" / "collector" / "Dockerfile",
            args={"COLLECTOR_BASE": args.base_image},
            opts=child,
        )
        self.container = p.container(
            f"{name}-server",
            alias=INTERNAL_HOST, service="collector",
            image=self.image.repo_digest,
            envs=env_list(args.environment),
            # Browsers reach it: publishable beyond the host with expose.services (config.EXPOSABLE).
            ports=[p.publish(PORT, args.host_port, "collector")],
            # The image has Python, not curl.
            healthcheck=healthcheck(
                f"python -c \"import urllib.request; urllib.request.urlopen('http://localhost:{PORT}/readyz', timeout=3)\"",
                interval=5, timeout=5, retries=24, start_period=5),
            memory=MEMORY_MB,
            wait_timeout=180,
            opts=replace_safely(child, depends_on=[self.schema, *args.depends_on]),
        )
        self.register_outputs({"schema": self.schema, "image": self.image, "container": self.container,
                               "url": self.url})
