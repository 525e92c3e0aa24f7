"""`SchemaMigrations`: the provider Pulumi serializes works after the round trip Pulumi makes.

The resource is registered under Pulumi's mocks (no engine here); the `__provider` string it
registers is exactly what the engine would hand to the dynamic-provider host. A fresh interpreter
(the project's `.venv`, cwd = repository root, like the provider host) decodes it with dill and
drives check / diff / create / update / read / delete, with every property passed through Pulumi's
wire format (numbers arrive as floats there). Its ClickHouse is a real server (the session's
`clickhouse_server`), reached over HTTP exactly as in production: the provider has no test hook.
"""
from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pulumi
import pytest

from components.clients.migrations import discover
from components.resources.schema_migrations import SchemaMigrations

from .conftest import PARAMS, REPO, SCHEMA_DIR

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"

DRIVER = r'''
import asyncio, base64, json, sys
import dill
from pulumi.runtime import rpc
from components.clients.clickhouse import Endpoint, HttpExecutor

req = json.load(sys.stdin)
provider = dill.loads(base64.b64decode(req["provider"]))

def wire(props):
    """What the engine does to properties between the program, the state and the provider."""
    loop = asyncio.new_event_loop()
    try:
        return rpc.deserialize_properties(loop.run_until_complete(rpc.serialize_properties(props, {})))
    finally:
        loop.close()

def server(props):
    return HttpExecutor(Endpoint(props["url"], props["username"], props["password"]))

def databases(props):
    return [r[0] for r in server(props).rows("SELECT name FROM system.databases ORDER BY name")]

def ledger_times(props, db):
    return server(props).rows(f"SELECT version, toString(applied_at) FROM {db}.schema_migrations ORDER BY version")

news = wire(req["inputs"])
out = {"provider_class": type(provider).__module__ + "." + type(provider).__qualname__,
       "ttl_param_type": type(news["params"]["raw_ttl_days"]).__name__}
checked = provider.check({}, news)
out["check_failures"] = [[f.property, f.reason] for f in checked.failures]
created = provider.create(wire(checked.inputs))
out["create"] = {"id": created.id, "version": created.outs["version"], "applied": created.outs["applied"]}
state = wire(created.outs)
db = news["database"]
first_times = ledger_times(news, db)

same = provider.diff(created.id, state, news)
out["diff_same"] = [same.changes, same.replaces]
updated = provider.update(created.id, state, news)
out["update"] = {"version": updated.outs["version"], "applied": updated.outs["applied"]}
out["ledger_unchanged_by_update"] = ledger_times(news, db) == first_times
out["read"] = provider.read(created.id, state).outs["applied"]

added = wire(req["inputs_with_new_file"])
d = provider.diff(created.id, state, added)
out["diff_new_file"] = [d.changes, d.replaces]
d = provider.diff(created.id, state, wire(req["inputs_other_database"]))
out["diff_other_database"] = [d.changes, d.replaces]
d = provider.diff(created.id, state, wire(req["inputs_other_ttl"]))
out["diff_other_ttl"] = [d.changes, d.replaces]
out["check_edited"] = [[f.property, f.reason] for f in provider.check(news, wire(req["inputs_edited"])).failures]
out["check_bad_database"] = [[f.property, f.reason] for f in provider.check({}, wire(req["inputs_bad_database"])).failures]
out["check_missing_param"] = [[f.property, f.reason] for f in provider.check({}, wire(req["inputs_missing_param"])).failures]

provider.delete(created.id, state)
out["after_keep_delete"] = db in databases(news)
provider.delete(created.id, {**state, "drop_on_destroy": True})
out["after_drop_delete"] = db in databases(news)
print("RESULT " + json.dumps(out))
'''


class CapturingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def unwrap(value):
    """Pulumi's secret wrapper -> (value, is_secret)."""
    if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
        return value["value"], True
    return value, False


