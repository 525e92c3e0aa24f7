"""A real ClickHouse server (24.8.4) on 127.0.0.1, from the pinned `chdb==2.1.1` wheel.

chdb's shared library (`chdb/_chdb.cpython-311-x86_64-linux-gnu.so`) carries all of ClickHouse and
exports the server's own entry point, `mainEntryClickHouseServer(argc, argv)`. A process that has
not imported `chdb` (whose in-process engine would share the library's global state) loads it with
ctypes and calls it with a config file: that is `python clickhouse_server.py --serve <config>`,
started by `ClickHouseServer.start`. The library is found without importing chdb.

The config follows the image's defaults where the tests can see a difference: its
`access_control_improvements`, a `users.xml` with the `default` user (no password), the `default`
profile and quota, and a `users.d/` folder merged over it, where callers put the stack's own users
file (tests/support/clickhouse_stack.py starts the server the way the stack configures it). Free ports, its own folder, a bounded start
wait; `stop()` ends it. Stdlib only.

    server = ClickHouseServer.start(tmp_path / "clickhouse")
    server.http_url  # http://127.0.0.1:<port>
    server.stop()
"""
from __future__ import annotations

import importlib.util
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

if __package__:
    from .processes import Service, free_port, log_tail, wait_for

ENTRY_POINT = "_Z25mainEntryClickHouseServeriPPc"  # mainEntryClickHouseServer(int, char**)

_CONFIG = """\
<clickhouse>
  <logger>
    <level>{log_level}</level>
    <log>{home}/log/clickhouse-server.log</log>
    <errorlog>{home}/log/clickhouse-server.err.log</errorlog>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <path>{home}/data/</path>
  <tmp_path>{home}/tmp/</tmp_path>
  <user_files_path>{home}/user_files/</user_files_path>
  <format_schema_path>{home}/format_schemas/</format_schema_path>
  <users_config>{home}/users.xml</users_config>
  <default_profile>default</default_profile>
  <!-- As the image's config.xml sets them (ClickHouse's programs/server/config.xml): system tables
       need a grant, constraints of a later profile replace earlier ones, and with that switch the
       `changeable_in_readonly` constraint works. -->
  <access_control_improvements>
    <users_without_row_policies_can_read_rows>true</users_without_row_policies_can_read_rows>
    <on_cluster_queries_require_cluster_grant>true</on_cluster_queries_require_cluster_grant>
    <select_from_system_db_requires_grant>true</select_from_system_db_requires_grant>
    <select_from_information_schema_requires_grant>true</select_from_information_schema_requires_grant>
    <settings_constraints_replace_previous>true</settings_constraints_replace_previous>
  </access_control_improvements>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <!-- chdb's library compiles smaller defaults for the background pools (the message-broker pool
       is 0: Kafka-engine tables would never consume, merges run on 2 threads). These are the stock
       24.x server defaults the image runs with. -->
  <background_pool_size>16</background_pool_size>
  <background_merges_mutations_concurrency_ratio>2</background_merges_mutations_concurrency_ratio>
  <background_move_pool_size>8</background_move_pool_size>
  <background_fetches_pool_size>16</background_fetches_pool_size>
  <background_common_pool_size>8</background_common_pool_size>
  <background_buffer_flush_schedule_pool_size>16</background_buffer_flush_schedule_pool_size>
  <background_schedule_pool_size>512</background_schedule_pool_size>
  <background_message_broker_schedule_pool_size>16</background_message_broker_schedule_pool_size>
  <background_distributed_schedule_pool_size>16</background_distributed_schedule_pool_size>
  <max_server_memory_usage_to_ram_ratio>0.5</max_server_memory_usage_to_ram_ratio>
  <query_log>
    <database>system</database>
    <table>query_log</table>
    <flush_interval_milliseconds>1000</flush_interval_milliseconds>
  </query_log>
</clickhouse>
"""

