"""The stack's ClickHouse as a test fixture: a real server (clickhouse_server.py) configured the way
`components/docker/clickhouse.py` configures the container.

- users.d holds the stack's own users file, `users_xml(database, owner, reader)`, under the name the
  container gets it (`clickstreamer-users.xml`): `default` is removed, the owner and the reader are
  the file's;
- the password hashes are the environment `password_hash_environment` gives the container (the
  production function, its Pulumi output resolved here);
- the owner runs the migrations through the production `HttpExecutor`, the reader reads.

Names are the stack config's defaults (`components.config`), so a test sees what a default `up` sees.

    stack = StackClickHouse.start(tmp_path / "clickhouse")
    stack.owner()        # HttpExecutor as the owner
    stack.endpoint(stack.reader_user)
    stack.stop()
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from components.docker.clickhouse import USERS_FILE, password_hash_environment
from components.clients.clickhouse import Endpoint, HttpExecutor, quote_identifier, quote_string, users_xml
from components.config import parse_config

from .clickhouse_server import ClickHouseServer

_DEFAULTS = parse_config({}).clickhouse


def container_environment(owner_password: str, reader_password: str) -> dict[str, str]:
    """The password-hash variables exactly as the container gets them (`password_hash_environment`)."""
    async def resolve() -> list[str]:
        # Outputs belong to the event loop they are made on: make and await it on this one.
        return await password_hash_environment(owner_password, reader_password).future()

    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the thread's loop Pulumi mocks use
    try:
        return dict(item.split("=", 1) for item in loop.run_until_complete(resolve()))
    finally:
        loop.close()


@dataclass
class StackClickHouse:
    server: ClickHouseServer
    database: str
    owner_user: str
    reader_user: str
    passwords: dict[str, str] = field(repr=False)

    @classmethod
    def start(cls, home: Path, database: str = _DEFAULTS.database, owner: str = _DEFAULTS.user,
              reader: str = _DEFAULTS.reader_user, more_users_d: Optional[dict[str, str]] = None,
              timeout: float = 60) -> "StackClickHouse":
        """`more_users_d`: users.d files beside the stack's (a name sorting after `clickstreamer-`
        is merged over it)."""
        passwords = {owner: "owner-s3cret", reader: "reader-s3cret"}
        server = ClickHouseServer.start(
            home, users_d={Path(USERS_FILE).name: users_xml(database, owner, reader), **(more_users_d or {})},
            env=container_environment(passwords[owner], passwords[reader]), timeout=timeout)
        return cls(server, database, owner, reader, passwords)

    @property
    def http_url(self) -> str:
        return self.server.http_url

    def endpoint(self, user: str, password: Optional[str] = None) -> Endpoint:
        """`user`'s endpoint, with its password unless another is given."""
        return Endpoint(self.http_url, user, self.passwords.get(user, "") if password is None else password,
                        attempts=2, backoff=0.2)

    def owner(self) -> HttpExecutor:
        return HttpExecutor(self.endpoint(self.owner_user))

    def reader(self) -> HttpExecutor:
        return HttpExecutor(self.endpoint(self.reader_user))

    def query(self, user: str, sql: str, **params) -> tuple[list[tuple[str, str]], list[tuple]]:
        """(columns as (name, type), rows) of `sql` run as `user` over HTTP, the way the Grafana
        plugin sends a query: `params` as URL parameters (settings such as max_execution_time, and
        `database`, the datasource's default database). 64-bit integers come back as int, like the
        plugin's Native format gives them. Raises `QueryRefused` with ClickHouse's code."""
        url = f"{self.http_url}/?{urllib.parse.urlencode({'default_format': 'JSONCompact', **params})}"
        request = urllib.request.Request(url, data=sql.encode(), headers={
            "X-ClickHouse-User": user, "X-ClickHouse-Key": self.passwords.get(user, "")})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise QueryRefused(int(exc.headers.get("X-ClickHouse-Exception-Code", "-1")),
                               exc.read().decode(errors="replace"), sql) from None
        doc = json.loads(body) if body else {"meta": [], "data": []}
        columns = [(m["name"], m["type"]) for m in doc["meta"]]
        converters = [_converter(t) for _, t in columns]
        return columns, [tuple(conv(v) for conv, v in zip(converters, row)) for row in doc["data"]]

    def drop_databases(self, names: list[str]) -> None:
        """Drop `names`. A Kafka table's drop waits for its consumer's current read to end (up to
        the engine's flush interval, 7.5 s): those are dropped first, all at once."""
        if not names:
            return
        owner = self.owner()
        listed = ", ".join(quote_string(name) for name in names)
        kafka_tables = owner.rows(f"SELECT database, name FROM system.tables WHERE database IN ({listed}) "
                                  "AND engine = 'Kafka'")

        def drop(table: tuple[str, str]) -> None:
            executor = self.owner()
            try:
                executor.command(f"DROP TABLE IF EXISTS {quote_identifier(table[0])}.{quote_identifier(table[1])} SYNC")
            finally:
                executor.close()

        with ThreadPoolExecutor(max_workers=max(1, len(kafka_tables))) as pool:
            list(pool.map(drop, kafka_tables))
        for name in names:
            owner.command(f"DROP DATABASE IF EXISTS {quote_identifier(name)} SYNC")
        owner.close()

    def stop(self) -> None:
        self.server.stop()


class QueryRefused(AssertionError):
    def __init__(self, code: int, message: str, sql: str) -> None:
        super().__init__(f"ClickHouse refused ({code}): {message.strip()[:500]}\nquery: {sql}")
        self.code = code


def _converter(type_name: str):
    """JSONCompact quotes 64-bit and wider integers: back to int."""
    while (wrapped := re.fullmatch(r"(?:Nullable|LowCardinality)\((.*)\)", type_name)):
        type_name = wrapped.group(1)
    if type_name.startswith("Array("):
        element = _converter(type_name[len("Array("):-1])
        return lambda v: None if v is None else [element(x) for x in v]
    if re.fullmatch(r"U?Int(64|128|256)", type_name):
        return lambda v: None if v is None else int(v)
    return lambda v: v
