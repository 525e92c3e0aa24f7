"""What happens to one event between the request and Kafka, in the issue's order, as pure functions:

    parse_body -> validate -> site allowlist -> bot checks -> user-agent parsing
               -> referrer source + UTM -> visitor id -> event time -> the Avro record

The IP address and the raw user agent are inputs here and never part of the record. A problem with
the request is a `Rejected` (a 400 with its reason); a bot is a `Dropped` (a silent 202).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

from .settings import MAX_BATCH_EVENTS

MAX_URL = 2048
MAX_TITLE = 1000
MAX_PROPS = 30
MAX_PROP_KEY = 64
MAX_PROP_VALUE = 500
DAY_MS = 86_400_000

_NAME = re.compile(r"^[A-Za-z0-9_.:\- ]{1,64}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_LANGUAGE = re.compile(r"^[A-Za-z0-9-]{1,35}$")
_SCREEN = re.compile(r"^[0-9]{1,5}x[0-9]{1,5}$")


class Rejected(Exception):
    """The request is refused with 400; `reason` is the metric label and the JSON `error`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Dropped(Exception):
    """The event is a bot's: answered 202, counted by `reason`, never written."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- parse and validate -----------------------------------------------------------------------------

def parse_body(body: bytes) -> list[dict]:
    """One event (a JSON object) or a batch (an array of 1..MAX_BATCH_EVENTS objects)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("not_utf8", f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise Rejected("malformed_json", str(exc)[:200]) from None
    events = data if isinstance(data, list) else [data]
    if not 1 <= len(events) <= MAX_BATCH_EVENTS:
        raise Rejected("invalid_batch", f"a batch holds 1 to {MAX_BATCH_EVENTS} events, got {len(events)}")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise Rejected("invalid_event", f"event {index}: must be a JSON object, got {type(event).__name__}")
    return events


@dataclass(frozen=True)
class ClientEvent:
    """An event as the tracker sends it, type-checked."""

    name: str
    url: str
    referrer: Optional[str]
    title: Optional[str]
    event_id: Optional[str]
    created: Optional[int]
    sent: Optional[int]
    language: Optional[str]
    screen: Optional[str]
    engagement_ms: Optional[int]
    scroll_depth: Optional[int]
    props: Optional[dict[str, str]]
    webdriver: bool
    hostname: str  # of `url`, lower case (split once here: every later step reads it)
    path: str
    query: str


def _integer(raw: dict, key: str, low: int, high: int, index: int) -> Optional[int]:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise Rejected("invalid_event", f"event {index}: `{key}` must be a whole number, got {value!r}"[:300])
    if not low <= value <= high:
        raise Rejected("invalid_event", f"event {index}: `{key}` must be between {low} and {high}, got {value}")
    return int(value)


def _text(raw: dict, key: str, limit: int, index: int, pattern: Optional[re.Pattern] = None,
          required: bool = False) -> Optional[str]:
    value = raw.get(key)
    if value is None or (value == "" and not required):
        if required:
            raise Rejected("invalid_event", f"event {index}: `{key}` is required")
        return None
    if not isinstance(value, str):
        raise Rejected("invalid_event", f"event {index}: `{key}` must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise Rejected("field_too_long", f"event {index}: `{key}` is {len(value)} characters, at most {limit}")
    if pattern is not None and not pattern.fullmatch(value):
        raise Rejected("invalid_event", f"event {index}: `{key}` = {value[:80]!r} does not match {pattern.pattern}")
    return value


def validate(raw: dict, index: int = 0) -> ClientEvent:
    name = _text(raw, "name", 64, index, _NAME, required=True)
    url = _text(raw, "url", MAX_URL, index, required=True)
    parts = urlsplit(url)
    hostname = parts.hostname
    if parts.scheme not in ("http", "https") or not hostname:
        raise Rejected("invalid_event", f"event {index}: `url` must be an absolute http(s) URL, got {url[:80]!r}")
    props = raw.get("props")
    if props is not None:
        if not isinstance(props, dict) or len(props) > MAX_PROPS:
            raise Rejected("invalid_event", f"event {index}: `props` must be an object of at most {MAX_PROPS} entries")
        typed = {}
        for key, value in props.items():
            if len(key) > MAX_PROP_KEY:
                raise Rejected("field_too_long", f"event {index}: a `props` key is longer than {MAX_PROP_KEY}")
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (int, float)):
                value = repr(value)
            elif not isinstance(value, str):
                raise Rejected("invalid_event", f"event {index}: `props.{key[:40]}` must be a string, number or boolean")
            if len(value) > MAX_PROP_VALUE:
                raise Rejected("field_too_long", f"event {index}: `props.{key[:40]}` is longer than {MAX_PROP_VALUE}")
            typed[key] = value
        props = typed
    webdriver = raw.get("webdriver", False)
    if not isinstance(webdriver, bool):
        raise Rejected("invalid_event", f"event {index}: `webdriver` must be true or false")
    return ClientEvent(
        name=name, url=url,
        referrer=_text(raw, "referrer", MAX_URL, index),
        title=_text(raw, "title", MAX_TITLE, index),
        event_id=_text(raw, "id", 64, index, _EVENT_ID),
        created=_integer(raw, "created", 0, 2**53, index),
        sent=_integer(raw, "sent", 0, 2**53, index),
        language=_text(raw, "language", 35, index, _LANGUAGE),
        screen=_text(raw, "screen", 11, index, _SCREEN),
        engagement_ms=_integer(raw, "engagement_ms", 0, DAY_MS, index),
        scroll_depth=_integer(raw, "scroll_depth", 0, 100, index),
        props=props,
        webdriver=webdriver,
        hostname=hostname,
        path=parts.path or "/",
        query=parts.query,
    )


# --- site allowlist ------------------------------------------------------------------------------------

def site_of(hostname: str, sites: tuple[str, ...]) -> Optional[str]:
    """The allowlisted site a page's host belongs to: the host itself or a parent domain of it."""
    host = hostname.lower().rstrip(".")
    for site in sites:
        if host == site or host.endswith("." + site):
            return site
    return None


# --- bots ----------------------------------------------------------------------------------------------

# Crawlers, monitors, link previewers, HTTP libraries and automation: matched case-insensitively.
_BOT_AGENT = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scrap|monitor|checker|preview|archiver|lighthouse|pingdom|uptime|"
    r"curl/|wget/|python-|httpx|aiohttp|go-http-client|java/|okhttp|libwww|httpclient|node-fetch|axios/|"
    r"facebookexternalhit|embedly|whatsapp|telegram|discord|slack|gptbot|ccbot|bytespider|headless|"
    r"phantomjs|selenium|webdriver|puppeteer|playwright|electron/", re.I)


