"""`pulumi preview` of the real program (this repository's Pulumi.yaml and __main__.py) with the real
Pulumi CLI on a local file backend.

What runs here: the CLI built from the Go module proxy (`make pulumi-cli`). The docker and random
providers cannot be built from any registry this machine reaches (docs/pulumi-cli.md), so the full
preview of the dev stack runs only where those plugins are installed; elsewhere it skips saying so.
The config-validation path needs no provider and always runs with the CLI: a bad stack config fails
the preview with the key named and no resource planned.
"""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.pulumi_cli import cli_path, missing_plugins

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI_PATH = cli_path()
pytestmark = pytest.mark.skipif(CLI_PATH is None, reason="no Pulumi CLI: `make pulumi-cli` builds one into "
                                                          ".cache/pulumi/bin, or install it and put it on PATH")


@pytest.fixture()
def dev_stack(tmp_path):
    """Stack `dev` of the real project on a throwaway file backend."""
    env = {
        **os.environ,
        "PATH": CLI_PATH,
        "PULUMI_BACKEND_URL": f"file://{tmp_path}",
        "PULUMI_CONFIG_PASSPHRASE": "preview-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    stack = f"dev{uuid.uuid4().hex[:6]}"

    def pulumi(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pulumi", *args, "--stack", stack, "--non-interactive"], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    created = subprocess.run(["pulumi", "stack", "init", stack, "--non-interactive"], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    try:
        yield pulumi, env
    finally:
        pulumi("stack", "rm", "--yes", "--force")
        stack_file = REPO_ROOT / f"Pulumi.{stack}.yaml"
        stack_file.unlink(missing_ok=True)


def test_preview_refuses_bad_config_naming_the_key_before_any_resource(dev_stack):
    pulumi, _ = dev_stack
    assert pulumi("config", "set", "--path", "clickstreamer:flink.parallelism", "99").returncode == 0
    assert pulumi("config", "set", "clickstreamer:bindAddress", "localhost").returncode == 0

    preview = pulumi("preview", "--diff")

    output = preview.stdout + preview.stderr
    assert preview.returncode != 0, output
    assert "clickstreamer:flink.parallelism = 99" in output, output
    assert "clickstreamer:bindAddress = 'localhost'" in output, output
    for planned in ("docker:index", "random:index", "pulumi-python:dynamic"):
        assert planned not in output, f"the preview planned {planned} resources despite the bad config:\n{output}"


def test_preview_of_the_dev_stack_plans_the_whole_pipeline(dev_stack):
    pulumi, env = dev_stack
    missing = missing_plugins(env)
    if missing:
        pytest.skip(f"provider plugin(s) not installed and not installable: {'; '.join(missing)}. They cannot be "
                    "built from any registry this machine reaches (docs/pulumi-cli.md); install them to run this")

    preview = pulumi("preview", "--diff")

    output = preview.stdout + preview.stderr
    assert preview.returncode == 0, output
    for planned in ("clickstreamer:index:ClickstreamPipeline", "docker:index/container:Container",
                    "pulumi-python:dynamic/flink:Job", "pulumi-python:dynamic/clickhouse:SchemaMigrations",
                    "pulumi-python:dynamic/kafkaconnect:Connector", "pulumi-python:dynamic/kafka:Topic"):
        assert planned in output, f"{planned} missing from the preview:\n{output[-4000:]}"
