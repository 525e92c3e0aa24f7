"""ClickHouse on the Altinity operator: a `ClickHouseInstallation` (one shard, one replica) with the
same users as the Docker platform, and the schema applied by the same `SchemaMigrations` resource
over the same `clickhouse_schema/` files.

Users: the owner (runs migrations, owns the Kafka-engine ingestion) and the read-only reader for
Grafana (`readonly = 2` because the Grafana plugin sends per-query settings; SELECT on the
database only), as in components/clickhouse.py. Passwords reach ClickHouse only as sha256 hashes,
held in a Secret and referenced with `valueFrom.secretKeyRef`: the CR holds no credential.

Why one shard, one replica: the schema is single-node (MergeTree tables filled by Kafka-engine
tables and materialized views; dashboards read local tables). More replicas need Replicated*
engines and ClickHouse Keeper, more shards need Distributed tables and a sharded ingestion: a
schema change, not a replica count. ClickHouse scales here by CPU, memory and storage.

Migrations: the `SchemaMigrations` provider runs where `pulumi up` runs and talks HTTP to
ClickHouse, so it needs an address reachable from there. By default a LoadBalancer Service (narrowed
by `kubernetes.clickhouseLoadBalancerSourceRanges`) exposes the HTTP port and its address is used,
which works in one `up` on any cluster with a load-balancer implementation; `kubernetes.clickhouseUrl`
names another way in (an ingress, a VPN, a port-forward started between two `up`s). Running the
migrations as a Kubernetes Job instead would need an image with the migration runner and would lose
what the resource gives: pending files shown in preview, drift refused at check, the applied version
as an output.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ..clients.clickhouse import reader_profile_paths
from ..resources.schema_migrations import SchemaMigrations
from ..spec import CLICKHOUSE_HTTP_PORT as HTTP_PORT
from .common import (RESTRICTED_CONTAINER, SLOW, K8sPlacement, ObservedCustomResource, resources, restricted_pod,
                     wait_for)

API_VERSION = "clickhouse.altinity.com/v1"
INSTALLATION = "clickstream"
POD_LABELS = {"clickhouse.altinity.com/chi": INSTALLATION}  # what the operator labels the installation's pods
CLUSTER = "clickstream"
SERVICE_NAME = f"clickhouse-{INSTALLATION}"  # the operator's Service for the whole installation
CREDENTIALS_SECRET = "clickhouse-credentials"
OWNER_KEY = "owner_password_sha256_hex"
READER_KEY = "reader_password_sha256_hex"
# The reader's settings profile (settings and constraints: components.clients.clickhouse, as on Docker).
READER_PROFILE = "dashboards_readonly"
CLICKHOUSE_UID = 101  # the image's `clickhouse` user


@dataclass
class ClickHouseArgs:
    placement: K8sPlacement
    image: str  # images.clickhouse; a change rolls the pod (data on the PVC stays)
    database: str
    user: str
    password: pulumi.Input[str]  # secret
    reader_user: str
    reader_password: pulumi.Input[str]  # secret
    migration_params: dict  # components.spec.migration_params(...) with in-cluster Kafka
    storage_size: str
    cpu: str
    memory: str
    url: str  # HTTP as `pulumi up` reaches it (a port-forward, a route of the user's); "" with a load balancer
    load_balancer: bool  # a LoadBalancer Service for the migrations, open to `load_balancer_source_ranges` only
    load_balancer_source_ranges: tuple
    drop_data_on_destroy: bool  # also: the data PVC is deleted with the installation
    allow_data_loss: bool  # let a database rename or a lower raw-events retention through
    depends_on: tuple  # the operator release
    migrations_depend_on: tuple  # the insight topics the Kafka-engine tables consume


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def users_configuration(args: ClickHouseArgs) -> tuple[dict, dict]:
    """(`users`, `profiles`) of the installation: the Docker users file in the operator's syntax
    (the reader's profile from the same definition as there)."""
    def secret_ref(key: str) -> dict:
        return {"valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": key}}}

    users = {
        f"{args.user}/password_sha256_hex": secret_ref(OWNER_KEY),
        f"{args.user}/networks/ip": ["::/0"],
        f"{args.user}/profile": "default",
        f"{args.user}/quota": "default",
        f"{args.user}/access_management": 1,
        f"{args.reader_user}/password_sha256_hex": secret_ref(READER_KEY),
        f"{args.reader_user}/networks/ip": ["::/0"],
        f"{args.reader_user}/profile": READER_PROFILE,
        f"{args.reader_user}/quota": "default",
        f"{args.reader_user}/grants/query": [f"GRANT SELECT ON {args.database}.*"],
    }
    return users, reader_profile_paths(READER_PROFILE)


