"""Topics through the Kafka admin API (confluent-kafka's AdminClient), and the rule of what a topic
change costs.

`plan_topic_change(current, desired)` is the rule, pure: more partitions and config changes apply in
place; fewer partitions, another replication factor or another name need the topic deleted and
created again, which drops its data. `KafkaAdmin` does the talking; it never decides.

Config is compared on the topic's own overrides (`DYNAMIC_TOPIC_CONFIG`): a key set on the topic
equals the desired value, or is set; a key set on the topic but no longer desired is deleted, so the
broker default applies again. No Pulumi import here.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Mapping, Optional

from ..errors import RequestRejected, ServiceUnavailable, WaitTimedOut

SERVICE = "Kafka"

# librdkafka error names that mean "could not reach the cluster", not "the cluster said no".
_UNREACHABLE = {"_TRANSPORT", "_TIMED_OUT", "_ALL_BROKERS_DOWN", "_RESOLVE", "_MSG_TIMED_OUT", "_DESTROY",
                "REQUEST_TIMED_OUT", "NETWORK_EXCEPTION"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicState:
    """A topic as the cluster reports it; `config` holds only the topic's own overrides."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


@dataclass(frozen=True)
class TopicPlan:
    """What it takes to turn `current` into `desired`."""

    desired: TopicSpec
    create: bool = False
    add_partitions_to: Optional[int] = None
    set_config: dict[str, str] = field(default_factory=dict)
    delete_config: tuple[str, ...] = ()
    destructive: tuple[str, ...] = ()  # one sentence per reason the topic must be recreated
    destructive_fields: tuple[str, ...] = ()  # the TopicSpec field behind each reason

    @property
    def in_place(self) -> bool:
        return not self.destructive

    @property
    def noop(self) -> bool:
        return not (self.create or self.add_partitions_to or self.set_config or self.delete_config or self.destructive)


def plan_topic_change(current: Optional[TopicState], desired: TopicSpec) -> TopicPlan:
    if current is None:
        return TopicPlan(desired, create=True)
    destructive, fields = [], []
    if current.name != desired.name:
        fields.append("name")
        destructive.append(
            f"the topic name changes from {current.name!r} to {desired.name!r}: a new topic is created and "
            f"{current.name!r} with its data is deleted")
    if desired.partitions < current.partitions:
        fields.append("partitions")
        destructive.append(
            f"partitions {current.partitions} → {desired.partitions}: Kafka cannot remove partitions, so the "
            f"topic would be deleted and recreated, dropping its data")
    if desired.replication_factor != current.replication_factor:
        fields.append("replication_factor")
        destructive.append(
            f"replication factor {current.replication_factor} → {desired.replication_factor}: this provider "
            f"changes it only by recreating the topic, dropping its data (keeping the data needs a partition "
            f"reassignment, e.g. `kafka-reassign-partitions`)")
    if destructive:
        return TopicPlan(desired, destructive=tuple(destructive), destructive_fields=tuple(fields))
    wanted = {k: str(v) for k, v in desired.config.items()}
    return TopicPlan(
        desired,
        add_partitions_to=desired.partitions if desired.partitions > current.partitions else None,
        set_config={k: v for k, v in sorted(wanted.items()) if current.config.get(k) != v},
        delete_config=tuple(sorted(k for k in current.config if k not in wanted)),
    )


