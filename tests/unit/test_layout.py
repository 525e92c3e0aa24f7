"""The code's layout keeps the platforms apart, and every value has one owner.

- components/docker/ and components/k8s/ render the platform-neutral pipeline (components/spec.py)
  and never import each other; the shared modules import neither (read from the imports
  themselves, so a new import that crosses is caught here).
- The job's own settings (parallelism, checkpoint interval) reach only the job: changing them
  changes no container, cluster or other resource input.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.harness import REPO_ROOT, build_program

COMPONENTS = REPO_ROOT / "components"
K8S = {"platform": "kubernetes",
       "kubernetes": {"flinkImage": "registry.example.com/clickstreamer/flink:1.20.3-1",
                      "connectBuildRegistry": "registry.example.com/clickstreamer"}}


def imported_modules(path: Path, package: str = "") -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved against `package`,
    by default the one `path` sits in)."""
    package = package or ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


FORBIDDEN = {
    "docker": ("components.k8s", "pulumi_kubernetes"),
    "k8s": ("components.docker", "pulumi_docker"),
    "shared": ("components.docker", "components.k8s", "pulumi_docker", "pulumi_kubernetes"),
}


def placement(path: Path) -> str:
    parts = path.relative_to(COMPONENTS).parts
    return parts[0] if parts[0] in ("docker", "k8s") else "shared"


@pytest.mark.parametrize("path", modules_under(COMPONENTS), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_module_crosses_into_the_other_platform(path):
    crossing = {name for name in imported_modules(path)
                for forbidden in FORBIDDEN[placement(path)] if name == forbidden or name.startswith(forbidden + ".")}
    assert not crossing, f"{path.relative_to(REPO_ROOT)} ({placement(path)}) imports {sorted(crossing)}"


def test_the_import_reader_sees_a_crossing(tmp_path):
    """The check above can fail: a relative import from a Docker module into k8s is found."""
    module = tmp_path / "probe.py"
    module.write_text("from ..k8s.common import file_set\n")
    assert "components.k8s.common" in imported_modules(module, package="components.docker")


def _inputs_by_resource(config: dict) -> dict[tuple[str, str], dict]:
    return {(r.type, r.name): r.raw_inputs for r in build_program(config).resources}


@pytest.mark.parametrize("platform", [{}, K8S], ids=["docker", "kubernetes"])
def test_the_jobs_own_settings_change_only_the_job(platform):
    base = _inputs_by_resource({**platform, "flink": {"parallelism": 2, "checkpointIntervalSeconds": 10}})
    changed = _inputs_by_resource({**platform, "flink": {"parallelism": 1, "checkpointIntervalSeconds": 30}})

    assert base.keys() == changed.keys()
    differing = {key for key in base if base[key] != changed[key]}
    job = ("pulumi-python:dynamic/flink:Job", "clickstream-flink-job") if not platform else \
        ("kubernetes:flink.apache.org/v1beta1:FlinkDeployment", "clickstream-flink-deployment")
    assert differing == {job}, f"only the job may change; changed: {sorted(differing)}"
    if platform:  # the FlinkDeployment holds the cluster too: only its `job` part may change
        before, after = base[job]["spec"], changed[job]["spec"]
        assert {k for k in before if before[k] != after[k]} == {"job"}
