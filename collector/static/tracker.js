/* Clickstreamer tracker (README, "Website"): no dependencies, no cookies. */
(function (w, d) {
  "use strict";
  var s = d.currentScript, nav = w.navigator, loc = w.location;
  if (!s || w.clickstreamer && w.clickstreamer.v) return;
  var attr = function (n) { return s.getAttribute("data-" + n); };
  var api = attr("api") || new URL(s.src).origin + "__ENDPOINT__";
  var queued = (w.clickstreamer && w.clickstreamer.q) || [];

  function off() {
    try { if (w.localStorage.getItem("clickstreamer_ignore") === "true") return 1; } catch (e) {}
    if (nav.webdriver) return 1;
    if (attr("respect-dnt") !== null && (nav.doNotTrack === "1" || nav.globalPrivacyControl)) return 1;
    if (attr("allow-localhost") === null &&
        (/^(localhost|127(\.\d+){3}|\[::1\])$/.test(loc.hostname) || loc.protocol === "file:")) return 1;
    return d.visibilityState === "prerender";
  }

  function id() {
    var a = new Uint8Array(12), h = "", i;
    (w.crypto || {}).getRandomValues ? w.crypto.getRandomValues(a) : a.forEach(function (_, i) { a[i] = Math.random() * 256; });
    for (i = 0; i < a.length; i++) h += (a[i] + 256).toString(16).slice(1);
    return h;
  }

  var referrer = d.referrer || null;

  function send(name, extra) {
    if (off()) return;
    var e = {
      name: name, url: loc.href, referrer: referrer, title: d.title.slice(0, 1000), id: id(),
      created: Date.now(), language: nav.language, screen: screen.width + "x" + screen.height
    };
    for (var k in extra) e[k] = extra[k];
    e.sent = Date.now();
    var body = JSON.stringify(e);
    // text/plain: no CORS preflight; keepalive outlives the page.
    if (w.fetch) {
      fetch(api, { method: "POST", body: body, keepalive: true, credentials: "omit",
                   headers: { "Content-Type": "text/plain" } })["catch"](function () {});
    } else if (nav.sendBeacon) nav.sendBeacon(api, body);
  }

  // Engagement since the last report: visible time, deepest scroll.
  var shownAt = 0, visible = 0, depth = 0;
  function scrolled() {
    var h = Math.max(d.documentElement.scrollHeight, d.body ? d.body.scrollHeight : 0);
    var p = h > w.innerHeight ? Math.round((w.scrollY + w.innerHeight) / h * 100) : 100;
    if (p > depth) depth = Math.min(p, 100);
  }
  function resume() { if (d.visibilityState === "visible" && !shownAt) shownAt = Date.now(); }
  function engagement() {
    if (shownAt) { visible += Date.now() - shownAt; shownAt = 0; }
    // (for the page being left: after pushState, location is already the next one)
    if (visible > 0) send("engagement", { url: page, engagement_ms: visible, scroll_depth: depth });
    visible = 0;
  }

  var last = null, page;
  function pageview() {
    if (loc.pathname === last) return; // replaceState with the same path, repeated popstate
    if (last !== null) { engagement(); referrer = page; depth = 0; }
    last = loc.pathname;
    page = loc.href;
    resume();
    scrolled();
    send("pageview");
  }

  ["pushState", "replaceState"].forEach(function (m) {
    var f = w.history[m];
    if (f) w.history[m] = function () { var r = f.apply(this, arguments); pageview(); return r; };
  });
  w.addEventListener("popstate", pageview);
  w.addEventListener("scroll", scrolled, { passive: true });
  d.addEventListener("visibilitychange", function () {
    d.visibilityState === "hidden" ? engagement() : resume();
  });
  w.addEventListener("pagehide", engagement);

  // Outbound links and downloads (left and middle clicks).
  var files = /\.(pdf|zip|gz|tgz|dmg|exe|msi|csv|xlsx?|docx?|pptx?|mp3|mp4|mov|avi|txt|json|apk)$/i;
  function click(ev) {
    var a = ev.target.closest && ev.target.closest("a[href]");
    if (!a || ev.type === "auxclick" && ev.button !== 1) return;
    var u = new URL(a.href, loc.href);
    if (!/^https?:$/.test(u.protocol)) return;
    if (files.test(u.pathname)) send("download", { props: { url: u.href.split("?")[0] } });
    else if (u.host !== loc.host) send("outbound", { props: { url: u.origin + u.pathname } });
  }
  d.addEventListener("click", click, true);
  d.addEventListener("auxclick", click, true);

  w.clickstreamer = {
    v: 1,
    track: function (name, props) { send(name, props ? { props: props } : {}); }
  };
  for (var i = 0; i < queued.length; i++) w.clickstreamer.track.apply(null, queued[i]);
  pageview();
})(window, document);
