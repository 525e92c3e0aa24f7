"""The committed dashboards and their generator, loaded for the Grafana tests."""
from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "grafana" / "dashboards"
PROVISIONING_DIR = REPO / "grafana" / "provisioning"
DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "clickhouse"}


def generator():
    """scripts/build_dashboards.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("build_dashboards", REPO / "scripts" / "build_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def committed() -> dict[str, dict[str, Any]]:
    """File name -> parsed dashboard, for every JSON file Grafana will load."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


@dataclass(frozen=True)
class Query:
    dashboard: str  # uid
    panel: str  # title ("variable <name>" for a variable query)
    panel_type: str
    format: int  # 0 time series, 1 table (variables: 1)
    sql: str

    @property
    def key(self) -> str:
        return f"{self.dashboard}/{self.panel}"


def queries() -> list[Query]:
    """Every query Grafana would run: each panel target and each variable query."""
    found = []
    for model in committed().values():
        for variable in model.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                found.append(Query(model["uid"], f"variable {variable['name']}", "variable", 1, variable["query"]))
        for panel in model["panels"]:
            for t in panel.get("targets", []):
                found.append(Query(model["uid"], panel["title"], panel["type"], t["format"], t["rawSql"]))
    return found
