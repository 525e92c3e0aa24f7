"""The stack configuration: one typed object, validated before any resource is created.

Stack config lives under the `clickstreamer:` namespace. Each section is a structured value
(`pulumi config set --path clickstreamer:flink.taskmanagers 2`); passwords are separate secret
keys (`pulumi config set --secret clickstreamer:clickhousePassword ...`) and are generated with
pulumi-random when absent.

`parse_config(raw)` is pure (no Pulumi): it takes the raw values by key and returns a
`PipelineConfig`, or raises one `ConfigError` listing every bad key with its value and what is
allowed. `load_config()` reads the values from Pulumi and calls it.
"""
from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Optional

from .contract import INSIGHT_TOPICS, topic_object_name
from .errors import ConfigError

NAMESPACE = "clickstreamer"

# Keys whose values are secrets: read with get_secret, never part of the plain config object.
SECRET_KEYS = ("clickhousePassword", "clickhouseReaderPassword", "grafanaAdminPassword")

PLATFORMS = ("docker", "kubernetes")
DATAGEN_QUICKSTARTS = ("pageviews",)  # the job reads the pageviews schema; others would fail it
FLINK_ON_DESTROY = ("savepoint", "cancel")
DELIVERY_GUARANTEES = ("exactly-once", "at-least-once")

