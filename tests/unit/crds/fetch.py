"""The CRDs of the operators the Kubernetes platform pins, obtained from Maven Central at test time
and cached under `.cache/crds/` (never committed: they are the projects' files, not ours).

- Strimzi 0.45.0: `io.strimzi:api` + `io.strimzi:crd-generator` are resolved (tests/support/maven/
  k8s-crds/pom.xml) and Strimzi's own generator is run over the api classes with the arguments of
  Strimzi's build (api/pom.xml of 0.45.0, `generate-crd-co-install-v1*`). The output is the CRD set
  of the 0.45.0 release (byte-for-byte equal to packaging/install/cluster-operator/ of the tag,
  checked when this script was written).
- Flink Kubernetes Operator 1.10.0: the CRDs are inside `org.apache.flink:flink-kubernetes-operator-api`
  (META-INF/fabric8/*.yml), the same files as the chart's crds/ folder.
- Altinity clickhouse-operator and the Grafana chart have no copy on a registry this machine
  reaches: tests/unit/test_kubernetes_program.py holds the minimal field lists it checks, naming the
  upstream file and version they were read from.

`python -m tests.unit.crds.fetch` warms the cache; `crd_folder()` is what the tests call.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tests.support.maven import CACHE_DIR, POM_DIR, JarResolutionError, jar_set

JAR_SET = "k8s-crds"
STRIMZI_GENERATOR = "io.strimzi.crdgenerator.CrdGenerator"
# (api versions, {model class: file}) per generator run, as in Strimzi 0.45.0's api/pom.xml.
STRIMZI_RUNS = [
    ("v1beta2", {
        "io.strimzi.api.kafka.model.kafka.Kafka": "040-Crd-kafka.yaml",
        "io.strimzi.api.kafka.model.connect.KafkaConnect": "041-Crd-kafkaconnect.yaml",
        "io.strimzi.api.kafka.model.connector.KafkaConnector": "047-Crd-kafkaconnector.yaml",
        "io.strimzi.api.kafka.model.nodepool.KafkaNodePool": "04A-Crd-kafkanodepool.yaml",
    }),
    ("v1alpha1,v1beta1,v1beta2", {
        "io.strimzi.api.kafka.model.topic.KafkaTopic": "043-Crd-kafkatopic.yaml",
    }),
]
FLINK_CRDS = ("flinkdeployments.flink.apache.org-v1.yml", "flinksessionjobs.flink.apache.org-v1.yml")


class CrdFetchError(RuntimeError):
    """The CRDs could not be obtained; the message says which step failed and its output."""


def crd_folder() -> Path:
    """A folder with every CRD file the unit tests check against, made on first use."""
    pom = POM_DIR / JAR_SET / "pom.xml"
    recipe = hashlib.sha256(pom.read_bytes() + repr((STRIMZI_RUNS, FLINK_CRDS)).encode()).hexdigest()
    out = CACHE_DIR / "crds" / recipe[:16]
    stamp = out / ".complete"
    if stamp.is_file():
        return out
    jars = jar_set(JAR_SET)
    java = shutil.which("java")
    if java is None:
        raise CrdFetchError("`java` is not on PATH: Strimzi's CRD generator runs on Java 11+ (Debian: default-jre)")
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as scratch:
        work = Path(scratch)
        for versions, classes in STRIMZI_RUNS:
            args = [java, "-cp", f"{jars}/*", STRIMZI_GENERATOR,
                    "--label", "app:strimzi", "--label", "strimzi.io/crd-install:true", "--target-kube", "1.16+",
                    "--crd-api-version", "v1", "--api-versions", versions, "--storage-version", "v1beta2",
                    "--yaml", *(f"{cls}={work / name}" for cls, name in classes.items())]
            done = subprocess.run(args, capture_output=True, text=True, timeout=300)
            missing = [name for name in classes.values() if not (work / name).is_file()]
            if done.returncode != 0 or missing:
                raise CrdFetchError(f"Strimzi's CRD generator failed (exit {done.returncode}, missing {missing}):\n"
                                    f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
        api_jars = sorted(jars.glob("flink-kubernetes-operator-api-*.jar"))
        if len(api_jars) != 1:
            raise CrdFetchError(f"expected one flink-kubernetes-operator-api jar in {jars}, found {api_jars}")
        with zipfile.ZipFile(api_jars[0]) as jar:
            for name in FLINK_CRDS:
                (work / name).write_bytes(jar.read(f"META-INF/fabric8/{name}"))
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(work, out)
    stamp.write_text(recipe)
    return out


if __name__ == "__main__":
    try:
        print(crd_folder())
    except (CrdFetchError, JarResolutionError) as err:
        print(err, file=sys.stderr)
        sys.exit(1)
