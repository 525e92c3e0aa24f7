"""Grafana from its Helm chart, provisioned from the same files as the Docker platform.

Same files, same paths: `grafana/provisioning/` and `grafana/dashboards/` become ConfigMaps mounted
where the Docker platform bind-mounts them (`/etc/grafana/provisioning`, `/etc/grafana/dashboards`),
nested folders included. Same environment: the variables the Docker container gets
(components/spec.py `grafana_environment`), with the in-cluster ClickHouse address, so the
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

from ..spec import GRAFANA_MOUNTS as MOUNTS, GRAFANA_PLUGIN_DIR as PLUGIN_DIR, GRAFANA_PORT
from ..spec import GRAFANA_ADMIN_PASSWORD_FILE, GRAFANA_READER_PASSWORD_FILE, GRAFANA_SECRET_KEY_FILE
from ..spec import GRAFANA_SECRETS_DIR as SECRETS_DIR
from .common import (REPO_ROOT, RESTRICTED_CONTAINER, FileSet, K8sPlacement, file_set, resources, restricted_pod,
                     split_image)
from .operators import GRAFANA, release

SERVICE_NAME = "grafana"
SERVICE_PORT = 80
SECRET_FILES = "grafana-secret-files"
GRAFANA_UID = 472  # the image's `grafana` user


@dataclass
class GrafanaArgs:
    placement: K8sPlacement
    base_image: str  # images.grafanaBase: used with the chart-installed plugin when no image is given
    plugin_version: str  # images.grafanaClickhousePlugin
    image: str  # kubernetes.grafanaImage (plugin baked); "" = base image + plugin installed at start
    environment: dict  # components/spec.py grafana_environment (in-cluster ClickHouse)
    admin_password: pulumi.Input[str]  # secret
    clickhouse_password: pulumi.Input[str]  # secret: the reader's
    secret_key: pulumi.Input[str]  # secret: Grafana's secret_key
    storage_size: str
    cpu: str
    memory: str
    depends_on: tuple  # the schema migrations: dashboards query their tables


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
    if args.placement.keep_data:  # Helm leaves a resource with this policy when the release goes
        persistence["annotations"] = {"helm.sh/resource-policy": "keep"}
    if args.placement.storage_class:
        persistence["storageClassName"] = args.placement.storage_class
    return {
        "fullnameOverride": SERVICE_NAME,
        "image": {"registry": registry, "repository": repository, "tag": tag},
        "replicas": 1,  # sqlite on the volume: one writer
        "persistence": persistence,
        # `restricted`: fsGroup makes the volume writable, so the chart's root chown init container is not needed.
        "securityContext": restricted_pod(GRAFANA_UID, writes_volume=True),
        "containerSecurityContext": RESTRICTED_CONTAINER,
        "initChownData": {"enabled": False},
        "resources": resources(args.cpu, args.memory),
        "plugins": plugins,
        # The plugin path is set through grafana.ini instead: the chart sets GF_PATHS_PLUGINS from it.
        "env": args.environment,
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
                # Mounted at SECRETS_DIR: each key is the file name Grafana reads.
                GRAFANA_ADMIN_PASSWORD_FILE.rsplit("/", 1)[1]: pulumi.Output.secret(args.admin_password),
                GRAFANA_READER_PASSWORD_FILE.rsplit("/", 1)[1]: pulumi.Output.secret(args.clickhouse_password),
                GRAFANA_SECRET_KEY_FILE.rsplit("/", 1)[1]: pulumi.Output.secret(args.secret_key),
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
