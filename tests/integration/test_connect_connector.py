"""Connector against a real Kafka Connect 3.4.1 worker, with the FileStream source connector (the
datagen plugin is not obtainable here; its specifics are unit-tested on recorded answers in
tests/unit/test_datagen_connector.py). The provider is driven the way the Pulumi engine drives it."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import requests

from components.clients._http import RetryPolicy
from components.clients.connect_rest import ConnectClient
from components.clients.kafka_admin import KafkaAdmin, TopicSpec
from components.errors import ConnectorFailed, RequestRejected, ServiceUnavailable
from components.resources.connector import ConnectorProvider
from tests.integration.helpers import read_topic, unique
from tests.support.processes import wait_for

FILE_SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"


@pytest.fixture
def lines(tmp_path, kafka):
    """A file of three lines and an empty topic for a FileStream source to copy them into."""
    path = tmp_path / "lines.txt"
    path.write_text("first\nsecond\nthird\n")
    topic = unique("lines")
    KafkaAdmin(kafka.bootstrap).create(TopicSpec(topic, 1, 1))
    return path, topic


def inputs(connect, name, config, **extra):
    return {"connect_url": connect.url, "connector_name": name, "config": config, "wait_timeout": 60, **extra}


def file_source(path, topic, **more):
    return {"connector.class": FILE_SOURCE, "file": str(path), "topic": topic, "tasks.max": 1, **more}


def checked(provider, olds, news):
    result = provider.check(olds, news)
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def values(kafka, topic, count):
    return wait_for(f"{count} records in {topic}",
                    lambda: (r := read_topic(kafka.bootstrap, topic)) and len(r) >= count and [v for _, v, _, _ in r], 30)


def test_connector_is_created_running_and_copies_the_file(connect, kafka, lines):
    provider, name = ConnectorProvider(), unique("files")
    news = checked(provider, {}, inputs(connect, name, file_source(*lines)))
    assert news["config"]["tasks.max"] == "1"  # check renders values the way Connect wants them

    created = provider.create(news)
    assert created.id == name
    assert (created.outs["state"], created.outs["tasks"]) == ("RUNNING", ["0:RUNNING"])
    assert created.outs["config"] == {"connector.class": FILE_SOURCE, "file": str(lines[0]), "topic": lines[1],
                                      "tasks.max": "1"}
    assert values(kafka, lines[1], 3) == [b'"first"', b'"second"', b'"third"']
    provider.delete(name, created.outs)


def test_config_change_is_applied_in_place_and_a_rename_replaces(connect, lines):
    provider, client, name = ConnectorProvider(), ConnectClient(connect.url), unique("files")
    created = provider.create(checked(provider, {}, inputs(connect, name, file_source(*lines))))
    news = checked(provider, created.outs, inputs(connect, name, file_source(*lines, **{"batch.size": 10})))
    diff = provider.diff(name, created.outs, news)
    assert (diff.changes, diff.replaces) == (True, [])
    updated = provider.update(name, created.outs, news)
    assert client.get_config(name)["batch.size"] == "10"
    assert updated.outs["state"] == "RUNNING"
    assert provider.diff(name, updated.outs, news).changes is False
    renamed = provider.diff(name, updated.outs, {**news, "connector_name": unique("files")})
    assert renamed.replaces == ["connector_name"]
    provider.delete(name, updated.outs)


def test_refresh_shows_drift_made_outside_pulumi_and_the_next_update_restores(connect, lines):
    provider, client, name = ConnectorProvider(), ConnectClient(connect.url), unique("files")
    declared = checked(provider, {}, inputs(connect, name, file_source(*lines)))
    created = provider.create(declared)
    client.put_config(name, {**declared["config"], "batch.size": "7", "name": name})

    refreshed = provider.read(name, created.outs)
    assert refreshed.id == name and refreshed.outs["config"]["batch.size"] == "7"
    assert provider.diff(name, refreshed.outs, declared).changes is True
    provider.update(name, refreshed.outs, declared)
    assert "batch.size" not in client.get_config(name)
    provider.delete(name, created.outs)


def test_misspelt_key_fails_check_naming_the_key(connect, lines):
    config = {k if k != "topic" else "topc": v for k, v in file_source(*lines).items()}
    result = ConnectorProvider().check({}, inputs(connect, unique("files"), config))
    assert sorted(f.reason for f in result.failures) == [
        'topc: not a config key of org.apache.kafka.connect.file.FileStreamSourceConnector; did you mean \'topic\'?',
        'topic: Missing required configuration "topic" which has no default value.',
    ]
    assert {f.property for f in result.failures} == {"config"}


def test_invalid_value_is_refused_before_anything_is_created(connect, lines):
    provider, client, name = ConnectorProvider(), ConnectClient(connect.url), unique("files")
    news = inputs(connect, name, {k: str(v) for k, v in file_source(*lines, **{"batch.size": "many"}).items()})
    with pytest.raises(RequestRejected, match=r"batch\.size: Invalid value many for configuration batch\.size"):
        provider.create(news)
    assert client.get_config(name) is None


def test_worker_answers_an_invalid_config_with_400_naming_the_key(connect, lines):
    client, name = ConnectClient(connect.url), unique("files")
    with pytest.raises(RequestRejected) as raised:
        client.put_config(name, {k: str(v) for k, v in file_source(*lines, **{"tasks.max": "abc"}).items()})
    assert raised.value.context["status"] == 400
    assert "Invalid value abc for configuration tasks.max" in str(raised.value)


def test_a_task_that_fails_fails_the_create_with_its_cause_and_leaves_nothing(connect, lines):
    provider, client, name = ConnectorProvider(), ConnectClient(connect.url), unique("files")
    news = checked(provider, {}, inputs(connect, name, file_source("/etc/hostname/not-a-directory", lines[1])))
    with pytest.raises(ConnectorFailed, match="task 0: .*Not a directory"):
        provider.create(news)
    assert client.get_config(name) is None


def test_an_existing_connector_is_not_taken_over(connect, lines):
    provider, client, name = ConnectorProvider(), ConnectClient(connect.url), unique("files")
    client.put_config(name, {k: str(v) for k, v in file_source(*lines).items()})
    with pytest.raises(RequestRejected, match="already exists"):
        provider.create(checked(provider, {}, inputs(connect, name, file_source(*lines))))
    assert client.delete(name) is True


def test_delete_removes_the_connector_and_reading_it_then_says_gone(connect, lines):
    provider, client, name = ConnectorProvider(), ConnectClient(connect.url), unique("files")
    created = provider.create(checked(provider, {}, inputs(connect, name, file_source(*lines))))
    provider.delete(name, created.outs)
    assert client.get_config(name) is None and client.status(name) is None
    assert provider.read(name, created.outs).id == ""
    provider.delete(name, created.outs)  # already gone: nothing to do, no error


def test_secret_config_reaches_the_worker_but_not_the_plain_outputs(connect, lines):
    provider, client, name = ConnectorProvider(), ConnectClient(connect.url), unique("files")
    secret_key = "value.converter.basic.auth.user.info"
    refused = provider.check({}, inputs(connect, name, file_source(*lines, **{secret_key: "u:p"})))
    assert [(f.property, secret_key in f.reason) for f in refused.failures] == [("config", True)]

    news = checked(provider, {}, inputs(connect, name, file_source(*lines), secret_config={secret_key: "u:p"}))
    created = provider.create(news)
    assert client.get_config(name)[secret_key] == "u:p"
    assert secret_key not in created.outs["config"]
    assert created.outs["secret_config"] == {secret_key: "u:p"}  # the Connector marks this output secret
    provider.delete(name, created.outs)


def test_check_without_a_reachable_worker_skips_validation_and_says_so(closed_port_url, lines, capsys):
    stopped_worker = SimpleNamespace(url=closed_port_url)
    result = ConnectorProvider().check({}, inputs(stopped_worker, unique("files"), file_source(*lines)))
    assert result.failures == []
    assert "not reachable yet" in capsys.readouterr().err


# --- a worker in the middle of a rebalance ----------------------------------------------------
# A rebalance cannot be caused on demand here (a second worker joining and leaving the group while
# ~2,000 PUTs were sent gave no 409 on Kafka 3.4.1), so a proxy in front of the real worker answers
# the first PUTs of a connector's config with the exact 409 a worker gives when it knows no leader
# (Kafka 3.4 `HerderRequestHandler`), and passes every other request to the worker.

REBALANCE_409 = {"error_code": 409, "message": "Cannot complete request momentarily due to no known leader URL, "
                                               "likely because a rebalance was underway."}


class RebalancingProxy:
    """Forwards to `worker_url`; the first `conflicts` PUTs of a connector config get the 409."""

    def __init__(self, worker_url: str, conflicts: int) -> None:
        self.conflicts_left = conflicts
        self.answered_409 = 0
        self.forwarded: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "PUT" and self.path.endswith("/config") and proxy.conflicts_left > 0:
                    proxy.conflicts_left -= 1
                    proxy.answered_409 += 1
                    self._reply(409, json.dumps(REBALANCE_409).encode())
                    return
                proxy.forwarded.append(f"{self.command} {self.path}")
                answer = requests.request(self.command, worker_url + self.path, data=body or None,
                                          headers={"Content-Type": "application/json"}, timeout=60)
                self._reply(answer.status_code, answer.content)

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = _handle

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "RebalancingProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_connector_is_created_through_a_rebalance(connect, lines):
    name = unique("rebalance")
    with RebalancingProxy(connect.url, conflicts=3) as proxy:
        created = ConnectorProvider().create(inputs(proxy, name, file_source(*lines)))
    try:
        assert proxy.answered_409 == 3
        assert f"PUT /connectors/{name}/config" in proxy.forwarded
        # The worker itself, not the proxy, now runs it.
        status = ConnectClient(connect.url).status(name)
        assert status is not None and status.state == "RUNNING", status
        assert created.outs["state"] == "RUNNING"
    finally:
        ConnectClient(connect.url).delete(name)


def test_a_rebalance_that_outlasts_the_deadline_names_the_worker_and_the_409(connect, lines):
    name = unique("rebalance")
    with RebalancingProxy(connect.url, conflicts=10**6) as proxy:
        client = ConnectClient(proxy.url, RetryPolicy(deadline=3, request_timeout=2))
        with pytest.raises(ServiceUnavailable) as raised:
            client.put_config(name, {k: str(v) for k, v in file_source(*lines).items()})
    error = raised.value
    assert proxy.answered_409 >= 3
    assert error.context["service"] == "Kafka Connect" and error.context["url"] == f"{proxy.url}/connectors/{name}/config"
    assert error.context["last_error"].startswith("HTTP 409") and "rebalance was underway" in error.context["last_error"]
    assert ConnectClient(connect.url).get_config(name) is None  # nothing reached the worker
