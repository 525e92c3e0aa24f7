"""Check an object against a CRD's OpenAPI v3 schema the way the API server prunes and validates a
structural schema: unknown fields (where the schema does not preserve them), types (with
`x-kubernetes-int-or-string`), enums, required fields, bounds, patterns, `oneOf`/`anyOf`.
CEL rules (`x-kubernetes-validations`) are not evaluated.

Numbers arrive from Pulumi's wire format as floats; a float with an integral value is an integer,
as it is once the provider serialises it.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import yaml


def load_crds(folder: Path) -> dict[tuple[str, str], dict]:
    """`{(apiVersion, kind): openAPIV3Schema}` for every served version of every CRD in `folder`."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster on 1 MB of CRDs
    schemas: dict[tuple[str, str], dict] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yaml", ".yml"):
            continue
        for doc in yaml.load_all(path.read_text(), Loader=loader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if version.get("served", True):
                    schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def validate(value: Any, schema: dict, path: str = "") -> list[str]:
    """Every problem of `value` against `schema`, as `path: message` lines (empty: valid)."""
    return list(_problems(value, schema, path or "."))


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_int,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _problems(value: Any, schema: dict, path: str, structural: bool = True) -> Iterator[str]:
    """`structural`: unknown fields count (the pruning the API server does); inside oneOf/anyOf
    alternatives they do not, as in JSON Schema, where `properties` alone forbids nothing."""
    if value is None:
        if not schema.get("nullable"):
            yield f"{path}: null is not allowed"
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not (_is_int(value) or isinstance(value, str)):
            yield f"{path}: must be an integer or a string, got {type(value).__name__}"
        return
    kind = schema.get("type")
    if kind and not _TYPES[kind](value):
        yield f"{path}: must be {kind}, got {type(value).__name__} {value!r:.60}"
        return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: {value!r} is not one of {schema['enum']}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield f"{path}: {value} is below the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            yield f"{path}: {value} is above the maximum {schema['maximum']}"
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{path}: {value!r} does not match {schema['pattern']}"
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield f"{path}: fewer than {schema['minItems']} items"
        items = schema.get("items")
        if items:
            for index, item in enumerate(value):
                yield from _problems(item, items, f"{path}[{index}]", structural)
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                yield f"{path}: required field {key!r} is missing"
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = f"{path}.{key}" if path != "." else f".{key}"
            if properties is not None and key in properties:
                yield from _problems(item, properties[key], where, structural)
            elif isinstance(extra, dict):
                yield from _problems(item, extra, where, structural)
            elif structural and properties is not None and not schema.get("x-kubernetes-preserve-unknown-fields") \
                    and extra is not True:
                yield f"{where}: unknown field (the CRD defines {sorted(properties)})"
    for keyword, needed in (("oneOf", "exactly one"), ("anyOf", "at least one")):
        branches = schema.get(keyword)
        if branches:
            passing = sum(1 for branch in branches if not list(_problems(value, branch, path, structural=False)))
            if passing == 0 or (keyword == "oneOf" and passing > 1):
                yield f"{path}: {needed} of the {keyword} alternatives must hold, {passing} do"
