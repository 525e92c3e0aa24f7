"""Flink: a session cluster (one JobManager, N TaskManagers) from an image built FROM the official
`flink` image with Python, PyFlink and the connector jars (images/flink), and the PyFlink insights
job (`flink_job/`) submitted to it as a resource.

The job folder is bind-mounted read-only into every Flink container instead of baked into the
image: a change of job code must reach the cluster as a savepoint upgrade of the job (FlinkJob),
not as a rebuilt image that replaces the containers and drops the running job's state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import pulumi
import pulumi_docker as docker

from .docker_common import (REPO_ROOT, RESTART_POLICY, DockerPlacement, files_digest, healthcheck,
                            local_image, replace_safely)
from .resources.flink_job import FlinkJob

JOBMANAGER_HOST = "jobmanager"
REST_PORT = 8081
DATA_DIR = "/opt/flink/data"  # named volume shared by JM and TMs: checkpoints and savepoints
JOB_DIR = "/opt/flink/usrlib/clickstream"  # flink_job/ bind-mounted here
JOB_PATH = f"{JOB_DIR}/job.py"


@dataclass
class FlinkArgs:
    placement: DockerPlacement
    base_image: str  # pinned official flink image the cluster image is built FROM
    host_port: int  # host port of the web UI / REST API
    taskmanagers: int = 1  # adding one adds a container; removing one removes it
    slots_per_taskmanager: int = 2  # changing it restarts the TaskManagers (and the job, from a checkpoint)
    parallelism: int = 2  # job parallelism: a change upgrades the job through a savepoint
    checkpoint_interval_seconds: int = 10
    jobmanager_memory: str = "1600m"
    taskmanager_memory: str = "1728m"
    on_destroy: str = "savepoint"
    job_args: Sequence[pulumi.Input[str]] = field(default_factory=list)  # program arguments of flink_job/job.py
    job_depends_on: Sequence[pulumi.Resource] = field(default_factory=list)  # topics, schema, migrations


def flink_properties(args: FlinkArgs) -> str:
    """FLINK_PROPERTIES for the 1.20 entrypoint: one `key: value` per line, and no spaces inside
    values (the entrypoint strips all whitespace from each line, FLINK-38587)."""
    props = {
        "jobmanager.rpc.address": JOBMANAGER_HOST,
        "rest.port": REST_PORT,
        "taskmanager.numberOfTaskSlots": args.slots_per_taskmanager,
        "parallelism.default": args.parallelism,
        "jobmanager.memory.process.size": args.jobmanager_memory,
        "taskmanager.memory.process.size": args.taskmanager_memory,
        # Filesystem storage on the shared volume: stop-with-savepoint needs it, and it survives
        # container replacement.
        "execution.checkpointing.storage": "filesystem",
        "execution.checkpointing.dir": f"file://{DATA_DIR}/checkpoints",
        "execution.checkpointing.savepoint-dir": f"file://{DATA_DIR}/savepoints",
        "execution.checkpointing.interval": f"{args.checkpoint_interval_seconds}s",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "restart-strategy.type": "exponential-delay",
        "web.upload.dir": f"{DATA_DIR}/uploads",
        "python.executable": "python3",
        "python.client.executable": "python3",
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
        volume = docker.Volume(
            f"{name}-data", labels=[docker.VolumeLabelArgs(label="clickstreamer.stack", value=p.stack_label)], opts=child
        )
        mounts = [
            docker.ContainerMountArgs(type="volume", source=volume.name, target=DATA_DIR),
            docker.ContainerMountArgs(type="bind", source=str(REPO_ROOT / "flink_job"), target=JOB_DIR, read_only=True),
        ]
        env = [f"FLINK_PROPERTIES={flink_properties(args)}", "PYTHONDONTWRITEBYTECODE=1"]

        self.jobmanager = docker.Container(
            f"{name}-jobmanager",
            image=self.image.repo_digest,
            command=["jobmanager"],
            hostname=JOBMANAGER_HOST,
            networks_advanced=p.network(JOBMANAGER_HOST),
            envs=env,
            ports=[p.publish(REST_PORT, args.host_port)],
            mounts=mounts,
            healthcheck=healthcheck(f"curl -fsS http://localhost:{REST_PORT}/overview >/dev/null",
                                    interval=5, timeout=5, retries=36, start_period=15),
            labels=p.labels("flink-jobmanager"),
            restart=RESTART_POLICY,
            must_run=True,
            wait=True,
            wait_timeout=240,
            opts=replace_safely(child),
        )
        self.taskmanagers = []
        for index in range(args.taskmanagers):
            alias = f"taskmanager-{index}"
            self.taskmanagers.append(docker.Container(
                f"{name}-{alias}",
                image=self.image.repo_digest,
                command=["taskmanager"],
                hostname=alias,
                networks_advanced=p.network(alias),
                envs=env,
                mounts=mounts,
                # Healthy once registered with the JobManager (its resource id carries the TM's address).
                healthcheck=healthcheck(
                    f"curl -fsS http://{JOBMANAGER_HOST}:{REST_PORT}/taskmanagers"
                    " | grep -q \"$(hostname -i | cut -d' ' -f1):\"",
                    interval=5, timeout=5, retries=36, start_period=15,
                ),
                labels=p.labels("flink-taskmanager"),
                restart=RESTART_POLICY,
                must_run=True,
                wait=True,
                wait_timeout=240,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.jobmanager]),
            ))

        self.job = FlinkJob(
            f"{name}-job",
            rest_url=self.url,
            job_path=JOB_PATH,
            args=list(args.job_args),
            code_hash=job_code_hash(),
            savepoint_dir=f"file://{DATA_DIR}/savepoints",
            on_destroy=args.on_destroy,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self.taskmanagers, *args.job_depends_on]),
        )
        self.register_outputs({
            "image": self.image, "jobmanager": self.jobmanager, "taskmanagers": self.taskmanagers,
            "job": self.job, "url": self.url,
        })
