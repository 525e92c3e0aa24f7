"""`SchemaMigrations`: the files of `clickhouse_schema/` applied to ClickHouse as a Pulumi resource.

A thin adapter over `components.clients.migrations.Migrator`, talking HTTP through
`components.clients.clickhouse.HttpExecutor` (clickhouse-connect).

- Inputs carry every schema file's name and checksum, so adding a file is an update that preview
  shows, and editing an applied one fails `check` (preview) naming the file and both checksums.
- `create` / `update` apply what is pending (the ledger in ClickHouse decides; a second `up`
  applies nothing). Repeatable files (`R_*.sql`) run again when their rendered text changes, so a
  new `params` value (raw-events TTL, Kafka brokers, topics, consumer group) is applied by `up`.
- `delete` keeps the database and its data unless `drop_on_destroy` is true.
- `password` is a secret input and a secret output (needed by `read` and `delete`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import pulumi
import pulumi.dynamic as dyn

from ..clients.migrations import discover

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "clickhouse_schema"


class SchemaMigrationsProvider(dyn.ResourceProvider):
    """Self-contained for dill: every import and client is made inside the method that needs it."""

    # Inputs whose change makes `up` do something; `schema_dir` only locates the files.
    _COMPARED = ("url", "username", "password", "database", "params", "drop_on_destroy", "migrations")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        import re

        from components.clients.migrations import discover, render
        from components.errors import MigrationError
        from components.resources._dynamic import known

        failures: list[dyn.CheckFailure] = []
        url = news.get("url")
        if known(url):
            if not isinstance(url, str) or not re.fullmatch(r"https?://[^/:\s]+(:[0-9]{1,5})?/?", url):
                failures.append(dyn.CheckFailure("url", f"{url!r} must look like http://host:8123"))
        for key in ("username", "password"):
            if known(news.get(key)) and not isinstance(news.get(key), str):
                failures.append(dyn.CheckFailure(key, f"{key} must be a string"))
        database = news.get("database")
        database_ok = isinstance(database, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database) is not None
        if known(database) and not database_ok:
            failures.append(dyn.CheckFailure("database", f"{database!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)"))

        params = news.get("params")
        files = []
        try:
            files = discover(Path(news["schema_dir"]))
        except MigrationError as exc:
            failures.append(dyn.CheckFailure("schema_dir", str(exc)))
        if not isinstance(params, Mapping):
            failures.append(dyn.CheckFailure("params", "params must be a mapping of parameter name to value"))
        elif database_ok and known(params):
            values = {**self._params(params), "database": database}
            for migration in files:
                try:
                    render(migration, values)
                except MigrationError as exc:
                    failures.append(dyn.CheckFailure("params", str(exc)))
                    break

        # Files recorded as applied by the last successful up must not have changed since.
        before = {m["name"]: m["checksum"] for m in (olds.get("migrations") or []) if not m["name"].startswith("R_")}
        for migration in news.get("migrations") or []:
            old = before.get(migration["name"])
            if old is not None and old != migration["checksum"]:
                failures.append(dyn.CheckFailure(
                    "migrations",
                    f"applied migration {migration['name']} was edited: applied checksum {old}, "
                    f"file checksum {migration['checksum']}; restore it and put the change in a new file",
                ))
        return dyn.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = [key for key in self._COMPARED if olds.get(key) != news.get(key)]
        replaces = ["database"] if "database" in changed else []
        return dyn.DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        outs = self._apply(props)
        return dyn.CreateResult(id_=props["database"], outs=outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(outs=self._apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        from components.clients.migrations import Migrator

        ledger = Migrator(self._executor(props), props["database"]).ledger()
        versions = [row.version for row in ledger if row.version is not None]
        outs = {**props, "applied": [row.name for row in ledger], "version": max(versions) if versions else None}
        return dyn.ReadResult(id_=id_, outs=outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if not props.get("drop_on_destroy"):
            return  # the database, its data and the ledger stay; a later up finds them applied
        from components.clients.clickhouse import quote_string
        from components.clients.migrations import Migrator
        from components.errors import DataLossRefused

        executor = self._executor(props)
        Migrator(executor, props["database"]).drop_database()
        left = executor.rows(f"SELECT count() FROM system.databases WHERE name = {quote_string(props['database'])}")
        if int(left[0][0]) != 0:
            raise DataLossRefused(
                "drop_on_destroy is set but the database is still there", service="clickhouse",
                database=props["database"], hint="drop it by hand, or check the user's DROP grant",
            )

    # --- helpers (methods, so the pickled provider carries them) -------------------------------
    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        from components.clients.migrations import Migrator, discover
        from components.errors import MigrationError
        from components.resources._dynamic import without_provider

        files = discover(Path(props["schema_dir"]))
        seen = [{"name": m.name, "checksum": m.checksum} for m in files]
        if seen != list(props.get("migrations") or []):
            raise MigrationError(
                "schema files changed between preview and apply", folder=props["schema_dir"],
                hint="run `pulumi up` again so the plan matches the files",
            )
        result = Migrator(self._executor(props), props["database"]).apply(files, self._params(props["params"]))
        outs = without_provider(props)
        outs.update(version=result.version, applied=list(result.applied))
        return outs

    @staticmethod
    def _params(params: Mapping[str, Any]) -> dict[str, Any]:
        # Pulumi's wire format carries numbers as floats: 7 arrives as 7.0.
        return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in params.items()}

    @staticmethod
    def _executor(props: Mapping[str, Any]):
        from components.clients.clickhouse import Endpoint, HttpExecutor

        return HttpExecutor(Endpoint(url=props["url"], username=props["username"], password=props["password"]))


class SchemaMigrations(dyn.Resource, module="clickhouse", name="SchemaMigrations"):
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
        schema_dir: Optional[Path] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        """
        :param url: ClickHouse HTTP interface as the Pulumi program reaches it, e.g. http://127.0.0.1:8123.
        :param username: the owner user (runs DDL); changing it is an in-place update.
        :param password: its password; always stored as a secret.
        :param database: database holding the schema and the ledger; changing it replaces the resource
            (a new database is migrated from empty; the old one is dropped only if `drop_on_destroy`).
        :param params: values for the files' `{{ name | kind }}` placeholders (see clickhouse_schema/README.md);
            a change re-applies the repeatable files that use it.
        :param drop_on_destroy: `destroy` drops the database (all data) only when true.
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
            "schema_dir": str(folder),
            "migrations": [{"name": m.name, "checksum": m.checksum} for m in files],
            "version": None,
            "applied": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(SchemaMigrationsProvider(), resource_name, props, opts)