class KafkaAdmin:
    """The cluster at `bootstrap_servers` (host-reachable listener, e.g. `127.0.0.1:9092`).

    `client_config` is extra librdkafka config (security settings); `timeout` bounds every call.
    """

    def __init__(self, bootstrap_servers: str, client_config: Optional[Mapping[str, str]] = None,
                 timeout: float = 30.0) -> None:
        from confluent_kafka.admin import AdminClient

        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        conf = {
            "bootstrap.servers": bootstrap_servers,
            "socket.connection.setup.timeout.ms": int(min(timeout, 10) * 1000),
            # librdkafka would print every failed connection attempt to stderr.
            "logger": logging.getLogger("clickstreamer.kafka_admin"),
            **dict(client_config or {}),
        }
        self._admin = AdminClient(conf)

    # --- reads -------------------------------------------------------------------------------
    def ping(self) -> None:
        """Raise `ServiceUnavailable` unless the cluster answers a metadata request in time."""
        self._guard("reading cluster metadata", lambda: self._admin.list_topics(timeout=self.timeout))

    def describe(self, name: str) -> Optional[TopicState]:
        from confluent_kafka import KafkaException, TopicCollection
        from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

        def topic():
            future = self._admin.describe_topics(TopicCollection([name]), request_timeout=self.timeout)[name]
            try:
                return future.result()
            except KafkaException as exc:
                if exc.args[0].name() == "UNKNOWN_TOPIC_OR_PART":
                    return None
                raise

        description = self._guard(f"describing topic {name!r}", topic)
        if description is None:
            return None
        resource = ConfigResource(ResourceType.TOPIC, name)
        entries = self._guard(
            f"reading the config of topic {name!r}",
            lambda: self._admin.describe_configs([resource], request_timeout=self.timeout)[resource].result(),
        )
        overrides = {k: e.value for k, e in entries.items() if e.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}
        replicas = [len(p.replicas) for p in description.partitions]
        return TopicState(name, len(description.partitions), min(replicas) if replicas else 0, overrides)

    def list_topics(self) -> set[str]:
        metadata = self._guard("listing topics", lambda: self._admin.list_topics(timeout=self.timeout))
        return set(metadata.topics)

    # --- writes ------------------------------------------------------------------------------
    def create(self, spec: TopicSpec, validate_only: bool = False) -> None:
        from confluent_kafka.admin import NewTopic

        new = NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=spec.replication_factor,
                       config={k: str(v) for k, v in spec.config.items()})
        verb = "validating" if validate_only else "creating"
        self._guard(
            f"{verb} topic {spec.name!r}",
            lambda: self._admin.create_topics([new], request_timeout=self.timeout, operation_timeout=self.timeout,
                                              validate_only=validate_only)[spec.name].result(),
        )

    def add_partitions(self, name: str, total: int) -> None:
        from confluent_kafka.admin import NewPartitions

        self._guard(
            f"raising the partitions of {name!r} to {total}",
            lambda: self._admin.create_partitions([NewPartitions(name, total)], request_timeout=self.timeout,
                                                  operation_timeout=self.timeout)[name].result(),
        )

    def alter_config(self, name: str, set_config: Mapping[str, str], delete: tuple[str, ...] = (),
                     validate_only: bool = False) -> None:
        """Incremental alter: SET each of `set_config`, DELETE each of `delete` (back to the default)."""
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

        if not set_config and not delete:
            return
        entries = [ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET) for k, v in set_config.items()]
        entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in delete]
        resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
        verb = "validating" if validate_only else "changing"
        self._guard(
            f"{verb} the config of topic {name!r}",
            lambda: self._admin.incremental_alter_configs([resource], request_timeout=self.timeout,
                                                          validate_only=validate_only)[resource].result(),
        )

    def apply(self, plan: TopicPlan, converge_timeout: float = 30.0) -> TopicState:
        """Apply an in-place plan and return the topic once the cluster reports the desired state.

        A destructive plan is the caller's decision: it must delete the topic first.
        """
        if plan.destructive:
            raise ValueError("a destructive plan cannot be applied in place")
        if plan.create:
            self.create(plan.desired)
        else:
            if plan.add_partitions_to:
                self.add_partitions(plan.desired.name, plan.add_partitions_to)
            self.alter_config(plan.desired.name, plan.set_config, plan.delete_config)
        return self.wait_converged(plan.desired, converge_timeout)

    def wait_converged(self, spec: TopicSpec, timeout: float = 30.0) -> TopicState:
        """Wait until describing the topic shows `spec`.

        The controller acknowledges a change before every broker's metadata cache has it, so a
        describe right after an alter can still show the old config (measured: < 0.25 s on KRaft).
        """
        deadline = time.monotonic() + timeout
        while True:
            state = self.describe(spec.name)
            if state is not None and plan_topic_change(state, spec).noop:
                return state
            if time.monotonic() >= deadline:
                raise WaitTimedOut(
                    f"topic {spec.name!r} did not show the applied settings within {timeout:.0f}s",
                    service=SERVICE, url=self.bootstrap_servers, last_state=repr(state), desired=repr(spec),
                )
            time.sleep(0.2)

    def delete(self, name: str, wait: float = 60.0) -> bool:
        """Delete topic `name` and wait until the cluster no longer lists it; False if it did not exist.

        Waiting matters: creating a topic of the same name while the old one is still being deleted
        fails with "marked for deletion".
        """
        from confluent_kafka import KafkaException

        def delete_it() -> bool:
            try:
                self._admin.delete_topics([name], request_timeout=self.timeout, operation_timeout=self.timeout)[name].result()
                return True
            except KafkaException as exc:
                if exc.args[0].name() == "UNKNOWN_TOPIC_OR_PART":
                    return False
                raise

        existed = self._guard(f"deleting topic {name!r}", delete_it)
        deadline = time.monotonic() + wait
        while name in self.list_topics():
            if time.monotonic() >= deadline:
                raise WaitTimedOut(f"topic {name!r} still listed {wait:.0f}s after its deletion",
                                   service=SERVICE, url=self.bootstrap_servers)
            time.sleep(0.2)
        return existed

    # --- errors ------------------------------------------------------------------------------
    def _guard(self, what: str, call):
        from confluent_kafka import KafkaException

        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            name = error.name() if hasattr(error, "name") else str(error)
            reason = error.str() if hasattr(error, "str") else str(error)
            if name in _UNREACHABLE:
                raise ServiceUnavailable(
                    f"{SERVICE} did not answer {what} within {self.timeout:.0f}s",
                    service=SERVICE, url=self.bootstrap_servers, last_error=f"{name}: {reason}",
                    hint="check that the broker is running and that this host listener is published and advertised "
                         "with an address reachable from here",
                ) from exc
            raise RequestRejected(f"{SERVICE} refused {what}: {reason}", service=SERVICE,
                                  url=self.bootstrap_servers, error=name) from exc
