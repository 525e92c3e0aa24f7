"""The dashboard files are valid Grafana 11.1 dashboards, bound to the provisioned datasource, and
exactly what scripts/build_dashboards.py generates."""
from __future__ import annotations

import re

import pytest

from .dashboards import DASHBOARD_DIR, DATASOURCE, committed, generator, queries

DASHBOARDS = committed()
GRAFANA_11_1_SCHEMA_VERSION = 39
PANEL_TYPES = {"row", "stat", "timeseries", "table"}
# What Grafana's template service or the plugin replaces; anything else starting with `$` is a stray.
PLUGIN_MACROS = {"__timeFilter", "__timeFilter_ms", "__fromTime", "__toTime", "__fromTime_ms", "__toTime_ms",
                 "__interval_s", "__conditionalAll", "__dateFilter", "__dateTimeFilter", "__dt",
                 "__timeInterval", "__timeInterval_ms"}


def test_both_dashboards_exist_with_distinct_uids():
    assert sorted(DASHBOARDS) == ["clickstream-live.json", "pipeline-health.json"]
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert sorted(uids) == ["clickstream-live", "clickstream-pipeline-health"]


def test_committed_files_are_the_generators_output():
    build = generator()
    generated = build.dashboards()
    assert sorted(generated) == sorted(p.name for p in DASHBOARD_DIR.glob("*.json"))
    for name, model in generated.items():
        assert (DASHBOARD_DIR / name).read_text() == build.render(model), \
            f"{name} differs from scripts/build_dashboards.py output: run it and commit the result"
    assert build.main(["--check"]) == 0


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_top_level(name):
    d = DASHBOARDS[name]
    assert d["schemaVersion"] == GRAFANA_11_1_SCHEMA_VERSION
    assert d["id"] is None, "a provisioned dashboard carries no database id"
    assert d["title"] and re.fullmatch(r"[a-z0-9-]{1,40}", d["uid"])
    assert d["refresh"] in ("10s", "30s")
    assert d["time"] == {"from": "now-1h", "to": "now"}
    assert set(d["timepicker"]["refresh_intervals"]) >= {d["refresh"]}
    assert "__inputs" not in d and "__requires" not in d, "an exported-for-sharing file, not a provisioned one"
    assert "${DS_" not in (DASHBOARD_DIR / name).read_text(), "panels must name the datasource uid, not a placeholder"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_have_unique_ids_and_do_not_overlap(name):
    panels = DASHBOARDS[name]["panels"]
    ids = [p["id"] for p in panels]
    assert all(isinstance(i, int) and i > 0 for i in ids) and len(ids) == len(set(ids)), ids
    cells: dict[tuple[int, int], str] = {}
    for p in panels:
        assert p["type"] in PANEL_TYPES, p["title"]
        g = p["gridPos"]
        assert set(g) == {"h", "w", "x", "y"} and all(isinstance(v, int) for v in g.values()), p["title"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = p["title"]
    titles = [p["title"] for p in panels]
    assert len(titles) == len(set(titles)), "titles identify panels in the query tests"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_and_target_is_bound_to_the_provisioned_datasource(name):
    for p in DASHBOARDS[name]["panels"]:
        if p["type"] == "row":
            assert "targets" not in p and p["panels"] == [], "rows hold no queries here"
            continue
        assert p["datasource"] == DATASOURCE, p["title"]
        assert p["targets"], p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
        for t in p["targets"]:
            assert t["datasource"] == DATASOURCE, p["title"]
            assert t["editorType"] == "sql" and t["pluginVersion"] == "4.14.1", p["title"]
            assert t["rawSql"].strip(), p["title"]
            # time series panels get a time-series frame (long frames made wide); others a table
            assert t["format"] == (0 if p["type"] == "timeseries" else 1), p["title"]
            assert t["queryType"] == ("timeseries" if p["type"] == "timeseries" else "table"), p["title"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_variables_are_query_variables_on_the_same_datasource(name):
    variables = DASHBOARDS[name]["templating"]["list"]
    for v in variables:
        assert v["type"] == "query" and v["datasource"] == DATASOURCE, v["name"]
        assert v["query"] == v["definition"] and v["query"].strip(), v["name"]
        assert v["multi"] is True and v["includeAll"] is True and not v.get("allValue"), \
            f"{v['name']}: panels rely on $__conditionalAll dropping the filter for All"
        assert v["refresh"] == 2, f"{v['name']}: choices must follow the time range"
        assert v["current"]["value"] == ["$__all"]
    defined = {v["name"] for v in variables}
    for p in DASHBOARDS[name]["panels"]:
        for text in [p["title"]] + [t["rawSql"] for t in p.get("targets", [])]:
            for ref in re.findall(r"\$\{?(\w+)", text):
                assert ref in defined or ref in PLUGIN_MACROS, f"{p['title']!r} uses undefined ${ref}"


def test_the_live_dashboard_uses_both_variables():
    live = DASHBOARDS["clickstream-live.json"]
    assert [v["name"] for v in live["templating"]["list"]] == ["page", "user"]
    text = "\n".join(t["rawSql"] for p in live["panels"] for t in p.get("targets", []))
    assert "${page:singlequote}" in text and "${user:singlequote}" in text


def test_every_query_names_tables_without_a_database():
    """The datasource's defaultDatabase is the deployment's database; a hard-coded one would not follow it."""
    for q in queries():
        assert not re.search(r"\b(FROM|JOIN)\s+\w+\.\w+", q.sql, re.IGNORECASE), q.key
