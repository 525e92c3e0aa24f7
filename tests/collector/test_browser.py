"""A real browser on the demo site: Debian's Chromium (headless) loads pages, follows an SPA route,
fires a custom event, clicks an outbound link and hides the tab; the topic then holds exactly those
events, in order, readable as pageviews v1 and v2. A browser that shows it is automated
(navigator.webdriver, as headless Chromium does by default) sends nothing."""
from __future__ import annotations

import uuid

import pytest

from tests.collector.conftest import V1_READER, V2_READER, create_topic, delivered_all, read_topic, register_pageviews
from tests.support.browser import DESKTOP_CHROME, Chromium, chromium_path
from tests.support.collector import CollectorProcess
from tests.support.processes import wait_for

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="Debian's chromium is not installed (scripts/install-system-packages.sh)")


@pytest.fixture
def site(tmp_path, broker, registry):
    topic = f"pageviews-browser-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic)
    register_pageviews(registry.url, topic)
    collector = CollectorProcess.start(tmp_path / "collector", broker.bootstrap, registry.url, topic,
                                       {"sites": "127.0.0.1"})
    yield collector, topic
    collector.stop()


def events_in(broker, registry, topic) -> list[dict]:
    values = [r.decode(registry, V2_READER) for r in read_topic(broker.bootstrap, topic)]
    return sorted(values, key=lambda v: (v["event_time"], v["receive_time"]))


def test_the_demo_site_in_a_real_browser_sends_exactly_what_happened(tmp_path, site, broker, registry):
    collector, topic = site
    demo = f"{collector.url}/demo/"
    seen = []

    def arrived(count: int):
        def probe():
            seen[:] = events_in(broker, registry, topic)
            return len(seen) >= count
        wait_for(f"{count} events in {topic}", probe, 30,
                 hint=f"have: {[(e['event_name'], e['pageid']) for e in seen]}")

    with Chromium.start(tmp_path / "chromium", automation_visible=False, user_agent=DESKTOP_CHROME) as browser:
        page = browser.page()
        assert page.evaluate("navigator.webdriver") is False
        page.navigate(demo)  # a page load
        arrived(1)
        page.evaluate("document.getElementById('signup').click()")  # a custom event
        arrived(2)
        # An outbound click; the navigation itself is stopped so nothing leaves this machine.
        page.evaluate("document.addEventListener('click', e => e.preventDefault());"
                      "document.getElementById('outbound').click()")
        arrived(3)
        page.evaluate("location.href = '/demo/app/'")  # the second page load (a real link navigation)
        page.wait_loaded()
        arrived(5)  # the first page's engagement, then the new page view
        page.evaluate("history.replaceState({}, '', location.pathname)")  # same path: not a new view
        page.evaluate("document.querySelector('a[href=\"/demo/app/settings\"]').click()")  # SPA navigation
        arrived(7)  # the app page's engagement, then the route's page view
        browser.new_tab()  # the demo tab is hidden
        wait_for("the demo tab hidden", lambda: page.evaluate("document.visibilityState") == "hidden", 10)
        arrived(8)
    wait_for("every accepted event acknowledged by Kafka", lambda: delivered_all(collector), 30)
    events = events_in(broker, registry, topic)

    assert [(e["event_name"], e["pageid"]) for e in events] == [
        ("pageview", "/demo/"),
        ("signup", "/demo/"),
        ("outbound", "/demo/"),
        ("engagement", "/demo/"),
        ("pageview", "/demo/app/"),
        ("engagement", "/demo/app/"),
        ("pageview", "/demo/app/settings"),
        ("engagement", "/demo/app/settings"),
    ]
    by_step = {(e["event_name"], e["pageid"]): e for e in events}
    assert by_step[("signup", "/demo/")]["props"] == {"plan": "free"}
    assert by_step[("outbound", "/demo/")]["props"] == {"url": "https://github.com/"}
    assert by_step[("pageview", "/demo/app/")]["referrer"] == demo
    assert by_step[("pageview", "/demo/app/settings")]["referrer"] == f"{collector.url}/demo/app/"
    for event in events:
        assert (event["site"], event["browser"], event["os"], event["device"]) == \
            ("127.0.0.1", "Chrome", "Linux", "desktop"), event
        assert event["title"].endswith("Clickstreamer demo") and event["screen"]
        assert event["userid"] == events[0]["userid"], "one browser, one visitor"
    for engagement in (e for e in events if e["event_name"] == "engagement"):
        assert engagement["engagement_time_ms"] > 0 and 0 < engagement["scroll_depth"] <= 100
    v1 = [r.decode(registry, V1_READER) for r in read_topic(broker.bootstrap, topic)]
    assert sorted(v["pageid"] for v in v1) == sorted(e["pageid"] for e in events)


