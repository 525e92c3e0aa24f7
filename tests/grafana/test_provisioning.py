"""The provisioning files use the keys grafana-clickhouse-datasource 4.14.1 reads, and what the
Grafana component gives the container (built under Pulumi's mocks) resolves them to the reader's
real credentials.

Sources, at the pinned versions:
- plugin v4.14.1 (commit c4409cfd): pkg/plugin/settings.go `LoadSettings` (the jsonData keys it
  reads; `port` as a number or a numeric string; `password` from secureJsonData; host and port
  required), README.md "With a configuration file" (the documented example), src/plugin.json
  (`id: grafana-clickhouse-datasource`, `grafanaDependency: >=9.5.0`, so it loads on 11.1.1).
- Grafana: pkg/services/provisioning/values/values.go `interpolateValue` (every string value of a
  provisioning file: split at `$$`, then `setting.ExpandVar`, the `$__env{}` / `$__file{}` /
  `${}` expanders of the configuration file, then `os.ExpandEnv`), pkg/setting/expanders.go (the
  file expander reads the file and trims surrounding whitespace). Read at a recent commit of
  grafana/grafana; the same expanders are documented for provisioning since Grafana 7.1 ("Configure
  Grafana" > variable expansion; the Vault expander page says they apply to provisioning files).
  Whether 11.1.1's binary does exactly this is proven only by the e2e test (Grafana does not run here).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Mapping

import pytest
import yaml

from tests.unit.harness import Recording, build_program

from .dashboards import DASHBOARD_DIR, PROVISIONING_DIR, REPO

DATASOURCE_FILE = PROVISIONING_DIR / "datasources" / "clickhouse.yaml"
PROVIDER_FILE = PROVISIONING_DIR / "dashboards" / "clickstreamer.yaml"

# pkg/plugin/settings.go LoadSettings and the README's example, v4.14.1. (`server` and `timeout`
# are v3 names it still falls back to; the repo's own e2e file uses `database`, which it ignores.)
PLUGIN_JSON_DATA_KEYS = {
    "host", "port", "protocol", "secure", "path", "tlsSkipVerify", "tlsAuth", "tlsAuthWithCACert",
    "username", "defaultDatabase", "defaultTable", "dialTimeout", "queryTimeout", "customSettings",
    "forwardGrafanaHeaders", "enableRowLimit", "httpHeaders", "logs", "traces",
}
PLUGIN_SECURE_KEYS = {"password", "tlsCACert", "tlsClientCert", "tlsClientKey"}


@pytest.fixture(scope="module")
def program() -> Recording:
    return build_program()


def container_env(rec: Recording, name: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in rec.named(name).revealed("envs"))


def uploaded_files(rec: Recording, name: str) -> dict[str, str]:
    return {u["file"]: u["content"] for u in rec.named(name).revealed("uploads")}


# --- Grafana's provisioning interpolation, mirrored (values.go, expanders.go) --------------------

_EXPANDER = re.compile(r"\$(|__\w+){([^}]+)}")


def grafana_interpolate(value: str, env: Mapping[str, str], files: Mapping[str, str]) -> str:
    def expand(part: str) -> str:
        for expander in ("env", "file"):  # ExpandVar: the registered expanders in order
            for match in _EXPANDER.finditer(part):
                kind, argument = match.group(1), match.group(2)
                if kind == f"__{expander}" or (kind == "" and expander == "env"):
                    if expander == "file":
                        if argument not in files:
                            raise FileNotFoundError(argument)  # os.Stat fails: provisioning stops
                        replacement = files[argument].strip()
                    else:
                        replacement = env.get(argument, "")
                    part = part.replace(match.group(0), replacement, 1)
        # os.ExpandEnv, for names and braces (all these files could contain)
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), part)

    return "$".join(expand(part) for part in value.split("$$"))


def interpolate_tree(node: Any, env: Mapping[str, str], files: Mapping[str, str]) -> Any:
    """transformInterface: every string value, in maps and lists, keys untouched."""
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env, files) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env, files) for v in node]
    if isinstance(node, str):
        return grafana_interpolate(node, env, files)
    return node


def plugin_settings(json_data: Mapping[str, Any], secure: Mapping[str, str]) -> dict[str, Any]:
    """The part of settings.go LoadSettings these files exercise, with its validation."""
    port = json_data.get("port", 0)
    port = int(port, 0) if isinstance(port, str) else int(port)
    settings = {
        "host": json_data.get("host") or json_data.get("server", ""),
        "port": port,
        "protocol": json_data.get("protocol", ""),
        "username": json_data.get("username", ""),
        "defaultDatabase": json_data.get("defaultDatabase", ""),
        "password": secure.get("password", ""),
    }
    assert settings["host"], "invalid host"  # ErrorMessageInvalidHost
    assert settings["port"] != 0, "invalid port"  # ErrorMessageInvalidPort
    return settings


# --- the datasource file -----------------------------------------------------------------------------

def test_datasource_file_declares_one_clickhouse_datasource_with_the_fixed_uid():
    doc = yaml.safe_load(DATASOURCE_FILE.read_text())
    assert doc["apiVersion"] == 1 and set(doc) == {"apiVersion", "datasources"}
    (ds,) = doc["datasources"]
    assert ds["type"] == "grafana-clickhouse-datasource"  # src/plugin.json id
    assert ds["uid"] == "clickhouse", "panels and the e2e test (/api/datasources/uid/clickhouse/health) use it"
    assert ds["access"] == "proxy" and ds["editable"] is False
    assert "password" not in ds and "user" not in ds and "url" not in ds, "v4 reads jsonData/secureJsonData only"


def test_datasource_keys_are_the_ones_the_pinned_plugin_reads():
    ds = yaml.safe_load(DATASOURCE_FILE.read_text())["datasources"][0]
    json_data, secure = ds["jsonData"], ds["secureJsonData"]
    assert set(json_data) <= PLUGIN_JSON_DATA_KEYS, set(json_data) - PLUGIN_JSON_DATA_KEYS
    assert {"host", "port", "protocol", "username", "defaultDatabase"} <= set(json_data)
    assert set(secure) <= PLUGIN_SECURE_KEYS and "password" in secure
    assert json_data["protocol"] == "http" and json_data["secure"] is False
    assert json_data["host"] == "$__env{CLICKHOUSE_HOST}" and json_data["port"] == "$__env{CLICKHOUSE_PORT}"
    assert json_data["username"] == "$__env{CLICKHOUSE_READER_USER}"
    assert json_data["defaultDatabase"] == "$__env{CLICKHOUSE_DATABASE}"
    assert secure["password"] == "$__file{/run/secrets/clickhouse_reader_password}"


def test_the_container_resolves_the_datasource_to_the_clickhouse_reader(program):
    """Docker component env + uploaded secret file, through Grafana's interpolation and the plugin's
    settings parser, give the user and password ClickHouse's users.d file accepts for the reader."""
    env = container_env(program, "clickstream-grafana-server")
    files = uploaded_files(program, "clickstream-grafana-server")
    ds = interpolate_tree(yaml.safe_load(DATASOURCE_FILE.read_text()), env, files)["datasources"][0]
    settings = plugin_settings(ds["jsonData"], ds["secureJsonData"])

    assert settings == {"host": "clickhouse", "port": 8123, "protocol": "http", "username": "grafana_reader",
                        "defaultDatabase": "clickstream", "password": settings["password"]}
    clickhouse = program.named("clickstream-clickhouse-server")
    ch_env = container_env(program, "clickstream-clickhouse-server")
    assert 8123 in {int(p["internal"]) for p in clickhouse.inputs["ports"]}, "the HTTP port the datasource uses"
    assert hashlib.sha256(settings["password"].encode()).hexdigest() == ch_env["CLICKHOUSE_READER_PASSWORD_SHA256"]
    users_xml = next(iter(uploaded_files(program, "clickstream-clickhouse-server").values()))
    assert "<grafana_reader>" in users_xml and "GRANT SELECT ON `clickstream`.*" in users_xml
    assert not any("PASSWORD=" in item for item in program.named("clickstream-grafana-server").revealed("envs")), \
        "the reader's password reaches Grafana as a file only"


