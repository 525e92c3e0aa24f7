"""Grafana, built FROM `grafana/grafana` with the ClickHouse plugin baked in (images/grafana), with
the datasource and dashboards provisioned from `grafana/` in the repo (bind-mounted read-only, so
an edited dashboard file reaches Grafana without replacing the container).

Secrets reach the container as uploaded files read through Grafana's `__FILE` / `$__file{}`
indirections, never as environment variables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_docker as docker

from ..spec import GRAFANA_ADMIN_PASSWORD_FILE, GRAFANA_MOUNTS, GRAFANA_PLUGIN_DIR, GRAFANA_PORT as PORT
from ..resources.grafana_admin import GrafanaAdminPassword
from ..spec import GRAFANA_READER_PASSWORD_FILE, GRAFANA_SECRET_KEY_FILE
from .common import REPO_ROOT, DockerPlacement, env_list, healthcheck, local_image, replace_safely

INTERNAL_HOST = "grafana"
GRAFANA_UID = "472"
GRAFANA_MEMORY_MB = 512


@dataclass
class GrafanaArgs:
    placement: DockerPlacement
    base_image: str  # pinned grafana image the plugin image is built FROM
    plugin_version: str  # grafana-clickhouse-datasource version baked in
    host_port: int
    environment: dict  # components/spec.py grafana_environment
    admin_password: pulumi.Input[str]  # secret; applied when Grafana first initialises its database
    clickhouse_password: pulumi.Input[str]  # secret: the reader's
    secret_key: pulumi.Input[str]  # secret: Grafana's secret_key
    depends_on: tuple = ()  # ClickHouse schema: dashboards query its tables


def grafana_environment(args: GrafanaArgs) -> list[str]:
    # The plugin baked by images/grafana is outside the data volume.
    return env_list({**args.environment, "GF_PATHS_PLUGINS": GRAFANA_PLUGIN_DIR})


class Grafana(pulumi.ComponentResource):
    image: docker.Image
    container: docker.Container
    admin_password: GrafanaAdminPassword
    """Keeps Grafana's admin password the stack's, on a running Grafana too."""
    url: str

    def __init__(self, name: str, args: GrafanaArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:Grafana", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.placement
        self.url = p.url(args.host_port, "grafana")

        self.image = local_image(
            f"{name}-image",
            image_name=f"clickstreamer/grafana:{args.base_image.rsplit(':', 1)[-1]}-clickhouse-{args.plugin_version}",
            context=REPO_ROOT / "images" / "grafana",
            dockerfile=REPO_ROOT / "images" / "grafana" / "Dockerfile",
            args={"GRAFANA_BASE": args.base_image, "CLICKHOUSE_PLUGIN_VERSION": args.plugin_version},
            opts=child,
        )
        volume = p.volume(f"{name}-data", "grafana", child)
        secret_file = lambda path, value: docker.ContainerUploadArgs(  # noqa: E731
            file=path, content=pulumi.Output.secret(value), permissions="0400", owner=GRAFANA_UID, group="0"
        )
        self.container = p.container(
            f"{name}-server",
            alias=INTERNAL_HOST, service="grafana",
            image=self.image.repo_digest,
            envs=grafana_environment(args),
            uploads=[
                secret_file(GRAFANA_ADMIN_PASSWORD_FILE, args.admin_password),
                secret_file(GRAFANA_READER_PASSWORD_FILE, args.clickhouse_password),
                secret_file(GRAFANA_SECRET_KEY_FILE, args.secret_key),
            ],
            mounts=[docker.ContainerMountArgs(type="bind", source=str(REPO_ROOT / "grafana" / folder), target=target,
                                              read_only=True)
                    for folder, target in GRAFANA_MOUNTS.items()],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/var/lib/grafana")],
            ports=[p.publish(PORT, args.host_port, "grafana")],
            healthcheck=healthcheck(f"curl -fsS http://localhost:{PORT}/api/health >/dev/null",
                                    interval=5, timeout=5, retries=36, start_period=10),
            memory=GRAFANA_MEMORY_MB,
            wait_timeout=240,
            opts=replace_safely(child, depends_on=list(args.depends_on)),
        )
        # Grafana reads the admin password file only when it creates its database: a later change
        # of the stack's password is made through its API.
        self.admin_password = GrafanaAdminPassword(
            f"{name}-admin", url=self.url, user=args.environment["GF_SECURITY_ADMIN_USER"],
            password=args.admin_password, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )
        self.register_outputs({"image": self.image, "container": self.container, "admin_password": self.admin_password,
                               "url": self.url})
