"""The collector's HTTP application (Starlette on uvicorn).

    POST <endpoint_path>   one event or a batch, JSON sent as text/plain (no CORS preflight, so fetch
                           keepalive and sendBeacon both work); answers:
                           202 accepted (also bots, silently dropped), 400 {"error", "detail"},
                           413 over 64 KiB, 429 + Retry-After (per-client rate), 503 + Retry-After
                           (queue full, or not ready)
    OPTIONS <endpoint>     CORS preflight, answered for configured sites only
    GET /<script_name>     the tracker, cacheable (ETag, max-age)
    GET /demo/...          the demo site (when enabled)
    GET /healthz           the process answers
    GET /readyz            the schema is resolved and the broker answers
    GET /metrics           Prometheus: accepted, dropped by reason, produce errors, queue depth
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from . import enrich
from .settings import MAX_BODY_BYTES, Settings

log = logging.getLogger("collector")
STATIC = Path(__file__).resolve().parent / "static"
RETRY_AFTER_SECONDS = "5"
_MAX_CLIENTS = 100_000  # rate-limit buckets kept; the idlest are dropped past it


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter("collector_events_accepted", "Events accepted (202) for Kafka",
                                registry=self.registry)
        self.delivered = Counter("collector_events_delivered", "Events Kafka acknowledged", registry=self.registry)
        self.dropped = Counter("collector_events_dropped", "Events refused or dropped, by reason", ["reason"],
                               registry=self.registry)
        self.produce_errors = Counter("collector_produce_errors", "Accepted events Kafka did not take, by error",
                                      ["error"], registry=self.registry)
        self.queue_depth = Gauge("collector_queue_depth", "Events waiting for Kafka", registry=self.registry)


class RateLimiter:
    """A token bucket per client address: `rate` requests a second, `burst` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: Optional[float] = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1
            self._buckets[client] = (tokens - 1 if allowed else tokens, now)
            if len(self._buckets) > _MAX_CLIENTS:
                for key, _ in sorted(self._buckets.items(), key=lambda item: item[1][1])[: _MAX_CLIENTS // 10]:
                    del self._buckets[key]
            return allowed


def client_address(peer: str, forwarded_for: Optional[str], trusted: tuple) -> str:
    """The client's IP: the peer's, unless the peer is a trusted proxy; then the right-most address in
    X-Forwarded-For that is not itself a trusted proxy (what a client writes there is never trusted)."""
    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in trusted)

    if not forwarded_for or not is_trusted(peer):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain: fall back to what we saw
        if not is_trusted(hop):
            return hop
    return peer


def error(status: int, reason: str, detail: str, headers: Optional[dict] = None) -> JSONResponse:
    return JSONResponse({"error": reason, "detail": detail}, status_code=status, headers=headers)


