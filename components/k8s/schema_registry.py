"""Schema Registry on Kubernetes: the same `confluentinc/cp-schema-registry` image as the Docker
platform, as a Deployment behind a Service. No operator: the registry is stateless (its schemas
live in Kafka's `_schemas` topic), so replicas elect a leader through Kafka and any one serves
reads; a Deployment is what such a service needs.

Two traps of the image on Kubernetes are avoided here: service links are off (a Service named
`schema-registry` would inject `SCHEMA_REGISTRY_PORT`, and the image exits when that is set), and
each replica advertises its pod IP (the host name replicas forward writes to the leader with).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ..spec import SCHEMA_REGISTRY_PORT as PORT
from .common import RESTRICTED_CONTAINER, K8sPlacement, resources, restricted_pod

SERVICE_NAME = "schema-registry"
APPUSER_UID = 1000  # the Confluent images' `appuser`


@dataclass
class SchemaRegistryArgs:
    placement: K8sPlacement
    image: str  # pinned cp-schema-registry image (images.schemaRegistry); a change rolls the pods
    settings: dict  # components/spec.py schema_registry_settings (in-cluster Kafka, `_schemas` replication)
    replicas: int
    cpu: str
    memory: str
    depends_on: tuple  # the Kafka cluster: the registry exits when Kafka is not there


def schema_registry_env(args: SchemaRegistryArgs) -> list[dict]:
    return [{"name": "SCHEMA_REGISTRY_HOST_NAME", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            *({"name": key, "value": value} for key, value in args.settings.items())]


class SchemaRegistry(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment
    """Awaited until every replica is ready (answers GET /subjects)."""
    service: k8s.core.v1.Service
    url: str
    """In-cluster URL (`http://schema-registry.<ns>.svc:8081`)."""

    def __init__(self, name: str, args: SchemaRegistryArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:SchemaRegistry", name, None, opts)
        p = args.placement
        self.url = f"http://{p.service_host(SERVICE_NAME)}:{PORT}"
        selector = {"app.kubernetes.io/name": SERVICE_NAME, "clickstreamer.io/stack": p.stack_label}
        probe = {"httpGet": {"path": "/subjects", "port": PORT}, "periodSeconds": 10, "timeoutSeconds": 5}

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=p.metadata(SERVICE_NAME, SERVICE_NAME),
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": p.labels(SERVICE_NAME)},
                    "spec": {
                        "enableServiceLinks": False,
                        "securityContext": restricted_pod(APPUSER_UID),
                        "containers": [{
                            "name": "schema-registry",
                            "securityContext": RESTRICTED_CONTAINER,
                            "image": args.image,
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "env": schema_registry_env(args),
                            "resources": resources(args.cpu, args.memory),
                            "startupProbe": {**probe, "failureThreshold": 30},
                            "readinessProbe": probe,
                            "livenessProbe": {**probe, "failureThreshold": 6},
                        }],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=p.metadata(SERVICE_NAME, SERVICE_NAME),
            spec={"selector": selector, "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deployment]),
        )
        self.register_outputs({"deployment": self.deployment, "service": self.service, "url": self.url})
