"""What the dynamic providers share: reading props into typed inputs, the validators of values that
cross Pulumi's wire, and create's undo. The provider modules import it: dill serializes their
providers by reference to these importable modules, which Pulumi's provider process imports again.

Each provider declares a frozen dataclass of its inputs with two constructors:
`parse(props) -> (inputs, failures)` for `check`, which judges every value and reports each bad one
as a `CheckFailure` naming the prop, the value and what is allowed; and `from_props(props)` for
create/read/update/delete and diff, whose props already passed `check` (or are outputs made from
them): the same coercions, nothing judged. Both read each prop once through `Props`.

Pulumi's wire format carries numbers as doubles (1 arrives as 1.0), and during preview a value may
be unknown (an output of a resource not created yet): `Props` passes unknown values through
untouched and the validators never see them. `known(...)` tells whether a value can be used yet.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional
from urllib.parse import urlsplit

PROVIDER_KEY = "__provider"

# Key names that hold credentials by convention (Kafka, Connect, Schema Registry clients).
_SECRET_KEY = re.compile(r"(password|secret|token|credential|api\.key|jaas\.config|user\.info|private\.key)", re.I)


class Invalid(ValueError):
    """A validator's refusal: `str()` says what is wrong and what is allowed (the prop is named by `Props`)."""


Validator = Callable[[Any], Any]


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


class Props:
    """One read of a provider's props: each prop taken once, coerced by its validator, every refusal
    collected as a `CheckFailure` (so `check` reports all bad props at once)."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        self.props = props
        self.failures: list = []

    def get(self, key: str, validate: Optional[Validator] = None, default: Any = None) -> Any:
        """The prop `key` coerced by `validate`; `default` when it is absent or None. An unknown
        value, and a refused one (after recording the refusal), come back as they are."""
        value = self.props.get(key)
        if value is None:
            value = default
        if value is None or validate is None or unknown(value):
            return value
        try:
            return validate(value)
        except Invalid as exc:
            self.fail(key, str(exc))
            return value

    def fail(self, key: str, reason: str) -> None:
        self.failures.append(failure(key, reason))

    def refuse_secrets(self, key: str, names: Any, advice: str) -> None:
        """A failure for each name in `names` (keys of a map, or arguments) that looks like a credential;
        nothing when `key` was already refused (its value is not what was expected)."""
        if unknown(names) or not isinstance(names, Iterable) or isinstance(names, str) \
                or any(f.property == key for f in self.failures):
            return
        for name in names:
            if looks_secret(str(name)):
                self.fail(key, f"{str(name)!r} looks like a credential: {advice}")


def failure(key: str, reason: str):
    from pulumi.dynamic import CheckFailure

    return CheckFailure(key, reason)


def as_props(inputs: Any) -> dict[str, Any]:
    """A typed inputs dataclass back into props (what `check` returns to the engine)."""
    return {f.name: getattr(inputs, f.name) for f in fields(inputs)}


# --- validators: value -> coerced value, or raise Invalid ---------------------------------------

def whole_number(value: Any) -> int:
    """A whole number >= 1; numbers cross Pulumi's wire as doubles, so 3.0 is 3."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(f"must be a whole number >= 1, got {value!r}")
    return value


def seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise Invalid(f"must be a number of seconds > 0, got {value!r}")
    return float(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, got {value!r}")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"must be a string, got {type(value).__name__}")
    return value


def one_of(*allowed: str) -> Validator:
    def validate(value: Any) -> str:
        if value not in allowed:
            raise Invalid(f"{value!r}: allowed: {', '.join(allowed)}")
        return value

    return validate


def http_url(service: str, example: str, with_path: bool = True) -> Validator:
    """An http(s) URL of `service` (`with_path=False`: scheme, host and port only)."""
    def validate(value: Any) -> str:
        parts = urlsplit(value) if isinstance(value, str) else None
        try:
            port_ok = parts is not None and (parts.port is None or parts.port > 0)
        except ValueError:
            port_ok = False
        if not (parts and port_ok and parts.scheme in ("http", "https") and parts.hostname
                and not any(c.isspace() for c in value)
                and (with_path or (parts.path in ("", "/") and not parts.query and not parts.fragment))):
            raise Invalid(f"{value!r}: must be the http(s) URL of {service}, e.g. {example}")
        return value

    return validate


def config_map(what: str) -> Validator:
    """A map of `what` to values, rendered as the string map Connect, Kafka and Flink configs are."""
    def validate(value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise Invalid(f"must be a map of {what} to values, got {type(value).__name__}")
        return {str(k): as_config_value(v) for k, v in value.items()}

    return validate


def string_list(what: str) -> Validator:
    def validate(value: Any) -> list[str]:
        if not isinstance(value, (list, tuple)):
            raise Invalid(f"must be a list of {what}, got {type(value).__name__}")
        return [as_config_value(v) for v in value]

    return validate


def as_config_value(value: Any) -> str:
    """Connect and Kafka configs are string maps: render booleans the way Java parses them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # numbers cross Pulumi's wire as doubles: 1 arrives as 1.0
    return str(value)


# --- create ------------------------------------------------------------------------------------

@contextmanager
def undone_on_failure(undo: Callable[[], Any]) -> Iterator[None]:
    """create is transactional: what it made is undone when it did not converge, then the error that
    stopped it is raised (an error of the undo itself is dropped: the first error is the cause)."""
    from components.errors import ClickstreamerError

    try:
        yield
    except ClickstreamerError:
        try:
            undo()
        except ClickstreamerError:
            pass
        raise


# --- talking to the user -----------------------------------------------------------------------

def note(message: str) -> None:
    """Tell the user something during preview/up (the provider process has no engine: stderr)."""
    import pulumi

    pulumi.log.info(message)


def warn(message: str) -> None:
    import pulumi

    pulumi.log.warn(message)


def without_provider(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != PROVIDER_KEY}
