"""The embedded ClickHouse engine (chdb 2.1.1 = ClickHouse 24.8.4) behind the `Executor` interface.

Tests run the production migrations code against it, the way production runs it against the
HTTP interface (`components.clients.clickhouse.HttpExecutor`). Differences that matter:
- chdb is in-process; each query is a separate run over the data folder `path`. Tables must live in
  a database created `ENGINE = Atomic` (the migrations create theirs that way).
- Kafka-engine tables are created, but background consumption into materialized views never runs:
  tests run a view's SELECT themselves (`stream_like_engine_allow_direct_select`).
- To keep parity with HTTP (one statement per request), `command` and `rows` refuse SQL holding
  more than one statement.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import chdb
from chdb import session as chdb_session

from components.clients.migrations import split_statements
from components.errors import RequestRejected

_BIG_INTS = ("Int64", "UInt64", "Int128", "UInt128", "Int256", "UInt256")


class ChdbExecutor:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._session = chdb_session.Session(str(self.path))

    def command(self, sql: str) -> None:
        self._query(sql, "CSV")

    def rows(self, sql: str) -> list[tuple]:
        """Rows as tuples; 64-bit and wider integers as int, dates and times as strings."""
        out = self._query(sql, "JSONCompact").bytes()
        if not out:
            return []
        doc = json.loads(out)
        converters = [_converter(column["type"]) for column in doc["meta"]]
        return [tuple(conv(value) for conv, value in zip(converters, row)) for row in doc["data"]]

    def query(self, sql: str, fmt: str = "CSV"):
        """Raw chdb result (for tests that want `elapsed()` or another output format)."""
        return self._query(sql, fmt)

    def _query(self, sql: str, fmt: str):
        if len(split_statements(sql)) != 1:
            raise ValueError(f"one statement per call (like the HTTP interface), got: {sql!r}")
        try:
            return self._session.query(sql, fmt)
        except chdb.ChdbError as exc:
            raise RequestRejected(
                "ClickHouse rejected a statement", service="clickhouse (chdb)", url=str(self.path),
                clickhouse_error=str(exc).strip(), statement=sql,
            ) from exc


def copy_data_folder(source: Path, target: Path) -> None:
    """Copy a chdb data folder so the copy is independent of the original.

    Applying the whole schema takes chdb ~10 s (every query loads all table metadata again), so
    tests migrate once and copy. The Atomic engine's convenience links (`metadata/<db>`,
    `data/<db>/<table>`) are absolute: they are re-pointed into the copy.
    """
    source, target = Path(source).resolve(), Path(target).resolve()
    shutil.copytree(source, target, symlinks=True)
    for root, dirs, files in os.walk(target):
        for name in dirs + files:
            link = Path(root) / name
            if link.is_symlink():
                pointed = os.readlink(link)
                if pointed.startswith(str(source)):
                    link.unlink()
                    link.symlink_to(str(target) + pointed[len(str(source)):])


def _unwrap(type_name: str) -> str:
    for wrapper in ("Nullable(", "LowCardinality("):
        if type_name.startswith(wrapper):
            return _unwrap(type_name[len(wrapper):-1])
    return type_name


def _converter(type_name: str):
    """JSONCompact quotes 64-bit integers; give them back as int, like the HTTP client does."""
    inner = _unwrap(type_name)
    if inner.startswith("Array("):
        element = _converter(inner[len("Array("):-1])
        return lambda v: None if v is None else [element(x) for x in v]
    if inner in _BIG_INTS:
        return lambda v: None if v is None else int(v)
    return lambda v: v

