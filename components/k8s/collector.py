"""The website collector on Kubernetes: a Deployment of the image built from images/collector
(`kubernetes.collectorImage`) behind a ClusterIP Service. Stateless, so it scales out with replicas;
each replica has its own bounded queue, rate limits and visitor-id salts (README, "Website").

`pulumi up` does not reach the in-cluster Schema Registry, so the schema step (FULL_TRANSITIVE, then
register pageviews v2) runs as each pod's init container (`python -m collector.register`),
idempotently, before the collector starts; the collector itself only looks the schema up.
Put an ingress or load balancer in front for browsers, and list its addresses in
collector.trustedProxies so X-Forwarded-For is believed from it alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ..spec import COLLECTOR_PORT as PORT
from .common import RESTRICTED_CONTAINER, K8sPlacement, resources, restricted_pod

SERVICE_NAME = "collector"


@dataclass
class CollectorArgs:
    placement: K8sPlacement
    image: str  # kubernetes.collectorImage; a change rolls the pods
    environment: dict  # components/spec.py collector_environment (in-cluster Kafka and registry)
    registry_url: str  # in-cluster Schema Registry URL, for the init container's registration
    subject: str
    replicas: int
    cpu: str
    memory: str
    depends_on: tuple  # the registry and the pageviews topic


NOBODY_UID = 65534  # the collector image's user (images/collector)


class KubernetesCollector(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment
    """Awaited until every replica is ready (GET /readyz: schema resolved, broker seen)."""
    service: k8s.core.v1.Service
    url: str
    """In-cluster URL (`http://collector.<ns>.svc:8090`)."""

    def __init__(self, name: str, args: CollectorArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:Collector", name, None, opts)
        p = args.placement
        self.url = f"http://{p.service_host(SERVICE_NAME)}:{PORT}"
        selector = {"app.kubernetes.io/name": SERVICE_NAME, "clickstreamer.io/stack": p.stack_label}
        # `restricted`, as every pod the project writes; the collector writes nothing on its disk.
        security = {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": True}

        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=p.metadata(SERVICE_NAME, SERVICE_NAME),
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": p.labels(SERVICE_NAME)},
                    "spec": {
                        # A Service named `collector` would inject COLLECTOR_* variables of its own.
                        "enableServiceLinks": False,
                        "securityContext": restricted_pod(NOBODY_UID),
                        "initContainers": [{
                            "name": "register-schema",
                            "image": args.image,
                            "command": ["python", "-m", "collector.register", args.registry_url, args.subject],
                            "securityContext": security,
                        }],
                        "containers": [{
                            "name": "collector",
                            "image": args.image,
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "env": [{"name": key, "value": value} for key, value in args.environment.items()],
                            "resources": resources(args.cpu, args.memory),
                            "securityContext": security,
                            "readinessProbe": {"httpGet": {"path": "/readyz", "port": PORT}, "periodSeconds": 5},
                            "livenessProbe": {"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": 10,
                                              "failureThreshold": 6},
                        }],
                        # uvicorn's graceful shutdown flushes the queue to Kafka within this.
                        "terminationGracePeriodSeconds": 60,
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
