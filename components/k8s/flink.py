"""Flink on the Flink Kubernetes Operator: the PyFlink insights job as a `FlinkDeployment` in
application mode, upgraded through savepoints.

- Image: `kubernetes.flinkImage`, built from images/flink (Python, PyFlink, connector jars, the
  the flink_job/udf jar) and pushed to a registry the cluster pulls from.
- Job code: `flink_job/*.py` reaches the pods as an immutable ConfigMap mounted at the same path as
  the Docker platform's bind mount (`/opt/flink/usrlib/clickstream/`), not baked into the image.
  A change of the code makes a new ConfigMap (a new name), which changes the FlinkDeployment's pod
  template, which the operator rolls out as a savepoint upgrade: stop with a savepoint, start the
  new code from it. Rebuilding an image for a code change would do the same but needs a registry
  round trip per change, and the Docker platform already treats code as data.
- Program arguments: `components.spec.job_arguments(...)` (as on Docker, with in-cluster
  addresses). The job sets its own parallelism and checkpointing from them; `job.parallelism` is
  the operator's (it sizes the TaskManagers from it), from the same config value.
- State: checkpoints, savepoints and HA metadata under `kubernetes.flinkStateDir` (object storage),
  or on a shared PVC mounted at `/opt/flink/data` in the JobManager and every TaskManager.
- Scale: `flink.parallelism`; the operator runs ceil(parallelism / slotsPerTaskmanager) TaskManagers
  (native mode). `taskManager.replicas` is left unset because the operator lets it override the
  job's parallelism.

Config keys are the Flink 1.19 names (`state.checkpoints.dir`, `state.savepoints.dir`): operator
1.10.0 is built on Flink 1.19.1 and validates those keys; Flink 1.20 reads them as fallbacks.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from ..spec import FLINK_DATA_DIR as DATA_DIR, FLINK_JOB_DIR as JOB_DIR, FLINK_JOB_PATH as JOB_PATH
from ..spec import FLINK_REST_PORT as REST_PORT, flink_cluster_settings
from .common import (REPO_ROOT, RESTRICTED_CONTAINER, SLOW, K8sPlacement, ObservedCustomResource, cpu_cores,
                     file_set, restricted_pod, wait_for)

API_VERSION = "flink.apache.org/v1beta1"
DEPLOYMENT_NAME = "clickstream-insights"
MAIN_CONTAINER = "flink-main-container"  # the operator merges the pod template into this container
SERVICE_ACCOUNT = "flink"  # created in the watched namespace by the operator's chart
FLINK_UID = 9999

# The filesystem plugin the official image enables for each object-store scheme (ENABLE_BUILT_IN_PLUGINS).
FS_PLUGINS = {
    "s3": "flink-s3-fs-presto", "s3p": "flink-s3-fs-presto", "s3a": "flink-s3-fs-hadoop",
    "gs": "flink-gs-fs-hadoop", "abfs": "flink-azure-fs-hadoop", "abfss": "flink-azure-fs-hadoop",
    "wasb": "flink-azure-fs-hadoop", "wasbs": "flink-azure-fs-hadoop", "oss": "flink-oss-fs-hadoop",
}


def flink_version(base_image: str) -> str:
    """`1.20.3` from `flink:1.20.3-scala_2.12-java17`."""
    match = re.search(r":([0-9]+\.[0-9]+\.[0-9]+)", base_image)
    if not match:
        raise ValueError(f"cannot read a Flink version from {base_image!r}")
    return match.group(1)


def crd_flink_version(version: str) -> str:
    """The FlinkDeployment `flinkVersion` enum value: `v1_20` for 1.20.x."""
    major, minor = version.split(".")[:2]
    return f"v{major}_{minor}"


@dataclass
class FlinkArgs:
    placement: K8sPlacement
    image: str  # kubernetes.flinkImage; a change rolls JobManager and TaskManagers (savepoint upgrade)
    base_image: str  # images.flinkBase: the Flink version inside `image`
    job_args: Sequence[str]  # components/spec.py job_arguments(...)
    parallelism: int  # the operator sizes TaskManagers from it; a change is a savepoint upgrade
    slots_per_taskmanager: int
    jobmanager_memory: str
    taskmanager_memory: str
    jobmanager_cpu: str
    taskmanager_cpu: str
    state_dir: str  # object-store URI; empty: a shared PVC
    storage_size: str
    storage_access_mode: str
    job_state: str  # `suspended`: stop with a savepoint and keep it
    job_depends_on: Sequence[pulumi.Resource]  # topics, connector, schema
    depends_on: Sequence[pulumi.Resource]  # the operator release


def state_root(args: FlinkArgs) -> str:
    return args.state_dir.rstrip("/") if args.state_dir else f"file://{DATA_DIR}"


def flink_configuration(args: FlinkArgs) -> dict[str, str]:
    """The cluster settings both platforms give Flink (components/spec.py), and what Kubernetes adds;
    addresses, ports and memory are the operator's business, parallelism and checkpointing the job's."""
    root = state_root(args)
    return {
        "taskmanager.numberOfTaskSlots": str(args.slots_per_taskmanager),
        **flink_cluster_settings(root),
        # A JobManager that dies comes back with the job from its latest checkpoint.
        "high-availability.type": "kubernetes",
        "high-availability.storageDir": f"{root}/ha",
    }


class KubernetesFlink(pulumi.ComponentResource):
    job_code: k8s.core.v1.ConfigMap
    """`flink_job/*.py`, mounted at /opt/flink/usrlib/clickstream/."""
    state_volume: Optional[k8s.core.v1.PersistentVolumeClaim]
    deployment: ObservedCustomResource
    """The FlinkDeployment; awaited until the job runs (or is suspended, when asked)."""
    url: str
    """In-cluster REST API / web UI."""
    job_id: pulumi.Output[str]
    last_savepoint: pulumi.Output[str]

    def __init__(self, name: str, args: FlinkArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:KubernetesFlink", name, None, opts)
        p = args.placement
        child = pulumi.ResourceOptions(parent=self)
        self.url = f"http://{p.service_host(f'{DEPLOYMENT_NAME}-rest')}:{REST_PORT}"
        version = flink_version(args.base_image)

        code = file_set(REPO_ROOT / "flink_job", ("**/*.py",))
        self.job_code = k8s.core.v1.ConfigMap(
            f"{name}-job-code",
            # No name: Pulumi names it with a suffix, and as it is immutable a change of the code is a
            # new ConfigMap created before the old one is deleted.
            metadata={"namespace": p.namespace, "labels": p.labels("flink")},
            data=code.data,
            binary_data=code.binary_data or None,
            immutable=True,
            opts=child,
        )

        volumes: list[dict] = [{"name": "job-code", "configMap": {"name": self.job_code.metadata.name,
                                                                  "items": code.items}}]
        mounts: list[dict] = [{"name": "job-code", "mountPath": JOB_DIR, "readOnly": True}]
        env: list[dict] = []
        pod_spec: dict = {"securityContext": restricted_pod(FLINK_UID)}
        self.state_volume = None
        if args.state_dir:
            plugin = FS_PLUGINS.get(args.state_dir.split("://", 1)[0])
            if plugin:
                env.append({"name": "ENABLE_BUILT_IN_PLUGINS", "value": f"{plugin}-{version}.jar"})
        else:
            claim: dict = {"accessModes": [args.storage_access_mode],
                           "resources": {"requests": {"storage": args.storage_size}}}
            if p.storage_class:
                claim["storageClassName"] = p.storage_class
            self.state_volume = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-state",
                # Bound only when a pod mounts it (WaitForFirstConsumer classes): do not await Bound.
                metadata=p.metadata("flink-state", "flink", annotations={"pulumi.com/skipAwait": "true"}),
                spec=claim,
                # Savepoints and checkpoints: kept by a destroy unless the data is to go too.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=p.keep_data),
            )
            volumes.append({"name": "flink-state", "persistentVolumeClaim": {"claimName": self.state_volume.metadata.name}})
            mounts.append({"name": "flink-state", "mountPath": DATA_DIR})
            pod_spec["securityContext"] = restricted_pod(FLINK_UID, writes_volume=True)

        container: dict = {"name": MAIN_CONTAINER, "volumeMounts": mounts, "securityContext": RESTRICTED_CONTAINER}
        if env:
            container["env"] = env
        pod_template = {
            "metadata": {"labels": p.labels("flink"), "annotations": {"clickstreamer.io/job-code": code.digest}},
            "spec": {**pod_spec, "containers": [container], "volumes": volumes},
        }
        running = args.job_state == "running"
        self.deployment = ObservedCustomResource(
            f"{name}-deployment",
            api_version=API_VERSION,
            kind="FlinkDeployment",
            metadata=p.metadata(DEPLOYMENT_NAME, "flink", annotations=wait_for(
                "jsonpath={.status.lifecycleState}=STABLE", "jsonpath={.status.jobStatus.state}=RUNNING",
            ) if running else wait_for("jsonpath={.status.lifecycleState}=SUSPENDED")),
            spec={
                "image": args.image,
                "imagePullPolicy": "IfNotPresent",
                "flinkVersion": crd_flink_version(version),
                "mode": "native",
                "serviceAccount": SERVICE_ACCOUNT,
                "flinkConfiguration": flink_configuration(args),
                "podTemplate": pod_template,
                "jobManager": {"replicas": 1, "resource": {"cpu": cpu_cores(args.jobmanager_cpu),
                                                           "memory": args.jobmanager_memory}},
                "taskManager": {"resource": {"cpu": cpu_cores(args.taskmanager_cpu), "memory": args.taskmanager_memory}},
                "job": {
                    # PythonDriver lives in flink-python; the operator needs the jar as the job's jar.
                    "jarURI": f"local:///opt/flink/opt/flink-python-{version}.jar",
                    "entryClass": "org.apache.flink.client.python.PythonDriver",
                    # PyFlink options first, then the program's own arguments (PythonDriver parses in order).
                    "args": ["-py", JOB_PATH, *args.job_args],
                    "parallelism": args.parallelism,
                    "upgradeMode": "savepoint",
                    "state": args.job_state,
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self, custom_timeouts=SLOW,
                depends_on=[self.job_code, *([self.state_volume] if self.state_volume else []),
                            *args.depends_on, *args.job_depends_on],
            ),
        )
        job_status = self.deployment.status.apply(lambda s: (s or {}).get("jobStatus") or {})
        self.job_id = job_status.apply(lambda j: j.get("jobId") or "")
        self.last_savepoint = job_status.apply(
            lambda j: j.get("upgradeSavepointPath")
            or ((j.get("savepointInfo") or {}).get("lastSavepoint") or {}).get("location") or "")
        self.register_outputs({"deployment": self.deployment, "url": self.url, "job_id": self.job_id,
                               "last_savepoint": self.last_savepoint})
