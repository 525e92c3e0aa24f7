"""The stack's ClickHouse as a test fixture: a real server (clickhouse_server.py) configured the way
`components/clickhouse.py` configures the container.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from components.clickhouse import USERS_FILE, password_hash_environment
from components.clients.clickhouse import Endpoint, HttpExecutor, users_xml
from components.config import parse_config

from .clickhouse_server import ClickHouseServer

_DEFAULTS = parse_config({}).clickhouse


def container_environment(owner_password: str, reader_password: str) -> dict[str, str]:
    """The password-hash variables exactly as the container gets them (`password_hash_environment`)."""
    async def resolve() -> list[str]:
        # Outputs belong to the event loop they are made on: make and await it on this one.
        return await password_hash_environment(owner_password, reader_password).future()

    return dict(item.split("=", 1) for item in asyncio.run(resolve()))


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

    def stop(self) -> None:
        self.server.stop()