def bot_reason(user_agent: str, event: ClientEvent) -> Optional[str]:
    if not user_agent or len(user_agent) < 20:
        return "bot_no_user_agent"
    if event.webdriver:
        return "bot_webdriver"
    return "bot_user_agent" if _bot_agent(user_agent) else None


@lru_cache(maxsize=8192)
def _bot_agent(user_agent: str) -> bool:
    # Cached: the long alternation costs tens of microseconds, and visitors share user agents.
    return _BOT_AGENT.search(user_agent) is not None


# --- user agent -----------------------------------------------------------------------------------------

_TABLET = re.compile(r"iPad|Tablet|PlayBook|Silk|Kindle|Android(?!.*Mobile)", re.I)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android|Windows Phone|BlackBerry", re.I)


@lru_cache(maxsize=8192)
def agent(user_agent: str) -> tuple[Optional[str], Optional[str], str]:
    """(browser family, OS family, device type) from ua-parser's bundled regexes; cached, as a
    site's visitors share a few hundred user agents."""
    import ua_parser

    result = ua_parser.parse(user_agent)
    browser = result.user_agent.family if result.user_agent and result.user_agent.family != "Other" else None
    os_family = result.os.family if result.os and result.os.family != "Other" else None
    device = "tablet" if _TABLET.search(user_agent) else "mobile" if _MOBILE.search(user_agent) else "desktop"
    return browser, os_family, device


# --- referrer and UTM ----------------------------------------------------------------------------------

