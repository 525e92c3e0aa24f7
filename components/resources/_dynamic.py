"""Helpers the dynamic providers share. Providers import this inside their methods (they are
serialized with dill and run in Pulumi's provider process, where only importable modules exist).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

PROVIDER_KEY = "__provider"

# Key names that hold credentials by convention (Kafka, Connect, Schema Registry clients).
_SECRET_KEY = re.compile(r"(password|secret|token|credential|api\.key|jaas\.config|user\.info|private\.key)", re.I)


def unknown(value: Any) -> bool:
    """True for a value Pulumi does not know yet (an output of a resource not created yet).

    The provider host hands those to `check` and `diff` as `pulumi.output.Unknown` instances (or the
    raw sentinel string, depending on how the value was deserialized).
    """
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN):
        return True
    if isinstance(value, Mapping):
        return any(unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(unknown(v) for v in value)
    return False


def known(*values: Any) -> bool:
    return not any(v is None or unknown(v) for v in values)


def looks_secret(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def note(message: str) -> None:
    """Tell the user something during preview/up (the provider process has no engine: stderr)."""
    import pulumi

    pulumi.log.info(message)


def warn(message: str) -> None:
    import pulumi

    pulumi.log.warn(message)


def without_provider(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != PROVIDER_KEY}


def as_config_value(value: Any) -> str:
    """Connect and Kafka configs are string maps: render booleans the way Java parses them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # numbers cross Pulumi's wire as doubles: 1 arrives as 1.0
    return str(value)
