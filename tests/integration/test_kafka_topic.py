"""KafkaTopic against a real broker: its provider driven the way the Pulumi engine drives it
(check → create → diff → update → read → delete), and the plain admin client beneath it."""
from __future__ import annotations

import pytest
from confluent_kafka import Producer

from components.clients.kafka_admin import KafkaAdmin, TopicSpec
from components.errors import DataLossRefused, RequestRejected
from components.resources.topic import KafkaTopicProvider
from tests.integration.helpers import read_topic, unique

WEEK_MS = str(7 * 24 * 3600 * 1000)
TWO_WEEKS_MS = str(14 * 24 * 3600 * 1000)


def inputs(kafka, topic, partitions=3, config=None, **extra):
    return {"bootstrap_servers": kafka.bootstrap, "topic": topic, "partitions": partitions, "replication_factor": 1,
            "config": {"retention.ms": WEEK_MS, "cleanup.policy": "delete"} if config is None else config,
            "allow_data_loss": False, "timeout": 10, **extra}


def checked(provider, olds, news):
    result = provider.check(olds, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def produce(kafka, topic, values):
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(10) == 0


def test_topic_is_created_then_changed_in_place_without_losing_records(kafka):
    provider, admin, name = KafkaTopicProvider(), KafkaAdmin(kafka.bootstrap), unique("pageviews")
    created = provider.create(checked(provider, {}, inputs(kafka, name)))
    assert created.id == name
    assert admin.describe(name).partitions == 3
    assert admin.describe(name).config == {"retention.ms": WEEK_MS, "cleanup.policy": "delete"}
    assert created.outs["config"] == {"retention.ms": WEEK_MS, "cleanup.policy": "delete"}
    produce(kafka, name, [b"kept-1", b"kept-2"])

    wanted = checked(provider, inputs(kafka, name), inputs(kafka, name, partitions=5, config={"retention.ms": TWO_WEEKS_MS}))
    diff = provider.diff(name, created.outs, wanted)
    assert diff.changes is True and diff.replaces == []
    updated = provider.update(name, created.outs, wanted)

    live = admin.describe(name)
    assert (live.partitions, live.config) == (5, {"retention.ms": TWO_WEEKS_MS})  # cleanup.policy back to default
    assert updated.outs["partitions"] == 5 and updated.outs["config"] == {"retention.ms": TWO_WEEKS_MS}
    assert sorted(v for _, v, _, _ in read_topic(kafka.bootstrap, name)) == [b"kept-1", b"kept-2"]
    assert provider.diff(name, updated.outs, wanted).changes is False

    provider.delete(name, updated.outs)
    assert admin.describe(name) is None


@pytest.mark.parametrize("change, prop, words", [
    ({"partitions": 2}, "partitions", "cannot remove partitions"),
    ({"replication_factor": 2}, "replication_factor", "replication factor 1 → 2"),
    ({"topic": "renamed"}, "topic", "with its data is deleted"),
])
def test_changes_that_drop_data_are_refused_at_preview_with_the_reason(kafka, change, prop, words):
    provider, name = KafkaTopicProvider(), unique("refused")
    olds = inputs(kafka, name)
    news = {**olds, **change}
    result = provider.check(olds, news)
    assert [f.property for f in result.failures] == [prop]
    assert words in result.failures[0].reason and "allow_data_loss" in result.failures[0].reason

    outputs = {**olds, "config": dict(olds["config"])}
    with pytest.raises(DataLossRefused, match="drop|deleted"):
        provider.diff(name, outputs, {**news, "config": dict(news["config"])})


def test_allowed_data_loss_replaces_the_topic_deleting_before_creating(kafka):
    provider, admin, name = KafkaTopicProvider(), KafkaAdmin(kafka.bootstrap), unique("shrink")
    created = provider.create(checked(provider, {}, inputs(kafka, name, partitions=3)))
    produce(kafka, name, [b"lost"])
    news = checked(provider, inputs(kafka, name, partitions=3), inputs(kafka, name, partitions=1, allow_data_loss=True))
    diff = provider.diff(name, created.outs, news)
    assert (diff.replaces, diff.delete_before_replace) == (["partitions"], True)

    # What the engine does for a delete-before-replace: delete the old, create the new.
    provider.delete(name, created.outs)
    provider.create(news)
    assert admin.describe(name).partitions == 1
    assert read_topic(kafka.bootstrap, name) == []


def test_refresh_shows_config_drift_and_the_next_update_undoes_it(kafka):
    provider, admin, name = KafkaTopicProvider(), KafkaAdmin(kafka.bootstrap), unique("drift")
    wanted = checked(provider, {}, inputs(kafka, name))
    created = provider.create(wanted)
    admin.alter_config(name, {"retention.ms": "1000", "max.message.bytes": "2048"})
    admin.wait_converged(TopicSpec(name, 3, 1, {"retention.ms": "1000", "max.message.bytes": "2048",
                                                "cleanup.policy": "delete"}))

    refreshed = provider.read(name, created.outs)
    assert refreshed.id == name
    assert refreshed.outs["config"] == {"retention.ms": "1000", "max.message.bytes": "2048", "cleanup.policy": "delete"}
    assert provider.diff(name, refreshed.outs, wanted).changes is True
    provider.update(name, refreshed.outs, wanted)
    assert admin.describe(name).config == {"retention.ms": WEEK_MS, "cleanup.policy": "delete"}
    provider.delete(name, created.outs)


def test_partitions_added_outside_pulumi_are_not_silently_dropped(kafka):
    provider, admin, name = KafkaTopicProvider(), KafkaAdmin(kafka.bootstrap), unique("grown")
    wanted = checked(provider, {}, inputs(kafka, name, partitions=2))
    created = provider.create(wanted)
    admin.add_partitions(name, 4)
    admin.wait_converged(TopicSpec(name, 4, 1, wanted["config"]))
    refreshed = provider.read(name, created.outs)
    assert refreshed.outs["partitions"] == 4
    with pytest.raises(DataLossRefused, match="partitions 4 → 2"):
        provider.diff(name, refreshed.outs, wanted)
    provider.delete(name, refreshed.outs)


def test_a_topic_deleted_outside_pulumi_reads_as_gone(kafka):
    provider, admin, name = KafkaTopicProvider(), KafkaAdmin(kafka.bootstrap), unique("vanished")
    created = provider.create(checked(provider, {}, inputs(kafka, name)))
    assert admin.delete(name) is True
    assert provider.read(name, created.outs).id == ""
    provider.delete(name, created.outs)  # already gone: nothing to do, no error


def test_a_lower_retention_is_refused_at_preview_unless_data_loss_is_allowed(kafka):
    provider, name = KafkaTopicProvider(), unique("retention")
    olds, news = inputs(kafka, name), inputs(kafka, name, config={"retention.ms": "3600000", "cleanup.policy": "delete"})
    result = provider.check(olds, news)
    assert [(f.property, "retention.ms lowered from " + WEEK_MS + " to 3600000" in f.reason) for f in result.failures] \
        == [("config", True)]
    assert provider.check(olds, {**news, "allow_data_loss": True}).failures == []
    assert provider.check(olds, inputs(kafka, name, config={"retention.ms": TWO_WEEKS_MS})).failures == [], "raising is fine"


def test_a_kept_topic_is_taken_over_with_its_records(kafka):
    """The stack's destroy kept the topic (dropDataOnDestroy false): the next up adopts it."""
    provider, admin, name = KafkaTopicProvider(), KafkaAdmin(kafka.bootstrap), unique("kept")
    admin.create(TopicSpec(name, 2, 1, {"retention.ms": WEEK_MS}))
    produce(kafka, name, [b"before-destroy-1", b"before-destroy-2"])

    created = provider.create(checked(provider, {}, inputs(kafka, name, adopt_existing=True)))

    assert created.id == name and created.outs["partitions"] == 3
    assert admin.describe(name).config == {"retention.ms": WEEK_MS, "cleanup.policy": "delete"}
    assert sorted(v for _, v, _, _ in read_topic(kafka.bootstrap, name)) == [b"before-destroy-1", b"before-destroy-2"]
    admin.delete(name)


def test_taking_over_a_kept_topic_that_would_lose_data_is_refused(kafka):
    provider, admin, name = KafkaTopicProvider(), KafkaAdmin(kafka.bootstrap), unique("kept-bigger")
    admin.create(TopicSpec(name, 6, 1, {"retention.ms": TWO_WEEKS_MS}))
    with pytest.raises(DataLossRefused) as caught:
        provider.create(checked(provider, {}, inputs(kafka, name, adopt_existing=True)))
    assert "cannot remove partitions" in str(caught.value) and "retention.ms lowered" in str(caught.value)
    assert admin.describe(name).partitions == 6, "nothing changed"
    admin.delete(name)


def test_an_existing_topic_is_not_taken_over(kafka):
    provider, admin, name = KafkaTopicProvider(), KafkaAdmin(kafka.bootstrap), unique("theirs")
    admin.create(TopicSpec(name, 2, 1, {}))
    with pytest.raises(RequestRejected, match="already exists with 2 partition"):
        provider.create(checked(provider, {}, inputs(kafka, name)))
    assert admin.describe(name).partitions == 2
    admin.delete(name)


@pytest.mark.parametrize("config, prop, words", [
    ({"retention.mss": "1000"}, "config", "Unknown topic config name: retention.mss"),
    ({"cleanup.policy": "forever"}, "config", "Invalid value forever for configuration cleanup.policy"),
])
def test_check_lets_the_broker_judge_topic_config(kafka, config, prop, words):
    result = KafkaTopicProvider().check({}, inputs(kafka, unique("judged"), config=config))
    assert [(f.property, words in f.reason) for f in result.failures] == [(prop, True)], result.failures


def test_check_judges_config_changes_of_an_existing_topic(kafka):
    provider, name = KafkaTopicProvider(), unique("judged")
    created = provider.create(checked(provider, {}, inputs(kafka, name)))
    result = provider.check(inputs(kafka, name), inputs(kafka, name, config={"cleanup.policy": "forever"}))
    assert [f.property for f in result.failures] == ["config"]
    assert "cleanup.policy" in result.failures[0].reason
    provider.delete(name, created.outs)


def test_check_rejects_malformed_inputs_naming_them(kafka):
    result = KafkaTopicProvider().check({}, inputs(kafka, "bad name!", partitions=0, config={"sasl.password": "x"}))
    assert sorted(f.property for f in result.failures) == ["config", "partitions", "topic"]
