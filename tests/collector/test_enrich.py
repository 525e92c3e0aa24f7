"""Each enrichment step's edge cases, on the pure functions the collector runs (collector/enrich.py),
and the settings the collector reads from the stack's rendering."""
from __future__ import annotations

import ipaddress

import pytest

from collector import enrich
from collector.app import RateLimiter, client_address
from collector.settings import SettingsError, from_env
from components import spec
from components.config import parse_config

DAY = enrich.DAY_MS


def event(**fields) -> enrich.ClientEvent:
    return enrich.validate({"name": "pageview", "url": "https://example.com/", **fields})


# --- event time -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("created, sent, expected", [
    (1_000, 1_500, 99_500),  # waited half a second in the browser
    (None, 1_500, 100_000),  # no client times: the receive time
    (2_000, 1_000, 100_000),  # created after sent (a clock jump): no correction, never the future
    (0, 10**12, 100_000 - 60_000),  # an absurd wait: clamped to the maximum skew
])
def test_event_time_is_the_receive_time_corrected_and_clamped(created, sent, expected):
    assert enrich.event_time(100_000, created, sent, max_skew_ms=60_000) == expected


def test_a_client_clock_far_off_does_not_move_event_time():
    # The offset is sent - created on the client's own clock: an hour of skew cancels out.
    skewed = 3_600_000
    assert enrich.event_time(100_000, 1_000 + skewed, 1_500 + skewed, 60_000) == 99_500


# --- referrer and UTM --------------------------------------------------------------------------------------

@pytest.mark.parametrize("referrer, source", [
    ("https://www.google.com/search?q=x", "Google"),
    ("https://www.google.co.uk/", "Google"),
    ("https://t.co/abc", "Twitter"),
    ("https://m.facebook.com/story", "Facebook"),
    ("https://www.blog.example.org/post", "blog.example.org"),
    ("https://example.com/other-page", None),  # same host: internal
    ("android-app://com.google.android.gm/", None),  # not a web referrer: dropped
    (None, None),
])
def test_referrer_source(referrer, source):
    assert enrich.traffic_source(event(referrer=referrer))["referrer_source"] == source


def test_referrer_keeps_no_query_no_fragment_and_no_credentials():
    fields = enrich.traffic_source(event(referrer="https://user:pw@www.bing.com/search?q=name#frag"))
    assert fields["referrer"] == "https://www.bing.com/search" and fields["referrer_source"] == "Bing"


def test_utm_source_then_ref_parameter_then_referrer_name_the_source():
    assert enrich.traffic_source(event(url="https://example.com/?utm_source=mail&ref=hn",
                                       referrer="https://google.com/"))["referrer_source"] == "mail"
    assert enrich.traffic_source(event(url="https://example.com/?ref=hn",
                                       referrer="https://google.com/"))["referrer_source"] == "hn"
    utm = enrich.traffic_source(event(url="https://example.com/?utm_medium=cpc&utm_medium=other"))
    assert utm["utm_medium"] == "cpc" and utm["utm_source"] is None


# --- user agent ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ua, expected", [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36", ("Chrome", "Windows", "desktop")),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Mobile/15E148 Safari/604.1", ("Mobile Safari", "iOS", "mobile")),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
     "Mobile/15E148 Safari/604.1", ("Mobile Safari", "iOS", "tablet")),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
     "Safari/537.36", ("Chrome Mobile", "Android", "mobile")),
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36", ("Chrome", "Android", "tablet")),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
     ("Firefox", "Mac OS X", "desktop")),
    ("something nobody knows, long enough", (None, None, "desktop")),
])
def test_user_agent_parsing(ua, expected):
    assert enrich.agent(ua) == expected


# --- bots ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ua, reason", [
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot_user_agent"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 "
     "Safari/537.36", "bot_user_agent"),
    ("curl/8.5.0 and some padding", "bot_user_agent"),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot_user_agent"),
    ("short", "bot_no_user_agent"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
     None),
])
def test_bot_checks(ua, reason):
    assert enrich.bot_reason(ua, event()) == reason


def test_a_webdriver_signal_is_a_bot_whatever_the_user_agent():
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    assert enrich.bot_reason(ua, event(webdriver=True)) == "bot_webdriver"


