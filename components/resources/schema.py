"""`SubjectSchema`: a Schema Registry subject's compatibility level and one registered schema
version, as a Pulumi dynamic resource over components/clients/schema_registry.py.

The stack registers `pageviews` v2 here (the collector itself runs with auto.register.schemas=false,
so no browser request can ever create a schema version). Create and update set the level, then
register: a schema the level refuses fails `up` with the registry's reason, and nothing is
written. Delete keeps the versions: records already in the topic need them to be read (they go with
the registry's own storage, Kafka's `_schemas` topic, when the stack is destroyed).
"""
from __future__ import annotations

from typing import Any, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult


class SubjectSchemaProvider(ResourceProvider):
    """The provider. Self-contained: every import happens inside a method (see STYLE.md)."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        import json

        from components.clients.schema_registry import COMPATIBILITY_LEVELS
        from components.resources._dynamic import known

        failures = []
        level = news.get("compatibility")
        if known(level) and level not in COMPATIBILITY_LEVELS:
            failures.append(CheckFailure("compatibility", f"{level!r}: allowed: {', '.join(COMPATIBILITY_LEVELS)}"))
        schema = news.get("schema")
        if known(schema):
            try:
                parsed = json.loads(schema)
                if not isinstance(parsed, dict) or parsed.get("type") != "record":
                    raise ValueError("not an Avro record schema")
            except ValueError as exc:
                failures.append(CheckFailure("schema", f"must be an Avro record schema as JSON text: {exc}"))
        subject = news.get("subject")
        if known(subject) and not (isinstance(subject, str) and subject.strip()):
            failures.append(CheckFailure("subject", "must be a subject name such as pageviews-value"))
        return CheckResult(news, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A new version or level is an update of the subject; another subject or registry is another resource.
        changed = [key for key in ("url", "subject", "schema", "compatibility") if olds.get(key) != news.get(key)]
        replaces = [key for key in changed if key in ("url", "subject")]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        outputs = _apply(props)
        return CreateResult(f"{props['subject']}@{outputs['version']}", outputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(_apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.clients.schema_registry import SchemaRegistryClient
        from components.resources._dynamic import without_provider

        client = SchemaRegistryClient(props["url"])
        found = client.lookup(props["subject"], props["schema"])
        if found is None:
            return ReadResult("", {})  # gone (a new registry): the next `up` registers it again
        return ReadResult(id_, {**without_provider(props), "schema_id": found.id, "version": found.version,
                                "compatibility": client.compatibility(props["subject"])})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from components.resources._dynamic import note

        note(f"schema {id_}: kept in the registry (records in the topic are read with it)")


def _apply(props: dict[str, Any]) -> dict[str, Any]:
    from components.clients.schema_registry import SchemaRegistryClient
    from components.resources._dynamic import without_provider

    client = SchemaRegistryClient(props["url"])
    client.set_compatibility(props["subject"], props["compatibility"])
    registered = client.register(props["subject"], props["schema"])
    return {**without_provider(props), "schema_id": registered.id, "version": registered.version}


class SubjectSchema(pulumi.dynamic.Resource, module="schemaregistry", name="SubjectSchema"):
    """A registered schema version (type `pulumi-python:dynamic/schemaregistry:SubjectSchema`)."""

    schema_id: pulumi.Output[int]
    version: pulumi.Output[int]

    def __init__(self, resource_name: str, *, url: pulumi.Input[str], subject: pulumi.Input[str],
                 schema: pulumi.Input[str], compatibility: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        """
        :param url: the registry's REST URL as reached from where `pulumi up` runs; changing it replaces.
        :param subject: e.g. `pageviews-value`; changing it replaces.
        :param schema: Avro schema JSON text; a change registers a new version (checked by the level).
        :param compatibility: the subject's level, e.g. FULL_TRANSITIVE; set before registering.
        """
        super().__init__(SubjectSchemaProvider(), resource_name,
                         {"url": url, "subject": subject, "schema": schema, "compatibility": compatibility,
                          "schema_id": None, "version": None}, opts)
