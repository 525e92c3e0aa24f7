"""NetworkPolicies of the pipeline's namespace: closed by default, open where a flow is needed.

- every pod refuses ingress unless a policy below allows it (default deny);
- the pipeline's services talk to each other inside the namespace (Kafka clients, Connect, Flink,
  ClickHouse's Kafka engine, Grafana's queries);
- the operators (their own namespace) reach the pods they manage: Strimzi its Kafka and Connect
  REST, the Flink operator the JobManager's REST API, Altinity's operator ClickHouse;
- ClickHouse's HTTP port from the load balancer's source ranges, only with
  `kubernetes.clickhouseLoadBalancer`.
Strimzi adds its own policies for its listeners; policies add up, so none of those is widened here.
`kubectl port-forward` goes through the kubelet and is not subject to these policies.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ..spec import CLICKHOUSE_HTTP_PORT
from .common import K8sPlacement


@dataclass
class NetworkPoliciesArgs:
    placement: K8sPlacement
    operators_namespace: str  # where the operators run
    clickhouse_pods: dict  # labels selecting the ClickHouse pods
    load_balancer_source_ranges: tuple  # CIDRs allowed to ClickHouse HTTP through its LoadBalancer; () = none


class NetworkPolicies(pulumi.ComponentResource):
    policies: list[k8s.networking.v1.NetworkPolicy]

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:NetworkPolicies", name, None, opts)
        p = args.placement
        child = pulumi.ResourceOptions(parent=self)
        every_pod: dict = {}

        def policy(role: str, selector: dict, ingress: list) -> k8s.networking.v1.NetworkPolicy:
            return k8s.networking.v1.NetworkPolicy(
                f"{name}-{role}",
                metadata=p.metadata(f"clickstreamer-{role}", "network"),
                spec={"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress},
                opts=child,
            )

        self.policies = [
            policy("default-deny", every_pod, []),
            policy("within-namespace", every_pod, [{"from": [{"podSelector": {}}]}]),
            policy("from-operators", every_pod, [{"from": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": args.operators_namespace}}}]}]),
        ]
        if args.load_balancer_source_ranges:
            self.policies.append(policy("clickhouse-load-balancer", {"matchLabels": args.clickhouse_pods}, [{
                "from": [{"ipBlock": {"cidr": cidr}} for cidr in args.load_balancer_source_ranges],
                "ports": [{"protocol": "TCP", "port": CLICKHOUSE_HTTP_PORT}],
            }]))
        self.register_outputs({"policies": self.policies})
