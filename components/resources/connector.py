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

from typing import Any, Mapping, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

_NAME_CHARS = "/\\"  # a name travels in URL paths


class ConnectorProvider(ResourceProvider):
    """The provider. Self-contained: every import happens inside a method (see STYLE.md)."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        from components.clients._http import RetryPolicy
        from components.clients.connect_rest import ConnectClient
        from components.clients.datagen import config_problems
        from components.errors import RequestRejected, ServiceUnavailable
        from components.resources._dynamic import as_config_value, known, looks_secret, note, unknown

        inputs = dict(news)
        failures: list[CheckFailure] = []
        name = inputs.get("connector_name")
        if known(name) and not (isinstance(name, str) and name.strip() and not any(c in name for c in _NAME_CHARS)):
            failures.append(CheckFailure("connector_name", f"{name!r}: must be a non-empty name without '/' or '\\'"))
        url = inputs.get("connect_url")
        if known(url) and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            failures.append(CheckFailure("connect_url", f"{url!r}: must be an http(s) URL of the Connect REST API"))
        timeout = inputs.get("wait_timeout", 120)
        if known(timeout) and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            failures.append(CheckFailure("wait_timeout", f"must be a number of seconds > 0, got {timeout!r}"))

        config, secret = inputs.get("config"), inputs.get("secret_config") or {}
        for prop, value in (("config", config), ("secret_config", secret)):
            if not unknown(value) and not isinstance(value, Mapping):
                failures.append(CheckFailure(prop, f"must be a map of config keys to values, got {type(value).__name__}"))
        if failures or unknown(config) or unknown(secret):
            return CheckResult(inputs, failures)
        config = inputs["config"] = {str(k): as_config_value(v) for k, v in config.items()}
        secret = {str(k): as_config_value(v) for k, v in secret.items()}
        if secret:
            inputs["secret_config"] = secret
        if not config.get("connector.class"):
            failures.append(CheckFailure("config", "`connector.class` is required"))
        if "name" in config and known(name) and config["name"] != name:
            failures.append(CheckFailure("config", f"`name` is {config['name']!r} but connector_name is {name!r}"))
        for key in sorted(set(config) & set(secret)):
            failures.append(CheckFailure("secret_config", f"{key!r} is also in config: keep each key in one place"))
        for key in sorted(config):
            if looks_secret(key):
                failures.append(CheckFailure("config", f"{key!r} looks like a credential: pass it in secret_config, "
                                                       f"which Pulumi stores encrypted"))
        if failures or not known(url):
            return CheckResult(inputs, failures)

        # The worker is the judge of a config; on a first `up` it does not exist yet.
        try:
            client = ConnectClient(url, RetryPolicy(deadline=0, request_timeout=5))
            full = {**config, **secret, "name": name}
            for problem in config_problems(full, client.validate(full)):
                failures.append(CheckFailure("config", problem))
        except ServiceUnavailable:
            note(f"connector {name!r}: Kafka Connect at {url} is not reachable yet, so its config will be "
                 f"validated by the worker when it is applied")
        except RequestRejected as exc:
            failures.append(CheckFailure("config", exc.message))
        return CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        from components.resources._dynamic import known

        if not known(news.get("connector_name")):
            return DiffResult(changes=True)  # decided again once the name is known, before anything is applied
        if olds.get("connector_name") != news.get("connector_name"):
            # The name is the connector's identity on the worker: another name is another connector.
            return DiffResult(changes=True, replaces=["connector_name"])
        # `olds` are outputs: `config` is what was applied, or what `refresh` found live.
        changed = [k for k in ("connect_url", "config", "secret_config", "wait_timeout")
                   if (olds.get(k) or None) != (news.get(k) or None)]
        failed = olds.get("state") == "FAILED"
        return DiffResult(changes=bool(changed) or failed, replaces=[])

    def create(self, props: dict[str, Any]) -> CreateResult:
        from components.clients.datagen import classify_status
        from components.errors import ClickstreamerError, RequestRejected

        client, name = _client(props), props["connector_name"]
        config = _full_config(props)
        _validate_or_raise(client, name, config)
        if client.get_config(name) is not None:
            raise RequestRejected(
                f"connector {name!r} already exists on {props['connect_url']}, outside this stack's state",
                service="Kafka Connect", url=f"{props['connect_url']}/connectors/{name}",
                hint=f"delete it (`curl -X DELETE {props['connect_url']}/connectors/{name}`) or choose another name",
            )
        client.put_config(name, config)
        try:
            outcome, status = client.wait_for(name, lambda s: classify_status(s, config), float(props.get("wait_timeout") or 120))
        except ClickstreamerError:
            # create is transactional: a connector that did not come up is removed before reporting.
            try:
                client.delete(name)
            except ClickstreamerError:
                pass
            raise
        return CreateResult(name, _outputs(props, client.get_config(name) or config, outcome, status))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.clients.datagen import classify_status

        client, name = _client(props), props.get("connector_name") or id_
        live = client.get_config(name)
        if live is None:
            return ReadResult("", {})  # gone: refresh drops it, the next `up` creates it again
        status = client.status(name)
        outcome = classify_status(status, live) if status else "pending"
        return ReadResult(id_, _outputs(props, live, outcome, status))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from components.clients.datagen import classify_status

        client, name = _client(news), news["connector_name"]
        config = _full_config(news)
        _validate_or_raise(client, name, config)
        client.put_config(name, config)
        status = client.status(name)
        if status is not None and classify_status(status, config) == "failed":
            client.restart_failed(name)  # a PUT of an unchanged config does not restart failed tasks
        outcome, status = client.wait_for(name, lambda s: classify_status(s, config), float(news.get("wait_timeout") or 120))
        return UpdateResult(_outputs(news, client.get_config(name) or config, outcome, status))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from components.resources._dynamic import note

        client, name = _client(props), props.get("connector_name") or id_
        if not client.delete(name):
            note(f"connector {name!r} was already gone from {props['connect_url']}")
        client.wait_deleted(name)


def _client(props: Mapping[str, Any]):
    from components.clients._http import RetryPolicy
    from components.clients.connect_rest import ConnectClient

    return ConnectClient(props["connect_url"], RetryPolicy(deadline=float(props.get("wait_timeout") or 120)))


def _full_config(props: Mapping[str, Any]) -> dict[str, str]:
    return {**dict(props.get("config") or {}), **dict(props.get("secret_config") or {}), "name": props["connector_name"]}


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


def _outputs(props: Mapping[str, Any], live: Mapping[str, str], outcome: str, status) -> dict[str, Any]:
    from components.resources._dynamic import without_provider

    secret_keys = set(props.get("secret_config") or {})
    return {
        **without_provider(props),
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
        wait_timeout: float = 120.0,
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
