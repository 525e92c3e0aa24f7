"""A change of the stack's Grafana admin password takes effect on a running Grafana.

Grafana applies its admin password only when it creates its database, so the stack changes it
through Grafana's API (components/clients/grafana.py). No Grafana server is obtainable here: the
exchange is checked against tests/support/grafana_api.py, a stand-in answering as Grafana's own
password-change handler does; the requests are asserted exactly.
"""
from __future__ import annotations

import pytest

from components.clients._http import RetryPolicy
from components.clients.grafana import GrafanaClient
from components.errors import RequestRejected, ServiceUnavailable
from components.resources.grafana_admin import GrafanaAdminPasswordProvider
from tests.support.grafana_api import GrafanaStandIn
from tests.support.processes import free_port

OLD, NEW = "old-admin-password-1", "new-admin-password-2"


@pytest.fixture
def grafana():
    stand_in = GrafanaStandIn.start({"admin": OLD})
    yield stand_in
    stand_in.stop()


def test_a_changed_admin_password_is_applied_and_the_old_one_stops_working(grafana):
    changed = GrafanaClient(grafana.url).change_admin_password("admin", OLD, NEW)

    assert changed is True
    assert [(e.method, e.path, e.password, e.body, e.status) for e in grafana.exchanges] == [
        ("GET", "/api/user", NEW, None, 401),  # not yet applied
        ("GET", "/api/user", OLD, None, 200),  # the stack's previous password still works
        ("PUT", "/api/user/password", OLD, {"oldPassword": OLD, "newPassword": NEW}, 200),
        ("GET", "/api/user", NEW, None, 200),  # checked: the new one works
        ("GET", "/api/user", OLD, None, 401),  # and the old one no longer does
    ]
    assert all(e.user == "admin" for e in grafana.exchanges)


def test_an_applied_password_is_not_sent_again(grafana):
    GrafanaClient(grafana.url).change_admin_password("admin", OLD, NEW)
    grafana.exchanges.clear()

    assert GrafanaClient(grafana.url).change_admin_password("admin", OLD, NEW) is False
    assert [(e.method, e.password) for e in grafana.exchanges] == [("GET", NEW)]


def test_a_password_changed_outside_the_stack_is_refused_with_what_to_do(grafana):
    grafana.passwords["admin"] = "set-by-someone-else"
    with pytest.raises(RequestRejected) as caught:
        GrafanaClient(grafana.url).change_admin_password("admin", OLD, NEW)
    assert "grafana cli admin reset-admin-password" in caught.value.context["hint"]
    assert [e.method for e in grafana.exchanges] == ["GET", "GET"], "nothing was sent to change it"


def test_grafana_down_is_named_with_its_url():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnavailable) as caught:
        GrafanaClient(url, RetryPolicy(deadline=1, request_timeout=1)).change_admin_password("admin", OLD, NEW)
    assert caught.value.context["service"] == "Grafana" and caught.value.context["url"] == f"{url}/api/user"


def test_the_resource_checks_at_create_and_changes_on_update(grafana):
    provider = GrafanaAdminPasswordProvider()
    olds = provider.check({}, {"url": grafana.url, "user": "admin", "password": OLD}).inputs
    created = provider.create(olds)
    assert created.id == "grafana-admin-admin"
    assert [e.method for e in grafana.exchanges] == ["GET"], "create only checks: Grafana started with it"

    news = provider.check(olds, {**olds, "password": NEW}).inputs
    assert provider.diff(created.id, olds, news).changes is True
    provider.update(created.id, olds, news)
    assert grafana.passwords["admin"] == NEW
    assert provider.diff(created.id, news, news).changes is False


def test_the_resource_refuses_to_start_on_a_grafana_that_kept_another_password(grafana):
    grafana.passwords["admin"] = "kept-from-an-earlier-database"
    provider = GrafanaAdminPasswordProvider()
    with pytest.raises(RequestRejected) as caught:
        provider.create(provider.check({}, {"url": grafana.url, "user": "admin", "password": NEW}).inputs)
    assert "reset-admin-password" in caught.value.context["hint"]
