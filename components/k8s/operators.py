"""The operators the Kubernetes platform runs on, each installed from its own Helm chart at a pinned
version into the operators' namespace and told to watch the pipeline's namespace:

| operator | chart (repository) | manages |
| --- | --- | --- |
| Strimzi 0.45.0 | `strimzi-kafka-operator` (https://strimzi.io/charts/) | Kafka in KRaft node pools, KafkaTopic, KafkaConnect, KafkaConnector |
| Flink Kubernetes Operator 1.10.0 | `flink-kubernetes-operator` (Apache archive) | FlinkDeployment (Flink 1.16-1.20) |
| Altinity clickhouse-operator 0.25.6 | `altinity-clickhouse-operator` (https://helm.altinity.com) | ClickHouseInstallation |

Why these versions: Strimzi 0.45 is the last line that runs Kafka 3.x (3.9.0) with KRaft node pools
(`KafkaNodePool` v1beta2), and its CRDs can be rebuilt byte-for-byte from Maven Central
(`io.strimzi:api` + `io.strimzi:crd-generator` 0.45.0), which is how the unit tests check field
names; Flink operator 1.10.0 supports `flinkVersion: v1_20` and ships its CRDs inside
`org.apache.flink:flink-kubernetes-operator-api:1.10.0` on Maven Central; Altinity 0.25.6 reads
user passwords from Secrets (`valueFrom.secretKeyRef`).

Helm installs each chart's `crds/` on first install only: upgrading an operator means applying its
new CRDs first (docs/kubernetes.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repo: str


STRIMZI = Chart("strimzi-kafka-operator", "0.45.0", "https://strimzi.io/charts/")
FLINK_OPERATOR = Chart("flink-kubernetes-operator", "1.10.0",
                       # downloads.apache.org drops superseded releases; the archive keeps them.
                       "https://archive.apache.org/dist/flink/flink-kubernetes-operator-1.10.0/")
CLICKHOUSE_OPERATOR = Chart("altinity-clickhouse-operator", "0.25.6", "https://helm.altinity.com")
GRAFANA = Chart("grafana", "8.4.0", "https://grafana.github.io/helm-charts")  # appVersion 11.1.0

CHARTS = {"strimzi": STRIMZI, "flink": FLINK_OPERATOR, "clickhouse": CLICKHOUSE_OPERATOR, "grafana": GRAFANA}

KAFKA_VERSION = "3.9.0"  # the newest Kafka Strimzi 0.45.0 runs
KAFKA_METADATA_VERSION = "3.9-IV0"


def release(resource_name: str, release_name: str, chart: Chart, namespace: pulumi.Input[str],
            values: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
    """A Helm release of `chart` named `release_name` (what `helm list` shows), awaited until its
    workloads are ready (`helm --wait`)."""
    return k8s.helm.v3.Release(
        resource_name,
        k8s.helm.v3.ReleaseArgs(
            name=release_name,
            chart=chart.name,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace,
            values=values,
            skip_await=False,
            timeout=900,
            atomic=False,  # a failed install stays for `kubectl describe`; the next up upgrades it
            cleanup_on_fail=False,
        ),
        opts=opts,
    )


@dataclass
class OperatorsArgs:
    namespace: pulumi.Input[str]  # where the operators run (created by the pipeline unless told not to)
    watch_namespace: str  # the pipeline's namespace: the only one the operators act in
    restricted_pods: bool  # Strimzi's pods meet the `restricted` standard (not with an in-cluster Connect build)
    depends_on: tuple = ()  # both namespaces: the charts bind roles in the watched one


def strimzi_values(args: OperatorsArgs) -> dict[str, Any]:
    values: dict[str, Any] = {"watchNamespaces": [args.watch_namespace], "watchAnyNamespace": False}
    if args.restricted_pods:
        # Strimzi's own idiom for the `restricted` Pod Security Standard: every pod it makes gets a
        # restricted security context. Its restricted provider refuses KafkaConnect builds (the
        # build runs Kaniko as root), so with an in-cluster build Strimzi keeps its baseline provider.
        values["extraEnvs"] = [{"name": "STRIMZI_POD_SECURITY_PROVIDER_CLASS", "value": "restricted"}]
    return values


def flink_operator_values(args: OperatorsArgs) -> dict[str, Any]:
    return {
        "watchNamespaces": [args.watch_namespace],
        # The admission webhook needs cert-manager; the operator validates every spec again when it
        # reconciles, so the pipeline does without (an invalid spec shows in the resource's status).
        "webhook": {"create": False},
    }


def clickhouse_operator_values(args: OperatorsArgs) -> dict[str, Any]:
    return {
        # The hook re-applies CRDs with an unpinned `bitnami/kubectl:latest`; Helm's own crds/ install
        # is enough for a first install (docs/kubernetes.md covers operator upgrades).
        "crdHook": {"enabled": False},
        "configs": {"files": {"config.yaml": {"watch": {"namespaces": [args.watch_namespace]}}}},
    }


class Operators(pulumi.ComponentResource):
    """The three operators, each a Helm release; custom resources depend on the one that owns them."""

    strimzi: k8s.helm.v3.Release
    flink: k8s.helm.v3.Release
    clickhouse: k8s.helm.v3.Release

    def __init__(self, name: str, args: OperatorsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:Operators", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.strimzi = release(f"{name}-strimzi", "strimzi", STRIMZI, args.namespace, strimzi_values(args), child)
        self.flink = release(f"{name}-flink", "flink-operator", FLINK_OPERATOR, args.namespace,
                             flink_operator_values(args), child)
        self.clickhouse = release(f"{name}-clickhouse", "clickhouse-operator", CLICKHOUSE_OPERATOR, args.namespace,
                                  clickhouse_operator_values(args), child)
        self.register_outputs({"strimzi": self.strimzi, "flink": self.flink, "clickhouse": self.clickhouse})
