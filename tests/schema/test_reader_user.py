"""The server's users (owner and read-only Grafana reader), defined by server config (users.d),
loaded by ClickHouse 24.8 (chdb).

chdb cannot run CREATE USER (clickhouse-local has no writable access storage), so users are server
config: `users_xml` renders the users.d file the ClickHouse container gets. clickhouse-local reads
`config.xml` from its working folder, so a subprocess started there loads the users file the way
the server does (with `from_env` resolved) and reports what ClickHouse made of it. Our file removes
`default`, the user clickhouse-local itself runs as, so the test adds it back in a users.d file that
sorts after ours (the server has no such file). Logging in as the users is not possible in chdb:
that part is proven on a real server only (e2e).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from components.clients.clickhouse import OWNER_PASSWORD_ENV, READER_PASSWORD_ENV, users_xml

REPO = Path(__file__).resolve().parents[2]

# What clickhouse-local needs besides our file: the user chdb itself runs as (re-added after ours
# removed it) and the default profile and quota.
DEFAULT_USER = """<clickhouse>
  <users><default><password></password><networks><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota>
    <access_management>1</access_management></default></users>
  <profiles><default/></profiles>
  <quotas><default/></quotas>
</clickhouse>
"""

PROBE = r"""
import json, sys, chdb
from chdb import session
s = session.Session(sys.argv[1])
def rows(sql):
    out = s.query(sql, "JSONCompact").bytes()
    return json.loads(out)["data"] if out else []
print(json.dumps({
    "users": rows("SELECT name, auth_type, default_roles_all FROM system.users ORDER BY name"),
    "owner_grants": rows("SELECT access_type FROM system.grants WHERE user_name = 'clickstream' AND database IS NULL AND grant_option ORDER BY access_type"),
    "grants": rows("SELECT user_name, access_type, database, table FROM system.grants WHERE user_name = 'grafana_reader' ORDER BY access_type"),
    "profile": rows("SELECT profile_name, setting_name, value, writability, max FROM system.settings_profile_elements "
                    "WHERE profile_name = 'grafana_reader_profile' ORDER BY setting_name, value"),
}))
"""


def load_users(folder: Path, env: dict) -> subprocess.CompletedProcess:
    """Run chdb in `folder` with our users.d file next to a users.xml, as the server loads them."""
    (folder / "users.d").mkdir()
    (folder / "users.xml").write_text(DEFAULT_USER)
    (folder / "users.d" / "clickstreamer-users.xml").write_text(users_xml("clickstream", "clickstream", "grafana_reader"))
    (folder / "users.d" / "zz-chdb-runs-as-default.xml").write_text(DEFAULT_USER)
    (folder / "config.xml").write_text(f"<clickhouse><users_config>{folder / 'users.xml'}</users_config></clickhouse>")
    (folder / "probe.py").write_text(PROBE)
    clean = {k: v for k, v in os.environ.items() if k not in (OWNER_PASSWORD_ENV, READER_PASSWORD_ENV)}
    return subprocess.run(
        [sys.executable, str(folder / "probe.py"), str(folder / "data")],
        cwd=folder, capture_output=True, text=True, timeout=120,
        env={**clean, **env, "PYTHONPATH": str(REPO)},
    )


def both_hashes() -> dict:
    return {OWNER_PASSWORD_ENV: hashlib.sha256(b"owner-s3cret").hexdigest(),
            READER_PASSWORD_ENV: hashlib.sha256(b"reader-s3cret").hexdigest()}


def test_owner_and_reader_are_defined_with_password_hashes(tmp_path: Path):
    done = load_users(tmp_path, both_hashes())

    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert ["clickstream", "sha256_password", 1] in seen["users"]
    assert ["grafana_reader", "sha256_password", 1] in seen["users"]
    owner_grants = {row[0] for row in seen["owner_grants"]}
    assert {"CREATE", "DROP", "ALTER", "INSERT", "SELECT", "ACCESS MANAGEMENT"} <= owner_grants, \
        f"the owner runs DDL and may manage access; has {sorted(owner_grants)}"


def test_the_open_default_user_is_removed():
    assert '<default remove="remove"/>' in users_xml("clickstream", "clickstream", "grafana_reader")


def test_reader_user_gets_select_on_the_database_only_and_a_readonly_profile(tmp_path: Path):
    done = load_users(tmp_path, both_hashes())

    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert ["grafana_reader", "sha256_password", 1] in seen["users"]
    assert seen["grants"] == [["grafana_reader", "SELECT", "clickstream", None]]
    assert seen["profile"] == [
        ["grafana_reader_profile", "max_execution_time", "60", None, None],
        ["grafana_reader_profile", "max_execution_time", None, None, "300"],
        ["grafana_reader_profile", "max_memory_usage", None, None, "4000000000"],
        ["grafana_reader_profile", "readonly", "2", None, None],
    ]


def test_reader_user_without_its_password_hash_in_the_environment_is_refused(tmp_path: Path):
    """A missing secret must not become an empty password: ClickHouse refuses the users file."""
    done = load_users(tmp_path, {OWNER_PASSWORD_ENV: both_hashes()[OWNER_PASSWORD_ENV]})

    assert done.returncode != 0
    assert "has length 0 but must be exactly 32 bytes" in done.stderr, done.stderr[-3000:]
    assert "while parsing user 'grafana_reader'" in done.stderr


def test_users_xml_refuses_names_that_are_not_identifiers():
    import pytest

    with pytest.raises(ValueError, match="must be an identifier"):
        users_xml("click stream", "clickstream", "grafana_reader")
    with pytest.raises(ValueError, match="must be an identifier"):
        users_xml("clickstream", "clickstream", "grafana</name>")
    with pytest.raises(ValueError, match="must differ"):
        users_xml("clickstream", "default", "grafana_reader")
