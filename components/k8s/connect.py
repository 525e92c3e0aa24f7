"""Kafka Connect on Strimzi: a `KafkaConnect` cluster that runs kafka-connect-datagen, and the
datagen connector as a `KafkaConnector`: worker settings and connector config are
components/spec.py's, as on Docker.

The worker image: Strimzi's Kafka image does not have datagen nor Confluent's AvroConverter, so
either Strimzi builds one (`spec.build`: both plugins from Confluent Hub, pushed to
`kubernetes.connectBuildRegistry`), or `kubernetes.connectImage` names one built beforehand
(images/connect-strimzi). The cp-kafka-connect image of the Docker platform cannot be used: Strimzi
runs its own image layout and start scripts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from ..spec import CONNECT_REST_PORT as REST_PORT, DATAGEN_CONNECTOR_NAME
from .common import SLOW, K8sPlacement, ObservedCustomResource, resources, wait_for
from .kafka import API_VERSION
from .operators import KAFKA_VERSION, STRIMZI

CONNECT_NAME = "clickstream"
CONFLUENT_HUB = "https://hub-downloads.confluent.io/api/plugins"


@dataclass
class ConnectArgs:
    placement: K8sPlacement
    kafka_bootstrap: str
    worker_settings: dict  # components/spec.py connect_worker_settings (in-cluster Schema Registry)
    datagen_config: dict  # components/spec.py datagen_config
    datagen_version: str  # kafka-connect-datagen (0.6.x, as images.datagenVersion)
    avro_converter_version: str  # Confluent's AvroConverter, same version as the Docker worker's CP
    image: str  # prebuilt worker image; empty: Strimzi builds one
    build_registry: str  # where Strimzi pushes what it builds
    push_secret: str  # dockerconfigjson Secret for that registry
    replicas: int
    cpu: str
    memory: str
    depends_on: tuple  # the Kafka cluster
    connector_depends_on: tuple  # the pageviews topic and Schema Registry


def hub_zip(owner: str, name: str, version: str) -> dict[str, str]:
    return {"type": "zip", "url": f"{CONFLUENT_HUB}/{owner}/{name}/versions/{version}/{owner}-{name}-{version}.zip"}


def build_spec(args: ConnectArgs) -> dict:
    """Strimzi's `spec.build`: the two plugins, and an image tag that names every version in it, so
    a version change is a new image rather than a moving tag."""
    tag = f"datagen-{args.datagen_version}-avro-{args.avro_converter_version}-strimzi-{STRIMZI.version}-kafka-{KAFKA_VERSION}"
    output = {"type": "docker", "image": f"{args.build_registry}/clickstreamer-connect:{tag}"}
    if args.push_secret:
        output["pushSecret"] = args.push_secret
    return {
        "output": output,
        "plugins": [
            {"name": "kafka-connect-datagen",
             "artifacts": [hub_zip("confluentinc", "kafka-connect-datagen", args.datagen_version)]},
            {"name": "kafka-connect-avro-converter",
             "artifacts": [hub_zip("confluentinc", "kafka-connect-avro-converter", args.avro_converter_version)]},
        ],
    }


def connector_spec(config: dict[str, str]) -> dict:
    """A KafkaConnector spec carrying `config` whole: Strimzi takes the class and task count as
    `class`/`tasksMax` and refuses them inside `config`."""
    rest = {k: v for k, v in config.items() if k not in ("connector.class", "tasks.max")}
    return {"class": config["connector.class"], "tasksMax": int(config["tasks.max"]), "config": rest}


class StrimziConnect(pulumi.ComponentResource):
    worker: ObservedCustomResource
    """The `KafkaConnect` cluster; ready once its workers run (with the plugins loaded)."""
    datagen: ObservedCustomResource
    """The `KafkaConnector`; ready once the connector and its tasks run."""
    url: str
    """In-cluster REST API."""

    def __init__(self, name: str, args: ConnectArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        super().__init__("clickstreamer:k8s:StrimziConnect", name, None, opts)
        p = args.placement
        self.url = f"http://{p.service_host(f'{CONNECT_NAME}-connect-api')}:{REST_PORT}"

        spec: dict = {
            "version": KAFKA_VERSION,
            "replicas": args.replicas,
            "bootstrapServers": args.kafka_bootstrap,
            "config": args.worker_settings,
            "resources": resources(args.cpu, args.memory),
        }
        if args.image:
            spec["image"] = args.image
        else:
            spec["build"] = build_spec(args)
        self.worker = ObservedCustomResource(
            f"{name}-worker",
            api_version=API_VERSION,
            kind="KafkaConnect",
            metadata=p.metadata(CONNECT_NAME, "kafka-connect", annotations={
                # Connectors are KafkaConnector resources, not REST calls.
                "strimzi.io/use-connector-resources": "true",
                **wait_for("condition=Ready"),
            }),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on), custom_timeouts=SLOW),
        )
        self.datagen = ObservedCustomResource(
            f"{name}-datagen",
            api_version=API_VERSION,
            kind="KafkaConnector",
            metadata=p.metadata(DATAGEN_CONNECTOR_NAME, "kafka-connect",
                                labels={"strimzi.io/cluster": CONNECT_NAME},
                                annotations=wait_for("condition=Ready")),
            spec=connector_spec(args.datagen_config),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.worker, *args.connector_depends_on],
                                        custom_timeouts=SLOW),
        )
        self.register_outputs({"worker": self.worker, "datagen": self.datagen, "url": self.url})
