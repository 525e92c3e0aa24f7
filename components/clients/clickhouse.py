"""Talking to ClickHouse: the small `Executor` interface and its HTTP implementation.

The migrations runner (`components/clients/migrations.py`) needs two things from ClickHouse: run
one statement, read rows. `Executor` is exactly that: the runner runs against a real
server over HTTP (`HttpExecutor`, clickhouse-connect), in production and in the tests (a real
ClickHouse server configured as the stack's: tests/support/clickhouse_stack.py); the in-process
engine (`tests/support/chdb_executor.ChdbExecutor`, chdb 2.1.1) implements it too.

Both implementations raise the same errors from `components.errors`:
- `ServiceUnavailable`: the server could not be reached within the retry budget (nothing answered);
- `RequestRejected`: the server answered with an error; retrying the same SQL will not help.
  `context["clickhouse_error"]` carries ClickHouse's own message.

Also here: `users_xml`, the server-side definition of the owner and of the read-only user Grafana uses
(ClickHouse `users.d` file; its password hash comes from the environment, never from a file).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as _xml_escape

from ..errors import RequestRejected, ServiceUnavailable

SERVICE = "clickhouse"


class Executor(Protocol):
    """One ClickHouse connection as the migrations runner sees it.

    `command` runs exactly one statement and returns nothing; `rows` runs one query and returns
    its rows as tuples of Python values. Callers never send two statements in one call (the HTTP
    interface accepts one per request).
    """

    def command(self, sql: str) -> None: ...

    def rows(self, sql: str) -> list[tuple]: ...


def quote_string(value: str) -> str:
    """A ClickHouse string literal for `value` (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_identifier(name: str) -> str:
    """A back-quoted ClickHouse identifier for `name`."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to reach ClickHouse over HTTP. `repr` never shows the password."""

    url: str  # http(s)://host:port of the HTTP interface (8123 / 8443)
    username: str
    password: str = field(default="", repr=False)
    connect_timeout: float = 5.0  # seconds per connection attempt
    query_timeout: float = 300.0  # seconds one statement may run (ALTER ... MODIFY TTL can be slow)
    attempts: int = 6  # connection attempts before giving up
    backoff: float = 0.5  # first pause between attempts, doubled each time (0.5+1+2+4+8 s)

    def parts(self) -> tuple[str, str, int]:
        split = urlsplit(self.url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"ClickHouse URL {self.url!r} must look like http://host:8123 or https://host:8443")
        port = split.port or (8443 if split.scheme == "https" else 8123)
        return split.scheme, split.hostname, port


class HttpExecutor:
    """`Executor` over ClickHouse's HTTP interface, with bounded retries on connection failures.

    Only failures to reach the server are retried; a statement the server rejected is raised at
    once as `RequestRejected`. Retrying a statement whose connection broke mid-way may run it twice:
    the migrations runner only sends idempotent DDL and tolerates a repeated ledger row.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        endpoint.parts()  # validate the URL before the first attempt
        self.endpoint = endpoint
        self._client: Any = None

    def command(self, sql: str) -> None:
        self._call(lambda client: client.command(sql), sql)

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in self._call(lambda client: client.query(sql).result_rows, sql)]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connect(self) -> Any:
        import clickhouse_connect

        scheme, host, port = self.endpoint.parts()
        return clickhouse_connect.get_client(
            interface=scheme, host=host, port=port,
            username=self.endpoint.username, password=self.endpoint.password,
            connect_timeout=self.endpoint.connect_timeout,
            send_receive_timeout=self.endpoint.query_timeout,
            # No session: every statement stands alone, so a retry on a new connection is equal.
            autogenerate_session_id=False,
        )

    def _call(self, action, sql: str):
        from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

        pause = self.endpoint.backoff
        last: Optional[BaseException] = None
        for attempt in range(1, self.endpoint.attempts + 1):
            try:
                if self._client is None:
                    self._client = self._connect()
                return action(self._client)
            except OperationalError as exc:  # nothing (or no complete answer) came back
                last = exc
                self.close()
                if attempt < self.endpoint.attempts:
                    time.sleep(pause)
                    pause *= 2
            except DatabaseError as exc:  # the server answered with an error
                raise RequestRejected(
                    "ClickHouse rejected a statement",
                    service=SERVICE, url=self.endpoint.url, user=self.endpoint.username,
                    clickhouse_error=_first_line(str(exc)), statement=sql,
                    hint=_hint_for(str(exc)),
                ) from exc
        raise ServiceUnavailable(
            f"ClickHouse did not answer after {self.endpoint.attempts} attempts",
            service=SERVICE, url=self.endpoint.url, last_error=_first_line(str(last)),
            hint="check that the ClickHouse container is running and healthy "
                 "(`wget -qO- <url>/ping` prints `Ok.`) and that the URL's host port is published",
        ) from last


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return " ".join(lines[:3]) if lines else message


def _hint_for(message: str) -> str:
    if "AUTHENTICATION_FAILED" in message or "Code: 516" in message:
        return "the username/password were refused: check the stack's ClickHouse credentials"
    if "ACCESS_DENIED" in message or "Code: 497" in message:
        return "the user lacks a grant: migrations must run as the owner user (CLICKHOUSE_USER)"
    return "the statement is in the error's `statement`; ClickHouse's reason in `clickhouse_error`"


# The Grafana plugin (clickhouse-go) sets max_execution_time on every query. The reader's profile is
# `readonly = 1` (no writes, no DDL, no settings) with a `changeable_in_readonly` constraint on that one
# setting, as the plugin's documentation advises; the constraint type works because the image's
# config.xml enables access_control_improvements.settings_constraints_replace_previous (proven on a
# real server: tests/schema/test_reader_user.py). The SELECT-only grant on one database is the fence
# around what it reads; the constraints cap what it may ask for.
OWNER_PASSWORD_ENV = "CLICKHOUSE_OWNER_PASSWORD_SHA256"
READER_PASSWORD_ENV = "CLICKHOUSE_READER_PASSWORD_SHA256"

# The reader's (Grafana's) profile, one definition for both platforms: no change to data, schema or
# settings, except the per-query time limit the plugin sends, within bounds. An empty value renders
# an empty element (`<changeable_in_readonly/>`, a flag).
READER_PROFILE_SETTINGS = {"readonly": 1, "max_execution_time": 60}
READER_PROFILE_CONSTRAINTS = {"max_execution_time": {"max": 300, "changeable_in_readonly": ""},
                              "max_memory_usage": {"max": 4_000_000_000}}


def reader_profile_paths(profile: str) -> dict[str, Any]:
    """The reader's profile as `profile/tag/.../tag: value` paths: the syntax of the ClickHouse
    operator's `profiles` (it nests the tags into the users XML), and what `users_xml` renders."""
    paths = {f"{profile}/{setting}": value for setting, value in READER_PROFILE_SETTINGS.items()}
    for setting, bounds in READER_PROFILE_CONSTRAINTS.items():
        paths.update({f"{profile}/constraints/{setting}/{bound}": value for bound, value in bounds.items()})
    return paths


# The reader's quota per hour, one definition for both platforms: the live dashboard sends 17 queries
# per 10 s refresh (~6,100 an hour per open browser), so this allows about ten viewers at once and
# stops a runaway client from monopolising the server.
READER_QUOTA_INTERVAL = {"duration": 3600, "queries": 60_000}


def reader_quota_paths(quota: str) -> dict[str, int]:
    """The reader's quota as `quota/interval/tag: value` paths (the ClickHouse operator's `quotas`
    syntax), and what `users_xml` renders."""
    return {f"{quota}/interval/{tag}": value for tag, value in READER_QUOTA_INTERVAL.items()}


def _xml_from_paths(paths: dict[str, Any], indent: int) -> str:
    """Nested XML elements from `a/b/c: value` paths, the way the ClickHouse operator nests them."""
    tree: dict = {}
    for path, value in paths.items():
        *parents, leaf = path.split("/")
        node = tree
        for tag in parents:
            node = node.setdefault(tag, {})
        node[leaf] = value
    lines: list[str] = []

    def render(node: dict, depth: int) -> None:
        pad = " " * (indent + 2 * depth)
        for tag, value in node.items():
            if isinstance(value, dict):
                lines.append(f"{pad}<{tag}>")
                render(value, depth + 1)
                lines.append(f"{pad}</{tag}>")
            elif value == "":
                lines.append(f"{pad}<{tag}/>")
            else:
                lines.append(f"{pad}<{tag}>{_xml_escape(str(value))}</{tag}>")

    render(tree, 0)
    return "\n".join(lines)


_USERS_XML = """\
<!-- Clickstreamer's users. Password hashes come from the environment variables {owner_env} and
     {reader_env} (sha256 hex); a missing one makes ClickHouse refuse this file, never an empty password. -->
<clickhouse>
  <profiles>
{profiles}
  </profiles>
  <quotas>
{quotas}
  </quotas>
  <users>
    <!-- The image's `default` user has no password: nothing may log in as it. -->
    <default remove="remove"/>
    <{owner}>
      <password_sha256_hex from_env="{owner_env}"/>
      <networks>
        <ip>::/0</ip>
      </networks>
      <profile>default</profile>
      <quota>default</quota>
      <access_management>1</access_management>
    </{owner}>
    <{reader}>
      <password_sha256_hex from_env="{reader_env}"/>
      <networks>
        <ip>::/0</ip>
      </networks>
      <profile>{profile}</profile>
      <quota>{quota}</quota>
      <grants>
        <query>GRANT SELECT ON {database}.*</query>
      </grants>
    </{reader}>
  </users>
</clickhouse>
"""


def users_xml(database: str, owner: str, reader: str) -> str:
    """The `users.d` file of the ClickHouse server: `default` removed, the owner (runs migrations,
    owns ingestion) and the read-only reader Grafana connects as.

    Upload it as `/etc/clickhouse-server/users.d/<name>.xml` and set `OWNER_PASSWORD_ENV` and
    `READER_PASSWORD_ENV` in the container to `sha256(password).hexdigest()` (secrets), so no
    password is ever in the file or the environment. The reader may read every table and view of
    `database` and nothing else, and may not change data, schema or settings (`readonly=1`), except
    max_execution_time within the profile's constraint (`changeable_in_readonly`), and its queries
    per hour are bounded by its quota.
    """
    import re

    for what, value in (("database", database), ("owner", owner), ("reader", reader)):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{what} {value!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")
    if owner == reader or "default" in (owner, reader):
        raise ValueError(f"owner {owner!r} and reader {reader!r} must differ and neither may be `default`")
    profile, quota = f"{reader}_profile", f"{reader}_quota"
    return _USERS_XML.format(
        profiles=_xml_from_paths(reader_profile_paths(profile), indent=4), profile=profile, owner=owner,
        quotas=_xml_from_paths(reader_quota_paths(quota), indent=4), quota=quota,
        reader=reader, owner_env=OWNER_PASSWORD_ENV, reader_env=READER_PASSWORD_ENV,
        database=quote_identifier(database),
    )
