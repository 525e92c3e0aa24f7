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

from .docker_common import REPO_ROOT, RESTART_POLICY, DockerPlacement, healthcheck, local_image, replace_safely

INTERNAL_HOST = "grafana"
PORT = 3000
PLUGIN_DIR = "/var/lib/grafana-plugins"
SECRETS_DIR = "/run/secrets"
GRAFANA_UID = "472"


@dataclass
class GrafanaArgs:
    placement: DockerPlacement
    base_image: str  # pinned grafana image the plugin image is built FROM
    plugin_version: str  # grafana-clickhouse-datasource version baked in
    host_port: int
    admin_user: str
    admin_password: pulumi.Input[str]  # secret; applied when Grafana first initialises its database
    anonymous_access: bool
    clickhouse_host: str  # on the stack network
    clickhouse_port: int  # HTTP port on the stack network
    clickhouse_database: str
    clickhouse_user: str  # the read-only reader
    clickhouse_password: pulumi.Input[str]  # secret
    depends_on: tuple = ()  # ClickHouse schema: dashboards query its tables


def grafana_environment(args: GrafanaArgs) -> list[str]:
    return [
        f"GF_SECURITY_ADMIN_USER={args.admin_user}",
        f"GF_SECURITY_ADMIN_PASSWORD__FILE={SECRETS_DIR}/grafana_admin_password",
        f"GF_AUTH_ANONYMOUS_ENABLED={'true' if args.anonymous_access else 'false'}",
        "GF_USERS_ALLOW_SIGN_UP=false",
        "GF_ANALYTICS_REPORTING_ENABLED=false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES=false",
        f"GF_PATHS_PLUGINS={PLUGIN_DIR}",
        # Read by grafana/provisioning/datasources/*.yaml through $__env{...}; the password through
        # $__file{/run/secrets/clickhouse_reader_password}.
        f"CLICKHOUSE_HOST={args.clickhouse_host}",
        f"CLICKHOUSE_PORT={args.clickhouse_port}",
        f"CLICKHOUSE_DATABASE={args.clickhouse_database}",
        f"CLICKHOUSE_READER_USER={args.clickhouse_user}",
    ]


class Grafana(pulumi.ComponentResource):
    image: docker.Image
    container: docker.Container
    url: str

    def __init__(self, name: str, args: GrafanaArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:Grafana", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.placement
        self.url = p.url(args.host_port)

        self.image = local_image(
            f"{name}-image",
            image_name=f"clickstreamer/grafana:{args.base_image.rsplit(':', 1)[-1]}-clickhouse-{args.plugin_version}",
            context=REPO_ROOT / "images" / "grafana",
            dockerfile=REPO_ROOT / "images" / "grafana" / "Dockerfile",
            args={"GRAFANA_BASE": args.base_image, "CLICKHOUSE_PLUGIN_VERSION": args.plugin_version},
            opts=child,
        )
        volume = docker.Volume(
            f"{name}-data", labels=[docker.VolumeLabelArgs(label="clickstreamer.stack", value=p.stack_label)], opts=child
        )
        secret_file = lambda path, value: docker.ContainerUploadArgs(  # noqa: E731
            file=path, content=pulumi.Output.secret(value), permissions="0400", owner=GRAFANA_UID, group="0"
        )
        self.container = docker.Container(
            f"{name}-server",
            image=self.image.repo_digest,
            hostname=INTERNAL_HOST,
            networks_advanced=p.network(INTERNAL_HOST),
            envs=grafana_environment(args),
            uploads=[
                secret_file(f"{SECRETS_DIR}/grafana_admin_password", args.admin_password),
                secret_file(f"{SECRETS_DIR}/clickhouse_reader_password", args.clickhouse_password),
            ],
            mounts=[
                docker.ContainerMountArgs(type="bind", source=str(REPO_ROOT / "grafana" / "provisioning"),
                                          target="/etc/grafana/provisioning", read_only=True),
                docker.ContainerMountArgs(type="bind", source=str(REPO_ROOT / "grafana" / "dashboards"),
                                          target="/etc/grafana/dashboards", read_only=True),
            ],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/var/lib/grafana")],
            ports=[p.publish(PORT, args.host_port)],
            healthcheck=healthcheck(f"curl -fsS http://localhost:{PORT}/api/health >/dev/null",
                                    interval=5, timeout=5, retries=36, start_period=10),
            labels=p.labels("grafana"),
            restart=RESTART_POLICY,
            must_run=True,
            wait=True,
            wait_timeout=240,
            opts=replace_safely(child, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"image": self.image, "container": self.container, "url": self.url})