def test_an_automated_browser_sends_nothing(tmp_path, site, broker, registry):
    collector, topic = site
    with Chromium.start(tmp_path / "chromium") as browser:
        page = browser.page()
        assert page.evaluate("navigator.webdriver") is True
        page.navigate(f"{collector.url}/demo/")
        page.evaluate("clickstreamer.track('should-not-be-sent')")
        page.evaluate("history.pushState({}, '', '/demo/app/')")
    assert collector.metrics().get("collector_events_accepted_total") == 0
    assert read_topic(broker.bootstrap, topic) == []


def test_an_opted_out_browser_sends_nothing_more(tmp_path, site, broker, registry):
    collector, topic = site
    with Chromium.start(tmp_path / "chromium", automation_visible=False, user_agent=DESKTOP_CHROME) as browser:
        page = browser.page()
        page.navigate(f"{collector.url}/demo/")
        wait_for("the page view before opting out", lambda: len(read_topic(broker.bootstrap, topic)) == 1, 30)
        page.evaluate("localStorage.setItem('clickstreamer_ignore', 'true')")
        page.navigate(f"{collector.url}/demo/about.html")
        page.evaluate("clickstreamer.track('opted-out'); history.pushState({}, '', '/demo/app/')")
    wait_for("every accepted event acknowledged by Kafka", lambda: delivered_all(collector), 30)
    assert collector.metrics().get("collector_events_accepted_total") == 1
    assert [e["pageid"] for e in events_in(broker, registry, topic)] == ["/demo/"]


def test_a_page_on_localhost_sends_nothing_without_the_switch(tmp_path, site, broker, registry):
    """The tracker ignores localhost / loopback pages unless the script tag says data-allow-localhost
    (the demo site and these tests do): a page on the collector's own origin without it sends no
    page view, no custom event, no SPA view."""
    collector, topic = site
    with Chromium.start(tmp_path / "chromium", automation_visible=False, user_agent=DESKTOP_CHROME) as browser:
        page = browser.page()
        page.open_served(f"{collector.url}/demo/local-test.html",
                         '<!doctype html><title>t</title><script src="/cs.js"></script><p>local</p>')
        assert page.evaluate("typeof clickstreamer.track") == "function"
        page.evaluate("clickstreamer.track('local'); history.pushState({}, '', '/demo/elsewhere')")
        page.open_served(f"{collector.url}/demo/allowed.html",  # the control: with the switch it sends
                         '<!doctype html><title>t</title><script src="/cs.js" data-allow-localhost></script>')
        wait_for("the control page's view", lambda: len(read_topic(broker.bootstrap, topic)) >= 1, 30)
    wait_for("every accepted event acknowledged by Kafka", lambda: delivered_all(collector), 30)
    sent = [(e["event_name"], e["pageid"]) for e in events_in(broker, registry, topic)]
    assert ("pageview", "/demo/allowed.html") in sent
    assert not [s for s in sent if s[1] != "/demo/allowed.html"], f"the page without the switch sent {sent}"
