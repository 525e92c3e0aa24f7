"""End to end: the real program, `pulumi up` through the Automation API on a local file backend.

up → every URL answers → events flow datagen → Kafka → Flink → Kafka → ClickHouse (row counts
grow; per-minute stats match the raw events they came from) → Grafana lists the provisioned
dashboards and its ClickHouse datasource is healthy → a second `up` changes nothing → a change of
the job's code upgrades it through a savepoint with no count lost → `destroy` → no container,
network or volume of the stack remains.

Runs where a Docker daemon, the Pulumi CLI and the images (or registry access) are present; skips
otherwise, saying which is missing. Run it alone with `make test-e2e`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.config import Images
from tests.support.processes import free_port, wait_for
from tests.support.pulumi_cli import cli_path, missing_plugins

REPO_ROOT = Path(__file__).resolve().parents[2]


def _pulumi_cli() -> str | None:
    path = cli_path()
    if path is not None:
        os.environ["PATH"] = path  # the Automation API runs `pulumi` from PATH
    return path


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def _missing_prerequisite() -> str | None:
    """Why the e2e test cannot run here, or None."""
    how = "Run it on a Docker host with registry access: `make test-e2e`."
    if shutil.which("docker") is None or _docker("info").returncode != 0:
        return f"no Docker daemon answers (`docker info` fails). {how}"
    if _pulumi_cli() is None:
        return f"no Pulumi CLI on PATH (install it, or `make pulumi-cli`). {how}"
    plugins = missing_plugins(dict(os.environ))
    if plugins:
        return f"the Pulumi CLI lacks provider plugins: {'; '.join(plugins)}. {how}"
    images = Images()
    pulled = (images.kafka, images.schema_registry, images.connect_base, images.flink_base,
              images.clickhouse, images.grafana_base)
    for image in pulled:
        if _docker("image", "inspect", image).returncode == 0:
            continue
        pull = _docker("pull", image, timeout=600)
        if pull.returncode != 0:
            return f"image {image} is neither local nor pullable ({pull.stderr.strip()[:200]}). {how}"
    return None


SKIP_REASON = _missing_prerequisite()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=f"e2e skipped: {SKIP_REASON}")


def _get(url: str, auth: tuple[str, str] | None = None, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        import base64

        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _labelled(kind: str, stack: str) -> list[str]:
    args = {"container": ["ps", "-a"], "network": ["network", "ls"], "volume": ["volume", "ls"]}[kind]
    done = _docker(*args, "-q", "--filter", f"label=clickstreamer.stack={stack}")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory) -> Path:
    """A copy of the project: the test edits job code, never the checkout's."""
    dest = tmp_path_factory.mktemp("e2e") / "clickstreamer"
    shutil.copytree(REPO_ROOT, dest, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".cache", ".pulumi-state", "__pycache__", ".pytest_cache"))
    return dest


@dataclass
class StackUnderTest:
    stack: "auto.Stack"  # noqa: F821 - pulumi.automation is imported lazily
    name: str  # also the value of the clickstreamer.stack label on every container, network, volume
    destroyed: bool = False


@pytest.fixture(scope="module")
def e2e(project_copy, tmp_path_factory):
    from pulumi import automation as auto

    state = tmp_path_factory.mktemp("state")
    name = f"e2e{uuid.uuid4().hex[:6]}"
    env = {"PULUMI_BACKEND_URL": f"file://{state}", "PULUMI_CONFIG_PASSPHRASE": "e2e-only-passphrase"}
    workspace = auto.LocalWorkspace(
        work_dir=str(project_copy), env_vars=env,
        project_settings=auto.ProjectSettings(
            name="clickstreamer", runtime=auto.ProjectRuntimeInfo(
                name="python", options={"toolchain": "pip", "virtualenv": str(REPO_ROOT / ".venv")})),
    )
    stack = auto.Stack.create(name, workspace)
    ports = {key: free_port() for key in ("kafka", "schemaRegistry", "connect", "flinkUi", "clickhouseHttp",
                                          "clickhouseNative", "grafana")}
    stack.set_all_config({
        "clickstreamer:ports": auto.ConfigValue(json.dumps(ports)),
        "clickstreamer:datagen": auto.ConfigValue(json.dumps({"maxIntervalMs": 10})),
        "clickstreamer:flink": auto.ConfigValue(json.dumps({"checkpointIntervalSeconds": 5})),
    })
    under_test = StackUnderTest(stack=stack, name=name)
    try:
        yield under_test
    finally:
        # A failed `up` (or a failed assertion) still tears everything down.
        if not under_test.destroyed:
            stack.destroy(on_output=print)
        workspace.remove_stack(name)


