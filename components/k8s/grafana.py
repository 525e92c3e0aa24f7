"""Grafana from its Helm chart, provisioned from the same files as the Docker platform.

Same files, same paths: `grafana/provisioning/` and `grafana/dashboards/` become ConfigMaps mounted
where the Docker platform bind-mounts them (`/etc/grafana/provisioning`, `/etc/grafana/dashboards`),
nested folders included. Same environment: the variables the Docker container gets
(components/grafana.py `grafana_environment`), with the in-cluster ClickHouse address, so the
datasource file's `$__env{...}` references resolve unchanged. Same secrets: one Secret mounted at
`/run/secrets` holding `grafana_admin_password` and `clickhouse_reader_password`, read through
`GF_SECURITY_ADMIN_PASSWORD__FILE` and the datasource's `$__file{...}`; the chart values hold no
credential (with `GF_SECURITY_ADMIN_PASSWORD__FILE` set the chart makes no admin Secret of its own).

A change of a provisioning file rolls the pod (a checksum annotation), since Grafana reads
datasources only at start; dashboards are rescanned by Grafana itself.

Plugin: with `kubernetes.grafanaImage` (built from images/grafana) the ClickHouse plugin is baked in
at `/var/lib/grafana-plugins`; otherwise the chart installs the pinned plugin version at start.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from ..grafana import PLUGIN_DIR, PORT as GRAFANA_PORT, SECRETS_DIR
from .common import REPO_ROOT, FileSet, K8sPlacement, file_set, resources, split_image
from .operators import GRAFANA, release

SERVICE_NAME = "grafana"
SERVICE_PORT = 80
SECRET_FILES = "grafana-secret-files"
# Repository folder -> where the Docker platform mounts it (components/grafana.py).
MOUNTS = {"provisioning": "/etc/grafana/provisioning", "dashboards": "/etc/grafana/dashboards"}


@dataclass
class GrafanaArgs:
    placement: K8sPlacement
    base_image: str  # images.grafanaBase: used with the chart-installed plugin when no image is given
    plugin_version: str  # images.grafanaClickhousePlugin
    image: str  # kubernetes.grafanaImage (plugin baked); "" = base image + plugin installed at start
    admin_user: str
    admin_password: pulumi.Input[str]  # secret
    anonymous_access: bool
    clickhouse_host: str  # in-cluster Service of ClickHouse
    clickhouse_port: int
    clickhouse_database: str
    clickhouse_user: str  # the reader
    clickhouse_password: pulumi.Input[str]  # secret
    storage_size: str = "2Gi"
    cpu: str = "100m"
    memory: str = "512Mi"
    depends_on: tuple = ()  # the schema migrations: dashboards query their tables


def grafana_env(args: GrafanaArgs) -> dict[str, str]:
    """The Docker container's environment (components/grafana.py), by name. The plugin path is
    set through grafana.ini instead: the chart sets GF_PATHS_PLUGINS from it."""
    return {
        "GF_SECURITY_ADMIN_USER": args.admin_user,
        "GF_SECURITY_ADMIN_PASSWORD__FILE": f"{SECRETS_DIR}/grafana_admin_password",
        "GF_AUTH_ANONYMOUS_ENABLED": "true" if args.anonymous_access else "false",
        "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
        "CLICKHOUSE_HOST": args.clickhouse_host,
        "CLICKHOUSE_PORT": str(args.clickhouse_port),
        "CLICKHOUSE_DATABASE": args.clickhouse_database,
        "CLICKHOUSE_READER_USER": args.clickhouse_user,
    }


def provisioned_files() -> dict[str, FileSet]:
    """The repository's Grafana files by folder (`provisioning`, `dashboards`), read at preview."""
    return {folder: file_set(REPO_ROOT / "grafana" / folder) for folder in MOUNTS}


def chart_values(args: GrafanaArgs, files: dict[str, FileSet]) -> dict[str, Any]:
    if args.image:
        registry, repository, tag = split_image(args.image)
        plugins: list[str] = []
        plugin_dir = PLUGIN_DIR  # outside the data volume, as baked by images/grafana
    else:
        registry, repository, tag = split_image(args.base_image)
        plugins = [f"grafana-clickhouse-datasource {args.plugin_version}"]
        plugin_dir = "/var/lib/grafana/plugins"  # on the data volume: installed once, kept
    persistence: dict[str, Any] = {"enabled": True, "size": args.storage_size}
    if args.placement.storage_class:
        persistence["storageClassName"] = args.placement.storage_class
    return {
        "fullnameOverride": SERVICE_NAME,
        "image": {"registry": registry, "repository": repository, "tag": tag},
        "replicas": 1,  # sqlite on the volume: one writer
        "persistence": persistence,
        "resources": resources(args.cpu, args.memory),
        "plugins": plugins,
        "env": grafana_env(args),
        "grafana.ini": {"paths": {"plugins": plugin_dir}},
        "extraSecretMounts": [{
            "name": "secret-files", "secretName": SECRET_FILES, "mountPath": SECRETS_DIR,
            "readOnly": True, "defaultMode": 0o440,
        }],
        "extraConfigmapMounts": [
            {"name": f"grafana-{folder}", "configMap": f"grafana-{folder}", "mountPath": MOUNTS[folder],
             "readOnly": True, "items": files[folder].items}
            for folder in MOUNTS
        ],
        "podAnnotations": {"clickstreamer.io/provisioning": files["provisioning"].digest},
        "service": {"type": "ClusterIP", "port": SERVICE_PORT, "targetPort": GRAFANA_PORT},
        "testFramework": {"enabled": False},
    }


class KubernetesGrafana(pulumi.ComponentResource):
    secret_files: k8s.core.v1.Secret
    config_maps: dict[str, k8s.core.v1.ConfigMap]
    release: k8s.helm.v3.Release
    url: str
    """In-cluster URL."""

    def __init__(self, name: str, args: GrafanaArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:KubernetesGrafana", name, None, opts)
        p = args.placement
        child = pulumi.ResourceOptions(parent=self)
        self.url = f"http://{p.service_host(SERVICE_NAME)}:{SERVICE_PORT}"

        self.secret_files = k8s.core.v1.Secret(
            f"{name}-secret-files",
            metadata=p.metadata(SECRET_FILES, "grafana"),
            string_data={
                "grafana_admin_password": pulumi.Output.secret(args.admin_password),
                "clickhouse_reader_password": pulumi.Output.secret(args.clickhouse_password),
            },
            opts=child,
        )
        files = provisioned_files()
        self.config_maps = {
            folder: k8s.core.v1.ConfigMap(
                f"{name}-{folder}",
                metadata=p.metadata(f"grafana-{folder}", "grafana"),
                data=fs.data,
                binary_data=fs.binary_data or None,
                opts=child,
            )
            for folder, fs in files.items()
        }
        self.release = release(
            f"{name}-release", SERVICE_NAME, GRAFANA, p.namespace, chart_values(args, files),
            pulumi.ResourceOptions(parent=self, depends_on=[
                self.secret_files, *self.config_maps.values(), *args.depends_on]),
        )
        self.register_outputs({"release": self.release, "url": self.url})
