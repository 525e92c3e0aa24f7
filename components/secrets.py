"""The stack's passwords, on both platforms: given in stack config (secret keys) or generated with
pulumi-random and kept in the state, always Pulumi secrets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_random as random


@dataclass
class PipelineSecrets:
    """Passwords as given in stack config (secret Outputs), or None to generate them."""

    clickhouse_password: Optional[pulumi.Input[str]] = None
    clickhouse_reader_password: Optional[pulumi.Input[str]] = None
    grafana_admin_password: Optional[pulumi.Input[str]] = None

    def __repr__(self) -> str:  # never show a secret
        given = [k for k, v in vars(self).items() if v is not None]
        return f"PipelineSecrets(given={given})"


@dataclass(frozen=True)
class Passwords:
    """Every password the pipeline uses, as secret Outputs."""

    clickhouse: pulumi.Output[str]  # the ClickHouse owner's
    reader: pulumi.Output[str]  # the ClickHouse reader's (Grafana's)
    grafana: pulumi.Output[str]  # Grafana's admin's
    grafana_secret_key: pulumi.Output[str]  # signs Grafana's cookies and encrypts its stored secrets

    def __repr__(self) -> str:
        return "Passwords([secret])"


def ensure_password(name: str, given: Optional[pulumi.Input[str]], parent: pulumi.Resource) -> pulumi.Output[str]:
    """The configured password, or a generated one (kept in state, stable across updates)."""
    if given is not None:
        return pulumi.Output.secret(given)
    generated = random.RandomPassword(name, length=24, special=False, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)


def ensure_passwords(name: str, secrets: PipelineSecrets, parent: pulumi.Resource) -> Passwords:
    """Every password of pipeline `name`, the missing ones generated as children of `parent`."""
    return Passwords(
        clickhouse=ensure_password(f"{name}-clickhouse-password", secrets.clickhouse_password, parent),
        reader=ensure_password(f"{name}-clickhouse-reader-password", secrets.clickhouse_reader_password, parent),
        grafana=ensure_password(f"{name}-grafana-admin-password", secrets.grafana_admin_password, parent),
        # Generated, never configured: Grafana's own default is public.
        grafana_secret_key=ensure_password(f"{name}-grafana-secret-key", None, parent),
    )