def create_app(settings: Settings) -> Starlette:
    """The application; its Kafka sink (sink.py) is made at startup and flushed at shutdown."""
    metrics = Metrics()
    limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
    salts = enrich.Salts()
    state: dict = {}
    # The endpoint path is the tracker's default (a page may still set data-api).
    tracker = (STATIC / "tracker.js").read_text().replace("__ENDPOINT__", settings.endpoint_path).encode()
    tracker_etag = '"' + hashlib.sha256(tracker).hexdigest()[:20] + '"'

    def make_sink():
        from .sink import KafkaSink

        return KafkaSink(settings, on_delivered=lambda n: metrics.delivered.inc(n),
                         on_failed=lambda e: metrics.produce_errors.labels(e).inc())

    @asynccontextmanager
    async def lifespan(app):
        state["sink"] = make_sink()
        state["sink"].resolve_schema()
        yield
        left = state["sink"].close(timeout=settings.delivery_timeout_seconds)
        if left:
            log.error("%d accepted events were not delivered before shutdown", left)

    def cors_headers(request: Request) -> dict:
        origin = request.headers.get("origin")
        if not origin:
            return {}
        host = urlsplit(origin).hostname or ""
        if enrich.site_of(host, settings.sites) is None:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                "Access-Control-Allow-Methods": "POST, OPTIONS", "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "86400"}

    def refuse(status: int, reason: str, detail: str, count: int, headers: Optional[dict] = None) -> JSONResponse:
        metrics.dropped.labels(reason).inc(count)
        return error(status, reason, detail, headers)

    async def read_body(request: Request) -> Optional[bytes]:
        """The body, or None when it is over the limit (read no further than that)."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return None
        return bytes(body)

    async def collect(request: Request) -> Response:
        cors = cors_headers(request)
        peer = request.client.host if request.client else ""
        ip = client_address(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies)
        if not limiter.allow(ip):
            return refuse(429, "rate_limited", "too many requests from this client", 1,
                          {**cors, "Retry-After": "1"})
        body = await read_body(request)
        if body is None:
            return refuse(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes", 1, cors)
        receive_ms = int(time.time() * 1000)
        try:
            raws = enrich.parse_body(body)
        except enrich.Rejected as exc:
            return refuse(400, exc.reason, exc.detail, 1, cors)
        try:
            events = [enrich.validate(raw, index) for index, raw in enumerate(raws)]
        except enrich.Rejected as exc:
            return refuse(400, exc.reason, exc.detail, len(raws), cors)
        sites = [enrich.site_of(event.hostname, settings.sites) for event in events]
        if None in sites:
            index = sites.index(None)
            return refuse(400, "unknown_site", f"event {index}: host {events[index].hostname!r} is not one of the "
                          "configured sites", len(events), cors)
        user_agent = request.headers.get("user-agent", "")
        records = []
        for event, site in zip(events, sites):
            bot = enrich.bot_reason(user_agent, event)
            if bot:
                metrics.dropped.labels(bot).inc()
                continue
            record = enrich.to_record(event, site=site, ip=ip, user_agent=user_agent, receive_ms=receive_ms,
                                      salts=salts, max_skew_ms=settings.max_clock_skew_seconds * 1000)
            records.append((record["userid"], record))
        sink = state["sink"]
        if records:
            # (looked up by the sink's own thread: a registry outage never blocks a request)
            if sink.schema_id is None:
                return refuse(503, "not_ready", "the collector has not found its schema yet", len(records),
                              {**cors, "Retry-After": RETRY_AFTER_SECONDS})
            if not sink.offer(records):
                return refuse(503, "queue_full", "the queue to Kafka is full", len(records),
                              {**cors, "Retry-After": RETRY_AFTER_SECONDS})
            metrics.accepted.inc(len(records))
        return Response(status_code=202, headers=cors)

    async def preflight(request: Request) -> Response:
        return Response(status_code=204, headers=cors_headers(request))

    async def script(request: Request) -> Response:
        headers = {"Cache-Control": "public, max-age=3600", "ETag": tracker_etag,
                   "Content-Type": "application/javascript; charset=utf-8"}
        if request.headers.get("if-none-match") == tracker_etag:
            return Response(status_code=304, headers=headers)
        return Response(tracker, headers=headers)

    demo_pages = {path.stem: path.read_text().replace("__SCRIPT__", f"/{settings.script_name}")
                  for path in (STATIC / "demo").glob("*.html")}

    async def demo_page(request: Request) -> Response:
        """The demo site: a few pages, and /demo/app/... (every path) for its single-page app."""
        page = request.path_params["page"].removesuffix(".html") or "index"
        if page == "app" or page.startswith("app/"):
            page = "app"
        if page not in demo_pages:
            return PlainTextResponse("not found", status_code=404)
        return Response(demo_pages[page], media_type="text/html; charset=utf-8")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        sink = state.get("sink")
        if sink is None or not sink.ready:
            return JSONResponse({"ready": False, "schema_id": getattr(sink, "schema_id", None),
                                 "broker": getattr(sink, "broker_seen", False)}, status_code=503)
        return JSONResponse({"ready": True, "schema_id": sink.schema_id})

    async def prometheus(request: Request) -> Response:
        sink = state.get("sink")
        metrics.queue_depth.set(sink.queue_depth() if sink else 0)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route(settings.endpoint_path, collect, methods=["POST"]),
        Route(settings.endpoint_path, preflight, methods=["OPTIONS"]),
        Route(f"/{settings.script_name}", script, methods=["GET", "HEAD"]),
        Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", prometheus),
    ]
    if settings.demo_site:
        routes += [Route("/demo", lambda request: RedirectResponse("/demo/")),
                   Route("/demo/{page:path}", demo_page)]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.metrics = metrics
    return app