def test_every_reference_in_the_provisioning_files_is_provided_by_the_container(program):
    env = container_env(program, "clickstream-grafana-server")
    files = uploaded_files(program, "clickstream-grafana-server")
    for path in PROVISIONING_DIR.rglob("*.yaml"):
        values = "\n".join(str(v) for v in _strings(yaml.safe_load(path.read_text())))
        for name in re.findall(r"\$__env\{(\w+)\}", values):
            assert name in env, f"{path.name}: $__env{{{name}}} is not set on the container"
        for file in re.findall(r"\$__file\{([^}]+)\}", values):
            assert file in files, f"{path.name}: $__file{{{file}}} is not uploaded"
        assert not re.search(r"\$(?!__(env|file)\{)", values), f"{path.name}: another `$` would be expanded too"


def _strings(node: Any):
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def test_a_dollar_in_the_reader_password_would_not_survive_so_generated_ones_have_none(program):
    """values.go runs os.ExpandEnv after the file expander: `$x` inside the password is expanded away."""
    mangled = grafana_interpolate("$__file{/p}", {}, {"/p": "ab$cd\n"})
    assert mangled == "ab"
    generated = program.named("clickstream-clickhouse-reader-password")
    assert generated.inputs["special"] is False, "a generated password could contain `$`"


# --- the dashboards provider and the mounts -----------------------------------------------------------

def test_dashboard_provider_loads_the_mounted_folder(program):
    doc = yaml.safe_load(PROVIDER_FILE.read_text())
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file" and provider["orgId"] == 1
    assert provider["allowUiUpdates"] is False and provider["disableDeletion"] is True
    assert provider["options"]["foldersFromFilesStructure"] is False and provider["folder"] == "Clickstreamer"
    mounts = {m["target"]: m for m in program.named("clickstream-grafana-server").inputs["mounts"]}
    dashboards = mounts[provider["options"]["path"]]
    assert Path(dashboards["source"]) == DASHBOARD_DIR and dashboards["readOnly"] is True
    provisioning = mounts["/etc/grafana/provisioning"]  # GF_PATHS_PROVISIONING of the image
    assert Path(provisioning["source"]) == PROVISIONING_DIR and provisioning["readOnly"] is True


def test_only_mounted_files_live_under_grafana():
    """Everything in grafana/ reaches the container (the Kubernetes platform mounts the same two folders)."""
    stray = [p.relative_to(REPO).as_posix() for p in (REPO / "grafana").rglob("*")
             if p.is_file() and p.suffix != ".md" and not (p.is_relative_to(PROVISIONING_DIR) or p.is_relative_to(DASHBOARD_DIR))]
    assert stray == []


def test_admin_password_is_a_generated_secret_file_and_anonymous_access_is_off(program):
    env = container_env(program, "clickstream-grafana-server")
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env, "setting both aborts the image's run.sh"
    assert "/run/secrets/grafana_admin_password" in uploaded_files(program, "clickstream-grafana-server")
    assert program.named("clickstream-grafana-admin-password").inputs["special"] is False
    assert "grafanaAdminPassword" in program.secret_outputs
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"

    opened = build_program({"grafana": {"anonymousAccess": True}})
    assert container_env(opened, "clickstream-grafana-server")["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
