"""The three runtime resources under the real Pulumi engine: `pulumi up`, `preview`, `refresh` and
`destroy` of a small program (a topic, a FileStream connector, a Flink job) against the real
broker, Connect worker and Flink cluster, with a local file backend.

The program lives in a temporary project whose `components/` links to this repository's, the way
the real project has it at its root: the engine, the Python language host and the dynamic-provider
host (`pulumi-resource-pulumi-python`) resolve the providers exactly as in a real `up`.

Needs the Pulumi CLI (`make pulumi-cli` builds it into .cache/pulumi/bin; or on PATH).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.clients.connect_rest import ConnectClient
from components.clients.flink_rest import FlinkClient
from components.clients.kafka_admin import KafkaAdmin, TopicSpec
from tests.integration.helpers import JOBS, unique
from tests.support.maven import REPO_ROOT


def pulumi_bin() -> Path | None:
    built = REPO_ROOT / ".cache" / "pulumi" / "bin" / "pulumi"
    if built.is_file():
        return built.parent
    found = shutil.which("pulumi")
    return Path(found).parent if found else None


pytestmark = pytest.mark.skipif(pulumi_bin() is None, reason="no Pulumi CLI: run `make pulumi-cli` (builds it into "
                                                               ".cache/pulumi/bin) or put `pulumi` on PATH")

PROGRAM = '''\
import pulumi

from components.resources.connector import Connector
from components.resources.flink_job import FlinkJob
from components.resources.topic import KafkaTopic

c = pulumi.Config()
counts = KafkaTopic("counts", bootstrap_servers=c.require("bootstrap"), topic=c.require("countsTopic"),
                    partitions=c.require_int("partitions"), config={"retention.ms": c.require("retentionMs")},
                    allow_data_loss=c.get_bool("allowDataLoss") or False)
files = Connector("files", connect_url=c.require("connectUrl"), connector_name=c.require("connectorName"),
                  config={"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
                          "file": c.require("file"), "topic": counts.topic, "tasks.max": 1},
                  secret_config={"value.converter.basic.auth.user.info": c.require_secret("registryAuth")})
job = FlinkJob("job", rest_url=c.require("flinkUrl"), job_path=c.require("jobPath"),
               args=["--bootstrap-servers", c.require("bootstrap"), "--topic", counts.topic, "--tag", c.require("tag"),
                     "--parallelism", c.require("parallelism")],
               code_hash=c.require("codeHash"),
               savepoint_dir=c.require("savepointDir"), on_destroy="savepoint")
pulumi.export("partitions", counts.partitions)
pulumi.export("connectorState", files.state)
pulumi.export("jobId", job.job_id)
pulumi.export("lastSavepoint", job.last_savepoint)
'''


class Stack:
    def __init__(self, root: Path, env: dict) -> None:
        self.root, self.env = root, env

    def run(self, *args: str, ok: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        done = subprocess.run(["pulumi", *args, "--non-interactive"], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        if ok and done.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-6000:]}\n{done.stderr[-4000:]}")
        return done

    def set(self, **values) -> None:
        for key, value in values.items():
            self.run("config", "set", key, str(value))

    def outputs(self) -> dict:
        return json.loads(self.run("stack", "output", "--json").stdout)


@pytest.fixture
def stack(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "Pulumi.yaml").write_text(
        "name: runtime-resources\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {REPO_ROOT / '.venv'}\n")
    (root / "__main__.py").write_text(PROGRAM)
    (root / "components").symlink_to(REPO_ROOT / "components")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({
        "PATH": f"{pulumi_bin()}:{env.get('PATH', '')}",
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "integration-test-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    })
    (tmp_path / "state").mkdir()
    s = Stack(root, env)
    s.run("stack", "init", "it")
    yield s
    s.run("destroy", "--yes", ok=False)  # a failed step still leaves nothing running


def test_up_preview_refresh_and_destroy_under_the_real_engine(stack, kafka, connect, flink, tmp_path):
    admin, connect_client, flink_client = KafkaAdmin(kafka.bootstrap), ConnectClient(connect.url), FlinkClient(flink.rest_url)
    lines = tmp_path / "lines.txt"
    lines.write_text("one\ntwo\n")
    topic, connector = unique("counts"), unique("files")
    stack.set(bootstrap=kafka.bootstrap, countsTopic=topic, partitions=2, retentionMs=3600000, connectUrl=connect.url,
              connectorName=connector, file=lines, flinkUrl=flink.rest_url, jobPath=JOBS / "counting_job.py", tag="v1",
              codeHash="code-1", parallelism=1, savepointDir=f"file://{flink.savepoint_dir}")
    stack.run("config", "set", "--secret", "registryAuth", "user:pa55-word")

    stack.run("up", "--yes")
    out = stack.outputs()
    assert (out["partitions"], out["connectorState"]) == (2, "RUNNING")
    assert flink_client.job(out["jobId"]).state == "RUNNING"
    assert connect_client.get_config(connector)["value.converter.basic.auth.user.info"] == "user:pa55-word"
    assert "pa55-word" not in stack.run("stack", "export").stdout  # encrypted in the state, never plain

    stack.run("preview", "--expect-no-changes")  # every diff is truthful: nothing changed, nothing shown

    stack.set(partitions=3, retentionMs=7200000, tag="v2", codeHash="code-2")
    stack.run("up", "--yes")
    upgraded = stack.outputs()
    assert admin.describe(topic) == admin.wait_converged(TopicSpec(topic, 3, 1, {"retention.ms": "7200000"}))
    assert upgraded["jobId"] != out["jobId"] and upgraded["lastSavepoint"].startswith("file:")
    assert flink_client.job(out["jobId"]).state == "FINISHED" and flink_client.job(upgraded["jobId"]).state == "RUNNING"

    # Drift made outside Pulumi: refresh shows it, up puts the declared config back.
    live = connect_client.get_config(connector)
    connect_client.put_config(connector, {**live, "batch.size": "3"})
    stack.run("refresh", "--yes")
    assert stack.run("preview", "--expect-no-changes", ok=False).returncode != 0
    stack.run("up", "--yes")
    assert "batch.size" not in connect_client.get_config(connector)
    stack.run("preview", "--expect-no-changes")

    # Fewer partitions would drop data: preview refuses and says why.
    stack.set(partitions=1)
    refused = stack.run("preview", ok=False)
    assert refused.returncode != 0
    assert "Kafka cannot remove partitions" in refused.stdout + refused.stderr
    stack.set(partitions=3)

    stack.run("destroy", "--yes")
    assert admin.describe(topic) is None and connect_client.get_config(connector) is None
    assert flink_client.job(upgraded["jobId"]).state == "FINISHED"  # stopped with a savepoint, not cancelled
