"""A small client for Grafana's HTTP API (11.1): what the stack needs after Grafana has started.

Grafana applies `GF_SECURITY_ADMIN_PASSWORD` (or its `__FILE`) only when it creates its database on
the volume; a later change of the stack's admin password would leave the old one valid and the
stack output wrong. `change_admin_password` makes a change take effect through the API the admin
uses themselves (`PUT /api/user/password`, authenticated with the current password), and checks
the outcome: the new password works, the old one no longer does. It is idempotent: when the new
password already works, nothing is sent.

No Pulumi import here: the dynamic provider adapts this.
"""
from __future__ import annotations

from typing import Optional

import requests

from ..errors import RequestRejected
from ._http import HttpService, RetryPolicy

SERVICE = "Grafana"


class GrafanaClient:
    def __init__(self, url: str, retry: RetryPolicy = RetryPolicy(), session: Optional[requests.Session] = None) -> None:
        self.url = url.rstrip("/")
        self.http = HttpService(SERVICE, self.url, retry,
                                unreachable_hint="check that the Grafana container or pod is running and healthy "
                                                 "(`curl <url>/api/health`)",
                                session=session)

    def signs_in(self, user: str, password: str) -> bool:
        """True when `user` / `password` authenticate (`GET /api/user` answers 200, not 401)."""
        response = self.http.call("GET", "/api/user", ok=(200, 401), auth=(user, password),
                                  what=f"signing in as {user!r}")
        return response.status_code == 200

    def change_admin_password(self, user: str, old: str, new: str) -> bool:
        """Make `new` the password of `user`; return False when it already was (nothing sent)."""
        if self.signs_in(user, new):
            return False
        if not self.signs_in(user, old):
            raise RequestRejected(
                f"Grafana accepts neither the stack's previous nor its new password for {user!r}",
                service=SERVICE, url=f"{self.url}/api/user",
                hint="someone changed it outside the stack: reset it with `grafana cli admin reset-admin-password "
                     "<new>` inside the Grafana container (or pod), then run `pulumi up` again",
            )
        # Not retried on a broken connection: it may have been applied; the checks below tell.
        self.http.call("PUT", "/api/user/password", auth=(user, old), retry_transport=False,
                       json={"oldPassword": old, "newPassword": new}, what=f"the password change of {user!r}")
        if not self.signs_in(user, new) or self.signs_in(user, old):
            raise RequestRejected(f"Grafana answered the password change of {user!r} but the new password does not "
                                  "work (or the old one still does)", service=SERVICE, url=f"{self.url}/api/user/password")
        return True
