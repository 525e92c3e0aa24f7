"""ClickHouse schema migrations: discover the files, check them against the ledger, apply what is pending.

Plain and typed, no Pulumi: the `SchemaMigrations` resource is a thin adapter over `Migrator`.

Files (`clickhouse_schema/`):
- `NNN_<slug>.sql` (versioned): applied once, in version order, recorded in the ledger table
  `<database>.schema_migrations (version, name, checksum, applied_at)`. The checksum is the SHA-256
  of the file's text, so an applied file that is edited later is refused (drift), naming the file
  and both checksums; the fix is a new file, never an edit.
- `R_<slug>.sql` (repeatable): applied after the versioned files, again whenever its *rendered*
  text changes (a file edit or a parameter change). They hold what must follow the deployment's
  config: the raw-events TTL and the Kafka-engine ingestion (brokers, topics, consumer group).
  Recorded in `<database>.schema_repeatables (name, checksum, applied_at)`; the checksum is over the
  rendered SQL, so it changes exactly when the statements would.

Every file opens with a comment that says what and why.

Parameters: a file names them as `{{ name | kind }}`; the kind says how the value is written into
SQL, so nothing reaches a statement unquoted:
- `ident`: a back-quoted identifier (`database`; must match `[A-Za-z_][A-Za-z0-9_]*`);
- `lit`: the escaped body of a string literal: the file writes the quotes
  (`kafka_broker_list = '{{ kafka_brokers | lit }}'`), so a value can be part of a longer string;
- `int`: a whole number.
`database` is always a parameter. The versioned checksum is over the file text, not the rendered
SQL, so deploying the same files with other parameters is not drift.

Statements are split with sqlparse (quotes and comments aware), one statement per request. A
failing statement stops the run with the file, the statement and ClickHouse's message; files
applied before it stay recorded and a rerun continues from the failed file. ClickHouse DDL is not
transactional, so statements that ran before the failing one in the same file ran for good: every
statement is written to be re-runnable (`IF NOT EXISTS`, `IF EXISTS`), and a test enforces that for
the shipped schema.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import sqlparse
from sqlparse import tokens as T

from ..errors import MigrationError, RequestRejected
from .clickhouse import Executor, quote_identifier, quote_string

LEDGER_TABLE = "schema_migrations"
REPEATABLE_LEDGER_TABLE = "schema_repeatables"

_VERSIONED = re.compile(r"^(?P<version>[0-9]{3,})_(?P<slug>[a-z0-9][a-z0-9_]*)\.sql$")
_REPEATABLE = re.compile(r"^R_(?P<slug>[a-z0-9][a-z0-9_]*)\.sql$")
_PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*(?P<kind>[A-Za-z_]+)\s*)?\}\}")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KINDS = ("ident", "lit", "int")


def checksum(text: str) -> str:
    """SHA-256 (hex) of `text` as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Migration:
    """One schema file. `version` is None for a repeatable file."""

    name: str
    version: Optional[int]
    text: str

    @property
    def checksum(self) -> str:
        return checksum(self.text)

    @property
    def repeatable(self) -> bool:
        return self.version is None


@dataclass(frozen=True)
class Applied:
    """A ledger row: a versioned file applied earlier (or a repeatable's last application)."""

    version: Optional[int]
    name: str
    checksum: str
    applied_at: str


@dataclass(frozen=True)
class Plan:
    """What `apply` would do: the ledger as it is, and the files it would run, in order."""

    applied: tuple[Applied, ...]
    pending: tuple[Migration, ...]  # versioned files not yet applied, then repeatables due


@dataclass(frozen=True)
class Result:
    """What `apply` did."""

    applied_now: tuple[str, ...]  # file names run by this call, in order
    version: Optional[int]  # highest versioned file applied, now
    applied: tuple[str, ...]  # every versioned file in the ledger, in version order


def discover(folder: Path) -> list[Migration]:
    """The schema files in `folder`: versioned ones by version, then repeatables by name.

    Refuses a `.sql` file with another name, two files with one version, and a file that does not
    open with a comment.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MigrationError("schema folder not found", folder=str(folder))
    versioned: dict[int, Migration] = {}
    repeatable: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        match = _VERSIONED.match(path.name)
        if match:
            version = int(match["version"])
            if version in versioned:
                raise MigrationError(
                    "two schema files share a version", folder=str(folder),
                    files=f"{versioned[version].name}, {path.name}", hint="renumber the newer file",
                )
            migration = Migration(path.name, version, text)
            versioned[version] = migration
        elif _REPEATABLE.match(path.name):
            migration = Migration(path.name, None, text)
            repeatable.append(migration)
        else:
            raise MigrationError(
                "schema file name not understood", file=str(path),
                hint="name versioned files NNN_slug.sql (e.g. 007_sessions.sql) and repeatable files "
                     "R_slug.sql, slug in [a-z0-9_]",
            )
        if not _opens_with_comment(text):
            raise MigrationError(
                "schema file does not open with a comment", file=str(path),
                hint="start the file with `-- What: ... Why: ...` describing the change",
            )
    return [versioned[v] for v in sorted(versioned)] + sorted(repeatable, key=lambda m: m.name)


def _opens_with_comment(text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith("--") or stripped.startswith("/*")


def render(migration: Migration, params: Mapping[str, object]) -> str:
    """The file's SQL with every `{{ name | kind }}` replaced by its quoted value."""

    def substitute(match: re.Match) -> str:
        name, kind = match["name"], match["kind"]
        if kind not in KINDS:
            raise MigrationError(
                f"placeholder {{{{ {name} }}}} has no valid kind", file=migration.name,
                kind=kind, hint=f"write {{{{ {name} | <kind> }}}} with kind one of {', '.join(KINDS)}",
            )
        if name not in params:
            raise MigrationError(
                f"parameter {name!r} is not set", file=migration.name,
                given=", ".join(sorted(params)) or "(none)",
            )
        return _format(name, kind, params[name], migration.name)

    return _PLACEHOLDER.sub(substitute, migration.text)


