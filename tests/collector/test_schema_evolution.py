"""pageviews v2 is an evolution of v1, not a fork: v1's fields unchanged and first, every added
field optional with a null default, the same record name. The stack's schema step (the
`SubjectSchema` provider on Docker, `python -m collector.register` on Kubernetes) sets the subject
FULL_TRANSITIVE and registers v2 beside datagen's v1; the registry then refuses versions that
would break either reader. Against the Schema Registry stand-in (tests/support/schema_registry.py),
whose compatibility check is its own, not Confluent's."""
from __future__ import annotations

import io
import json

import fastavro
import pytest

from collector.register import register
from collector.schemas import COMPATIBILITY, V1_PATH, V2_PATH, schema_text
from components.clients.schema_registry import SchemaRegistryClient
from components.errors import RequestRejected
from components.resources.schema import SubjectSchemaProvider
from tests.support.schema_registry import SchemaRegistryTestServer

V1 = json.loads(V1_PATH.read_text())
V2 = json.loads(V2_PATH.read_text())


@pytest.fixture
def registry():
    with SchemaRegistryTestServer.start() as registry:
        yield registry


def test_v2_is_v1_with_optional_fields_appended():
    assert (V2["name"], V2["namespace"]) == (V1["name"], V1["namespace"]) == ("pageviews", "ksql")
    assert V2["fields"][:3] == V1["fields"], "v1's fields must stay unchanged and first"
    for field in V2["fields"][3:]:
        assert field["type"][0] == "null" and field["default"] is None, f"{field['name']} is not optional"


def test_the_job_tests_v1_schema_is_v1():
    """tests/flink_job/pageviews.py PAGEVIEWS_SCHEMA (what the job's tests write, like datagen) is
    the v1 file: one owner of what v1 is, checked here."""
    from tests.flink_job.pageviews import PAGEVIEWS_SCHEMA

    assert json.loads(PAGEVIEWS_SCHEMA)["fields"] == V1["fields"]
    assert (json.loads(PAGEVIEWS_SCHEMA)["name"], json.loads(PAGEVIEWS_SCHEMA)["namespace"]) == ("pageviews", "ksql")


def test_records_of_each_version_read_with_the_other():
    parsed_v1, parsed_v2 = fastavro.parse_schema(V1), fastavro.parse_schema(V2)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed_v2, {"viewtime": 5, "userid": "u", "pageid": "/p", "source": "web",
                                                "props": {"a": "b"}, "scroll_depth": 40})
    assert fastavro.schemaless_reader(io.BytesIO(out.getvalue()), parsed_v2, parsed_v1) == \
        {"viewtime": 5, "userid": "u", "pageid": "/p"}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed_v1, {"viewtime": 6, "userid": "d", "pageid": "Page_1"})
    as_v2 = fastavro.schemaless_reader(io.BytesIO(out.getvalue()), parsed_v1, parsed_v2)
    assert as_v2["pageid"] == "Page_1" and all(as_v2[f["name"]] is None for f in V2["fields"][3:])


def test_the_provider_sets_full_transitive_and_registers_v2_beside_datagens_v1(registry):
    registry.register("pageviews-value", schema_text(V1_PATH))  # datagen's converter, first
    provider = SubjectSchemaProvider()
    props = {"url": registry.url, "subject": "pageviews-value", "schema": schema_text(), "compatibility": COMPATIBILITY}
    assert provider.check({}, props).failures == []
    created = provider.create(props)
    assert created.outs["version"] == 2 and created.outs["schema_id"] == registry.latest("pageviews-value")["id"]
    assert registry.compatibility("pageviews-value") == "FULL_TRANSITIVE"
    # Applying it again changes nothing; reading it back finds it.
    assert provider.diff(created.id, {**props, **created.outs}, props).changes is False
    again = provider.update(created.id, created.outs, props)
    assert again.outs["version"] == 2
    read = provider.read(created.id, {**props, **created.outs})
    assert (read.outs["version"], read.outs["compatibility"]) == (2, "FULL_TRANSITIVE")


def test_datagen_can_still_register_v1_after_v2(registry):
    """The stack may register v2 before datagen's first record: v1 is compatible both ways."""
    register(registry.url, "pageviews-value")  # the Kubernetes init container's step
    client = SchemaRegistryClient(registry.url)
    assert client.register("pageviews-value", schema_text(V1_PATH)).version == 2


@pytest.mark.parametrize("change, field", [
    ("a field without a default", {"name": "tenant", "type": "string"}),
    ("a field with another type", None),
])
def test_full_transitive_refuses_a_version_that_breaks_a_reader(registry, change, field):
    register(registry.url, "pageviews-value")
    v3 = json.loads(json.dumps(V2))
    if field:
        v3["fields"].append(field)
    else:
        v3["fields"][0] = {"name": "viewtime", "type": "string"}
    provider = SubjectSchemaProvider()
    props = {"url": registry.url, "subject": "pageviews-value", "schema": json.dumps(v3), "compatibility": COMPATIBILITY}
    with pytest.raises(RequestRejected) as refused:
        provider.update("pageviews-value@1", {}, props)
    assert refused.value.context["status"] == 409, change
    assert registry.latest("pageviews-value")["schema"] == schema_text(), "a refused version was stored"


def test_check_names_a_bad_level_and_a_schema_that_is_not_a_record():
    failures = SubjectSchemaProvider().check({}, {"url": "http://r", "subject": "s", "schema": '"string"',
                                                  "compatibility": "SIDEWAYS"}).failures
    assert {f.property for f in failures} == {"compatibility", "schema"}
