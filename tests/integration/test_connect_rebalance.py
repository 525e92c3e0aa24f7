"""A Kafka Connect worker in the middle of a rebalance: the provider retries Kafka's 409 until the
deadline, and the connector it then creates is real.

A rebalance cannot be caused on demand here (a second worker joining and leaving the group while
~2,000 PUTs were sent gave no 409 on Kafka 3.4.1), so a proxy in front of the real worker answers
the first PUTs of a connector's config with the exact 409 a worker gives when it knows no leader
(Kafka 3.4 `HerderRequestHandler`), and passes every other request to the worker.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from components.clients._http import RetryPolicy
from components.clients.connect_rest import ConnectClient
from components.errors import ServiceUnavailable
from components.resources.connector import ConnectorProvider
from tests.integration.helpers import unique

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


def _file_source(tmp_path, kafka) -> dict:
    from components.clients.kafka_admin import KafkaAdmin, TopicSpec

    topic = unique("rebalance")
    KafkaAdmin(kafka.bootstrap).create(TopicSpec(topic, 1, 1))
    path = tmp_path / "lines.txt"
    path.write_text("one\n")
    return {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "file": str(path), "topic": topic, "tasks.max": 1}


def test_the_connector_is_created_through_a_rebalance(connect, kafka, tmp_path):
    name = unique("rebalance")
    provider = ConnectorProvider()
    with RebalancingProxy(connect.url, conflicts=3) as proxy:
        created = provider.create({"connect_url": proxy.url, "connector_name": name,
                                   "config": _file_source(tmp_path, kafka), "wait_timeout": 60})
    try:
        assert proxy.answered_409 == 3
        assert f"PUT /connectors/{name}/config" in proxy.forwarded
        # The worker itself, not the proxy, now runs it.
        status = ConnectClient(connect.url).status(name)
        assert status is not None and status.state == "RUNNING", status
        assert created.outs["state"] == "RUNNING"
    finally:
        ConnectClient(connect.url).delete(name)


def test_a_rebalance_that_outlasts_the_deadline_names_the_worker_and_the_409(connect, kafka, tmp_path):
    name = unique("rebalance")
    with RebalancingProxy(connect.url, conflicts=10**6) as proxy:
        client = ConnectClient(proxy.url, RetryPolicy(deadline=3, request_timeout=2))
        with pytest.raises(ServiceUnavailable) as raised:
            client.put_config(name, _file_source(tmp_path, kafka))
    error = raised.value
    assert proxy.answered_409 >= 3
    assert error.context["service"] == "Kafka Connect" and error.context["url"] == f"{proxy.url}/connectors/{name}/config"
    assert error.context["last_error"].startswith("HTTP 409") and "rebalance was underway" in error.context["last_error"]
    assert ConnectClient(connect.url).get_config(name) is None  # nothing reached the worker