# --- site allowlist --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host, site", [
    ("example.com", "example.com"), ("www.example.com", "example.com"), ("EXAMPLE.COM.", "example.com"),
    ("badexample.com", None), ("example.com.evil.net", None), ("localhost", "localhost"),
])
def test_site_allowlist(host, site):
    assert enrich.site_of(host, ("example.com", "localhost")) == site


# --- visitor id -------------------------------------------------------------------------------------------------

def test_visitor_id_changes_with_each_input_and_with_the_day():
    salts = enrich.Salts()
    today = 20_000
    base = enrich.visitor_id(salts.for_day(today, today), "192.0.2.1", "UA", "example.com")
    assert base == enrich.visitor_id(salts.for_day(today, today), "192.0.2.1", "UA", "example.com")
    for other in (("192.0.2.2", "UA", "example.com"), ("192.0.2.1", "UA2", "example.com"),
                  ("192.0.2.1", "UA", "shop.example")):
        assert enrich.visitor_id(salts.for_day(today, today), *other) != base
    assert enrich.visitor_id(salts.for_day(today - 1, today), "192.0.2.1", "UA", "example.com") != base


def test_salts_are_kept_two_days_then_forgotten():
    drawn = iter(bytes([i]) * 32 for i in range(10))
    salts = enrich.Salts(random=lambda n: next(drawn))
    first = salts.for_day(100, 100)
    assert salts.for_day(100, 101) == first, "yesterday's salt is still known"
    assert salts.days() == [100]
    salts.for_day(102, 102)
    assert 100 not in salts.days(), "a salt two days old is deleted"
    assert salts.for_day(100, 102) != first, "an old day cannot be recomputed"


# --- validation details -------------------------------------------------------------------------------------

def test_props_become_strings_and_are_bounded():
    assert event(props={"n": 3, "ok": False, "f": 1.5, "s": "x"}).props == {"n": "3", "ok": "false", "f": "1.5",
                                                                           "s": "x"}
    with pytest.raises(enrich.Rejected) as refused:
        event(props={f"k{i}": "v" for i in range(enrich.MAX_PROPS + 1)})
    assert refused.value.reason == "invalid_event"
    with pytest.raises(enrich.Rejected):
        event(engagement_ms=True)  # a boolean is not a number


# --- client address and rate limit -----------------------------------------------------------------------------

def test_x_forwarded_for_is_read_only_through_trusted_proxies():
    proxies = (ipaddress.ip_network("10.0.0.0/8"),)
    assert client_address("203.0.113.5", "198.51.100.1", proxies) == "203.0.113.5"
    assert client_address("10.1.1.1", "198.51.100.1", proxies) == "198.51.100.1"
    assert client_address("10.1.1.1", "6.6.6.6, 198.51.100.1, 10.2.2.2", proxies) == "198.51.100.1"
    assert client_address("10.1.1.1", "not-an-ip", proxies) == "10.1.1.1"
    assert client_address("10.1.1.1", None, proxies) == "10.1.1.1"


def test_rate_limiter_refills_at_its_rate():
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.allow("a", now=0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", now=0.0), "another client has its own bucket"
    assert limiter.allow("a", now=0.5) and not limiter.allow("a", now=0.5)


# --- settings ---------------------------------------------------------------------------------------------------

def test_the_stack_renders_every_setting_the_collector_reads():
    env = spec.collector_environment(parse_config({"collector": {"trustedProxies": "10.0.0.0/8, 192.0.2.7"}}),
                                     spec.Endpoints("kafka:29092", "http://schema-registry:8081", "clickhouse"))
    settings = from_env(env)
    assert settings.subject == "pageviews-value" and settings.endpoint_path == "/api/event"
    assert settings.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.7/32"))


def test_a_missing_or_bad_setting_is_named():
    env = spec.collector_environment(parse_config({}), spec.Endpoints("k:1", "http://r", "c"))
    del env["COLLECTOR_TOPIC"]
    env["COLLECTOR_QUEUE_SIZE"] = "lots"
    with pytest.raises(SettingsError) as failed:
        from_env(env)
    assert "COLLECTOR_TOPIC is not set" in str(failed.value) and "COLLECTOR_QUEUE_SIZE = 'lots'" in str(failed.value)
