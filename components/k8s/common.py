"""What every Kubernetes-platform component shares: where its objects go, how readiness is awaited,
how resource requests are written, and how repository files become ConfigMaps.

Readiness: custom resources carry `pulumi.com/waitFor` (pulumi-kubernetes 4.x generic await), so a
dependent is created only once its operator reports the resource ready; Deployments, Services and
Helm releases use pulumi-kubernetes' built-in await.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.apiextensions.CustomResource import CustomResourceArgs

from ..errors import ClickstreamerError

REPO_ROOT = Path(__file__).resolve().parents[2]

WAIT_FOR = "pulumi.com/waitFor"
# Operators need minutes for a cluster (pulls, volume binding, rolling); the generic await's own
# default is 10 minutes.
SLOW = pulumi.CustomTimeouts(create="30m", update="30m", delete="15m")

# A ConfigMap holds at most 1 MiB (etcd's object limit); stay under it with room for metadata.
CONFIGMAP_LIMIT = 1_000_000


@dataclass
class K8sPlacement:
    """Where a service's objects go and how they are labelled and stored."""

    namespace: pulumi.Input[str]  # the pipeline's namespace (the Namespace resource's name when created)
    namespace_name: str  # the same, as a plain string for in-cluster DNS names
    storage_class: str  # "" = the cluster's default StorageClass
    stack_label: str  # value of the `clickstreamer.io/stack` label
    keep_data: bool = True  # destroy leaves volumes and topics (config dropDataOnDestroy: false)

    def labels(self, service: str) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": service,
            "app.kubernetes.io/part-of": "clickstreamer",
            "app.kubernetes.io/managed-by": "pulumi",
            "clickstreamer.io/stack": self.stack_label,
        }

    def metadata(self, name: str, service: str, annotations: Optional[Mapping[str, str]] = None,
                 labels: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": self.namespace,
                                "labels": {**self.labels(service), **(labels or {})}}
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta

    def service_host(self, service: str) -> str:
        """The in-cluster DNS name of Service `service` (resolvable from any namespace)."""
        return f"{service}.{self.namespace_name}.svc"


# The `restricted` Pod Security Standard for the pods this project writes itself: no root, no
# privilege escalation, no capabilities, the runtime's default seccomp profile.
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def restricted_pod(uid: int, writes_volume: bool = False) -> dict[str, Any]:
    """A pod securityContext meeting `restricted` for an image whose user is `uid`; `writes_volume`:
    mounted volumes are made writable for that user's group (fsGroup)."""
    context: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
                               "seccompProfile": {"type": "RuntimeDefault"}}
    if writes_volume:
        context["fsGroup"] = uid
    return context


def wait_for(*expressions: str) -> dict[str, str]:
    """The `pulumi.com/waitFor` annotation: one expression, or a JSON list that must all hold."""
    if not expressions:
        raise ValueError("at least one wait expression is required")
    return {WAIT_FOR: expressions[0] if len(expressions) == 1 else json.dumps(list(expressions))}


def resources(cpu: str, memory: str) -> dict[str, Any]:
    """Requests for scheduling; a memory limit equal to the request (an OOM-kill, not node pressure,
    ends a process that outgrows it) and no CPU limit (throttling a JVM hurts more than sharing)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity (`500m`, `2`) as cores, for specs that take a number."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def split_image(reference: str) -> tuple[str, str, str]:
    """`registry/repo/name:tag` as (registry, repository, tag); Docker Hub when no registry is named."""
    name, tag = reference.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag
    return "docker.io", name, tag


class ObservedCustomResource(CustomResource):
    """A CustomResource whose live `status` is an output (the operator's view: job id, savepoint).

    pulumi-kubernetes returns the whole live object; the Python CustomResource only surfaces
    apiVersion/kind/metadata/spec, so `status` is declared here as an output property.
    """

    def _internal_init(self, resource_name: str, api_version: str, kind: str,
                       opts: Optional[pulumi.ResourceOptions] = None, metadata: Any = None, spec: Any = None,
                       __props__: Any = None) -> None:
        props = CustomResourceArgs.__new__(CustomResourceArgs)
        props.__dict__.update(api_version=api_version, kind=kind, metadata=metadata, spec=spec, status=None)
        pulumi.CustomResource.__init__(self, f"kubernetes:{api_version}:{kind}", resource_name, props, opts)

    @property
    @pulumi.getter
    def status(self) -> pulumi.Output[Any]:
        return pulumi.get(self, "status")


@dataclass(frozen=True)
class FileSet:
    """Repository files as ConfigMap content: `data` (text) / `binary_data` (base64) by key, and the
    `items` that put every key back at its relative path when the ConfigMap is mounted."""

    data: dict[str, str]
    binary_data: dict[str, str]
    items: list[dict[str, str]]
    digest: str  # sha256 over relative paths and contents: changes exactly when a file does

    @property
    def paths(self) -> list[str]:
        return [item["path"] for item in self.items]


_KEY_UNSAFE = re.compile(r"[^-._a-zA-Z0-9]")


def file_set(root: Path, patterns: Sequence[str] = ("**/*",)) -> FileSet:
    """Every file under `root` matching `patterns` (sorted), keyed for a ConfigMap.

    ConfigMap keys cannot hold `/`, so nested files get a flattened key and an item mapping it back
    to its path; the mount then reproduces the folder exactly as the Docker platform bind-mounts it.
    """
    import base64

    root = Path(root)
    paths = sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()
                    and not any(part in ("__pycache__", ".pytest_cache") for part in p.relative_to(root).parts)})
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    items: list[dict[str, str]] = []
    digest = hashlib.sha256()
    size = 0
    for path in paths:
        rel = path.relative_to(root).as_posix()
        key = _KEY_UNSAFE.sub("_", rel.replace("/", "."))
        if key in data or key in binary:
            raise ClickstreamerError("two files map to one ConfigMap key", folder=str(root), key=key,
                                     hint="rename one of them")
        content = path.read_bytes()
        digest.update(rel.encode() + b"\0" + content + b"\0")
        size += len(content)
        try:
            data[key] = content.decode("utf-8")
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(content).decode("ascii")
        items.append({"key": key, "path": rel})
    if size > CONFIGMAP_LIMIT:
        raise ClickstreamerError("files too large for one ConfigMap", folder=str(root), bytes=size,
                                 limit=CONFIGMAP_LIMIT, hint="bake them into the image instead")
    return FileSet(data, binary, items, digest.hexdigest())
