"""`KafkaTopic`: a Kafka topic as a Pulumi dynamic resource, over components/clients/kafka_admin.py.

More partitions and config changes (retention, cleanup policy, ...) are applied in place. Fewer
partitions, another replication factor or another name would drop the topic's data, and a lower
retention deletes the records past it at once: preview refuses them with the reason, unless
`allow_data_loss` is set (then a topic that must be recreated is deleted, then created, for the
same name). With `adopt_existing`, a topic that already exists (kept by an earlier destroy of the
stack) is taken over with its records instead of refused. Drift made outside Pulumi shows on `pulumi refresh` (live
partitions and the topic's own config overrides become the outputs) and the next `up` undoes it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from components.resources import _dynamic as dyn

TIMEOUT = 30.0  # seconds each admin request may take, unless the resource says otherwise
# Inputs whose change needs nothing but recording the new value.
_PLAIN_INPUTS = ("bootstrap_servers", "allow_data_loss", "adopt_existing", "admin_config", "timeout")
# Config keys whose lowering deletes records at once (-1: unbounded).
_RETENTION_KEYS = ("retention.ms", "retention.bytes")


def lowered_retention(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """What a change of topic config from `before` to `after` deletes at once: lowered retentions."""
    def bound(config: Mapping[str, str], key: str) -> Optional[int]:
        value = config.get(key)
        try:
            return None if value is None or int(value) < 0 else int(value)
        except ValueError:
            return None

    lowered = []
    for key in _RETENTION_KEYS:
        old, new = bound(before, key), bound(after, key)
        if new is not None and (old is None and key in before or old is not None and new < old):
            lowered.append(f"{key} lowered from {before.get(key)} to {after.get(key)} deletes the records past it at once")
    return lowered


def topic_name(value: Any) -> str:
    if not (isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9._-]{1,249}", value) and value not in (".", "..")):
        raise dyn.Invalid(f"{value!r} is not a Kafka topic name: 1-249 of [A-Za-z0-9._-]")
    return value


@dataclass(frozen=True)
class TopicInputs:
    """A `KafkaTopic`'s props, typed (see components/resources/_dynamic.py for how they are read).
    In `check` and `diff` a field may still be unknown (preview)."""

    bootstrap_servers: str
    topic: str
    partitions: int
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)  # the topic's own config overrides
    allow_data_loss: bool = False
    adopt_existing: bool = False  # take over a topic that exists already (kept by an earlier destroy)
    admin_config: Optional[dict[str, str]] = None  # librdkafka settings of the admin client (SASL/TLS)
    timeout: float = TIMEOUT

    @classmethod
    def parse(cls, props: Mapping[str, Any]) -> tuple["TopicInputs", list]:
        p = dyn.Props(props)
        inputs = cls(
            bootstrap_servers=p.get("bootstrap_servers"),
            topic=p.get("topic", topic_name),
            partitions=p.get("partitions", dyn.whole_number),
            replication_factor=p.get("replication_factor", dyn.whole_number, 1),
            config=p.get("config", dyn.config_map("topic config keys"), {}),
            allow_data_loss=p.get("allow_data_loss", dyn.boolean, False),
            adopt_existing=p.get("adopt_existing", dyn.boolean, False),
            admin_config=p.get("admin_config", dyn.config_map("librdkafka settings")),
            timeout=p.get("timeout", dyn.seconds, TIMEOUT),
        )
        p.refuse_secrets("config", inputs.config, "topic config is not the place for it")
        return inputs, p.failures

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "TopicInputs":
        return cls.parse(props)[0]

    def spec(self):
        from components.clients.kafka_admin import TopicSpec

        return TopicSpec(self.topic, self.partitions, self.replication_factor, dict(self.config))

    def admin(self, timeout: Optional[float] = None):
        from components.clients.kafka_admin import KafkaAdmin

        return KafkaAdmin(self.bootstrap_servers, self.admin_config or None, timeout=timeout or self.timeout)


class KafkaTopicProvider(ResourceProvider):
    """The provider: a thin adapter over components/clients/kafka_admin.py."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        from components.clients.kafka_admin import TopicState, plan_topic_change
        from components.errors import RequestRejected, ServiceUnavailable

        inputs, failures = TopicInputs.parse(news)
        checked = {**news, **dyn.as_props(inputs)}
        if failures or not dyn.known(inputs.topic, inputs.partitions, inputs.replication_factor):
            return CheckResult(checked, failures)

        # Refuse at preview what would drop data: `olds` are the inputs the topic was created with.
        before = TopicInputs.from_props(olds) if olds else None
        if before and not inputs.allow_data_loss and dyn.known(before.topic, before.partitions, before.replication_factor):
            plan = plan_topic_change(TopicState(before.topic, before.partitions, before.replication_factor, {}),
                                     inputs.spec())
            for field_, reason in zip(plan.destructive_fields, plan.destructive):
                failures.append(dyn.failure("topic" if field_ == "name" else field_,
                                                  f"refused: {reason}. Set allow_data_loss (stack config "
                                                  f"allowDataLoss) to accept that"))
            if dyn.known(inputs.config) and before.config:
                for reason in lowered_retention(before.config, inputs.config):
                    failures.append(dyn.failure("config", f"refused: {reason}. Set allow_data_loss (stack config "
                                                          f"allowDataLoss) to accept that"))

        # Let the broker judge config keys and values when it is already there (preview of a live stack).
        if failures or not dyn.known(inputs.bootstrap_servers) or dyn.unknown(inputs.config):
            return CheckResult(checked, failures)
        try:
            admin, spec = inputs.admin(timeout=3), inputs.spec()
            current = admin.describe(spec.name)
            if current is None:
                admin.create(spec, validate_only=True)
            else:
                plan = plan_topic_change(current, spec)
                if plan.in_place:
                    admin.alter_config(spec.name, plan.set_config, plan.delete_config, validate_only=True)
        except ServiceUnavailable:
            dyn.note(f"topic {inputs.topic!r}: Kafka at {inputs.bootstrap_servers} is not reachable yet, so the broker "
                     f"will judge the topic settings when they are applied")
        except RequestRejected as exc:
            prop = {"INVALID_PARTITIONS": "partitions", "INVALID_REPLICATION_FACTOR": "replication_factor"}.get(
                exc.context.get("error", ""), "config")
            failures.append(dyn.failure(prop, exc.message))
        return CheckResult(checked, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        from components.clients.kafka_admin import TopicState, plan_topic_change
        from components.errors import DataLossRefused

        new = TopicInputs.from_props(news)
        if not dyn.known(new.topic, new.partitions, new.replication_factor, new.config):
            return DiffResult(changes=True)  # decided again once the values are known, before anything is applied
        # `olds` are the outputs: what was applied, or what `refresh` found live.
        old = TopicInputs.from_props(olds)
        current = TopicState(old.topic, old.partitions, old.replication_factor, dict(old.config))
        desired = new.spec()
        plan = plan_topic_change(current, desired)
        if plan.destructive:
            if not new.allow_data_loss:
                raise DataLossRefused(
                    f"topic {current.name!r}: " + "; ".join(plan.destructive),
                    service="Kafka", url=new.bootstrap_servers,
                    hint="set allow_data_loss (stack config allowDataLoss) to replace the topic",
                )
            replaces = [key for key, differs in (
                ("topic", current.name != desired.name),
                ("partitions", desired.partitions < current.partitions),
                ("replication_factor", desired.replication_factor != current.replication_factor),
            ) if differs]
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=current.name == desired.name)
        changed_inputs = any(getattr(old, k) != getattr(new, k) for k in _PLAIN_INPUTS)
        return DiffResult(changes=not plan.noop or changed_inputs, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        from components.clients.kafka_admin import plan_topic_change
        from components.errors import RequestRejected

        inputs = TopicInputs.from_props(props)
        admin, spec = inputs.admin(), inputs.spec()
        existing = admin.describe(spec.name)
        if existing is not None and inputs.adopt_existing:
            return CreateResult(spec.name, _outputs(props, _adopt(admin, inputs, existing)))
        if existing is not None:
            raise RequestRejected(
                f"topic {spec.name!r} already exists with {existing.partitions} partition(s), outside this stack's state",
                service="Kafka", url=inputs.bootstrap_servers,
                hint="delete it first, or choose another topic name: taking it over would delete it on destroy",
            )
        with dyn.undone_on_failure(lambda: admin.delete(spec.name)):
            state = admin.apply(plan_topic_change(None, spec))
        return CreateResult(spec.name, _outputs(props, state))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = TopicInputs.from_props(props)
        state = inputs.admin().describe(inputs.topic or id_)
        if state is None:
            return ReadResult("", {})  # gone: refresh drops it, the next `up` creates it again
        return ReadResult(id_, _outputs(props, state))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from components.clients.kafka_admin import plan_topic_change
        from components.errors import DataLossRefused

        inputs = TopicInputs.from_props(news)
        admin, spec = inputs.admin(), inputs.spec()
        current = admin.describe(spec.name)
        if current is None:
            dyn.note(f"topic {spec.name!r} no longer exists (deleted outside Pulumi): creating it again")
        plan = plan_topic_change(current, spec)
        if plan.destructive:
            if not inputs.allow_data_loss:
                raise DataLossRefused(f"topic {spec.name!r}: " + "; ".join(plan.destructive), service="Kafka",
                                      url=inputs.bootstrap_servers, hint="set allow_data_loss to replace the topic")
            admin.delete(spec.name)
            plan = plan_topic_change(None, spec)
        return UpdateResult(_outputs(news, admin.apply(plan)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        inputs = TopicInputs.from_props(props)
        name = inputs.topic or id_
        if not inputs.admin().delete(name):
            dyn.note(f"topic {name!r} was already gone")


def _outputs(props: Mapping[str, Any], state) -> dict[str, Any]:
    return {**dyn.without_provider(props), "topic": state.name, "partitions": state.partitions,
            "replication_factor": state.replication_factor, "config": dict(state.config)}


def _adopt(admin, inputs: TopicInputs, existing):
    """Take over a topic that exists (kept by an earlier destroy), keeping its records; changes that
    would delete some are refused unless allowed, as on update."""
    from components.clients.kafka_admin import plan_topic_change
    from components.errors import DataLossRefused

    spec = inputs.spec()
    plan = plan_topic_change(existing, spec)
    lost = [*plan.destructive, *lowered_retention(existing.config, spec.config)]
    if lost and not inputs.allow_data_loss:
        raise DataLossRefused(
            f"topic {spec.name!r} exists (kept by an earlier destroy?) and taking it over would lose data: "
            + "; ".join(lost), service="Kafka", url=inputs.bootstrap_servers,
            hint="change the stack config to match the kept topic, or set allowDataLoss to accept the loss",
        )
    if plan.destructive:
        admin.delete(spec.name)
        plan = plan_topic_change(None, spec)
    dyn.note(f"topic {spec.name!r} existed already: taken over with its records")
    return admin.apply(plan)


class KafkaTopic(pulumi.dynamic.Resource, module="kafka", name="Topic"):
    """A Kafka topic (type `pulumi-python:dynamic/kafka:Topic`).

    Outputs mirror the inputs as the cluster reports them: `partitions`, `replication_factor`, and
    `config`, the topic's own config overrides.
    """

    topic: pulumi.Output[str]
    partitions: pulumi.Output[int]
    replication_factor: pulumi.Output[int]
    config: pulumi.Output[dict]

    def __init__(
        self,
        resource_name: str,
        *,
        bootstrap_servers: pulumi.Input[str],
        topic: pulumi.Input[str],
        partitions: pulumi.Input[int],
        replication_factor: pulumi.Input[int] = 1,
        config: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]] = None,
        allow_data_loss: pulumi.Input[bool] = False,
        adopt_existing: pulumi.Input[bool] = False,
        admin_config: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]] = None,
        timeout: float = TIMEOUT,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param bootstrap_servers: a Kafka listener reachable from where `pulumi up` runs (the host listener).
        :param topic: the topic name; changing it replaces the topic (refused unless `allow_data_loss`).
        :param partitions: raising it is applied in place; lowering it replaces the topic (same rule).
        :param replication_factor: changing it replaces the topic (same rule).
        :param config: topic config overrides (`retention.ms`, `cleanup.policy`, ...), applied in place;
            a key removed from here goes back to the broker default.
        :param allow_data_loss: let changes through that recreate the topic or lower its retention.
        :param adopt_existing: take over a topic that exists already with its records (one that an
            earlier destroy of the stack kept) instead of refusing it.
        :param admin_config: extra librdkafka settings for the admin client (SASL/TLS); kept secret.
        :param timeout: seconds each admin request may take.
        """
        props = {
            "bootstrap_servers": bootstrap_servers,
            "topic": topic,
            "partitions": partitions,
            "replication_factor": replication_factor,
            "config": config or {},
            "allow_data_loss": allow_data_loss,
            "adopt_existing": adopt_existing,
            "admin_config": pulumi.Output.secret(admin_config) if admin_config else None,
            "timeout": timeout,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["admin_config"]))
        super().__init__(KafkaTopicProvider(), resource_name, props, opts)
