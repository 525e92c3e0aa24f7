"""`KafkaTopic`: a Kafka topic as a Pulumi dynamic resource, over components/clients/kafka_admin.py.

More partitions and config changes (retention, cleanup policy, ...) are applied in place. Fewer
partitions, another replication factor or another name would drop the topic's data: preview refuses
them with the reason, unless `allow_data_loss` is set, in which case the topic is replaced (deleted,
then created, for the same name). Drift made outside Pulumi shows on `pulumi refresh` (live
partitions and the topic's own config overrides become the outputs) and the next `up` undoes it.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

# Inputs whose change needs nothing but recording the new value.
_PLAIN_INPUTS = ("bootstrap_servers", "allow_data_loss", "admin_config", "timeout")


class KafkaTopicProvider(ResourceProvider):
    """The provider. Self-contained: every import happens inside a method (see STYLE.md)."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        import re

        from components.clients.kafka_admin import KafkaAdmin, TopicSpec, TopicState, plan_topic_change
        from components.errors import RequestRejected, ServiceUnavailable
        from components.resources._dynamic import as_config_value, known, looks_secret, note, unknown

        inputs = dict(news)
        failures: list[CheckFailure] = []
        name = inputs.get("topic")
        if known(name) and not (isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9._-]{1,249}", name)
                                and name not in (".", "..")):
            failures.append(CheckFailure("topic", f"{name!r} is not a Kafka topic name: 1-249 of [A-Za-z0-9._-]"))
        for key in ("partitions", "replication_factor"):
            value = inputs.get(key)
            if known(value):
                if isinstance(value, float) and value.is_integer():
                    value = inputs[key] = int(value)  # numbers cross the wire as floats
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    failures.append(CheckFailure(key, f"must be a whole number >= 1, got {value!r}"))
        config = inputs.get("config") or {}
        if not unknown(config):
            if not isinstance(config, Mapping):
                failures.append(CheckFailure("config", f"must be a map of topic config keys to values, got {config!r}"))
                config = {}
            else:
                config = inputs["config"] = {str(k): as_config_value(v) for k, v in config.items()}
                for key in config:
                    if looks_secret(key):
                        failures.append(CheckFailure("config", f"{key!r} looks like a credential: topic config is not "
                                                               f"the place for it"))
        if not isinstance(inputs.get("allow_data_loss", False), bool):
            failures.append(CheckFailure("allow_data_loss", "must be true or false"))
        timeout = inputs.get("timeout", 30)
        if known(timeout) and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            failures.append(CheckFailure("timeout", f"must be a number of seconds > 0, got {timeout!r}"))

        # Refuse at preview what would drop data: `olds` are the inputs the topic was created with.
        if olds and not failures and not inputs.get("allow_data_loss") and known(name, inputs.get("partitions"),
                                                                                   inputs.get("replication_factor")):
            try:
                before = TopicState(olds["topic"], int(olds["partitions"]), int(olds["replication_factor"]), {})
            except (KeyError, TypeError, ValueError):
                before = None
            if before is not None:
                plan = plan_topic_change(before, TopicSpec(name, inputs["partitions"], inputs["replication_factor"]))
                for field, reason in zip(plan.destructive_fields, plan.destructive):
                    prop = "topic" if field == "name" else field
                    failures.append(CheckFailure(prop, f"refused: {reason}. Set allow_data_loss (stack config "
                                                       f"kafka.allowTopicDataLoss) to accept that"))

        # Let the broker judge config keys and values when it is already there (preview of a live stack).
        bootstrap = inputs.get("bootstrap_servers")
        if not failures and known(bootstrap, name, inputs.get("partitions"), inputs.get("replication_factor")) \
                and not unknown(config):
            spec = TopicSpec(name, inputs["partitions"], inputs["replication_factor"], config)
            try:
                admin = KafkaAdmin(bootstrap, inputs.get("admin_config") or None, timeout=3)
                current = admin.describe(name)
                if current is None:
                    admin.create(spec, validate_only=True)
                else:
                    plan = plan_topic_change(current, spec)
                    if plan.in_place:
                        admin.alter_config(name, plan.set_config, plan.delete_config, validate_only=True)
            except ServiceUnavailable:
                note(f"topic {name!r}: Kafka at {bootstrap} is not reachable yet, so the broker will judge the topic "
                     f"settings when they are applied")
            except RequestRejected as exc:
                error = exc.context.get("error", "")
                prop = {"INVALID_PARTITIONS": "partitions", "INVALID_REPLICATION_FACTOR": "replication_factor"}.get(
                    error, "config")
                failures.append(CheckFailure(prop, exc.message))
        return CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        from components.clients.kafka_admin import TopicSpec, TopicState, plan_topic_change
        from components.errors import DataLossRefused
        from components.resources._dynamic import known

        if not known(news.get("topic"), news.get("partitions"), news.get("replication_factor"), news.get("config")):
            return DiffResult(changes=True)  # decided again once the values are known, before anything is applied
        # `olds` are the outputs: what was applied, or what `refresh` found live.
        current = TopicState(olds["topic"], int(olds["partitions"]), int(olds["replication_factor"]),
                             dict(olds.get("config") or {}))
        desired = TopicSpec(news["topic"], int(news["partitions"]), int(news["replication_factor"]), news.get("config") or {})
        plan = plan_topic_change(current, desired)
        if plan.destructive:
            if not news.get("allow_data_loss"):
                raise DataLossRefused(
                    f"topic {current.name!r}: " + "; ".join(plan.destructive),
                    service="Kafka", url=news.get("bootstrap_servers"),
                    hint="set allow_data_loss (stack config kafka.allowTopicDataLoss) to replace the topic",
                )
            replaces = [key for key, differs in (
                ("topic", current.name != desired.name),
                ("partitions", desired.partitions < current.partitions),
                ("replication_factor", desired.replication_factor != current.replication_factor),
            ) if differs]
            return DiffResult(changes=True, replaces=replaces, delete_before_replace=current.name == desired.name)
        changed_inputs = any(olds.get(k) != news.get(k) for k in _PLAIN_INPUTS)
        return DiffResult(changes=not plan.noop or changed_inputs, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        from components.clients.kafka_admin import plan_topic_change
        from components.errors import ClickstreamerError, RequestRejected

        admin, spec = _admin(props), _spec(props)
        existing = admin.describe(spec.name)
        if existing is not None:
            raise RequestRejected(
                f"topic {spec.name!r} already exists with {existing.partitions} partition(s), outside this stack's state",
                service="Kafka", url=props["bootstrap_servers"],
                hint="delete it first, or choose another topic name: taking it over would delete it on destroy",
            )
        try:
            state = admin.apply(plan_topic_change(None, spec))
        except ClickstreamerError:
            # create is transactional: a topic that never converged is removed before reporting.
            try:
                admin.delete(spec.name)
            except ClickstreamerError:
                pass
            raise
        return CreateResult(spec.name, _outputs(props, state))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        state = _admin(props).describe(props.get("topic") or id_)
        if state is None:
            return ReadResult("", {})  # gone: refresh drops it, the next `up` creates it again
        return ReadResult(id_, _outputs(props, state))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from components.clients.kafka_admin import plan_topic_change
        from components.errors import DataLossRefused
        from components.resources._dynamic import note

        admin, spec = _admin(news), _spec(news)
        current = admin.describe(spec.name)
        if current is None:
            note(f"topic {spec.name!r} no longer exists (deleted outside Pulumi): creating it again")
        plan = plan_topic_change(current, spec)
        if plan.destructive:
            if not news.get("allow_data_loss"):
                raise DataLossRefused(f"topic {spec.name!r}: " + "; ".join(plan.destructive), service="Kafka",
                                      url=news["bootstrap_servers"], hint="set allow_data_loss to replace the topic")
            admin.delete(spec.name)
            plan = plan_topic_change(None, spec)
        return UpdateResult(_outputs(news, admin.apply(plan)))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from components.resources._dynamic import note

        name = props.get("topic") or id_
        if not _admin(props).delete(name):
            note(f"topic {name!r} was already gone")


def _admin(props: Mapping[str, Any]):
    from components.clients.kafka_admin import KafkaAdmin

    return KafkaAdmin(props["bootstrap_servers"], props.get("admin_config") or None, timeout=float(props.get("timeout") or 30))


def _spec(props: Mapping[str, Any]):
    from components.clients.kafka_admin import TopicSpec

    return TopicSpec(props["topic"], int(props["partitions"]), int(props["replication_factor"]),
                     {k: str(v) for k, v in (props.get("config") or {}).items()})


def _outputs(props: Mapping[str, Any], state) -> dict[str, Any]:
    from components.resources._dynamic import without_provider

    return {**without_provider(props), "topic": state.name, "partitions": state.partitions,
            "replication_factor": state.replication_factor, "config": dict(state.config)}


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
        admin_config: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]] = None,
        timeout: float = 30.0,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param bootstrap_servers: a Kafka listener reachable from where `pulumi up` runs (the host listener).
        :param topic: the topic name; changing it replaces the topic (refused unless `allow_data_loss`).
        :param partitions: raising it is applied in place; lowering it replaces the topic (same rule).
        :param replication_factor: changing it replaces the topic (same rule).
        :param config: topic config overrides (`retention.ms`, `cleanup.policy`, ...), applied in place;
            a key removed from here goes back to the broker default.
        :param allow_data_loss: let changes that recreate the topic through.
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
            "admin_config": pulumi.Output.secret(admin_config) if admin_config else None,
            "timeout": timeout,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["admin_config"]))
        super().__init__(KafkaTopicProvider(), resource_name, props, opts)