def _format(name: str, kind: str, value: object, file: str) -> str:
    if kind == "ident":
        if not isinstance(value, str) or not _IDENT.fullmatch(value):
            raise MigrationError(f"parameter {name!r} must be an identifier", file=file, value=repr(value),
                                 hint="letters, digits and _, not starting with a digit")
        return quote_identifier(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise MigrationError(f"parameter {name!r} must be a whole number", file=file, value=repr(value))
        return str(value)
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise MigrationError(f"parameter {name!r} must be a string", file=file, value=repr(value))
    return quote_string(str(value))[1:-1]


def split_statements(sql: str) -> list[str]:
    """The statements of `sql`, without their terminating `;`; comment-only pieces are dropped."""
    statements = []
    for piece in sqlparse.split(sql):
        meaningful = [t for t in sqlparse.parse(piece)[0].flatten()
                      if not t.is_whitespace and t.ttype not in T.Comment and not t.match(T.Punctuation, ";")]
        if not meaningful:
            continue
        statement = piece.strip()
        if statement.endswith(";"):
            statement = statement[:-1].rstrip()
        statements.append(statement)
    return statements


class Migrator:
    """Applies schema files to one database through an `Executor`."""

    def __init__(self, executor: Executor, database: str) -> None:
        if not _IDENT.fullmatch(database):
            raise MigrationError("database name must be an identifier", database=database)
        self.executor = executor
        self.database = database
        self._db = quote_identifier(database)

    # --- ledger -------------------------------------------------------------------------------
    def ensure_ledger(self) -> None:
        """Create the database and both ledger tables when missing (idempotent)."""
        self._run(f"CREATE DATABASE IF NOT EXISTS {self._db} ENGINE = Atomic")
        self._run(
            f"CREATE TABLE IF NOT EXISTS {self._db}.{LEDGER_TABLE} ("
            " version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')"
            ") ENGINE = MergeTree ORDER BY version"
        )
        self._run(
            f"CREATE TABLE IF NOT EXISTS {self._db}.{REPEATABLE_LEDGER_TABLE} ("
            " name String, checksum String, applied_at DateTime64(3, 'UTC')"
            ") ENGINE = MergeTree ORDER BY (name, applied_at)"
        )

    def ledger(self) -> list[Applied]:
        """Versioned files recorded as applied, by version; empty when there is no ledger yet.

        The same row twice (a retried insert) counts once; two different rows for one version
        mean two runners raced, and are refused.
        """
        if not self._ledger_exists(LEDGER_TABLE):
            return []
        rows = self.executor.rows(
            f"SELECT version, name, checksum, toString(min(applied_at)) FROM {self._db}.{LEDGER_TABLE} "
            "GROUP BY version, name, checksum ORDER BY version, name"
        )
        applied = [Applied(int(v), str(n), str(c), str(at)) for v, n, c, at in rows]
        seen: dict[int, Applied] = {}
        for row in applied:
            if row.version in seen:
                raise MigrationError(
                    "the ledger holds two different rows for one version", database=self.database,
                    version=row.version, rows=f"{seen[row.version]} / {row}",
                    hint=f"delete the wrong row from {self.database}.{LEDGER_TABLE} by hand",
                )
            seen[row.version] = row
        return applied

    def repeatable_ledger(self) -> dict[str, Applied]:
        """Each repeatable's last application (rendered checksum), by file name."""
        if not self._ledger_exists(REPEATABLE_LEDGER_TABLE):
            return {}
        rows = self.executor.rows(
            f"SELECT name, argMax(checksum, applied_at), toString(max(applied_at)) "
            f"FROM {self._db}.{REPEATABLE_LEDGER_TABLE} GROUP BY name ORDER BY name"
        )
        return {str(n): Applied(None, str(n), str(c), str(at)) for n, c, at in rows}

    def _ledger_exists(self, table: str) -> bool:
        rows = self.executor.rows(
            "SELECT count() FROM system.tables "
            f"WHERE database = {quote_string(self.database)} AND name = {quote_string(table)}"
        )
        return int(rows[0][0]) > 0

    # --- planning -----------------------------------------------------------------------------
    def plan(self, migrations: Sequence[Migration], params: Mapping[str, object]) -> Plan:
        """Compare files with the ledger: refuse drift, list what `apply` would run. Writes nothing."""
        params = self._params(params)
        applied = self.ledger()
        files = {m.version: m for m in migrations if not m.repeatable}
        for row in applied:
            current = files.get(row.version)
            if current is None:
                raise MigrationError(
                    "an applied migration is missing from the schema folder", database=self.database,
                    file=row.name, version=row.version, applied_checksum=row.checksum,
                    hint="restore the file: applied migrations are never deleted",
                )
            if current.name != row.name:
                raise MigrationError(
                    "an applied migration was renamed", database=self.database, version=row.version,
                    applied_name=row.name, file=current.name, hint="restore the original file name",
                )
            if current.checksum != row.checksum:
                raise MigrationError(
                    f"applied migration {row.name} was edited after it was applied", database=self.database,
                    file=row.name, applied_checksum=row.checksum, file_checksum=current.checksum,
                    hint="restore the file as applied and put the change in a new migration file",
                )
        done = {row.version for row in applied}
        top = max(done) if done else None
        pending_versioned = [m for v, m in sorted(files.items()) if v not in done]
        for migration in pending_versioned:
            if top is not None and migration.version < top:
                raise MigrationError(
                    f"pending migration {migration.name} is older than the applied version {top}",
                    database=self.database, file=migration.name,
                    hint="give the new file a version above every applied one",
                )
        last_repeatable = self.repeatable_ledger()
        due = [
            m for m in migrations
            if m.repeatable and (m.name not in last_repeatable
                                 or last_repeatable[m.name].checksum != checksum(render(m, params)))
        ]
        return Plan(tuple(applied), tuple(pending_versioned + due))

    def _params(self, params: Mapping[str, object]) -> dict[str, object]:
        given = dict(params)
        if given.get("database", self.database) != self.database:
            raise MigrationError("params['database'] differs from the migrator's database",
                                 database=self.database, param=given["database"])
        given["database"] = self.database
        return given

    # --- applying -----------------------------------------------------------------------------
    def apply(self, migrations: Sequence[Migration], params: Mapping[str, object]) -> Result:
        """Apply every pending file in order and record each one as soon as it succeeded."""
        params = self._params(params)
        for migration in migrations:  # an unset parameter stops the run before any statement
            render(migration, params)
        self.ensure_ledger()
        plan = self.plan(migrations, params)
        done: list[str] = []
        for migration in plan.pending:
            sql = render(migration, params)
            for statement in split_statements(sql):
                try:
                    self.executor.command(statement)
                except RequestRejected as exc:
                    raise MigrationError(
                        f"migration {migration.name} failed", database=self.database,
                        file=migration.name, statement=statement,
                        clickhouse_error=exc.context.get("clickhouse_error", str(exc)),
                        applied_in_this_run=", ".join(done) or "(none)",
                        hint="fix the file and run again: files applied before it stay recorded, "
                             "the run resumes at this file",
                    ) from exc
            self._record(migration, sql)
            done.append(migration.name)
        applied = self.ledger()
        versions = [a.version for a in applied if a.version is not None]
        return Result(tuple(done), max(versions) if versions else None, tuple(a.name for a in applied))

    def _record(self, migration: Migration, rendered: str) -> None:
        if migration.repeatable:
            self._run(
                f"INSERT INTO {self._db}.{REPEATABLE_LEDGER_TABLE} (name, checksum, applied_at) VALUES "
                f"({quote_string(migration.name)}, {quote_string(checksum(rendered))}, now64(3))"
            )
        else:
            self._run(
                f"INSERT INTO {self._db}.{LEDGER_TABLE} (version, name, checksum, applied_at) VALUES "
                f"({migration.version}, {quote_string(migration.name)}, {quote_string(migration.checksum)}, now64(3))"
            )

    def invalidate_repeatable(self, name: str, reason: str) -> None:
        """Make the next `apply` run repeatable `name` again (after its objects were dropped by hand):
        a ledger row whose checksum no rendering has."""
        self._run(
            f"INSERT INTO {self._db}.{REPEATABLE_LEDGER_TABLE} (name, checksum, applied_at) VALUES "
            f"({quote_string(name)}, {quote_string(f'invalidated: {reason}')}, now64(3))"
        )

    def drop_database(self) -> None:
        """Drop the database with every table and the ledgers. Data is gone afterwards.

        Not SYNC: the Atomic engine removes the tables' files in the background (after
        database_atomic_delay_before_drop_table_sec); the names are free at once. chdb cannot wait
        for a SYNC drop (its engine stops after every query).
        """
        self._run(f"DROP DATABASE IF EXISTS {self._db}")

    def _run(self, sql: str) -> None:
        self.executor.command(sql)
