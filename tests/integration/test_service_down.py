"""A service that is down: clients and providers retry within a bounded time, then fail with an
error that names the service, the URL and what to look at. Nothing here needs a running engine: a
closed port is a stopped service, a listening socket that never answers is a hung one."""
from __future__ import annotations

import socket
import time

import pytest

from components.clients._http import RetryPolicy
from components.clients.connect_rest import ConnectClient
from components.clients.flink_rest import FlinkClient
from components.clients.kafka_admin import KafkaAdmin
from components.errors import ServiceUnavailable
from components.resources.connector import ConnectorProvider
from components.resources.flink_job import FlinkJobProvider
from components.resources.topic import KafkaTopicProvider


@pytest.fixture
def silent_url():
    """A socket that accepts connections (the kernel completes the handshake) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def timed(call):
    start = time.monotonic()
    with pytest.raises(ServiceUnavailable) as raised:
        call()
    return raised.value, time.monotonic() - start


@pytest.mark.parametrize("client, service, call", [
    (ConnectClient, "Kafka Connect", lambda c: c.status("datagen")),
    (FlinkClient, "Flink", lambda c: c.overview()),
])
def test_a_stopped_rest_service_is_retried_until_the_deadline_then_named(closed_port_url, client, service, call):
    error, took = timed(lambda: call(client(closed_port_url, RetryPolicy(deadline=3, request_timeout=1))))
    assert 2.5 <= took < 8, took
    assert error.context["service"] == service and error.context["url"].startswith(closed_port_url)
    assert "attempt(s) over 3s" in error.message and int(error.message.split("(")[1].split()[0]) >= 3
    assert "ConnectionError" in error.context["last_error"] and error.context["hint"]


def test_a_hung_rest_service_times_out_each_attempt_and_gives_up_at_the_deadline(silent_url):
    error, took = timed(lambda: ConnectClient(silent_url, RetryPolicy(deadline=3, request_timeout=1)).get_config("x"))
    assert 2.5 <= took < 8, took
    assert error.context["last_error"].startswith("no answer within 1s")


def test_a_stopped_broker_is_named_with_its_address(closed_port_url):
    bootstrap = closed_port_url.removeprefix("http://")
    error, took = timed(lambda: KafkaAdmin(bootstrap, timeout=3).describe("pageviews"))
    assert took < 8, took
    assert (error.context["service"], error.context["url"]) == ("Kafka", bootstrap)
    assert "did not answer describing topic 'pageviews' within 3s" in error.message


def test_providers_raise_rather_than_pretend_when_the_service_is_down(closed_port_url):
    bootstrap = closed_port_url.removeprefix("http://")
    with pytest.raises(ServiceUnavailable, match="Kafka"):
        KafkaTopicProvider().delete("pageviews", {"bootstrap_servers": bootstrap, "topic": "pageviews", "timeout": 2})
    with pytest.raises(ServiceUnavailable, match="Kafka Connect"):
        ConnectorProvider().delete("datagen", {"connect_url": closed_port_url, "connector_name": "datagen",
                                               "wait_timeout": 2})
    with pytest.raises(ServiceUnavailable, match="Flink"):
        FlinkJobProvider().delete("job", {"rest_url": closed_port_url, "job_id": "0" * 32, "wait_timeout": 2,
                                          "on_destroy": "savepoint", "savepoint_dir": "file:///sp"})
    with pytest.raises(ServiceUnavailable, match="Kafka Connect"):
        ConnectorProvider().create({"connect_url": closed_port_url, "connector_name": "datagen", "wait_timeout": 2,
                                    "config": {"connector.class": "FileStreamSource"}})
