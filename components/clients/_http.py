"""The HTTP plumbing shared by the Connect and Flink REST clients: bounded retries with a deadline,
and errors that name the service, the URL and what to do.

Only transport failures (refused, reset, timed out) and the statuses a caller marks as transient are
retried; every other answer goes back to the caller, which knows what a 404 or a 400 means for it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

import requests

from ..errors import RequestRejected, ServiceUnavailable


@dataclass(frozen=True)
class RetryPolicy:
    """How long one logical request may keep trying.

    `deadline`: seconds from the first attempt after which a transport failure or a transient status
    becomes `ServiceUnavailable`; 0 means one attempt. `request_timeout`: seconds for each attempt.
    """

    deadline: float = 60.0
    request_timeout: float = 30.0
    first_backoff: float = 0.25
    max_backoff: float = 3.0


def body_text(response: requests.Response, limit: int = 2000) -> str:
    text = response.text or ""
    return text if len(text) <= limit else text[:limit] + "…"


class HttpService:
    """One REST service at `base_url` (no trailing slash), e.g. `http://127.0.0.1:8083`."""

    def __init__(self, service: str, base_url: str, retry: RetryPolicy, unreachable_hint: str,
                 session: Optional[requests.Session] = None) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self.unreachable_hint = unreachable_hint
        self.session = session or requests.Session()

    def call(
        self,
        method: str,
        path: str,
        *,
        ok: Iterable[int] = (200,),
        transient: Callable[[requests.Response], bool] = lambda r: False,
        retry_transport: bool = True,
        timeout: Optional[float] = None,
        what: str = "",
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; return the response when its status is in `ok`.

        `transient(response)` marks answers worth retrying (a rebalance, a leader election).
        `retry_transport=False` is for requests that are not idempotent: a read time-out there may
        mean the request was applied, so the caller must look before trying again.
        Other statuses raise `RequestRejected` carrying status and body.
        """
        url = f"{self.base_url}{path}"
        ok = tuple(ok)
        budget = self.retry.deadline
        stop_at = time.monotonic() + budget
        backoff = self.retry.first_backoff
        attempts = 0
        last: str = ""
        while True:
            attempts += 1
            try:
                response = self.session.request(method, url, timeout=timeout or self.retry.request_timeout, **kwargs)
            except requests.exceptions.ConnectionError as exc:
                # Refused or reset before an answer: with nothing applied, trying again is safe,
                # except a reset after the request went out, which only idempotent calls may retry.
                last = f"{type(exc).__name__}: {_short(exc)}"
                if not retry_transport and not _refused(exc):
                    raise self.unavailable(url, attempts, last, budget) from exc
            except requests.exceptions.Timeout as exc:
                last = f"no answer within {timeout or self.retry.request_timeout:.0f}s ({type(exc).__name__})"
                if not retry_transport:
                    raise self.unavailable(url, attempts, last, budget) from exc
            else:
                if response.status_code in ok:
                    return response
                if not transient(response):
                    raise self.rejected(method, url, response, what)
                last = f"HTTP {response.status_code}: {body_text(response, 300)}"
            remaining = stop_at - time.monotonic()
            if remaining <= 0:
                raise self.unavailable(url, attempts, last, budget)
            time.sleep(min(backoff, remaining))  # the last attempt lands on the deadline
            backoff = min(backoff * 2, self.retry.max_backoff)

    def unavailable(self, url: str, attempts: int, last: str, budget: float) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"{self.service} did not answer usefully at {self.base_url} "
            f"({attempts} attempt(s) over {budget:.0f}s)",
            service=self.service, url=url, last_error=last, hint=self.unreachable_hint,
        )

    def rejected(self, method: str, url: str, response: requests.Response, what: str = "") -> RequestRejected:
        return RequestRejected(
            f"{self.service} refused {what or f'{method} {url}'}: HTTP {response.status_code}",
            service=self.service, url=url, status=response.status_code, body=body_text(response),
        )


def _refused(exc: Exception) -> bool:
    text = str(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "Failed to resolve" in text


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "…"
