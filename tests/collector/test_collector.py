"""The collector as it runs in the stack (`python -m collector`, configured by the stack's own
COLLECTOR_* rendering) against a real Kafka broker and the Schema Registry stand-in: what it accepts
reaches the topic as pageviews v2 readable with the v1 and v2 reader schemas, enriched; what it
refuses gets its documented status, is counted by reason and never reaches the topic."""
from __future__ import annotations

import gzip
import json
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from collector.schemas import V1_PATH, schema_text
from components.clients.schema_registry import SchemaRegistryClient
from tests.collector.conftest import V1_READER, V2_READER, delivered_all, read_topic
from tests.support.collector import CollectorProcess
from tests.support.processes import wait_for

CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
# The tests' HTTP client is the collector's only peer (127.0.0.1), trusted as a proxy here, so each
# test names its own client in X-Forwarded-For (documentation addresses: nothing is sent there).
CONFIG = {"sites": "localhost,shop.example", "trustedProxies": "127.0.0.1", "rateBurst": 40, "ratePerSecond": 10}


@pytest.fixture(scope="module")
def collector(tmp_path_factory, broker, registry, topic):
    process = CollectorProcess.start(tmp_path_factory.mktemp("collector"), broker.bootstrap, registry.url, topic,
                                     CONFIG)
    yield process
    process.stop()


def client_ip() -> str:
    return f"198.51.100.{uuid.uuid4().int % 199 + 1}"  # .200 and up: chosen by the tests below