# The image's users.xml, reduced to what is observable: `default` without a password, the
# `default` profile and an unlimited `default` quota. users.d/*.xml is merged over it.
_USERS = """\
<clickhouse>
  <profiles>
    <default/>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>::/0</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</clickhouse>
"""


class ServerExited(AssertionError):
    """The server stopped while starting; `returncode` is its exit code (ClickHouse's error code)."""

    def __init__(self, returncode: int, error_log: str) -> None:
        first_error = next((line for line in error_log.splitlines() if "<Error>" in line), "(none)")
        super().__init__(f"the ClickHouse server exited with {returncode} while starting; first error: {first_error}")
        self.returncode = returncode
        self.error_log = error_log


def library_path() -> Path:
    """chdb's shared library, located without importing chdb."""
    spec = importlib.util.find_spec("chdb")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("chdb is not installed in this environment: run `make venv`")
    found = sorted(Path(list(spec.submodule_search_locations)[0]).glob("_chdb*.so"))
    if not found:
        raise RuntimeError(f"no _chdb*.so in {spec.submodule_search_locations}")
    return found[0]


@dataclass
class ClickHouseServer:
    home: Path
    http_port: int
    tcp_port: int
    service: "Service"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @classmethod
    def start(cls, home: Path, users_d: Optional[Mapping[str, str]] = None, env: Optional[Mapping[str, str]] = None,
              timeout: float = 60, log_level: str = "information") -> "ClickHouseServer":
        """Start a server in `home`. `users_d`: file name -> content of users.d files; `env`: extra
        environment (the password hashes a users file reads `from_env`)."""
        home = Path(home).resolve()
        for folder in ("data", "tmp", "user_files", "format_schemas", "log", "users.d"):
            (home / folder).mkdir(parents=True, exist_ok=True)
        http_port, tcp_port = free_port(), free_port()
        config = home / "config.xml"
        config.write_text(_CONFIG.format(home=home, http_port=http_port, tcp_port=tcp_port, log_level=log_level))
        (home / "users.xml").write_text(_USERS)
        for name, content in (users_d or {}).items():
            (home / "users.d" / name).write_text(content)
        process_env = {**os.environ, **(env or {}), "CLICKHOUSE_WATCHDOG_ENABLE": "0"}
        service = Service("clickhouse server", [sys.executable, str(Path(__file__).resolve()), "--serve", str(config)],
                          home / "log" / "stdout.log", env=process_env, cwd=home)
        server = cls(home, http_port, tcp_port, service)
        try:
            server.wait_ready(timeout)
        except BaseException:
            server.service.stop()  # ends it if it still runs, and closes its log
            raise
        return server

    def wait_ready(self, timeout: float = 60) -> None:
        def ping() -> bool:
            if not self.service.alive():
                return True  # no use waiting: reported below with its log
            with urllib.request.urlopen(f"{self.http_url}/ping", timeout=2) as response:
                return response.read() == b"Ok.\n"

        wait_for(f"ClickHouse server at {self.http_url}", ping, timeout,
                 hint=f"error log tail:\n{log_tail(self.home / 'log' / 'clickhouse-server.err.log', 15)}")
        if not self.service.alive():
            raise ServerExited(self.service.process.returncode,
                               log_tail(self.home / "log" / "clickhouse-server.err.log", 400))

    def stop(self) -> None:
        self.service.stop()

    def kill(self) -> None:
        self.service.kill()


def _serve(config: str) -> int:
    import ctypes

    library = ctypes.CDLL(str(library_path()), mode=ctypes.RTLD_GLOBAL)
    main = getattr(library, ENTRY_POINT)
    main.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
    main.restype = ctypes.c_int
    args = [b"clickhouse-server", b"--config-file", config.encode()]
    return main(len(args), (ctypes.c_char_p * len(args))(*args))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--serve":
        sys.exit("usage: clickhouse_server.py --serve <config.xml>")
    sys.exit(_serve(sys.argv[2]))
