"""The data contract's columns (components/contract.py TOPIC_CONTRACTS), from which the ingestion SQL
is generated, are the job's sink columns and docs/data-contract.md's tables and examples.

The job is read as source text (`ast` for flink_job/job.py, the field constants of the Java writer
of `clickstream.events` lines): this environment has no pyflink. The job's suite
(tests/flink_job) checks the messages the job really writes against the same examples."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from components.config import parse_config
from components.contract import INSIGHT_TOPICS, TOPIC_CONTRACTS, Column, TopicContract
from components.errors import ClickstreamerError
from components.spec import Endpoints, migration_params
from tests.support.scripts import load_script

REPO = Path(__file__).resolve().parents[2]
CONTRACT_DOC = (REPO / "docs" / "data-contract.md").read_text()
EVENT_MESSAGE_JAVA = REPO / "flink_job" / "udf" / "src" / "main" / "java" / "io" / "clickstreamer" / "flink" / "EventMessage.java"
TIMESTAMP_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}")
TOPICS = list(TOPIC_CONTRACTS.values())
ids = [t.role for t in TOPICS]


def flink_type(node: ast.expr) -> str:
    """`DataTypes.X()` -> "X", `DataTypes.ARRAY(DataTypes.STRING())` -> "ARRAY<STRING>"."""
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute), ast.dump(node)
    assert isinstance(node.func.value, ast.Name) and node.func.value.id == "DataTypes", ast.unparse(node)
    inner = [flink_type(arg) for arg in node.args]
    return node.func.attr + (f"<{', '.join(inner)}>" if inner else "")


def job_sink_columns() -> dict[str, list[tuple[str, str]]]:
    """flink_job/job.py's SINK_COLUMNS, as (name, Flink type) per output."""
    tree = ast.parse((REPO / "flink_job" / "job.py").read_text())
    (value,) = [node.value for node in tree.body if isinstance(node, ast.Assign)
                and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["SINK_COLUMNS"]]
    return {ast.literal_eval(key): [(ast.literal_eval(column.elts[0]), flink_type(column.elts[1]))
                                    for column in columns.elts]
            for key, columns in zip(value.keys, value.values)}


def event_line_fields() -> list[str]:
    """The JSON fields EventMessage.java writes into a `clickstream.events` line, in its order."""
    return re.findall(r'private static final byte\[\] [A-Z_]+ = "[{,]\\"([a-z_]+)\\":"', EVENT_MESSAGE_JAVA.read_text())


def doc_topics_table() -> dict[str, tuple[str, ...]]:
    """Topic -> dedup key columns, from docs/data-contract.md's table of topics."""
    rows = re.findall(r"^\| `(clickstream\.[a-z0-9_]+)` \| [^|]+ \| \(([^)]*)\) \|$", CONTRACT_DOC, flags=re.M)
    return {topic: tuple(c.strip().strip("`") for c in key.split(",")) for topic, key in rows}


def doc_examples() -> dict[str, dict]:
    """Topic -> the JSON example under its heading in docs/data-contract.md (keys in their order)."""
    found = re.findall(r"^### `(clickstream\.[a-z0-9_]+)`\n```json\n(.*?)\n```", CONTRACT_DOC, flags=re.M | re.S)
    return {topic: json.loads(body) for topic, body in found}


def test_contract_topics_are_the_insight_topics_in_their_order():
    assert list(TOPIC_CONTRACTS) == list(INSIGHT_TOPICS)
    assert all(role == t.role for role, t in TOPIC_CONTRACTS.items())
    assert len({t.source for t in TOPICS}) == len(TOPICS), "each source names its own ClickHouse objects"


def test_job_sinks_are_the_contract_topics():
    assert list(job_sink_columns()) == list(TOPIC_CONTRACTS)


@pytest.mark.parametrize("topic", TOPICS, ids=ids)
def test_job_sink_columns_are_the_contract_columns(topic: TopicContract):
    sink = job_sink_columns()[topic.role]
    assert sink[0] == ("record_key", "STRING"), "every sink writes the dedup key as the record key first"
    if topic.job_renders_lines:
        assert sink[1:] == [("value", "BYTES")], f"{topic.role}: the job writes rendered lines"
        assert event_line_fields() == [c.name for c in topic.columns], \
            f"{EVENT_MESSAGE_JAVA.name} writes other fields than the contract's {topic.role} columns"
    else:
        assert sink[1:] == [(c.name, c.flink_type) for c in topic.columns], \
            f"flink_job/job.py SINK_COLUMNS[{topic.role!r}] differs from components/contract.py"


def test_doc_lists_every_contract_topic_with_its_dedup_key():
    table = doc_topics_table()
    assert table == {t.default_topic: t.dedup_key for t in TOPICS}


@pytest.mark.parametrize("topic", TOPICS, ids=ids)
def test_doc_example_has_the_contract_columns_in_order_with_their_types(topic: TopicContract):
    example = doc_examples()[topic.default_topic]
    assert list(example) == [c.name for c in topic.columns], \
        f"docs/data-contract.md's {topic.default_topic} example differs from components/contract.py"
    for column in topic.columns:
        value = example[column.name]
        wrong = f"{topic.default_topic}.{column.name} = {value!r} is not a JSON {column.json_type}"
        if column.json_type == "integer":
            assert isinstance(value, int) and not isinstance(value, bool), wrong
        elif column.json_type == "timestamp":
            assert isinstance(value, str) and TIMESTAMP_TEXT.fullmatch(value), wrong
        elif column.json_type == "string":
            assert isinstance(value, str), wrong
        else:
            assert column.json_type == "array of strings", column.json_type
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), wrong


def test_doc_examples_are_the_contract_topics():
    assert list(doc_examples()) == [t.default_topic for t in TOPICS]


def test_the_pipeline_sets_every_parameter_of_the_generated_files_and_each_topic_its_name():
    build = load_script("build_ingest_sql")
    used = set(re.findall(r"\{\{\s*(\w+)\s*\|", "".join(build.files().values()))) - {"database"}

    params = migration_params(parse_config({}), Endpoints("kafka:29092", "", ""))

    assert set(params) == used
    assert {t.topic_param: params[t.topic_param] for t in TOPICS} == {t.topic_param: t.default_topic for t in TOPICS}


def test_a_column_of_an_unknown_type_is_refused_naming_the_allowed_ones():
    with pytest.raises(ClickstreamerError) as err:
        Column("views", "UInt128")
    assert err.value.context["column"] == "views" and err.value.context["type"] == "UInt128"
    assert "UInt64" in err.value.context["allowed"]


def test_a_key_naming_no_column_is_refused():
    with pytest.raises(ClickstreamerError) as err:
        TopicContract(role="sessions", source="sessions", row="user session", table="sessions",
                      columns=(Column("user_id", "String"),), dedup_key=("user_id", "session_start"))
    assert err.value.context == {"role": "sessions", "key": "dedup_key", "value": "session_start",
                                 "allowed": "user_id"}


def test_only_an_array_is_stored_sorted():
    with pytest.raises(ClickstreamerError, match="only an array column can be stored sorted"):
        Column("user_id", "String", sorted=True)