def post(collector, body, ip=None, ua=CHROME, headers=None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return requests.post(collector.endpoint, data=data, timeout=10, headers={
        "Content-Type": "text/plain", "User-Agent": ua, "X-Forwarded-For": ip or client_ip(), **(headers or {})})


def event(**fields) -> dict:
    return {"name": "pageview", "url": "http://localhost/", "id": uuid.uuid4().hex, **fields}


def records_by_event_id(broker, topic, registry) -> dict[str, tuple]:
    """event_id -> (record, v2 value) of everything in the topic the collector wrote."""
    found = {}
    for record in read_topic(broker.bootstrap, topic):
        value = record.decode(registry, V2_READER)
        if value["event_id"]:
            found.setdefault(value["event_id"], []).append((record, value))
    return found


def wait_delivered(collector) -> None:
    wait_for("the collector's accepted events acknowledged by Kafka", lambda: delivered_all(collector), 30)


# --- accepted events ---------------------------------------------------------------------------------

def test_accepted_events_reach_the_topic_enriched_and_readable_as_v1_and_v2(collector, broker, registry, topic):
    ip = client_ip()
    sent_at = int(time.time() * 1000)
    batch = [
        event(url="http://localhost/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
                  "&utm_term=analytics&utm_content=top", referrer="https://www.google.co.uk/search?q=secret",
              title="Pricing", created=sent_at - 4000, sent=sent_at, language="en-GB", screen="1920x1080"),
        event(name="signup", url="https://shop.example/checkout", props={"plan": "pro", "seats": 3, "trial": True},
              referrer="https://news.ycombinator.com/item?id=1", created=sent_at, sent=sent_at),
        event(name="engagement", url="https://www.shop.example/blog/post", engagement_ms=12500, scroll_depth=80,
              referrer="https://www.shop.example/blog/"),
    ]
    before = int(time.time() * 1000)
    response = post(collector, batch, ip=ip)
    after = int(time.time() * 1000)
    assert response.status_code == 202, response.text
    wait_delivered(collector)

    found = records_by_event_id(broker, topic, registry)
    v2_id = SchemaRegistryClient(registry.url).lookup(f"{topic}-value", schema_text()).id
    values = {}
    for sent in batch:
        assert len(found.get(sent["id"], [])) == 1, f"event {sent['name']} is in the topic {len(found.get(sent['id'], []))} times"
        record, value = found[sent["id"]][0]
        assert record.schema_id == v2_id, "written with a schema other than the registered v2"
        v1 = record.decode(registry, V1_READER)
        assert v1 == {"viewtime": value["viewtime"], "userid": value["userid"], "pageid": value["pageid"]}
        assert record.timestamp == value["event_time"] == value["viewtime"], "the Kafka timestamp is the event time"
        assert record.key.decode() == value["userid"], "keyed by visitor: one visitor's events stay in order"
        assert before <= value["receive_time"] <= after
        assert value["source"] == "web" and value["event_name"] == sent["name"]
        values[sent["name"]] = value

    pv = values["pageview"]
    assert pv["pageid"] == "/pricing" and pv["site"] == "localhost" and pv["hostname"] == "localhost"
    assert pv["event_time"] == pv["receive_time"] - 4000, "waited 4 s in the browser: event time moves back 4 s"
    assert pv["referrer"] == "https://www.google.co.uk/search", "the referrer's query string is dropped"
    assert pv["referrer_source"] == "newsletter", "utm_source names the source"
    assert (pv["utm_source"], pv["utm_medium"], pv["utm_campaign"], pv["utm_term"], pv["utm_content"]) == \
        ("newsletter", "email", "spring", "analytics", "top")
    assert (pv["browser"], pv["os"], pv["device"]) == ("Chrome", "Linux", "desktop")
    assert (pv["title"], pv["language"], pv["screen"]) == ("Pricing", "en-GB", "1920x1080")
    assert pv["props"] is None and pv["engagement_time_ms"] is None

    signup = values["signup"]
    assert signup["site"] == "shop.example" and signup["referrer_source"] == "Hacker News"
    assert signup["props"] == {"plan": "pro", "seats": "3", "trial": "true"}
    assert signup["userid"] != pv["userid"], "the same person on another site is another visitor"

    engagement = values["engagement"]
    assert engagement["site"] == "shop.example" and engagement["hostname"] == "www.shop.example"
    assert (engagement["engagement_time_ms"], engagement["scroll_depth"]) == (12500, 80)
    assert engagement["referrer_source"] is None, "a referrer on the same host is internal navigation"
    assert engagement["userid"] == signup["userid"], "same IP, user agent and site: same visitor"

    for value in values.values():
        text = json.dumps(value)
        assert ip not in text and "Mozilla" not in text, "the IP address or the raw user agent reached Kafka"


def test_v1_and_v2_records_in_one_topic_both_decode_with_the_v1_reader(collector, broker, registry, topic):
    """datagen keeps writing v1 beside the collector's v2: one topic, two writer schemas, one reader."""
    from confluent_kafka import Producer

    from tests.flink_job.pageviews import confluent_avro

    v1_id = SchemaRegistryClient(registry.url).lookup(f"{topic}-value", schema_text(V1_PATH)).id
    marker = f"User_{uuid.uuid4().hex[:6]}"
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce(topic, value=confluent_avro(v1_id, 1234, marker, "Page_7"), key=marker)
    producer.flush(10)
    web = event(url="http://localhost/mixed")
    assert post(collector, web).status_code == 202
    wait_delivered(collector)

    records = read_topic(broker.bootstrap, topic)
    datagen = [r for r in records if r.schema_id == v1_id and r.key == marker.encode()]
    assert len(datagen) == 1
    assert datagen[0].decode(registry, V1_READER) == {"viewtime": 1234, "userid": marker, "pageid": "Page_7"}
    as_v2 = datagen[0].decode(registry, V2_READER)
    assert as_v2["pageid"] == "Page_7" and as_v2["source"] is None and as_v2["props"] is None, \
        "a v1 record read as v2 has every new field null"
    web_record = records_by_event_id(broker, topic, registry)[web["id"]][0][0]
    assert web_record.schema_id != v1_id
    assert web_record.decode(registry, V1_READER)["pageid"] == "/mixed"


def test_bots_get_202_are_counted_and_never_written(collector, broker, registry, topic):
    cases = [
        ("bot_user_agent", {}, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        ("bot_user_agent", {}, CHROME.replace("Chrome/", "HeadlessChrome/")),
        ("bot_user_agent", {}, "python-requests/2.32.3"),
        ("bot_webdriver", {"webdriver": True}, CHROME),
        ("bot_no_user_agent", {}, ""),
    ]
    reasons = Counter(reason for reason, _, _ in cases)
    before = {reason: collector.dropped(reason) for reason in reasons}
    ids = []
    for reason, fields, ua in cases:
        sent = event(**fields)
        ids.append(sent["id"])
        response = post(collector, sent, ua=ua)
        assert response.status_code == 202, f"{reason}: a bot is answered like anyone ({response.status_code})"
    for reason, count in reasons.items():
        assert collector.dropped(reason) - before[reason] == count, reason
    wait_delivered(collector)
    found = records_by_event_id(broker, topic, registry)
    assert not [i for i in ids if i in found], "a bot's event reached the topic"


BODY_REASONS = ("malformed_json", "not_utf8", "invalid_batch", "body_too_large", "rate_limited")
BIG = "x" * 70_000
BAD_INPUT = [
    # (case, body, status, reason)
    ("malformed JSON", b'{"name": "pageview", "url": ', 400, "malformed_json"),
    ("not UTF-8", '{"name": "pageview", "url": "http://localhost/\u00e9"}'.encode("latin-1"), 400, "not_utf8"),
    ("a number, not an event", b"42", 400, "invalid_event"),
    ("wrong type: url", {"name": "pageview", "url": 42}, 400, "invalid_event"),
    ("wrong type: created", {"name": "pageview", "url": "http://localhost/", "created": "yesterday"}, 400,
     "invalid_event"),
    ("wrong type: props", {"name": "x", "url": "http://localhost/", "props": {"a": {"nested": 1}}}, 400,
     "invalid_event"),
    ("missing name", {"url": "http://localhost/"}, 400, "invalid_event"),
    ("missing url", {"name": "pageview"}, 400, "invalid_event"),
    ("not an http URL", {"name": "pageview", "url": "javascript:alert(1)"}, 400, "invalid_event"),
    ("huge URL", {"name": "pageview", "url": "http://localhost/" + "a" * 3000}, 400, "field_too_long"),
    ("huge title", {"name": "pageview", "url": "http://localhost/", "title": "t" * 5000}, 400, "field_too_long"),
    ("scroll depth over 100", {"name": "engagement", "url": "http://localhost/", "scroll_depth": 250}, 400,
     "invalid_event"),
    ("unknown site", {"name": "pageview", "url": "https://evil.example/"}, 400, "unknown_site"),
    ("site as a suffix only", {"name": "pageview", "url": "https://notshop.example/"}, 400, "unknown_site"),
    ("batch over 50", [{"name": "pageview", "url": "http://localhost/"}] * 51, 400, "invalid_batch"),
    ("oversized body", json.dumps({"name": "pageview", "url": "http://localhost/", "title": BIG}).encode(), 413,
     "body_too_large"),
]


@pytest.mark.parametrize("case, body, status, reason", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_gets_its_status_is_counted_and_never_reaches_the_topic(collector, broker, registry, topic,
                                                                        case, body, status, reason):
    marker = f"bad-{uuid.uuid4().hex[:10]}"
    if isinstance(body, dict):
        body = {**body, "id": marker}
    elif isinstance(body, list):
        body = [{**item, "id": f"{marker}{i}"} for i, item in enumerate(body)]
    before = collector.dropped(reason)
    response = post(collector, body)
    assert response.status_code == status, f"{case}: {response.status_code} {response.text[:200]}"
    if status == 400:
        answer = response.json()
        assert answer["error"] == reason and answer["detail"], answer
    # Counted per event once the events are known, per request when the body cannot be read as events.
    expected = len(body) if isinstance(body, list) and reason not in BODY_REASONS else 1
    assert collector.dropped(reason) - before == expected, f"{case}: not counted as {reason}"
    # A good event after it from another client is served normally.
    good = event()
    assert post(collector, good).status_code == 202
    wait_delivered(collector)
    found = records_by_event_id(broker, topic, registry)
    assert good["id"] in found
    assert not [i for i in found if i.startswith(marker)], f"{case}: the refused event reached the topic"


def test_forged_x_forwarded_for_is_ignored_from_untrusted_peers(tmp_path, broker, registry, topic):
    """Without trusted proxies the peer is the client, whatever the request claims; behind a trusted
    proxy, only the hop the proxy appended counts, not what the client prepended."""
    untrusted = CollectorProcess.start(tmp_path / "untrusted", broker.bootstrap, registry.url, topic,
                                       {"sites": "localhost"})
    try:
        forged = [event(), event()]
        assert post(untrusted, forged[0], ip="203.0.113.1").status_code == 202
        assert post(untrusted, forged[1], ip="203.0.113.2").status_code == 202
        wait_delivered(untrusted)
    finally:
        untrusted.stop()
    found = records_by_event_id(broker, topic, registry)
    first, second = (found[e["id"]][0][1]["userid"] for e in forged)
    assert first == second, "X-Forwarded-For from an untrusted peer changed who the visitor is"


def test_behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client(collector, broker, registry, topic):
    real = "198.51.100.200"
    plain, spoofed = event(), event()
    assert post(collector, plain, ip=real).status_code == 202
    assert post(collector, spoofed, ip=f"203.0.113.66, {real}").status_code == 202
    wait_delivered(collector)
    found = records_by_event_id(broker, topic, registry)
    assert found[plain["id"]][0][1]["userid"] == found[spoofed["id"]][0][1]["userid"], \
        "a hop the client wrote into X-Forwarded-For changed who the visitor is"


def test_a_flood_from_one_client_is_limited_and_others_are_served(collector):
    flooder, other = "192.0.2.250", "192.0.2.251"  # no other test uses 192.0.2.0/24
    before = collector.dropped("rate_limited")

    def send(_):
        return post(collector, event(), ip=flooder)

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = [r.status_code for r in pool.map(send, range(200))]
    elapsed = time.monotonic() - started
    limited = statuses.count(429)
    accepted = statuses.count(202)
    assert set(statuses) == {202, 429}, statuses
    # burst 40, then 10/s: what got through is bounded by the bucket.
    assert 40 <= accepted <= 40 + 10 * elapsed + 1, (accepted, elapsed)
    assert collector.dropped("rate_limited") - before == limited
    response = post(collector, event(), ip=other)
    assert response.status_code == 202, "another client is refused during a flood"
    assert post(collector, event(), ip=flooder).headers.get("Retry-After") == "1"


def test_cors_is_answered_for_configured_sites_only(collector):
    allowed = requests.options(collector.endpoint, headers={"Origin": "https://www.shop.example",
                                                            "Access-Control-Request-Method": "POST"}, timeout=5)
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.shop.example"
    other = requests.options(collector.endpoint, headers={"Origin": "https://evil.example"}, timeout=5)
    assert "Access-Control-Allow-Origin" not in other.headers
    accepted = post(collector, event(), headers={"Origin": "http://localhost:8000"})
    assert accepted.status_code == 202 and accepted.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"


def test_the_tracker_is_served_small_and_cacheable(collector):
    response = requests.get(f"{collector.url}/cs.js", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/javascript")
    assert "max-age" in response.headers["Cache-Control"] and response.headers["ETag"]
    size = len(gzip.compress(response.content, 9))
    assert size < 2048, f"the tracker is {size} bytes gzipped, over 2 KB"
    assert b"__ENDPOINT__" not in response.content and b'"/api/event"' in response.content
    again = requests.get(f"{collector.url}/cs.js", headers={"If-None-Match": response.headers["ETag"]}, timeout=5)
    assert again.status_code == 304


def test_the_demo_site_is_served_with_the_tracker(collector):
    for path in ("/demo/", "/demo/pricing.html", "/demo/about.html", "/demo/app/", "/demo/app/settings"):
        response = requests.get(collector.url + path, timeout=5)
        assert response.status_code == 200, path
        assert '<script defer src="/cs.js" data-allow-localhost>' in response.text, path
    assert requests.get(collector.url + "/demo/missing.html", timeout=5).status_code == 404


def test_health_readiness_and_metrics(collector):
    assert requests.get(f"{collector.url}/healthz", timeout=5).text == "ok"
    ready = requests.get(f"{collector.url}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["schema_id"]
    metrics = collector.metrics()
    for name in ("collector_events_accepted_total", "collector_events_delivered_total", "collector_queue_depth"):
        assert name in metrics, name


def test_without_the_stacks_schema_the_collector_refuses_and_registers_nothing(tmp_path, broker, registry):
    """auto.register.schemas=false: until the stack registers v2, events get 503 not_ready and the
    subject keeps only datagen's v1; once v2 is registered, the collector finds it by itself."""
    from tests.collector.conftest import create_topic

    topic = f"pageviews-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic)
    client = SchemaRegistryClient(registry.url)
    client.register(f"{topic}-value", schema_text(V1_PATH))
    process = CollectorProcess.start(tmp_path / "unready", broker.bootstrap, registry.url, topic,
                                     {"sites": "localhost"}, ready=False)
    try:
        assert requests.get(f"{process.url}/readyz", timeout=5).status_code == 503
        response = post(process, event())
        assert response.status_code == 503 and response.json()["error"] == "not_ready"
        assert response.headers["Retry-After"] == "5"
        assert client.lookup(f"{topic}-value", schema_text()) is None, "the collector registered a schema"
        client.set_compatibility(f"{topic}-value", "FULL_TRANSITIVE")
        client.register(f"{topic}-value", schema_text())
        process.wait_ready(30)
        assert post(process, event()).status_code == 202
    finally:
        process.stop()


def test_shutdown_flushes_what_was_accepted(tmp_path, broker, registry, topic):
    process = CollectorProcess.start(tmp_path / "flush", broker.bootstrap, registry.url, topic,
                                     {"sites": "localhost", "lingerMs": 1000})
    sent = [event() for _ in range(200)]
    for start in range(0, len(sent), 50):
        assert post(process, sent[start:start + 50]).status_code == 202
    process.stop()  # SIGTERM at once: a second of linger has not passed
    # (uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is -15 either way)
    assert "were not delivered" not in process.service.log.read_text()
    found = records_by_event_id(broker, topic, registry)
    assert sum(len(found.get(e["id"], [])) for e in sent) == len(sent)
