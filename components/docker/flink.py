"""Flink: a session cluster (one JobManager, N TaskManagers) from an image built FROM the official
`flink` image with Python, PyFlink and the connector jars (images/flink), and the PyFlink insights
job (`flink_job/`) submitted to it as a resource.

The job folder is bind-mounted read-only into every Flink container instead of baked into the
image: a change of job code must reach the cluster as a savepoint upgrade of the job (FlinkJob),
not as a rebuilt image that replaces the containers and drops the running job's state.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from ..resources.flink_job import FlinkJob
from ..spec import FLINK_DATA_DIR as DATA_DIR, FLINK_JOB_DIR as JOB_DIR, FLINK_JOB_PATH as JOB_PATH
from ..spec import FLINK_REST_PORT as REST_PORT, flink_cluster_settings
from .common import REPO_ROOT, DockerPlacement, files_digest, healthcheck, local_image, megabytes, replace_safely

JOBMANAGER_HOST = "jobmanager"
# Flink's process sizes cover its JVMs; the Python interpreter that plans the job (JobManager) and
# the Python workers' own overhead (TaskManagers) come on top.
PYTHON_MB = 512
# Checkpoints and savepoints on the named volume shared by the JobManager and TaskManagers.
CLUSTER_SETTINGS = flink_cluster_settings(f"file://{DATA_DIR}")


@dataclass
class FlinkArgs:
    placement: DockerPlacement
    base_image: str  # pinned official flink image the cluster image is built FROM
    host_port: int  # host port of the web UI / REST API
    taskmanagers: int  # adding one adds a container; removing one removes it
    slots_per_taskmanager: int  # changing it restarts the TaskManagers
    jobmanager_memory: str
    taskmanager_memory: str
    on_destroy: str  # `savepoint` (kept on the volume) or `cancel`
    job_args: Sequence[pulumi.Input[str]]  # components/spec.py job_arguments: a change upgrades the job
    job_depends_on: Sequence[pulumi.Resource]  # topics, schema, migrations


def flink_properties(args: FlinkArgs) -> str:
    """FLINK_PROPERTIES for the 1.20 entrypoint: one `key: value` per line, and no spaces inside
    values (the entrypoint strips all whitespace from each line, FLINK-38587). Only the cluster's
    settings: the job sets its own parallelism and checkpointing (components/spec.py)."""
    props = {
        "jobmanager.rpc.address": JOBMANAGER_HOST,
        "rest.port": REST_PORT,
        "taskmanager.numberOfTaskSlots": args.slots_per_taskmanager,
        "jobmanager.memory.process.size": args.jobmanager_memory,
        "taskmanager.memory.process.size": args.taskmanager_memory,
        **CLUSTER_SETTINGS,
        "web.upload.dir": f"{DATA_DIR}/uploads",
    }
    return "\n".join(f"{key}: {value}" for key, value in props.items())


def job_code_hash() -> str:
    """Digest of the job's files: a change triggers a savepoint upgrade of the running job."""
    return files_digest(REPO_ROOT / "flink_job", patterns=("**/*.py", "**/*.txt", "**/*.json", "**/*.sql"))


class Flink(pulumi.ComponentResource):
    image: docker.Image
    jobmanager: docker.Container
    taskmanagers: list[docker.Container]
    job: FlinkJob
    """The insights job; exports job_id and the last savepoint."""
    url: str
    """Web UI / REST API on the Docker host."""

    def __init__(self, name: str, args: FlinkArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:index:Flink", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        p = args.placement
        self.url = p.url(args.host_port)

        # Context: the repository root, narrowed by .dockerignore to the jar-set pom, the Java
        # functions and the PyFlink pin (not the job's Python code, which is mounted).
        self.image = local_image(
            f"{name}-image",
            image_name=f"clickstreamer/flink:{args.base_image.rsplit(':', 1)[-1]}",
            context=REPO_ROOT,
            dockerfile=REPO_ROOT / "images" / "flink" / "Dockerfile",
            args={"FLINK_IMAGE": args.base_image},
            opts=child,
            buildkit=True,
        )
        volume = p.volume(f"{name}-data", "flink", child)
        mounts = [
            docker.ContainerMountArgs(type="volume", source=volume.name, target=DATA_DIR),
            docker.ContainerMountArgs(type="bind", source=str(REPO_ROOT / "flink_job"), target=JOB_DIR, read_only=True),
        ]
        env = [f"FLINK_PROPERTIES={flink_properties(args)}", "PYTHONDONTWRITEBYTECODE=1"]

        self.jobmanager = p.container(
            f"{name}-jobmanager",
            alias=JOBMANAGER_HOST, service="flink-jobmanager",
            image=self.image.repo_digest,
            command=["jobmanager"],
            envs=env,
            ports=[p.publish(REST_PORT, args.host_port)],
            mounts=mounts,
            healthcheck=healthcheck(f"curl -fsS http://localhost:{REST_PORT}/overview >/dev/null",
                                    interval=5, timeout=5, retries=36, start_period=15),
            memory=megabytes(args.jobmanager_memory) + PYTHON_MB,
            wait_timeout=240,
            opts=replace_safely(child),
        )
        self.taskmanagers = []
        for index in range(args.taskmanagers):
            alias = f"taskmanager-{index}"
            self.taskmanagers.append(p.container(
                f"{name}-{alias}",
                alias=alias, service="flink-taskmanager",
                image=self.image.repo_digest,
                command=["taskmanager"],
                envs=env,
                mounts=mounts,
                # Healthy once registered with the JobManager (its resource id carries the TM's address).
                healthcheck=healthcheck(
                    f"curl -fsS http://{JOBMANAGER_HOST}:{REST_PORT}/taskmanagers"
                    " | grep -q \"$(hostname -i | cut -d' ' -f1):\"",
                    interval=5, timeout=5, retries=36, start_period=15,
                ),
                memory=megabytes(args.taskmanager_memory) + PYTHON_MB,
                wait_timeout=240,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.jobmanager]),
            ))

        self.job = FlinkJob(
            f"{name}-job",
            rest_url=self.url,
            job_path=JOB_PATH,
            args=list(args.job_args),
            code_hash=job_code_hash(),
            savepoint_dir=CLUSTER_SETTINGS["state.savepoints.dir"],
            on_destroy=args.on_destroy,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.taskmanagers, *args.job_depends_on]),
        )
        self.register_outputs({
            "image": self.image, "jobmanager": self.jobmanager, "taskmanagers": self.taskmanagers,
            "job": self.job, "url": self.url,
        })