# Referrer host (or a parent domain of it) -> source name. Others keep their host name.
_SOURCES = {
    "google.com": "Google", "bing.com": "Bing", "duckduckgo.com": "DuckDuckGo", "yahoo.com": "Yahoo",
    "yandex.ru": "Yandex", "yandex.com": "Yandex", "baidu.com": "Baidu", "ecosia.org": "Ecosia",
    "facebook.com": "Facebook", "fb.com": "Facebook", "t.co": "Twitter", "twitter.com": "Twitter",
    "x.com": "Twitter", "linkedin.com": "LinkedIn", "lnkd.in": "LinkedIn", "reddit.com": "Reddit",
    "youtube.com": "YouTube", "news.ycombinator.com": "Hacker News", "github.com": "GitHub",
    "instagram.com": "Instagram",
}
_GOOGLE = re.compile(r"(^|\.)google\.[a-z.]{2,6}$")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@lru_cache(maxsize=8192)
def _known_source(host: str) -> str:
    host = host.lower()
    if _GOOGLE.search(host):
        return "Google"
    parts = host.split(".")
    for i in range(len(parts) - 1):
        name = _SOURCES.get(".".join(parts[i:]))
        if name:
            return name
    return host[4:] if host.startswith("www.") else host


def traffic_source(event: ClientEvent) -> dict[str, Optional[str]]:
    """Referrer (query and fragment dropped: they may carry personal data), its source, UTM values.
    A referrer on the page's own site is internal navigation: no source."""
    query = parse_qs(event.query) if event.query else {}
    fields: dict[str, Optional[str]] = {key: (query.get(key, [None])[0] or None) for key in UTM_KEYS}
    for key in UTM_KEYS:
        if fields[key] is not None:
            fields[key] = fields[key][:200]
    referrer = source = None
    if event.referrer:
        parts = urlsplit(event.referrer)
        if parts.scheme in ("http", "https") and parts.hostname:
            referrer = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"
            if parts.hostname != event.hostname:
                source = _known_source(parts.hostname)
    ref_param = (query.get("ref", [None])[0] or None)
    fields["referrer"] = referrer
    fields["referrer_source"] = (fields["utm_source"] or (ref_param[:200] if ref_param else None) or source)
    return fields


# --- visitor id ------------------------------------------------------------------------------------------

class Salts:
    """One random salt per UTC day, kept for two days (today and yesterday) and then forgotten, so a
    visitor id cannot be recomputed from an IP address and user agent after that: ids of different
    days never link. Process memory only: replicas each have their own (see README, "Website")."""

    def __init__(self, random: Callable[[int], bytes] = os.urandom) -> None:
        self._random = random
        self._salts: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def for_day(self, day: int, today: int) -> bytes:
        """The salt of `day`; days before yesterday (clamped event times) use yesterday's."""
        with self._lock:
            for old in [d for d in self._salts if d < today - 1]:
                del self._salts[old]
            day = min(max(day, today - 1), today)
            if day not in self._salts:
                self._salts[day] = self._random(32)
            return self._salts[day]

    def days(self) -> list[int]:
        with self._lock:
            return sorted(self._salts)


def visitor_id(salt: bytes, ip: str, user_agent: str, site: str) -> str:
    digest = hashlib.blake2b(digest_size=16, key=salt)
    for part in (ip, user_agent, site):
        digest.update(part.encode("utf-8", "replace") + b"\0")
    return digest.hexdigest()


# --- event time -----------------------------------------------------------------------------------------

def event_time(receive_ms: int, created: Optional[int], sent: Optional[int], max_skew_ms: int) -> int:
    """The server's receive time, moved back by how long the event waited in the browser
    (sent - created, both on the client's clock, so its skew cancels), clamped to [0, max_skew_ms]."""
    if created is None or sent is None:
        return receive_ms
    return receive_ms - min(max(sent - created, 0), max_skew_ms)


# --- the record ------------------------------------------------------------------------------------------

def to_record(event: ClientEvent, *, site: str, ip: str, user_agent: str, receive_ms: int, salts: Salts,
              max_skew_ms: int) -> dict[str, Any]:
    """The `pageviews` v2 record (collector/schemas/pageviews-v2.avsc)."""
    when = event_time(receive_ms, event.created, event.sent, max_skew_ms)
    browser, os_family, device = agent(user_agent)
    visitor = visitor_id(salts.for_day(when // DAY_MS, receive_ms // DAY_MS), ip, user_agent, site)
    return {
        "viewtime": when,
        "userid": visitor,
        "pageid": event.path,
        "source": "web",
        "event_id": event.event_id or uuid.uuid4().hex,
        "event_name": event.name,
        "event_time": when,
        "receive_time": receive_ms,
        "site": site,
        "hostname": event.hostname,
        "title": event.title,
        **traffic_source(event),
        "browser": browser,
        "os": os_family,
        "device": device,
        "language": event.language,
        "screen": event.screen,
        "engagement_time_ms": event.engagement_ms,
        "scroll_depth": event.scroll_depth,
        "props": event.props,
    }
