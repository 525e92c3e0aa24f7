"""The collector's settings, read from COLLECTOR_* environment variables. The stack renders every
one of them from its validated config (components/spec.py `collector_environment`, whose defaults
are components/config.py's): nothing here has a default of its own, so a missing variable is an
error naming it, never a silent second default.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Mapping

PREFIX = "COLLECTOR_"
MAX_BODY_BYTES = 64 * 1024  # the browsers' keepalive / sendBeacon budget for one request
MAX_BATCH_EVENTS = 50  # events in one request; more is a 400, so one request cannot flood the queue


class SettingsError(ValueError):
    """One line per bad variable: name, value, what is allowed."""


@dataclass(frozen=True)
class Settings:
    listen_host: str
    listen_port: int
    bootstrap_servers: str
    schema_registry_url: str
    topic: str
    sites: tuple[str, ...]  # allowed host names; a page on a subdomain of one belongs to it
    trusted_proxies: tuple[ipaddress._BaseNetwork, ...]  # X-Forwarded-For is read only from these
    queue_size: int  # events waiting for Kafka before requests get 503
    rate_per_second: float  # requests per second per client, sustained
    rate_burst: int  # requests a client may send at once
    linger_ms: int
    delivery_timeout_seconds: int  # how long an accepted event is retried while Kafka is away
    max_clock_skew_seconds: int  # the client's (sent - created) offset is clamped to this
    script_name: str  # the tracker is served at /<script_name>
    endpoint_path: str  # events are POSTed here
    demo_site: bool  # serve the demo site under /demo/

    @property
    def subject(self) -> str:
        return f"{self.topic}-value"


def from_env(env: Mapping[str, str]) -> Settings:
    problems: list[str] = []

    def get(name: str) -> str:
        value = env.get(PREFIX + name)
        if value is None:
            problems.append(f"{PREFIX}{name} is not set")
            return ""
        return value

    def integer(name: str, low: int, high: int) -> int:
        raw = get(name)
        try:
            value = int(raw)
        except ValueError:
            if raw:
                problems.append(f"{PREFIX}{name} = {raw!r}: must be a whole number")
            return low
        if not low <= value <= high:
            problems.append(f"{PREFIX}{name} = {value}: must be between {low} and {high}")
        return value

    def boolean(name: str) -> bool:
        raw = get(name)
        if raw not in ("true", "false"):
            if raw:
                problems.append(f"{PREFIX}{name} = {raw!r}: must be true or false")
            return False
        return raw == "true"

    def path(name: str, raw: str) -> str:
        if not raw.startswith("/") or any(c in raw for c in "?#\\ ") or raw.startswith("//"):
            problems.append(f"{PREFIX}{name} = {raw!r}: must be an absolute path such as /api/event")
        return raw

    proxies = []
    for item in filter(None, (p.strip() for p in get("TRUSTED_PROXIES").split(","))):
        try:
            proxies.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            problems.append(f"{PREFIX}TRUSTED_PROXIES: {item!r} is not an IP address or CIDR")
    sites = tuple(s.strip().lower() for s in get("SITES").split(",") if s.strip())
    if not sites and env.get(PREFIX + "SITES") is not None:
        problems.append(f"{PREFIX}SITES is empty: name at least one host name whose pages may send events")
    script = get("SCRIPT_NAME")
    if script and not all(c.isalnum() or c in "._-" for c in script):
        problems.append(f"{PREFIX}SCRIPT_NAME = {script!r}: must be a file name of [A-Za-z0-9._-]")
    settings = Settings(
        listen_host=get("LISTEN_HOST"),
        listen_port=integer("LISTEN_PORT", 1, 65535),
        bootstrap_servers=get("BOOTSTRAP_SERVERS"),
        schema_registry_url=get("SCHEMA_REGISTRY_URL").rstrip("/"),
        topic=get("TOPIC"),
        sites=sites,
        trusted_proxies=tuple(proxies),
        queue_size=integer("QUEUE_SIZE", 1, 10_000_000),
        rate_per_second=integer("RATE_PER_SECOND", 1, 100_000),
        rate_burst=integer("RATE_BURST", 1, 1_000_000),
        linger_ms=integer("LINGER_MS", 0, 1000),
        delivery_timeout_seconds=integer("DELIVERY_TIMEOUT_SECONDS", 10, 86_400),
        max_clock_skew_seconds=integer("MAX_CLOCK_SKEW_SECONDS", 0, 7 * 86_400),
        script_name=script,
        endpoint_path=path("ENDPOINT_PATH", get("ENDPOINT_PATH")),
        demo_site=boolean("DEMO_SITE"),
    )
    if problems:
        raise SettingsError("invalid collector settings:\n  - " + "\n  - ".join(problems))
    return settings