def test_stack_end_to_end(e2e, project_copy):
    from clickhouse_connect import get_client

    stack = e2e.stack
    up = stack.up(on_output=print)
    out = {key: value.value for key, value in up.outputs.items()}

    # Every URL answers.
    assert _get(f"{out['grafanaUrl']}/api/health")[0] == 200
    assert _get(f"{out['flinkUrl']}/overview")[0] == 200
    assert _get(f"{out['connectUrl']}/connectors")[0] == 200
    assert _get(f"{out['schemaRegistryUrl']}/subjects")[0] == 200
    assert _get(f"{out['clickhouseUrl']}/ping")[0] == 200
    assert _get(f"{out['collectorUrl']}/readyz")[0] == 200
    assert _get(out["demoSiteUrl"])[0] == 200 and _get(f"{out['collectorUrl']}/cs.js")[0] == 200
    assert out["flinkJobId"] and out["schemaVersion"]

    host, port = out["clickhouseUrl"].removeprefix("http://").split(":")
    ch = get_client(host=host, port=int(port), username=out["clickhouseUser"],
                    password=out["clickhousePassword"], database="clickstream")

    # Events flow through Flink into ClickHouse: counts grow.
    first = wait_for("raw events in ClickHouse", lambda: ch.command("SELECT count() FROM pageviews"), 240)
    wait_for("raw events to keep growing", lambda: ch.command("SELECT count() FROM pageviews") > first, 120)
    # Per-minute stats equal the raw events they came from, for minutes the watermark has closed.
    closed_minutes = wait_for("a closed minute in page_stats_1m", lambda: ch.query(
        "SELECT window_start, sum(views) FROM page_stats_1m FINAL GROUP BY window_start ORDER BY window_start"
    ).result_rows[:-2], 300)
    for window_start, views in closed_minutes:
        raw = ch.command("SELECT count() FROM (SELECT DISTINCT kafka_partition, kafka_offset FROM pageviews "
                         f"WHERE toStartOfMinute(event_time) = toDateTime64('{window_start}', 3, 'UTC'))")
        assert raw == views, f"minute {window_start}: {views} views in page_stats_1m, {raw} raw events"

    # Grafana: provisioned dashboards listed, datasource healthy.
    auth = (out["grafanaAdminUser"], out["grafanaAdminPassword"])
    status, body = _get(f"{out['grafanaUrl']}/api/search?type=dash-db", auth)
    assert status == 200 and len(json.loads(body)) >= 2, body
    status, body = _get(f"{out['grafanaUrl']}/api/datasources/uid/clickhouse/health", auth)
    assert status == 200 and json.loads(body).get("status") == "OK", body

    # A second up with no change changes nothing.
    preview = stack.preview(on_output=print)
    changes = {op: n for op, n in preview.change_summary.items() if op != "same"}
    assert changes == {}, f"second preview wants changes: {changes}"

    # A change of job code upgrades the job through a savepoint; counts carry on.
    before = ch.command("SELECT count() FROM pageviews")
    job_file = project_copy / "flink_job" / "job.py"
    job_file.write_text(job_file.read_text() + "\n# e2e: a code change that must upgrade through a savepoint\n")
    upgraded = stack.up(on_output=print)
    new_out = {key: value.value for key, value in upgraded.outputs.items()}
    assert new_out["flinkJobId"] != out["flinkJobId"], "the job was not resubmitted"
    assert new_out["flinkLastSavepoint"], "no savepoint was taken before the upgrade"
    wait_for("counts to continue after the upgrade",
             lambda: ch.command("SELECT count() FROM pageviews") > before, 240)

    # Destroy leaves nothing of the stack.
    stack.destroy(on_output=print)
    e2e.destroyed = True
    assert _labelled("container", e2e.name) == []
    assert _labelled("network", e2e.name) == []
    assert _labelled("volume", e2e.name) == []
