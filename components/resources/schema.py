"""`SubjectSchema`: a Schema Registry subject's compatibility level and one registered schema
version, as a Pulumi dynamic resource over components/clients/schema_registry.py.

The stack registers `pageviews` v2 here (the collector itself runs with auto.register.schemas=false,
so no browser request can ever create a schema version). Create and update set the level, then
register: a schema the level refuses fails `up` with the registry's reason, and nothing is
written. Delete keeps the versions: records already in the topic need them to be read (they go with
the registry's own storage, Kafka's `_schemas` topic, when the stack is destroyed).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from components.resources import _dynamic as dyn

# Changing these makes another resource (another registry or subject); the rest is an update.
_REPLACING = ("url", "subject")


def avro_record(value: Any) -> str:
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError as exc:
        raise dyn.Invalid(f"is not JSON: {exc}") from None
    if not isinstance(parsed, dict) or parsed.get("type") != "record":
        raise dyn.Invalid("must be an Avro record schema as JSON text")
    return value


def subject_name(value: Any) -> str:
    if not (isinstance(value, str) and value.strip() and not any(c.isspace() for c in value)):
        raise dyn.Invalid(f"{value!r}: must be a subject name such as pageviews-value")
    return value


@dataclass(frozen=True)
class SchemaInputs:
    """A `SubjectSchema`'s props, typed (see components/resources/_dynamic.py for how they are read)."""

    url: str
    subject: str
    schema: str
    compatibility: str

    @classmethod
    def parse(cls, props: Mapping[str, Any]) -> tuple["SchemaInputs", list]:
        from components.clients.schema_registry import COMPATIBILITY_LEVELS

        p = dyn.Props(props)
        inputs = cls(
            url=p.get("url", dyn.http_url("the Schema Registry", "http://127.0.0.1:8081", with_path=False)),
            subject=p.get("subject", subject_name),
            schema=p.get("schema", avro_record),
            compatibility=p.get("compatibility", dyn.one_of(*COMPATIBILITY_LEVELS)),
        )
        return inputs, p.failures

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> "SchemaInputs":
        return cls.parse(props)[0]

    def client(self):
        from components.clients.schema_registry import SchemaRegistryClient

        return SchemaRegistryClient(self.url)

    def apply(self) -> dict[str, Any]:
        """Set the level, register the schema (a no-op when it is there): the outputs."""
        client = self.client()
        client.set_compatibility(self.subject, self.compatibility)
        registered = client.register(self.subject, self.schema)
        return {**dyn.as_props(self), "schema_id": registered.id, "version": registered.version}


class SubjectSchemaProvider(ResourceProvider):
    """The provider: a thin adapter over components/clients/schema_registry.py (see STYLE.md)."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = SchemaInputs.parse(news)
        return CheckResult(dyn.as_props(inputs), failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in ("url", "subject", "schema", "compatibility") if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[k for k in changed if k in _REPLACING],
                          delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        outputs = SchemaInputs.from_props(props).apply()
        return CreateResult(f"{outputs['subject']}@{outputs['version']}", outputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(SchemaInputs.from_props(news).apply())

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = SchemaInputs.from_props(props)
        client = inputs.client()
        found = client.lookup(inputs.subject, inputs.schema)
        if found is None:
            return ReadResult("", {})  # gone (a new registry): the next `up` registers it again
        return ReadResult(id_, {**dyn.as_props(inputs), "schema_id": found.id, "version": found.version,
                                "compatibility": client.compatibility(inputs.subject)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        dyn.note(f"schema {id_}: kept in the registry (records in the topic are read with it)")


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