_IMAGE_REF = re.compile(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
                        r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")
# Tags that move: names of branches or channels, and bare major / major.minor versions.
_FLOATING_TAG = re.compile(r"^(?:latest|main|master|stable|edge|nightly|dev|develop|head|current|release|"
                           r"v?[0-9]+(?:\.[0-9]+)?)$", re.I)
_KAFKA_CLUSTER_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_MEMORY = re.compile(r"^[1-9][0-9]*(m|g)$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Topics Kafka, Schema Registry and Connect keep for themselves.
_RESERVED_TOPIC = re.compile(r"^(?:__.*|_schemas|_connect-.*|_confluent.*)$")
# ClickHouse's own databases and the user that exists before any users file.
_CLICKHOUSE_SYSTEM_DATABASES = ("system", "default", "information_schema")
_KAFKA_HEAP_MB = (256, 31 * 1024)  # below: the broker cannot start; above: no compressed pointers
_FLINK_MEMORY_MB = (1024, 64 * 1024)  # below: PyFlink jobs fail; above: more than one host gives
# Kafka aborts a transaction open longer than the job's transaction timeout (900 s; the broker's
# transaction.max.timeout.ms default): with exactly-once, a transaction spans a checkpoint
# interval, so an interval past a third of it (room for a slow or failed checkpoint) loses data.
EXACTLY_ONCE_MAX_CHECKPOINT_SECONDS = 300
# Keys that moved, and where to.
MOVED_KEYS = {"clickhouse.dropDataOnDestroy": "dropDataOnDestroy", "kafka.allowTopicDataLoss": "allowDataLoss"}
# Keys read on one platform only: set on the other, they would be silently ignored.
DOCKER_ONLY_KEYS = ("bindAddress", "ports", "expose", "flink.onDestroy", "flink.taskmanagers")


@dataclass(frozen=True)
class Images:
    """Container images, pinned by tag. Changing one replaces that service's containers."""

    kafka: str = "confluentinc/cp-kafka:7.4.1"
    schema_registry: str = "confluentinc/cp-schema-registry:7.4.1"
    connect_base: str = "confluentinc/cp-kafka-connect:7.4.1"  # datagen is added on top
    datagen_version: str = "0.6.5"  # kafka-connect-datagen; 0.7.x targets CP 8 / Java 17
    flink_base: str = "flink:1.20.3-scala_2.12-java17"  # Python, PyFlink, jars added on top
    clickhouse: str = "clickhouse/clickhouse-server:24.7.3"
    grafana_base: str = "grafana/grafana:11.1.1"  # the ClickHouse plugin is baked on top
    grafana_clickhouse_plugin: str = "4.14.1"  # newest that loads on Grafana 11.1.1
    collector_base: str = "python:3.11.11-slim-bookworm"  # the website collector is installed on top


@dataclass(frozen=True)
class Ports:
    """Host ports, published on `bind_address` (and, for an exposed service, on `expose.address`).
    Schema Registry keeps 8081; Flink's UI moves to 8082."""

    kafka: int = 9092
    schema_registry: int = 8081
    connect: int = 8083
    flink_ui: int = 8082
    clickhouse_http: int = 8123
    clickhouse_native: int = 0  # 0: not published (nothing of the stack uses it; clickhouse-client does)
    grafana: int = 3000
    collector: int = 8090  # the website collector: events, the tracker script, the demo site


# Services that may be published beyond the host (`expose.services`), and whether anything
# authenticates a caller in front of them. The admin APIs `pulumi up` itself uses (Kafka, Connect,
# Flink REST: job submission is code execution, ClickHouse HTTP) stay on `bindAddress` always.
# The collector is public by design: browsers of every visitor call it, and it takes nothing but
# validated, rate-limited events for the configured sites.
EXPOSABLE = {"grafana": "authenticated", "schemaRegistry": "unauthenticated", "clickhouseNative": "authenticated",
             "collector": "public"}
ADMIN_APIS = ("kafka", "connect", "flinkUi", "clickhouseHttp")


@dataclass(frozen=True)
class ExposeSettings:
    """What is reachable beyond this host (Docker platform). Nothing unless asked."""

    address: str = ""  # host address exposed services are published on (e.g. 0.0.0.0); empty: none
    services: str = ""  # comma-separated, of: grafana, schemaRegistry, clickhouseNative, collector
    acknowledge_unauthenticated: bool = False  # true: expose a service no one authenticates callers of

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.services.split(",") if name.strip())


@dataclass(frozen=True)
class KafkaSettings:
    cluster_id: str = "MkU3OEVBNTcwNTJENDM2Qk"  # KRaft cluster id; keep it for the volume's lifetime
    pageviews_topic: str = "pageviews"
    pageviews_partitions: int = 3
    pageviews_retention_hours: int = 168
    insight_partitions: int = 3
    heap: str = "1g"


@dataclass(frozen=True)
class DatagenSettings:
    quickstart: str = "pageviews"
    max_interval_ms: int = 100  # each task sleeps up to this between records (~20 records/s)
    iterations: int = 10_000_000  # records per task; the task reports FAILED when it reaches them
    tasks_max: int = 1


@dataclass(frozen=True)
class FlinkSettings:
    taskmanagers: int = 1
    slots_per_taskmanager: int = 2
    parallelism: int = 2
    checkpoint_interval_seconds: int = 10
    session_gap_minutes: int = 5
    watermark_delay_seconds: int = 5
    source_idle_timeout_seconds: int = 30
    delivery_guarantee: str = "at-least-once"  # outputs visible at once, ClickHouse dedups by key; or exactly-once
    on_destroy: str = "savepoint"  # stop with a savepoint (kept on the volume) or cancel
    jobmanager_memory: str = "1600m"
    taskmanager_memory: str = "1728m"


@dataclass(frozen=True)
class ClickHouseSettings:
    database: str = "clickstream"
    user: str = "clickstream"  # owner: runs migrations, owns the Kafka-engine ingestion
    reader_user: str = "grafana_reader"  # read-only, used by Grafana


@dataclass(frozen=True)
class GrafanaSettings:
    admin_user: str = "admin"
    anonymous_access: bool = False


@dataclass(frozen=True)
class CollectorSettings:
    """The website side (collector/): HTTP events in, Avro pageviews v2 out."""

    enabled: bool = True  # false: no collector, tracker or demo site
    sites: str = "localhost,127.0.0.1"  # comma-separated host names whose pages may send events (subdomains too)
    trusted_proxies: str = ""  # comma-separated IPs/CIDRs whose X-Forwarded-For is believed; empty: none
    queue_size: int = 100000  # events waiting for Kafka; past it, requests get 503 + Retry-After
    rate_per_second: int = 20  # requests per second per client IP (429 past it)
    rate_burst: int = 100  # requests one client may send at once
    linger_ms: int = 5  # producer batching delay
    delivery_timeout_seconds: int = 300  # how long an accepted event is retried while Kafka is away
    max_clock_skew_seconds: int = 3600  # bound of the client's (sent - created) correction of event time
    script_name: str = "cs.js"  # the tracker is served at /<scriptName>
    endpoint_path: str = "/api/event"  # where the tracker POSTs events
    demo_site: bool = True  # serve the demo site at /demo/


@dataclass(frozen=True)
class RetentionSettings:
    raw_events_days: int = 7  # ClickHouse TTL on raw events; rollups are kept


@dataclass(frozen=True)
class KubernetesSettings:
    """Only read when platform is `kubernetes`."""

    namespace: str = "clickstream"
    operators_namespace: str = "clickstream-operators"
    storage_class: str = ""  # empty: the cluster's default StorageClass
    kafka_replicas: int = 3
    kafka_storage_size: str = "20Gi"
    clickhouse_storage_size: str = "20Gi"
    grafana_storage_size: str = "2Gi"
    flink_storage_size: str = "10Gi"
    connect_image: str = ""  # prebuilt Connect image with datagen; empty: Strimzi builds one
    connect_build_registry: str = ""  # where Strimzi pushes the image it builds (required then)
    flink_image: str = ""  # image with PyFlink + jars (images/flink); required on kubernetes
    grafana_image: str = ""  # image with the ClickHouse plugin baked (images/grafana); empty: plugin installed by the chart
    create_namespaces: bool = True  # false: both namespaces exist already (made by a cluster admin)
    kafka_controller_replicas: int = 0  # 0: brokers are also the KRaft controllers; else a dedicated pool
    kafka_controller_storage_size: str = "5Gi"  # per controller, only with a dedicated controller pool
    kafka_cpu: str = "500m"  # CPU request per broker (and per controller)
    kafka_memory: str = "2Gi"  # memory request and limit per broker; kafka.heap is the JVM heap inside it
    schema_registry_replicas: int = 1
    schema_registry_cpu: str = "100m"
    schema_registry_memory: str = "768Mi"
    connect_replicas: int = 1  # Connect workers; datagen.tasksMax tasks spread over them
    connect_cpu: str = "250m"
    connect_memory: str = "1536Mi"
    connect_push_secret: str = ""  # dockerconfigjson Secret Strimzi pushes its built image with
    clickhouse_cpu: str = "500m"
    clickhouse_memory: str = "4Gi"
    clickhouse_url: str = ""  # ClickHouse HTTP as `pulumi up` reaches it; empty: http://127.0.0.1:18123 (a port-forward), or the load balancer's
    clickhouse_load_balancer: bool = False  # true: a LoadBalancer Service for the migrations (needs source ranges)
    clickhouse_load_balancer_source_ranges: str = ""  # comma-separated CIDRs allowed through that LoadBalancer (required with it)
    grafana_cpu: str = "100m"
    grafana_memory: str = "512Mi"
    flink_jobmanager_cpu: str = "1"
    flink_taskmanager_cpu: str = "1"  # memory of both: flink.jobmanagerMemory / flink.taskmanagerMemory
    flink_state_dir: str = ""  # s3://, gs://, abfss://... for checkpoints/savepoints; empty: a shared PVC
    flink_storage_access_mode: str = "ReadWriteMany"  # of that PVC; ReadWriteOnce only on one-node clusters
    flink_job_state: str = "running"  # `suspended` stops the job with a savepoint (do it before destroy)
    collector_image: str = ""  # image built from images/collector; empty: no collector on kubernetes
    collector_replicas: int = 1  # more scale out; each has its own queue, rate limits and visitor-id salt
    collector_cpu: str = "250m"
    collector_memory: str = "256Mi"


@dataclass(frozen=True)
class PipelineConfig:
    """Everything `pulumi up` needs, validated. Secrets are not here: see `SECRET_KEYS`."""

    platform: str = "docker"
    bind_address: str = "127.0.0.1"  # loopback address every port is published on
    drop_data_on_destroy: bool = False  # true: destroy deletes the data too; default: kept, and the next up reattaches it
    allow_data_loss: bool = False  # true: let changes through that delete stored data (fewer topic partitions, a recreated topic, a lower retention)
    images: Images = field(default_factory=Images)
    ports: Ports = field(default_factory=Ports)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    datagen: DatagenSettings = field(default_factory=DatagenSettings)
    flink: FlinkSettings = field(default_factory=FlinkSettings)
    clickhouse: ClickHouseSettings = field(default_factory=ClickHouseSettings)
    grafana: GrafanaSettings = field(default_factory=GrafanaSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    collector: CollectorSettings = field(default_factory=CollectorSettings)
    expose: ExposeSettings = field(default_factory=ExposeSettings)
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)

    @property
    def host_address(self) -> str:
        """`bind_address` as written in a URL or a Kafka listener (an IPv6 address in brackets)."""
        return url_host(self.bind_address)


def url_host(address: str) -> str:
    """An IP address as the host part of a URL."""
    return f"[{address}]" if ":" in address else address


# Stack-config key (camelCase, as users write it) → (attribute, section dataclass or None).
_SECTIONS: dict[str, tuple[str, Optional[type]]] = {
    "platform": ("platform", None),
    "bindAddress": ("bind_address", None),
    "dropDataOnDestroy": ("drop_data_on_destroy", None),
    "allowDataLoss": ("allow_data_loss", None),
    "images": ("images", Images),
    "ports": ("ports", Ports),
    "kafka": ("kafka", KafkaSettings),
    "datagen": ("datagen", DatagenSettings),
    "flink": ("flink", FlinkSettings),
    "clickhouse": ("clickhouse", ClickHouseSettings),
    "grafana": ("grafana", GrafanaSettings),
    "retention": ("retention", RetentionSettings),
    "collector": ("collector", CollectorSettings),
    "expose": ("expose", ExposeSettings),
    "kubernetes": ("kubernetes", KubernetesSettings),
}
CONFIG_KEYS = tuple(_SECTIONS) + SECRET_KEYS


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, key: str, value: Any, allowed: str) -> None:
        shown = value if value == "[secret]" else repr(value)
        self.lines.append(f"{NAMESPACE}:{key} = {shown}: {allowed}")


