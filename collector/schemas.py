"""The `pageviews` value schemas. v2 is v1 (what datagen writes) with optional fields appended, each
`null` by default, under the same record name: every v2 record reads as v1 and every v1 record as
v2 (FULL_TRANSITIVE compatibility). The .avsc files are the one owner; the stack registers v2 from
here and the collector writes with it."""
from __future__ import annotations

import json
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
V1_PATH = SCHEMA_DIR / "pageviews-v1.avsc"
V2_PATH = SCHEMA_DIR / "pageviews-v2.avsc"
COMPATIBILITY = "FULL_TRANSITIVE"


def schema_text(path: Path = V2_PATH) -> str:
    """The schema as compact JSON (what is registered)."""
    return json.dumps(json.loads(path.read_text()), separators=(",", ":"))


def field_names(path: Path = V2_PATH) -> list[str]:
    return [f["name"] for f in json.loads(path.read_text())["fields"]]
