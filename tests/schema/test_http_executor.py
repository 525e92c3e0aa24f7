"""The HTTP executor's failure path, against a real closed port. Its successful exchanges are what
every other schema, Grafana and integration test runs on the stack-configured ClickHouse server."""
from __future__ import annotations

import time

import pytest

from components.clients.clickhouse import Endpoint, HttpExecutor
from components.errors import ServiceUnavailable
from tests.support.processes import free_port


def test_unreachable_clickhouse_is_reported_after_bounded_retries_with_url_and_hint():
    url = f"http://127.0.0.1:{free_port()}"
    executor = HttpExecutor(Endpoint(url=url, username="clickstream", password="not-shown",
                                     connect_timeout=1, attempts=3, backoff=0.1))
    started = time.monotonic()

    with pytest.raises(ServiceUnavailable) as failed:
        executor.rows("SELECT 1")

    elapsed = time.monotonic() - started
    err = failed.value
    assert err.context["service"] == "clickhouse" and err.context["url"] == url
    assert "did not answer after 3 attempts" in str(err)
    assert "/ping" in err.context["hint"]
    assert "not-shown" not in str(err) and "not-shown" not in repr(executor.endpoint)
    assert 0.3 <= elapsed < 10, "waited 0.1 + 0.2 s between the three attempts, and no longer"


@pytest.mark.parametrize("url", ["clickhouse:8123", "ftp://clickhouse:8123", "http://"])
def test_a_url_that_is_not_http_is_refused_up_front(url):
    with pytest.raises(ValueError, match="must look like http://host:8123"):
        HttpExecutor(Endpoint(url=url, username="u"))
