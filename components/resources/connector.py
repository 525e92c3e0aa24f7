"""`Connector`: a Kafka Connect connector as a Pulumi dynamic resource, over
components/clients/connect_rest.py (and components/clients/datagen.py for datagen's ending tasks).

Life cycle: `check` validates the config against the worker when the worker answers (a misspelt key
fails preview with the key named); `create`/`update` PUT the whole config and wait until the
connector and its tasks run; `read` returns the live config, so a change made outside Pulumi shows
on `pulumi refresh` and the next `up` puts the declared config back; `delete` removes the connector
(its source offsets stay in Connect's offsets topic, so datagen resumes its iteration when a
connector of the same name comes back).

A datagen connector whose tasks produced all their `iterations` records shows `state` FINISHED, not
FAILED (`components.clients.datagen.classify_status`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from components.resources import _dynamic as dyn

WAIT_TIMEOUT = 120.0  # seconds to wait for RUNNING, and the retry budget of each request
_NAME_CHARS = "/\\"  # a name travels in URL paths


def connector_name(value: Any) -> str:
    if not (isinstance(value, str) and value.strip() and not any(c in value for c in _NAME_CHARS)):
        raise dyn.Invalid(f"{value!r}: must be a non-empty name without '/' or '\\'")
    return value


@dataclass(frozen=True)
class ConnectorInputs:
    """A `Connector`'s props, typed (see components/resources/_dynamic.py for how they are read).
    In `check` and `diff` a field may still be unknown (preview)."""

    connect_url: str
    connector_name: str
    config: dict[str, str] = field(default_factory=dict)  # without the secret keys
    secret_config: Optional[dict[str, str]] = None  # keys holding credentials, kept encrypted
    wait_timeout: float = WAIT_TIMEOUT

    @classmethod
    def parse(cls, props: Mapping[str, Any]) -> tuple["ConnectorInputs", list]:
        p = dyn.Props(props)
        inputs = cls(
            connect_url=p.get("connect_url", dyn.http_url("the Connect REST API", "http://127.0.0.1:8083")),
            connector_name=p.get("connector_name", connector_name),
            config=p.get("config", dyn.config_map("config keys"), {}),
            secret_config=p.get("secret_config", dyn.config_map("config keys")) or None,
            wait_timeout=p.get("wait_timeout", dyn.seconds, WAIT_TIMEOUT),
        )
        config, secret, name = inputs.config, inputs.secret_config or {}, inputs.connector_name
        if p.failures or dyn.unknown(config) or dyn.unknown(secret):
            return inputs, p.failures
        if not config.get("connector.class"):
            p.fail("config", "`connector.class` is required")
        if "name" in config and dyn.known(name) and config["name"] != name:
            p.fail("config", f"`name` is {config['name']!r} but connector_name is {name!r}")
        for key in sorted(set(config) & set(secret)):
            p.fail("secret_config", f"{key!r} is also in config: keep each key in one place")
        p.refuse_secrets("config", sorted(config), "pass it in secret_config, which Pulumi stores encrypted")
        return inputs, p.failures

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "ConnectorInputs":
        return cls.parse(props)[0]

    def full_config(self) -> dict[str, str]:
        """What the worker gets: the config, its secret keys and the name."""
        return {**self.config, **(self.secret_config or {}), "name": self.connector_name}

    def client(self, retry=None):
        from components.clients._http import RetryPolicy
        from components.clients.connect_rest import ConnectClient

        return ConnectClient(self.connect_url, retry or RetryPolicy(deadline=self.wait_timeout))


class ConnectorProvider(ResourceProvider):
    """The provider: a thin adapter over components/clients/connect_rest.py."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        from components.clients._http import RetryPolicy
        from components.clients.datagen import config_problems
        from components.errors import RequestRejected, ServiceUnavailable

        inputs, failures = ConnectorInputs.parse(news)
        checked = {**news, **dyn.as_props(inputs)}
        url, name = inputs.connect_url, inputs.connector_name
        if failures or not dyn.known(url, name, inputs.config) or dyn.unknown(inputs.secret_config):
            return CheckResult(checked, failures)
        # The worker is the judge of a config; on a first `up` it does not exist yet.
        try:
            full = inputs.full_config()
            client = inputs.client(RetryPolicy(deadline=0, request_timeout=5))
            failures.extend(dyn.failure("config", problem) for problem in config_problems(full, client.validate(full)))
        except ServiceUnavailable:
            dyn.note(f"connector {name!r}: Kafka Connect at {url} is not reachable yet, so its config will be "
                     f"validated by the worker when it is applied")
        except RequestRejected as exc:
            failures.append(dyn.failure("config", exc.message))
        return CheckResult(checked, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old, new = ConnectorInputs.from_props(olds), ConnectorInputs.from_props(news)
        if not dyn.known(new.connector_name):
            return DiffResult(changes=True)  # decided again once the name is known, before anything is applied
        if old.connector_name != new.connector_name:
            # The name is the connector's identity on the worker: another name is another connector.
            return DiffResult(changes=True, replaces=["connector_name"])
        # `olds` are outputs: `config` is what was applied, or what `refresh` found live.
        changed = [k for k in ("connect_url", "config", "secret_config", "wait_timeout")
                   if (getattr(old, k) or None) != (getattr(new, k) or None)]
        failed = olds.get("state") == "FAILED"
        return DiffResult(changes=bool(changed) or failed, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        from components.clients.datagen import classify_status
        from components.errors import RequestRejected

        inputs = ConnectorInputs.from_props(props)
        client, name, config, url = inputs.client(), inputs.connector_name, inputs.full_config(), inputs.connect_url
        _validate_or_raise(client, name, config)
        if client.get_config(name) is not None:
            raise RequestRejected(
                f"connector {name!r} already exists on {url}, outside this stack's state",
                service="Kafka Connect", url=f"{url}/connectors/{name}",
                hint=f"delete it (`curl -X DELETE {url}/connectors/{name}`) or choose another name",
            )
        client.put_config(name, config)
        with dyn.undone_on_failure(lambda: client.delete(name)):
            outcome, status = client.wait_for(name, lambda s: classify_status(s, config), inputs.wait_timeout)
        return CreateResult(name, _outputs(props, inputs, client.get_config(name) or config, outcome, status))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.clients.datagen import classify_status

        inputs = ConnectorInputs.from_props(props)
        client, name = inputs.client(), inputs.connector_name or id_
        live = client.get_config(name)
        if live is None:
            return ReadResult("", {})  # gone: refresh drops it, the next `up` creates it again
        status = client.status(name)
        outcome = classify_status(status, live) if status else "pending"
        return ReadResult(id_, _outputs(props, inputs, live, outcome, status))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from components.clients.datagen import classify_status

        inputs = ConnectorInputs.from_props(news)
        client, name, config = inputs.client(), inputs.connector_name, inputs.full_config()
        _validate_or_raise(client, name, config)
        client.put_config(name, config)
        status = client.status(name)
        if status is not None and classify_status(status, config) == "failed":
            client.restart_failed(name)  # a PUT of an unchanged config does not restart failed tasks
        outcome, status = client.wait_for(name, lambda s: classify_status(s, config), inputs.wait_timeout)
        return UpdateResult(_outputs(news, inputs, client.get_config(name) or config, outcome, status))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        inputs = ConnectorInputs.from_props(props)
        client, name = inputs.client(), inputs.connector_name or id_
        if not client.delete(name):
            dyn.note(f"connector {name!r} was already gone from {inputs.connect_url}")
        client.wait_deleted(name)


def _validate_or_raise(client, name: str, config: Mapping[str, str]) -> None:
    from components.clients.datagen import config_problems
    from components.errors import RequestRejected

    problems = config_problems(config, client.validate(config))
    if problems:
        raise RequestRejected(
            f"Kafka Connect rejects the config of connector {name!r}:\n" + "\n".join(f"    {p}" for p in problems),
            service="Kafka Connect", url=f"{client.url}/connector-plugins/{config.get('connector.class')}/config/validate",
            status=400,
        )


def _outputs(props: Mapping[str, Any], inputs: ConnectorInputs, live: Mapping[str, str], outcome: str,
             status) -> dict[str, Any]:
    secret_keys = set(inputs.secret_config or {})
    return {
        **dyn.without_provider(props),
        "config": {k: v for k, v in live.items() if k != "name" and k not in secret_keys},
        "secret_config": {k: v for k, v in live.items() if k in secret_keys} or None,
        "state": {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED"}.get(outcome, status.state if status else ""),
        "tasks": [f"{t.id}:{t.state}" for t in status.tasks] if status else [],
    }


class Connector(pulumi.dynamic.Resource, module="kafkaconnect", name="Connector"):
    """A Kafka Connect connector (type `pulumi-python:dynamic/kafkaconnect:Connector`).

    Outputs: `config` (the live config, secrets left out), `state` (RUNNING, or FINISHED when
    datagen has produced all its iterations), `tasks` (`id:STATE` per task).
    """

    connector_name: pulumi.Output[str]
    config: pulumi.Output[dict]
    state: pulumi.Output[str]
    tasks: pulumi.Output[list]

    def __init__(
        self,
        resource_name: str,
        *,
        connect_url: pulumi.Input[str],
        connector_name: pulumi.Input[str],
        config: pulumi.Input[Mapping[str, pulumi.Input[str]]],
        secret_config: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]] = None,
        wait_timeout: float = WAIT_TIMEOUT,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param connect_url: the worker's REST root as reached from where `pulumi up` runs.
        :param connector_name: the connector's name on the worker; changing it replaces the connector.
        :param config: the connector config (with `connector.class`); changes are applied in place.
        :param secret_config: config keys holding credentials; merged into the config sent to the worker,
            stored encrypted in the state, never shown in `config`.
        :param wait_timeout: seconds to wait for RUNNING, and the retry budget of each request.
        """
        props = {
            "connect_url": connect_url,
            "connector_name": connector_name,
            "config": config,
            "secret_config": pulumi.Output.secret(secret_config) if secret_config else None,
            "wait_timeout": wait_timeout,
            "state": None,
            "tasks": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["secret_config"]))
        super().__init__(ConnectorProvider(), resource_name, props, opts)