def _coerce(value: Any, kind: type, key: str, problems: _Problems) -> Any:
    """Accept values as users type them (`pulumi config set` stores strings) and type them."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        problems.add(key, value, "must be true or false")
        return None
    if kind is int:
        if isinstance(value, bool):
            problems.add(key, value, "must be a whole number")
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            return int(value)
        problems.add(key, value, "must be a whole number")
        return None
    if not isinstance(value, str):
        problems.add(key, value, "must be a string")
        return None
    return value


def _section(key: str, cls: type, raw: Any, problems: _Problems) -> Any:
    default = cls()
    if raw is None:
        return default
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            problems.add(key, raw, "must be an object, e.g. `pulumi config set --path clickstreamer:"
                                   f"{key}.<field> <value>`")
            return default
    if not isinstance(raw, Mapping):
        problems.add(key, raw, "must be an object")
        return default
    by_camel = {_camel(f.name): f for f in fields(cls)}
    values = {}
    for name, value in raw.items():
        f = by_camel.get(name)
        if f is None:
            problems.add(f"{key}.{name}", value, f"unknown key; allowed: {', '.join(sorted(by_camel))}")
            continue
        kind = type(getattr(default, f.name))
        typed = _coerce(value, kind, f"{key}.{name}", problems)
        if typed is not None:
            values[f.name] = typed
    return replace(default, **values)


def _image_tag(reference: str) -> Optional[str]:
    match = _IMAGE_REF.fullmatch(reference)
    return match.group("tag") if match else None


def _check_image(problems: _Problems, key: str, reference: str) -> None:
    """An image reference pinned to a release tag or a digest: a moving tag would change what runs
    without any change to the stack."""
    match = _IMAGE_REF.fullmatch(reference)
    allowed = ("must be an image reference pinned to a release tag or digest (name:1.2.3, name@sha256:...); "
               "moving tags such as latest, main or a bare major version are refused")
    if not match or not (match.group("tag") or match.group("digest")):
        problems.add(key, reference, allowed)
    elif match.group("tag") and not match.group("digest") and _FLOATING_TAG.fullmatch(match.group("tag")):
        problems.add(key, reference, allowed)


def _validate_expose(cfg: PipelineConfig, p: _Problems) -> None:
    e = cfg.expose
    if e.address:
        try:
            address = ipaddress.ip_address(e.address)
        except ValueError:
            address = None
        if address is None or address.is_multicast or address.is_link_local or (
                address.is_reserved and not address.is_unspecified):
            p.add("expose.address", e.address,
                  "must be a unicast IP address of this host, or 0.0.0.0 / :: for every interface")
    for name in e.service_names:
        if name in ADMIN_APIS:
            p.add("expose.services", e.services, f"{name} is an admin API without authentication and is never "
                  f"exposed; allowed: {', '.join(EXPOSABLE)}")
        elif name not in EXPOSABLE:
            p.add("expose.services", e.services, f"unknown service {name!r}; allowed: {', '.join(EXPOSABLE)}")
    if e.service_names and not e.address:
        p.add("expose.address", e.address, f"is required to expose {e.services}: the address to publish them on")
    if "clickhouseNative" in e.service_names and cfg.ports.clickhouse_native == 0:
        p.add("ports.clickhouseNative", 0, "must be a port to expose clickhouseNative")
    unauthenticated = [n for n in e.service_names if EXPOSABLE.get(n) == "unauthenticated"]
    if "grafana" in e.service_names and cfg.grafana.anonymous_access:
        unauthenticated.append("grafana (grafana.anonymousAccess: SQL as the reader for anyone)")
    if unauthenticated and not e.acknowledge_unauthenticated:
        p.add("expose.services", e.services,
              f"exposes {', '.join(unauthenticated)} with no authentication in front; set "
              "expose.acknowledgeUnauthenticated to true to publish it anyway")


def _check_range(problems: _Problems, key: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        problems.add(key, value, f"must be between {low} and {high}")


_CREDENTIAL_NAME = re.compile(r"pas+w|pwd|secret|token|credential|key$", re.I)


def parse_config(raw: Mapping[str, Any], secret_keys: Optional[frozenset] = None) -> PipelineConfig:
    """Build and validate the config from raw stack values keyed by their stack-config name.
    `secret_keys`: the keys stored as secrets (None: not known, e.g. in tests of values alone).

    Raises `ConfigError` naming every bad key, its value and what is allowed.
    """
    problems = _Problems()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECRET_KEYS:
            # Validated without echoing the value: it must not reach logs.
            # `$` is refused because Grafana expands `$NAME` in the password file it reads.
            if (not isinstance(value, str) or not 12 <= len(value) <= 128
                    or any(c.isspace() or c == "$" or unicodedata.category(c) == "Cc" for c in value)):
                problems.add(key, "[secret]", "must be 12-128 characters without spaces, control characters or `$` "
                             "(or leave it unset to have one generated)")
            elif secret_keys is not None and key not in secret_keys:
                problems.add(key, "[secret]", f"must be stored as a secret: `pulumi config rm {NAMESPACE}:{key}`, then "
                             f"`pulumi config set --secret {NAMESPACE}:{key} ...` (it is in plain text in the stack file)")
            continue
        if key not in _SECTIONS:
            hidden = (secret_keys is not None and key in secret_keys) or _CREDENTIAL_NAME.search(key)
            problems.add(key, "[secret]" if hidden else value, f"unknown key; allowed: {', '.join(CONFIG_KEYS)}")
            continue
        attr, cls = _SECTIONS[key]
        if cls is None:
            typed = _coerce(value, type(getattr(PipelineConfig(), attr)), key, problems)
            if typed is not None:
                values[attr] = typed
        else:
            values[attr] = _section(key, cls, value, problems)
    cfg = replace(PipelineConfig(), **values)
    _validate(cfg, problems)
    _check_platform_keys(raw, cfg.platform, problems)
    for old, new in MOVED_KEYS.items():
        section, _, name = old.partition(".")
        value = raw.get(section)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                continue
        if isinstance(value, Mapping) and name in value:
            problems.lines = [line for line in problems.lines if not line.startswith(f"{NAMESPACE}:{old} = ")]
            problems.add(old, value[name], f"moved: set {NAMESPACE}:{new} instead (it covers every service's data)")
    if problems.lines:
        raise ConfigError(problems.lines)
    return cfg


def _check_platform_keys(raw: Mapping[str, Any], platform: str, p: _Problems) -> None:
    """Keys read on one platform only, set for the other: refused rather than silently ignored."""
    def given(key: str) -> Optional[tuple[str, Any]]:
        section, _, name = key.partition(".")
        value = raw.get(section)
        if not name:
            return (key, value) if section in raw else None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return None
        return (key, value[name]) if isinstance(value, Mapping) and name in value else None

    if platform == "kubernetes":
        for key in DOCKER_ONLY_KEYS:
            found = given(key)
            if found:
                p.add(found[0], found[1], "is read on the docker platform only; remove it for platform kubernetes")
    elif platform == "docker" and given("kubernetes"):
        p.add("kubernetes", raw["kubernetes"], "is read on the kubernetes platform only; remove it for platform docker")


def _validate(cfg: PipelineConfig, p: _Problems) -> None:
    if cfg.platform not in PLATFORMS:
        p.add("platform", cfg.platform, f"allowed: {', '.join(PLATFORMS)}")
    try:
        loopback = ipaddress.ip_address(cfg.bind_address).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        p.add("bindAddress", cfg.bind_address,
              "must be a loopback address such as 127.0.0.1 (default) or ::1: the admin APIs (Kafka, Connect, "
              "Flink REST, ClickHouse HTTP) have no authentication and stay on this host; to publish Grafana, "
              "Schema Registry or ClickHouse's native port beyond it, set expose.address and expose.services")
    _validate_expose(cfg, p)

    for f in fields(Images):
        value = getattr(cfg.images, f.name)
        key = f"images.{_camel(f.name)}"
        if f.name == "datagen_version":
            if not re.fullmatch(r"0\.6\.[0-9]+", value):
                p.add(key, value, "must be a 0.6.x release (0.7.x targets Confluent Platform 8, not 7.4)")
        elif f.name == "grafana_clickhouse_plugin":
            if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", value):
                p.add(key, value, "must be an exact plugin version such as 4.14.1")
        else:
            _check_image(p, key, value)
    tag = _image_tag(cfg.images.flink_base)
    if tag and not re.match(r"1\.20\.[0-9]+(?![0-9])", tag):
        p.add("images.flinkBase", cfg.images.flink_base,
              "must be a Flink 1.20.x image such as flink:1.20.3-scala_2.12-java17 (the job, its jars and "
              "PyFlink are 1.20)")

    seen: dict[int, str] = {}
    for f in fields(Ports):
        port = getattr(cfg.ports, f.name)
        key = f"ports.{_camel(f.name)}"
        if f.name == "clickhouse_native" and port == 0:
            continue  # not published
        if not 1 <= port <= 65535:
            p.add(key, port, "must be a TCP port between 1 and 65535")
        elif port in seen:
            p.add(key, port, f"already used by ports.{seen[port]}; every host port must be distinct")
        else:
            seen[port] = _camel(f.name)

    k = cfg.kafka
    if not _KAFKA_CLUSTER_ID.fullmatch(k.cluster_id):
        p.add("kafka.clusterId", k.cluster_id, "must be a 22-character base64url UUID (kafka-storage random-uuid)")
    if not _TOPIC.fullmatch(k.pageviews_topic) or k.pageviews_topic in (".", ".."):
        p.add("kafka.pageviewsTopic", k.pageviews_topic,
              "must be a Kafka topic name: 1-249 of [A-Za-z0-9._-], not `.` or `..`")
    elif _RESERVED_TOPIC.fullmatch(k.pageviews_topic):
        p.add("kafka.pageviewsTopic", k.pageviews_topic,
              "is reserved for Kafka, Schema Registry or Connect (`__*`, `_schemas`, `_connect-*`, `_confluent*`)")
    elif k.pageviews_topic in INSIGHT_TOPICS.values():
        p.add("kafka.pageviewsTopic", k.pageviews_topic, "is one of the job's output topics "
              f"({', '.join(INSIGHT_TOPICS.values())}): the job would read what it writes")
    elif cfg.platform == "kubernetes" and topic_object_name(k.pageviews_topic) in (
            "", *map(topic_object_name, INSIGHT_TOPICS.values())):
        p.add("kafka.pageviewsTopic", k.pageviews_topic,
              f"names the Kubernetes object {topic_object_name(k.pageviews_topic)!r}, which is empty or that of "
              "an output topic: use lower case letters, digits, `.` and `-`")
    _check_range(p, "kafka.pageviewsPartitions", k.pageviews_partitions, 1, 1000)
    _check_range(p, "kafka.insightPartitions", k.insight_partitions, 1, 1000)
    _check_range(p, "kafka.pageviewsRetentionHours", k.pageviews_retention_hours, 1, 24 * 365 * 10)
    if not re.fullmatch(r"[1-9][0-9]*[mg]", k.heap):
        p.add("kafka.heap", k.heap, "must be a JVM heap size such as 512m or 1g")
    elif not _KAFKA_HEAP_MB[0] <= _mebibytes(k.heap) <= _KAFKA_HEAP_MB[1]:
        p.add("kafka.heap", k.heap, f"must be between {_KAFKA_HEAP_MB[0]}m and {_KAFKA_HEAP_MB[1] // 1024}g")

    d = cfg.datagen
    if d.quickstart not in DATAGEN_QUICKSTARTS:
        p.add("datagen.quickstart", d.quickstart,
              f"allowed: {', '.join(DATAGEN_QUICKSTARTS)} (the Flink job reads the pageviews schema)")
    _check_range(p, "datagen.maxIntervalMs", d.max_interval_ms, 1, 3_600_000)
    if d.iterations == 0 or d.iterations < -1:
        p.add("datagen.iterations", d.iterations, "must be a positive count, or -1 for unlimited")
    _check_range(p, "datagen.tasksMax", d.tasks_max, 1, 64)

    fl = cfg.flink
    _check_range(p, "flink.taskmanagers", fl.taskmanagers, 1, 64)
    _check_range(p, "flink.slotsPerTaskmanager", fl.slots_per_taskmanager, 1, 64)
    _check_range(p, "flink.parallelism", fl.parallelism, 1, 1024)
    # On Kubernetes the operator starts as many TaskManagers as the parallelism needs.
    if cfg.platform == "docker" and 1 <= fl.taskmanagers and 1 <= fl.slots_per_taskmanager and 1 <= fl.parallelism:
        slots = fl.taskmanagers * fl.slots_per_taskmanager
        if fl.parallelism > slots:
            p.add("flink.parallelism", fl.parallelism,
                  f"must be at most taskmanagers x slotsPerTaskmanager = {slots}, or the job never gets its slots")
    _check_range(p, "flink.checkpointIntervalSeconds", fl.checkpoint_interval_seconds, 1, 3600)
    _check_range(p, "flink.sessionGapMinutes", fl.session_gap_minutes, 1, 24 * 60)
    _check_range(p, "flink.watermarkDelaySeconds", fl.watermark_delay_seconds, 0, 3600)
    _check_range(p, "flink.sourceIdleTimeoutSeconds", fl.source_idle_timeout_seconds, 1, 3600)
    if fl.delivery_guarantee not in DELIVERY_GUARANTEES:
        p.add("flink.deliveryGuarantee", fl.delivery_guarantee, f"allowed: {', '.join(DELIVERY_GUARANTEES)}")
    if fl.on_destroy not in FLINK_ON_DESTROY:
        p.add("flink.onDestroy", fl.on_destroy, f"allowed: {', '.join(FLINK_ON_DESTROY)}")
    for key, value in (("flink.jobmanagerMemory", fl.jobmanager_memory), ("flink.taskmanagerMemory", fl.taskmanager_memory)):
        if not _MEMORY.fullmatch(value):
            p.add(key, value, "must be a Flink memory size such as 1600m or 2g")
        elif not _FLINK_MEMORY_MB[0] <= _mebibytes(value) <= _FLINK_MEMORY_MB[1]:
            p.add(key, value, f"must be between {_FLINK_MEMORY_MB[0]}m (PyFlink jobs need it) and "
                              f"{_FLINK_MEMORY_MB[1] // 1024}g")
    if fl.delivery_guarantee == "exactly-once" and fl.checkpoint_interval_seconds > EXACTLY_ONCE_MAX_CHECKPOINT_SECONDS:
        p.add("flink.checkpointIntervalSeconds", fl.checkpoint_interval_seconds,
              f"must be at most {EXACTLY_ONCE_MAX_CHECKPOINT_SECONDS} with flink.deliveryGuarantee exactly-once: "
              "Kafka aborts transactions open past the 900 s transaction timeout, and their data is lost")

    ch = cfg.clickhouse
    for key, value in (("clickhouse.database", ch.database), ("clickhouse.user", ch.user),
                       ("clickhouse.readerUser", ch.reader_user)):
        if not _IDENTIFIER.fullmatch(value):
            p.add(key, value, "must be an identifier: a letter or _, then letters, digits or _ (max 63)")
    if ch.database.lower() in _CLICKHOUSE_SYSTEM_DATABASES:
        p.add("clickhouse.database", ch.database,
              f"must not be one of ClickHouse's own databases ({', '.join(_CLICKHOUSE_SYSTEM_DATABASES)})")
    for key, value in (("clickhouse.user", ch.user), ("clickhouse.readerUser", ch.reader_user)):
        if value == "default":
            p.add(key, value, "must not be `default`: the stack removes that user (it has no password)")
    if ch.reader_user == ch.user:
        p.add("clickhouse.readerUser", ch.reader_user, "must differ from clickhouse.user (it is read-only)")

    if not re.fullmatch(r"[A-Za-z0-9._@-]{1,64}", cfg.grafana.admin_user):
        p.add("grafana.adminUser", cfg.grafana.admin_user, "must be 1-64 of [A-Za-z0-9._@-]")

    _check_range(p, "retention.rawEventsDays", cfg.retention.raw_events_days, 1, 3650)
    _validate_collector(cfg.collector, p)

    if cfg.platform == "kubernetes":
        kc = cfg.kubernetes
        for key, value in (("kubernetes.namespace", kc.namespace), ("kubernetes.operatorsNamespace", kc.operators_namespace)):
            if not _K8S_NAME.fullmatch(value):
                p.add(key, value, "must be a DNS-1123 label (lower case letters, digits, -)")
            elif value.startswith("kube-"):
                p.add(key, value, "must not be a `kube-*` namespace: those belong to Kubernetes itself")
        if kc.storage_class and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", kc.storage_class):
            p.add("kubernetes.storageClass", kc.storage_class, "must be a StorageClass name, or empty for the default")
        _check_range(p, "kubernetes.kafkaReplicas", kc.kafka_replicas, 1, 99)
        for name in ("kafka_storage_size", "clickhouse_storage_size", "grafana_storage_size", "flink_storage_size"):
            value = getattr(kc, name)
            if not re.fullmatch(r"[1-9][0-9]*(Mi|Gi|Ti)", value):
                p.add(f"kubernetes.{_camel(name)}", value, "must be a quantity such as 20Gi")
        if not kc.flink_image:
            p.add("kubernetes.flinkImage", kc.flink_image,
                  "required on kubernetes: an image built from images/flink and pushed to your registry")
        else:
            _check_image(p, "kubernetes.flinkImage", kc.flink_image)
        if not kc.connect_image and not kc.connect_build_registry:
            p.add("kubernetes.connectImage", kc.connect_image,
                  "set a prebuilt Connect image with datagen, or kubernetes.connectBuildRegistry for Strimzi to build one")
        _validate_kubernetes(kc, cfg, p)


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_URL_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
_SCRIPT_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}\.js$")
# Paths the collector serves itself: the endpoint and the script must not shadow them.
COLLECTOR_RESERVED_PATHS = ("/healthz", "/readyz", "/metrics", "/demo")


def _validate_collector(c: CollectorSettings, p: _Problems) -> None:
    sites = [s.strip() for s in c.sites.split(",")]
    if not any(sites):
        p.add("collector.sites", c.sites, "must name at least one host name, e.g. example.com,localhost")
    for site in filter(None, sites):
        if not _HOSTNAME.fullmatch(site):
            p.add("collector.sites", c.sites, f"{site!r} is not a lower-case host name; give comma-separated host "
                                              "names such as example.com (subdomains are included)")
            break
    for proxy in filter(None, (x.strip() for x in c.trusted_proxies.split(","))):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            p.add("collector.trustedProxies", c.trusted_proxies,
                  f"{proxy!r} is not an IP address or CIDR; give comma-separated ones such as 10.0.0.0/8")
            break
    _check_range(p, "collector.queueSize", c.queue_size, 100, 10_000_000)
    _check_range(p, "collector.ratePerSecond", c.rate_per_second, 1, 100_000)
    _check_range(p, "collector.rateBurst", c.rate_burst, 1, 1_000_000)
    _check_range(p, "collector.lingerMs", c.linger_ms, 0, 1000)
    _check_range(p, "collector.deliveryTimeoutSeconds", c.delivery_timeout_seconds, 10, 86_400)
    _check_range(p, "collector.maxClockSkewSeconds", c.max_clock_skew_seconds, 0, 7 * 86_400)
    if not _SCRIPT_NAME.fullmatch(c.script_name):
        p.add("collector.scriptName", c.script_name, "must be a file name ending in .js, of [A-Za-z0-9._-] "
                                                     "(a neutral one such as cs.js is not blocked by ad blockers)")
    if not _URL_PATH.fullmatch(c.endpoint_path):
        p.add("collector.endpointPath", c.endpoint_path, "must be an absolute URL path such as /api/event")
    elif any(c.endpoint_path == r or c.endpoint_path.startswith(r + "/") for r in COLLECTOR_RESERVED_PATHS) \
            or c.endpoint_path == f"/{c.script_name}":
        p.add("collector.endpointPath", c.endpoint_path,
              f"must not be the script's path or one of {', '.join(COLLECTOR_RESERVED_PATHS)}")


_CPU = re.compile(r"^(?:[1-9][0-9]*m|[0-9]+(?:\.[0-9]{1,3})?)$")
_K8S_MEMORY = re.compile(r"^[1-9][0-9]*(Mi|Gi)$")
_K8S_MEMORY_MB = (256, 256 * 1024)  # a JVM service cannot start below; above: more than a node gives
_REGISTRY_PATH = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+$")
FLINK_STATE_SCHEMES = ("s3", "s3a", "s3p", "gs", "abfs", "abfss", "wasb", "wasbs", "oss", "hdfs")
FLINK_STORAGE_ACCESS_MODES = ("ReadWriteMany", "ReadWriteOnce")
FLINK_JOB_STATES = ("running", "suspended")


def _mebibytes(quantity: str) -> int:
    """`512m`/`1g` (JVM) or `512Mi`/`2Gi` (Kubernetes) in MiB."""
    number, unit = re.fullmatch(r"([0-9]+)([A-Za-z]+)", quantity).groups()
    return int(number) * (1024 if unit.lower().startswith("g") else 1)


def _validate_kubernetes(kc: KubernetesSettings, cfg: PipelineConfig, p: _Problems) -> None:
    """The checks added with the Kubernetes platform (components/k8s/)."""
    if kc.namespace == kc.operators_namespace:
        p.add("kubernetes.operatorsNamespace", kc.operators_namespace,
              "must differ from kubernetes.namespace (the operator charts watch the pipeline's namespace "
              "and refuse to watch their own)")
    if kc.kafka_controller_replicas != 0 and (not 1 <= kc.kafka_controller_replicas <= 9
                                              or kc.kafka_controller_replicas % 2 == 0):
        p.add("kubernetes.kafkaControllerReplicas", kc.kafka_controller_replicas,
              "must be 0 (brokers are controllers) or an odd number from 1 to 9 (a KRaft quorum)")
    if not re.fullmatch(r"[1-9][0-9]*(Mi|Gi|Ti)", kc.kafka_controller_storage_size):
        p.add("kubernetes.kafkaControllerStorageSize", kc.kafka_controller_storage_size, "must be a quantity such as 5Gi")
    for name in ("schema_registry_replicas", "connect_replicas"):
        _check_range(p, f"kubernetes.{_camel(name)}", getattr(kc, name), 1, 20)
    for service in ("kafka", "schema_registry", "connect", "clickhouse", "grafana", "flink_jobmanager", "flink_taskmanager",
                    "collector"):
        cpu = getattr(kc, f"{service}_cpu")
        if not _CPU.fullmatch(cpu) or cpu.rstrip("m").strip("0.") == "":
            p.add(f"kubernetes.{_camel(service)}Cpu", cpu, "must be a CPU quantity above 0 such as 500m or 2")
    for service in ("kafka", "schema_registry", "connect", "clickhouse", "grafana"):
        memory = getattr(kc, f"{service}_memory")
        if not _K8S_MEMORY.fullmatch(memory):
            p.add(f"kubernetes.{_camel(service)}Memory", memory, "must be a memory quantity such as 768Mi or 4Gi")
        elif not _K8S_MEMORY_MB[0] <= _mebibytes(memory) <= _K8S_MEMORY_MB[1]:
            p.add(f"kubernetes.{_camel(service)}Memory", memory,
                  f"must be between {_K8S_MEMORY_MB[0]}Mi and {_K8S_MEMORY_MB[1] // 1024}Gi")
    if not _K8S_MEMORY.fullmatch(kc.collector_memory):
        p.add("kubernetes.collectorMemory", kc.collector_memory, "must be a memory quantity such as 256Mi")
    elif not 128 <= _mebibytes(kc.collector_memory) <= 16 * 1024:
        p.add("kubernetes.collectorMemory", kc.collector_memory, "must be between 128Mi (Python, librdkafka and "
                                                                 "the queue) and 16Gi")
    _check_range(p, "kubernetes.collectorReplicas", kc.collector_replicas, 1, 100)
    if kc.collector_image:
        _check_image(p, "kubernetes.collectorImage", kc.collector_image)
    if _K8S_MEMORY.fullmatch(kc.kafka_memory) and re.fullmatch(r"[1-9][0-9]*[mg]", cfg.kafka.heap) \
            and _mebibytes(kc.kafka_memory) < _mebibytes(cfg.kafka.heap) + 512:
        p.add("kubernetes.kafkaMemory", kc.kafka_memory,
              f"must leave at least 512Mi above kafka.heap = {cfg.kafka.heap} (page cache, metaspace, buffers)")
    for key, value in (("kubernetes.connectImage", kc.connect_image), ("kubernetes.grafanaImage", kc.grafana_image)):
        if value:
            _check_image(p, key, value)
    if kc.connect_build_registry and not _REGISTRY_PATH.fullmatch(kc.connect_build_registry):
        p.add("kubernetes.connectBuildRegistry", kc.connect_build_registry,
              "must be a registry and repository path without a tag, such as registry.example.com/team")
    if kc.connect_push_secret and not _K8S_NAME.fullmatch(kc.connect_push_secret):
        p.add("kubernetes.connectPushSecret", kc.connect_push_secret, "must be the name of a Secret (DNS-1123 label)")
    ranges = [c.strip() for c in kc.clickhouse_load_balancer_source_ranges.split(",") if c.strip()]
    if kc.clickhouse_load_balancer and not ranges:
        p.add("kubernetes.clickhouseLoadBalancerSourceRanges", kc.clickhouse_load_balancer_source_ranges,
              "is required with kubernetes.clickhouseLoadBalancer: the CIDRs allowed to reach ClickHouse, such as "
              "your address/32 (a LoadBalancer without them is open to the internet)")
    if kc.clickhouse_load_balancer and kc.clickhouse_url:
        p.add("kubernetes.clickhouseUrl", kc.clickhouse_url,
              "must be empty with kubernetes.clickhouseLoadBalancer: the migrations use the load balancer's address")
    if kc.clickhouse_url and not re.fullmatch(r"https?://[^/:\s]+(:[0-9]{1,5})?/?", kc.clickhouse_url):
        p.add("kubernetes.clickhouseUrl", kc.clickhouse_url,
              "must be empty (a LoadBalancer Service is made) or an http(s)://host[:port] URL reachable from `pulumi up`")
    for cidr in filter(None, (c.strip() for c in kc.clickhouse_load_balancer_source_ranges.split(","))):
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            p.add("kubernetes.clickhouseLoadBalancerSourceRanges", kc.clickhouse_load_balancer_source_ranges,
                  f"{cidr!r} is not a CIDR; give comma-separated CIDRs such as 203.0.113.0/24")
            break
    if kc.flink_state_dir and not re.fullmatch(rf"(?:{'|'.join(FLINK_STATE_SCHEMES)})://[^\s/]+(?:/\S*)?",
                                                kc.flink_state_dir):
        p.add("kubernetes.flinkStateDir", kc.flink_state_dir,
              f"must be empty (a shared PVC) or a URI with scheme {', '.join(FLINK_STATE_SCHEMES)}")
    if kc.flink_storage_access_mode not in FLINK_STORAGE_ACCESS_MODES:
        p.add("kubernetes.flinkStorageAccessMode", kc.flink_storage_access_mode,
              f"allowed: {', '.join(FLINK_STORAGE_ACCESS_MODES)}")
    if kc.flink_job_state not in FLINK_JOB_STATES:
        p.add("kubernetes.flinkJobState", kc.flink_job_state, f"allowed: {', '.join(FLINK_JOB_STATES)}")


def read_raw_config() -> dict[str, Any]:
    """All `clickstreamer:*` stack values. Secret values are included only so that `parse_config`
    can check them; the pipeline reads them again as secret Outputs."""
    import pulumi.runtime.config as runtime_config

    prefix = f"{NAMESPACE}:"
    # The engine hands config over in PULUMI_CONFIG; tests and the Automation API may set it
    # in-process instead. Read both, in-process winning.
    merged = {**(runtime_config.get_config_env() or {}), **runtime_config.CONFIG.get()}
    return {key[len(prefix):]: value for key, value in merged.items() if key.startswith(prefix)}


def secret_config_keys() -> frozenset:
    """The `clickstreamer:*` keys stored as secrets (the engine hands their names over apart)."""
    import pulumi.runtime.config as runtime_config

    prefix = f"{NAMESPACE}:"
    names = {*runtime_config.get_config_secret_keys_env(), *runtime_config._SECRET_KEYS.get()}
    return frozenset(name[len(prefix):] for name in names if name.startswith(prefix))


def load_config() -> PipelineConfig:
    """Read and validate the stack config; raise `ConfigError` before any resource exists."""
    return parse_config(read_raw_config(), secret_config_keys())
