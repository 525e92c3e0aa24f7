"""`GrafanaAdminPassword`: the stack's Grafana admin password, kept true on a running Grafana, over
components/clients/grafana.py.

Grafana applies its configured admin password only when it creates its database; after that the
password lives in that database (on the volume). So:
- create: Grafana has just started with the configured password; nothing to send (it is checked);
- update (the password changed): the change is made through Grafana's API with the previous
  password, then checked: the new one works, the old one does not;
- delete: nothing (the password goes with Grafana's data, or stays with it when the data is kept).
`password` is a secret input and output (the next change needs the current one).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from components.resources import _dynamic as dyn


@dataclass(frozen=True)
class AdminPasswordInputs:
    url: str
    user: str
    password: str = field(repr=False)

    @classmethod
    def parse(cls, props: Mapping[str, Any]) -> tuple["AdminPasswordInputs", list]:
        p = dyn.Props(props)
        inputs = cls(url=p.get("url", dyn.http_url("Grafana", "http://127.0.0.1:3000", with_path=False)),
                     user=p.get("user", dyn.text), password=p.get("password", dyn.text))
        return inputs, p.failures

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "AdminPasswordInputs":
        return cls.parse(props)[0]

    def client(self):
        from components.clients.grafana import GrafanaClient

        return GrafanaClient(self.url)


class GrafanaAdminPasswordProvider(ResourceProvider):
    """The provider: a thin adapter over components/clients/grafana.py."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = AdminPasswordInputs.parse(news)
        return CheckResult({**news, **dyn.as_props(inputs)}, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old, new = AdminPasswordInputs.from_props(olds), AdminPasswordInputs.from_props(news)
        # Another user is another account: the new one is Grafana's to create (from its config).
        return DiffResult(changes=old != new, replaces=["user"] if old.user != new.user else [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        from components.errors import RequestRejected

        inputs = AdminPasswordInputs.from_props(props)
        if not inputs.client().signs_in(inputs.user, inputs.password):
            raise RequestRejected(
                f"Grafana does not accept the stack's admin password for {inputs.user!r}", service="Grafana",
                url=f"{inputs.url}/api/user",
                hint="Grafana kept the password of an earlier database on its volume: reset it with `grafana cli "
                     "admin reset-admin-password <the stack's grafanaAdminPassword>` inside the container",
            )
        return CreateResult(f"grafana-admin-{inputs.user}", dyn.without_provider(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        old, new = AdminPasswordInputs.from_props(olds), AdminPasswordInputs.from_props(news)
        if new.client().change_admin_password(new.user, old.password, new.password):
            dyn.note(f"Grafana admin password of {new.user!r} changed; the previous one no longer works")
        return UpdateResult(dyn.without_provider(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        return None  # the password belongs to Grafana's data


class GrafanaAdminPassword(pulumi.dynamic.Resource, module="grafana", name="AdminPassword"):
    """Grafana's admin password as the stack says (type `pulumi-python:dynamic/grafana:AdminPassword`)."""

    def __init__(self, resource_name: str, *, url: pulumi.Input[str], user: pulumi.Input[str],
                 password: pulumi.Input[str], opts: pulumi.ResourceOptions = None) -> None:
        """
        :param url: Grafana as reached from where `pulumi up` runs.
        :param user: the admin's login; another one replaces the resource.
        :param password: the admin password (secret); a change is made through Grafana's API.
        """
        props = {"url": url, "user": user, "password": pulumi.Output.secret(password)}
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(GrafanaAdminPasswordProvider(), resource_name, props, opts)