@pytest.fixture
def registered() -> pulumi.runtime.MockResourceArgs:
    mocks = CapturingMocks()
    pulumi.runtime.set_mocks(mocks, preview=False)

    @pulumi.runtime.test
    def program():
        schema = SchemaMigrations(
            "schema", url="http://clickhouse.invalid:8123", username="clickstream",
            password="s3cret-for-test", database="clickstream", params=PARAMS,
        )
        return schema.urn

    program()
    (args,) = [r for r in mocks.resources if r.typ.endswith("SchemaMigrations")]
    return args


def test_resource_registers_its_files_and_keeps_the_password_secret(registered):
    assert registered.typ == "pulumi-python:dynamic/clickhouse:SchemaMigrations"
    password, secret = unwrap(registered.inputs["password"])
    assert secret and password == "s3cret-for-test", "the password is a secret input"
    assert unwrap(registered.inputs["__provider"])[1], "the serialized provider is a secret"
    assert registered.inputs["migrations"] == [{"name": m.name, "checksum": m.checksum} for m in discover(SCHEMA_DIR)]
    assert registered.inputs["drop_on_destroy"] is False


def test_provider_survives_pulumi_serialization(registered, clickhouse_server, tmp_path: Path):
    inputs = {key: unwrap(value)[0] for key, value in registered.inputs.items() if key != "__provider"}
    # the provider host runs apart from the program: it reaches the session's server, in a database of its own
    database = f"provider_{uuid.uuid4().hex[:8]}"
    inputs.update(url=clickhouse_server.http_url, username="default", password="", database=database)
    files = inputs["migrations"]
    first = files[0]["name"]
    request = {
        "provider": unwrap(registered.inputs["__provider"])[0],
        "inputs": inputs,
        "inputs_with_new_file": {**inputs, "migrations": files + [{"name": "099_next.sql", "checksum": "0" * 64}]},
        "inputs_other_database": {**inputs, "database": f"{database}_2"},
        "inputs_other_ttl": {**inputs, "params": {**inputs["params"], "raw_ttl_days": 30}},
        "inputs_edited": {**inputs, "migrations": [{"name": first, "checksum": "f" * 64}] + files[1:]},
        "inputs_bad_database": {**inputs, "database": "click-stream"},
        "inputs_missing_param": {**inputs, "params": {k: v for k, v in inputs["params"].items() if k != "kafka_brokers"}},
    }
    (tmp_path / "driver.py").write_text(DRIVER)

    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), str(tmp_path / "driver.py")],
        input=json.dumps(request), cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.split("RESULT ", 1)[1])

    versioned = [m.name for m in discover(SCHEMA_DIR) if not m.repeatable]
    first_checksum = files[0]["checksum"]
    assert out["provider_class"] == "components.resources.schema_migrations.SchemaMigrationsProvider"
    assert out["ttl_param_type"] == "float", "the wire turns 7 into 7.0; the provider must cope"
    assert out["check_failures"] == []
    assert out["create"] == {"id": database, "version": int(versioned[-1][:3]), "applied": versioned}
    assert out["diff_same"] == [False, []]
    assert out["update"] == {"version": int(versioned[-1][:3]), "applied": versioned}
    assert out["ledger_unchanged_by_update"] is True, "a second up applies nothing"
    assert out["read"] == versioned
    assert out["diff_new_file"] == [True, []]
    assert out["diff_other_database"] == [True, ["database"]]
    assert out["diff_other_ttl"] == [True, []]
    assert out["check_edited"] == [[
        "migrations",
        f"applied migration {first} was edited: applied checksum {first_checksum}, file checksum {'f' * 64}; "
        "restore it and put the change in a new file",
    ]]
    assert out["check_bad_database"] == [["database", "'click-stream' must be an identifier ([A-Za-z_][A-Za-z0-9_]*)"]]
    ((prop, reason),) = out["check_missing_param"]
    assert prop == "params" and reason.startswith("parameter 'kafka_brokers' is not set\n  file: R_ingest.sql")
    assert out["after_keep_delete"] is True, "destroy keeps the data unless drop_on_destroy"
    assert out["after_drop_delete"] is False
