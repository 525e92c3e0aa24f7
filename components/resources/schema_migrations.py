"""`SchemaMigrations`: the files of `clickhouse_schema/` applied to ClickHouse as a Pulumi resource.

A thin adapter over `components.clients.migrations.Migrator`, talking HTTP through
`components.clients.clickhouse.HttpExecutor` (clickhouse-connect).

- Inputs carry every schema file's name and checksum, so adding a file is an update that preview
  shows, and editing an applied one fails `check` (preview) naming the file and both checksums.
- `create` / `update` apply what is pending (the ledger in ClickHouse decides; a second `up`
  applies nothing). Repeatable files (`R_*.sql`) run again when their rendered text changes, so a
  new `params` value (raw-events TTL, Kafka brokers, topics, consumer group) is applied by `up`.
- `delete` keeps the database and its data unless `drop_on_destroy` is true; either way it first
  stops the Kafka-engine consumers (their tables and views; the next `up` makes them again), so that
  a database left behind never takes records from the consumer groups of the one that replaced it.
- Changes that lose data are refused at preview unless `allow_data_loss`: another `database` (the
  new one starts empty and is migrated from scratch; replaced delete-first, so the old database's
  consumers stop before the new one's start), a lower `raw_ttl_days` (expires raw rows at once).
- `password` is a secret input and a secret output (needed by `read` and `delete`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.resources import _dynamic as dyn
from ..clients.migrations import discover

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "clickhouse_schema"


def identifier(value: Any) -> str:
    if not (isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)):
        raise dyn.Invalid(f"{value!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def params_map(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise dyn.Invalid("params must be a mapping of parameter name to value")
    # Pulumi's wire format carries numbers as floats: 7 arrives as 7.0.
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in value.items()}


@dataclass(frozen=True)
class MigrationsInputs:
    """A `SchemaMigrations`' props, typed (see components/resources/_dynamic.py for how they are read).
    In `check` a field may still be unknown (preview)."""

    url: str
    username: str
    password: str = field(repr=False)
    database: str
    params: dict[str, Any]
    schema_dir: str
    migrations: list[dict[str, str]]  # {"name", "checksum"} of every schema file, as the program found them
    drop_on_destroy: bool = False
    allow_data_loss: bool = False

    @classmethod
    def parse(cls, props: Mapping[str, Any]) -> tuple["MigrationsInputs", list]:
        p = dyn.Props(props)
        inputs = cls(
            url=p.get("url", dyn.http_url("the ClickHouse HTTP interface", "http://127.0.0.1:8123", with_path=False)),
            username=p.get("username", dyn.text),
            password=p.get("password", dyn.text),
            database=p.get("database", identifier),
            params=p.get("params", params_map),
            schema_dir=p.get("schema_dir", dyn.text),
            migrations=list(p.get("migrations", default=[])),
            drop_on_destroy=p.get("drop_on_destroy", dyn.boolean, False),
            allow_data_loss=p.get("allow_data_loss", dyn.boolean, False),
        )
        if inputs.params is None:
            p.fail("params", "params must be a mapping of parameter name to value")
        return inputs, p.failures

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "MigrationsInputs":
        return cls.parse(props)[0]

    def executor(self):
        from components.clients.clickhouse import Endpoint, HttpExecutor

        return HttpExecutor(Endpoint(url=self.url, username=self.username, password=self.password))

    def migrator(self):
        from components.clients.migrations import Migrator

        return Migrator(self.executor(), self.database)


class SchemaMigrationsProvider(ResourceProvider):
    """The provider: a thin adapter over components/clients/migrations.py."""

    # Inputs whose change makes `up` do something; `schema_dir` only locates the files.
    _COMPARED = ("url", "username", "password", "database", "params", "drop_on_destroy", "allow_data_loss", "migrations")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        from components.clients.migrations import render
        from components.errors import MigrationError

        inputs, failures = MigrationsInputs.parse(news)
        files = []
        try:
            files = discover(Path(inputs.schema_dir))
        except MigrationError as exc:
            failures.append(dyn.failure("schema_dir", str(exc)))
        database_ok = not any(f.property == "database" for f in failures) and dyn.known(inputs.database)
        if database_ok and not any(f.property == "params" for f in failures) and dyn.known(inputs.params):
            values = {**inputs.params, "database": inputs.database}
            for migration in files:
                try:
                    render(migration, values)
                except MigrationError as exc:
                    failures.append(dyn.failure("params", str(exc)))
                    break

        if olds and not inputs.allow_data_loss:
            failures.extend(_data_lost(MigrationsInputs.from_props(olds), inputs))

        # Files recorded as applied by the last successful up must not have changed since.
        before = {m["name"]: m["checksum"] for m in (olds.get("migrations") or []) if not m["name"].startswith("R_")}
        for migration in inputs.migrations:
            old = before.get(migration["name"])
            if old is not None and old != migration["checksum"]:
                failures.append(dyn.failure(
                    "migrations",
                    f"applied migration {migration['name']} was edited: applied checksum {old}, "
                    f"file checksum {migration['checksum']}; restore it and put the change in a new file",
                ))
        return CheckResult({**news, **dyn.as_props(inputs)}, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old, new = MigrationsInputs.from_props(olds), MigrationsInputs.from_props(news)
        changed = [key for key in self._COMPARED if getattr(old, key) != getattr(new, key)]
        replaces = ["database"] if "database" in changed else []
        # Delete first: the old database's Kafka tables stop consuming before the new one's start.
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces))

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = _apply(props)
        return CreateResult(id_=props["database"], outs=outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        ledger = MigrationsInputs.from_props(props).migrator().ledger()
        versions = [row.version for row in ledger if row.version is not None]
        outs = {**props, "applied": [row.name for row in ledger], "version": max(versions) if versions else None}
        return ReadResult(id_=id_, outs=outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        inputs = MigrationsInputs.from_props(props)
        if not inputs.drop_on_destroy:
            _stop_ingestion(inputs)
            return  # the database, its data and the ledger stay; a later up finds them applied
        from components.clients.clickhouse import quote_string
        from components.errors import DataLossRefused

        migrator = inputs.migrator()
        migrator.drop_database()
        left = migrator.executor.rows(f"SELECT count() FROM system.databases WHERE name = {quote_string(inputs.database)}")
        if int(left[0][0]) != 0:
            raise DataLossRefused(
                "drop_on_destroy is set but the database is still there", service="clickhouse",
                database=inputs.database, hint="drop it by hand, or check the user's DROP grant",
            )


def _data_lost(old: "MigrationsInputs", new: "MigrationsInputs") -> list:
    """Check failures for changes from `old` to `new` that lose data."""
    failures = []
    if dyn.known(old.database, new.database) and old.database != new.database:
        failures.append(dyn.failure("database", (
            f"refused: {old.database!r} → {new.database!r} starts an empty database and leaves the dashboards "
            f"without the data in {old.database!r} (kept there). Set allow_data_loss (stack config allowDataLoss) "
            f"to accept that")))
    before, after = (old.params or {}).get("raw_ttl_days"), (new.params or {}).get("raw_ttl_days")
    if isinstance(before, (int, float)) and isinstance(after, (int, float)) and after < before:
        failures.append(dyn.failure("params", (
            f"refused: raw_ttl_days lowered from {before:g} to {after:g} expires the raw rows older than {after:g} "
            f"days at the next merge. Set allow_data_loss (stack config allowDataLoss) to accept that")))
    return failures


def _stop_ingestion(inputs: "MigrationsInputs") -> None:
    """Drop the Kafka-engine tables and their views (the consumers), keeping every data table, and
    make the next apply of the ingestion file create them again."""
    from components.clients.clickhouse import quote_identifier
    from components.contract import INGEST_FILE, TOPIC_CONTRACTS

    migrator = inputs.migrator()
    if inputs.database not in [name for (name,) in migrator.executor.rows("SELECT name FROM system.databases")]:
        return
    db = quote_identifier(inputs.database)
    for contract in TOPIC_CONTRACTS.values():
        migrator.executor.command(f"DROP VIEW IF EXISTS {db}.{quote_identifier(contract.view)}")
        migrator.executor.command(f"DROP VIEW IF EXISTS {db}.{quote_identifier(contract.errors_view)}")
        migrator.executor.command(f"DROP TABLE IF EXISTS {db}.{quote_identifier(contract.kafka_table)}")
    migrator.ensure_ledger()
    migrator.invalidate_repeatable(INGEST_FILE, "consumers stopped when the resource was deleted")
    dyn.note(f"ClickHouse database {inputs.database!r} kept with its data; its Kafka consumers are stopped "
             f"(the next `pulumi up` of this database starts them again)")


def _apply(props: Mapping[str, Any]) -> dict[str, Any]:
    from components.errors import MigrationError

    inputs = MigrationsInputs.from_props(props)
    files = discover(Path(inputs.schema_dir))
    seen = [{"name": m.name, "checksum": m.checksum} for m in files]
    if seen != inputs.migrations:
        raise MigrationError(
            "schema files changed between preview and apply", folder=inputs.schema_dir,
            hint="run `pulumi up` again so the plan matches the files",
        )
    result = inputs.migrator().apply(files, inputs.params)
    outs = dyn.without_provider(props)
    outs.update(version=result.version, applied=list(result.applied))
    return outs


class SchemaMigrations(Resource, module="clickhouse", name="SchemaMigrations"):
    """The ClickHouse schema (`clickhouse_schema/`) applied to one database.

    Outputs: `version`, the highest versioned file applied; `applied`, the versioned files in the
    ledger, in order.
    """

    version: pulumi.Output[Optional[int]]
    applied: pulumi.Output[list]

    def __init__(
        self,
        resource_name: str,
        *,
        url: pulumi.Input[str],
        username: pulumi.Input[str],
        password: pulumi.Input[str],
        database: pulumi.Input[str],
        params: pulumi.Input[Mapping[str, pulumi.Input[Any]]],
        drop_on_destroy: pulumi.Input[bool] = False,
        allow_data_loss: pulumi.Input[bool] = False,
        schema_dir: Optional[Path] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param url: ClickHouse HTTP interface as the Pulumi program reaches it, e.g. http://127.0.0.1:8123.
        :param username: the owner user (runs DDL); changing it is an in-place update.
        :param password: its password; always stored as a secret.
        :param database: database holding the schema and the ledger; changing it (refused unless
            `allow_data_loss`) replaces the resource, delete first: the old database's consumers stop, its
            data stays unless `drop_on_destroy`; the new one is migrated from empty.
        :param params: values for the files' `{{ name | kind }}` placeholders (see clickhouse_schema/README.md);
            a change re-applies the repeatable files that use it.
        :param drop_on_destroy: `destroy` drops the database (all data) only when true.
        :param allow_data_loss: let a `database` change or a lower `raw_ttl_days` through.
        :param schema_dir: folder of the schema files; defaults to the repository's clickhouse_schema/.
        """
        folder = Path(schema_dir or SCHEMA_DIR).resolve()
        files = discover(folder)  # bad file names or missing comments fail the program, before preview
        props = {
            "url": url,
            "username": username,
            "password": pulumi.Output.secret(password),
            "database": database,
            "params": params,
            "drop_on_destroy": drop_on_destroy,
            "allow_data_loss": allow_data_loss,
            "schema_dir": str(folder),
            "migrations": [{"name": m.name, "checksum": m.checksum} for m in files],
            "version": None,
            "applied": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(SchemaMigrationsProvider(), resource_name, props, opts)