class KubernetesClickHouse(pulumi.ComponentResource):
    credentials: k8s.core.v1.Secret
    installation: ObservedCustomResource
    """Awaited until the operator reports the installation Completed."""
    external: Optional[k8s.core.v1.Service]
    """The LoadBalancer the migrations reach ClickHouse through (absent when a URL is configured)."""
    migrations: SchemaMigrations
    url: str
    """In-cluster HTTP interface."""
    migrations_url: pulumi.Output[str]

    def __init__(self, name: str, args: ClickHouseArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:KubernetesClickHouse", name, None, opts)
        p = args.placement
        self.url = f"http://{p.service_host(SERVICE_NAME)}:{HTTP_PORT}"

        self.credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=p.metadata(CREDENTIALS_SECRET, "clickhouse"),
            string_data={
                OWNER_KEY: pulumi.Output.secret(args.password).apply(sha256_hex),
                READER_KEY: pulumi.Output.secret(args.reader_password).apply(sha256_hex),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

        users, profiles = users_configuration(args)
        claim: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": args.storage_size}}}
        if p.storage_class:
            claim["storageClassName"] = p.storage_class
        self.installation = ObservedCustomResource(
            f"{name}-installation",
            api_version=API_VERSION,
            kind="ClickHouseInstallation",
            metadata=p.metadata(INSTALLATION, "clickhouse",
                                annotations=wait_for("jsonpath={.status.status}=Completed")),
            spec={
                "defaults": {"templates": {"podTemplate": "clickhouse", "dataVolumeClaimTemplate": "data"}},
                "configuration": {
                    "users": users,
                    "profiles": profiles,
                    "clusters": [{"name": CLUSTER, "layout": {"shardsCount": 1, "replicasCount": 1}}],
                },
                "templates": {
                    "podTemplates": [{
                        "name": "clickhouse",
                        "spec": {
                            "securityContext": restricted_pod(CLICKHOUSE_UID, writes_volume=True),
                            "containers": [{
                                "name": "clickhouse",
                                "image": args.image,
                                "resources": resources(args.cpu, args.memory),
                                "securityContext": RESTRICTED_CONTAINER,
                            }],
                        },
                    }],
                    "volumeClaimTemplates": [{
                        "name": "data",
                        "reclaimPolicy": "Delete" if args.drop_data_on_destroy else "Retain",
                        "spec": claim,
                    }],
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.credentials, *args.depends_on],
                                        custom_timeouts=SLOW),
        )

        self.external = None
        if not args.load_balancer:
            self.migrations_url = pulumi.Output.from_input(args.url.rstrip("/"))
        else:
            spec: dict = {"type": "LoadBalancer", "selector": POD_LABELS,
                          "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": HTTP_PORT}]}
            if args.load_balancer_source_ranges:
                spec["loadBalancerSourceRanges"] = list(args.load_balancer_source_ranges)
            self.external = k8s.core.v1.Service(
                f"{name}-external",
                metadata=p.metadata("clickhouse-external", "clickhouse"),
                spec=spec,
                # Awaited until the load balancer has an address and the pod behind it is ready.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.installation], custom_timeouts=SLOW),
            )
            self.migrations_url = self.external.status.apply(_load_balancer_url)

        self.migrations = SchemaMigrations(
            f"{name}-schema",
            url=self.migrations_url,
            username=args.user,
            password=args.password,
            database=args.database,
            params=args.migration_params,
            drop_on_destroy=args.drop_data_on_destroy,
            allow_data_loss=args.allow_data_loss,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[
                self.installation, *([self.external] if self.external else []), *args.migrations_depend_on]),
        )
        self.register_outputs({"installation": self.installation, "migrations": self.migrations, "url": self.url})


def _load_balancer_url(status) -> str:
    """`http://<address>:8123` from a Service status, or "" while it has no address (the migrations
    resource then refuses the URL, naming it)."""
    balancer = getattr(status, "load_balancer", None)
    ingress = list(getattr(balancer, "ingress", None) or [])
    host = (getattr(ingress[0], "ip", None) or getattr(ingress[0], "hostname", None)) if ingress else None
    return f"http://{host}:{HTTP_PORT}" if host else ""
