"""What every Docker-platform component shares: the network it joins, where ports are published,
and small builders for the pulumi-docker arguments each container repeats.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every container restarts with the Docker daemon; the Confluent images also exit when Kafka is
# late (a 40 s `cub kafka-ready` wait), and the restart brings them back.
RESTART_POLICY = "unless-stopped"


@dataclass
class DockerPlacement:
    """Where a service's containers go: the stack network and the host address for published ports."""

    network_name: pulumi.Input[str]  # the docker network all services join
    bind_address: str  # host IP ports are published on (127.0.0.1 unless the user asks otherwise)
    host_address: str  # address host-side clients (the providers, the user) use, bracketed if IPv6
    stack_label: str  # value of the `clickstreamer.stack` label on every container

    def network(self, alias: str) -> list[docker.ContainerNetworksAdvancedArgs]:
        """Join the stack network under `alias`: the stable DNS name other containers use."""
        return [docker.ContainerNetworksAdvancedArgs(name=self.network_name, aliases=[alias])]

    def publish(self, internal: int, external: int) -> docker.ContainerPortArgs:
        return docker.ContainerPortArgs(internal=internal, external=external, ip=self.bind_address)

    def labels(self, service: str) -> list[docker.ContainerLabelArgs]:
        return [
            docker.ContainerLabelArgs(label="clickstreamer.stack", value=self.stack_label),
            docker.ContainerLabelArgs(label="clickstreamer.service", value=service),
        ]

    def url(self, port: int, scheme: str = "http") -> str:
        return f"{scheme}://{self.host_address}:{port}"


def healthcheck(command: str, interval: int = 10, timeout: int = 10, retries: int = 30,
                start_period: int = 20) -> docker.ContainerHealthcheckArgs:
    """A shell healthcheck; `wait=True` on the container makes Pulumi wait for it to pass."""
    return docker.ContainerHealthcheckArgs(
        tests=["CMD-SHELL", command],
        interval=f"{interval}s",
        timeout=f"{timeout}s",
        retries=retries,
        start_period=f"{start_period}s",
    )


def replace_safely(opts: pulumi.ResourceOptions, depends_on: Optional[Sequence[pulumi.Resource]] = None
                   ) -> pulumi.ResourceOptions:
    """Options for a container that publishes host ports: delete the old one before creating its
    replacement, or the new one would fail to bind the same port."""
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(delete_before_replace=True, depends_on=list(depends_on or []))
    )


def local_image(name: str, image_name: str, context: Path, dockerfile: Path, args: dict[str, str],
                opts: pulumi.ResourceOptions, buildkit: bool = False) -> docker.Image:
    """An image built by the Docker daemon and kept local (never pushed). Containers should run
    its `repo_digest` (the local image id), so that a rebuild replaces them."""
    return docker.Image(
        name,
        image_name=image_name,
        build=docker.DockerBuildArgs(
            context=str(context),
            dockerfile=str(dockerfile),
            args=args,
            builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT if buildkit else None,
            platform="linux/amd64",
        ),
        skip_push=True,
        opts=opts,
    )


def files_digest(root: Path, patterns: Sequence[str] = ("**/*",), exclude: Sequence[str] = ()) -> str:
    """sha256 over the relative paths and contents of the files under `root` (sorted), so a change
    of any of them, and only that, changes the digest. Computed at preview time."""
    digest = hashlib.sha256()
    paths = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if any(part in ("__pycache__", ".pytest_cache") for part in path.parts) or any(
            Path(rel).match(x) for x in exclude
        ):
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def env_list(settings: dict) -> list[str]:
    """`KEY=value` lines for a container's `envs` from settings by name."""
    return [f"{key}={value}" for key, value in settings.items()]
