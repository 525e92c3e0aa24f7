"""The Pulumi CLI the e2e tests drive, and the provider plugins the Docker program needs.

A regular Pulumi install downloads a missing provider plugin on first use; our machines reach no
download host (docs/pulumi-cli.md). So the tests ask for the plugins up front with `pulumi plugin
install` (seconds when it cannot reach a host) and skip, naming what is missing, only when that
fails. Stdlib only.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILT_CLI = REPO_ROOT / ".cache" / "pulumi" / "bin"

# Provider plugins of the Docker platform, by the Python package that pins their version.
DOCKER_PLATFORM_PLUGINS = {"docker": "pulumi-docker", "random": "pulumi-random"}


def cli_path() -> str | None:
    """A PATH on which `pulumi` is found (the CLI `make pulumi-cli` builds first), or None."""
    path = f"{BUILT_CLI}:{os.environ.get('PATH', '')}"
    return path if shutil.which("pulumi", path=path) else None


def _installed(name: str, env: dict) -> bool:
    if shutil.which(f"pulumi-resource-{name}", path=env["PATH"]):
        return True
    listed = subprocess.run(["pulumi", "plugin", "ls", "--json"], env=env, capture_output=True, text=True,
                            timeout=60)
    return listed.returncode == 0 and f'"name": "{name}"' in listed.stdout


def missing_plugins(env: dict, plugins: dict[str, str] = DOCKER_PLATFORM_PLUGINS) -> list[str]:
    """The plugins that are neither installed nor installable, each with why (empty: all present).

    `env` must put `pulumi` on PATH. A plugin is installed at the version of its Python package in
    this environment (requirements.txt), which is the version the program asks for.
    """
    missing = []
    for name, package in plugins.items():
        if _installed(name, env):
            continue
        try:
            wanted = version(package)
        except PackageNotFoundError:
            missing.append(f"{name} (Python package {package} not installed: `make venv`)")
            continue
        done = subprocess.run(["pulumi", "plugin", "install", "resource", name, wanted], env=env,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            missing.append(f"{name} v{wanted} (`pulumi plugin install` failed: {lines[-1] if lines else done.returncode})")
    return missing
