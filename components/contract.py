"""The data contract between the Flink job and ClickHouse (docs/data-contract.md), platform-neutral:
which topics the job writes, by role. Both platforms, the job's arguments and the ClickHouse
migrations read the names from here."""
from __future__ import annotations

import re

# Role -> default topic name: the Flink job writes these, ClickHouse reads them.
INSIGHT_TOPICS = {
    "events": "clickstream.events",
    "page_stats": "clickstream.page_stats_1m",
    "user_activity": "clickstream.user_activity_1m",
    "sessions": "clickstream.sessions",
    "malformed": "clickstream.malformed",
}


def topic_object_name(topic: str) -> str:
    """A DNS-1123 name for an object standing for `topic` (a Strimzi KafkaTopic; the real name goes
    in its `spec.topicName`). Two topics whose object names are equal cannot both exist there."""
    return re.sub(r"[^a-z0-9.-]", "-", topic.lower()).strip("-.")[:253]
