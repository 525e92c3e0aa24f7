"""Resolve the jar sets the tests run real engines from, with Maven, into an ignored cache.

Each set is a `pom.xml` under `tests/support/maven/<set>/` that lists what to run; Maven resolves
the transitive closure from Maven Central into `.cache/jars/<set>/` (local repository in
`.cache/m2/`), so a warm machine resolves nothing and a fresh one needs only `mvn` and Java.
Stdlib only: imported by both the program's and the Flink job's environments.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("CLICKSTREAMER_CACHE", REPO_ROOT / ".cache"))
POM_DIR = Path(__file__).resolve().parent / "maven"


class JarResolutionError(RuntimeError):
    """Maven could not resolve a jar set; the message carries Maven's output."""


def jar_set(name: str) -> Path:
    """Return the folder holding every jar of set `name`, resolving it first when needed.

    The folder is reused while the pom is unchanged (a stamp holds the pom's hash), so repeated
    test runs cost nothing.
    """
    pom = POM_DIR / name / "pom.xml"
    if not pom.is_file():
        raise JarResolutionError(f"no jar set {name!r}: {pom} does not exist")
    out = CACHE_DIR / "jars" / name
    stamp = out / ".pom-sha256"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return out
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarResolutionError("`mvn` is not on PATH: install Maven (Debian package `maven`)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cmd = [
        mvn, "-q", "-B",
        f"-Dmaven.repo.local={CACHE_DIR / 'm2'}",
        "-f", str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out}",
        "-DincludeScope=runtime",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise JarResolutionError(
            f"resolving jar set {name!r} failed (exit {done.returncode}):\n"
            f"{done.stdout[-4000:]}{done.stderr[-4000:]}"
        )
    stamp.write_text(digest)
    return out


if __name__ == "__main__":  # `python tests/support/maven.py kafka flink` warms the cache
    import sys

    for set_name in sys.argv[1:]:
        print(jar_set(set_name))
