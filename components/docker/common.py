"""What every Docker-platform component shares: the network it joins, where ports are published,
and small builders for the pulumi-docker arguments each container repeats.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from ..config import url_host

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every container restarts with the Docker daemon; the Confluent images also exit when Kafka is
# late (a 40 s `cub kafka-ready` wait), and the restart brings them back.
RESTART_POLICY = "unless-stopped"
# No process in a container may gain privileges (setuid binaries, file capabilities).
SECURITY_OPTS = ["no-new-privileges:true"]
# What a JVM container needs beyond its heap (metaspace, threads, buffers, the healthcheck's tool).
JVM_OVERHEAD_MB = 768


def megabytes(size: str) -> int:
    """`512m` / `2g` (JVM and Flink sizes) in MB, for a container's memory limit."""
    number, unit = re.fullmatch(r"([0-9]+)([mg])", size).groups()
    return int(number) * (1024 if unit == "g" else 1)


@dataclass
class DockerPlacement:
    """Where a service's containers go: the stack network, and the host address each published port
    binds: loopback, or `expose_address` for the services the user chose to expose."""

    network_name: pulumi.Input[str]  # the docker network all services join
    bind_address: str  # loopback address ports are published on
    host_address: str  # bind_address as host-side clients (the providers, the user) write it in a URL
    stack_label: str  # value of the `clickstreamer.stack` label on every container
    expose_address: str = ""  # where exposed services are published (config expose.address)
    exposed: tuple[str, ...] = ()  # config expose.services
    keep_data: bool = True  # destroy leaves the data volumes (config dropDataOnDestroy: false)

    def network(self, alias: str) -> list[docker.ContainerNetworksAdvancedArgs]:
        """Join the stack network under `alias`: the stable DNS name other containers use."""
        return [docker.ContainerNetworksAdvancedArgs(name=self.network_name, aliases=[alias])]

    def publish(self, internal: int, external: int, service: str = "") -> docker.ContainerPortArgs:
        """Publish `internal` on host port `external`: on loopback, or beyond it if `service` is exposed."""
        ip = self.expose_address if service and service in self.exposed else self.bind_address
        return docker.ContainerPortArgs(internal=internal, external=external, ip=ip)

    def exposure(self, service: str, port: int) -> Optional[str]:
        """`address:port` an exposed service is published on (None when it stays on loopback)."""
        if service not in self.exposed:
            return None
        return f"{url_host(self.expose_address)}:{port}"

    def container(self, resource_name: str, *, alias: str, service: str, image: pulumi.Input[str],
                  healthcheck: docker.ContainerHealthcheckArgs, wait_timeout: int, opts: pulumi.ResourceOptions,
                  **fields) -> docker.Container:
        """A container as every service of the stack runs: on the stack network under `alias` (also
        its host name), labelled with the stack and `service`, restarted with the daemon, unable to
        gain privileges, and created (`wait`) only once its healthcheck passes. `fields`: the rest
        of docker.Container's arguments (env, ports, volumes, memory, ...)."""
        return docker.Container(
            resource_name,
            image=image,
            hostname=alias,
            networks_advanced=self.network(alias),
            healthcheck=healthcheck,
            labels=self.labels(service),
            restart=RESTART_POLICY,
            security_opts=SECURITY_OPTS,
            must_run=True,
            wait=True,
            wait_timeout=wait_timeout,
            opts=opts,
            **fields,
        )

    def volume(self, resource_name: str, service: str, opts: pulumi.ResourceOptions) -> docker.Volume:
        """The data volume of `service`, named `clickstreamer-<stack>-<service>`: a volume that a
        destroy kept (`keep_data`) is found again by the next `up` of the stack under that name.
        (A volume made by an earlier version under a generated name keeps it: `ignore_changes`.)"""
        return docker.Volume(
            resource_name,
            name=f"clickstreamer-{self.stack_label}-{service}",
            labels=[docker.VolumeLabelArgs(label="clickstreamer.stack", value=self.stack_label)],
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
                retain_on_delete=self.keep_data, ignore_changes=["name"])),
        )

    def labels(self, service: str) -> list[docker.ContainerLabelArgs]:
        return [
            docker.ContainerLabelArgs(label="clickstreamer.stack", value=self.stack_label),
            docker.ContainerLabelArgs(label="clickstreamer.service", value=service),
        ]

    def url(self, port: int, service: str = "", scheme: str = "http") -> str:
        """The service as this host reaches it: on loopback, or on the address it is exposed on
        (one on 0.0.0.0 / :: answers on loopback too)."""
        host = self.host_address
        if service in self.exposed and not ipaddress.ip_address(self.expose_address).is_unspecified:
            host = url_host(self.expose_address)
        return f"{scheme}://{host}:{port}"


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
