"""Debian's Chromium, headless, driven through the Chrome DevTools Protocol over its WebSocket
(`websockets`' sync client): navigate, evaluate, click, open a tab. Traffic stays on this machine:
every host name but localhost resolves to nothing, and background networking is off.

    with Chromium.start(tmp_path) as browser:
        page = browser.page()
        page.navigate("http://127.0.0.1:8090/demo/")
        page.evaluate("document.title")
"""
from __future__ import annotations

import base64
import json
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

from websockets.sync.client import connect

from .processes import Service, log_tail, wait_for

# What a desktop Chrome on Linux sends: headless Chromium says "HeadlessChrome", which the
# collector (rightly) drops as a bot.
DESKTOP_CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/156.0.0.0 Safari/537.36")


def chromium_path() -> Optional[str]:
    return shutil.which("chromium")


class Page:
    """One tab, over its own DevTools WebSocket."""

    def __init__(self, websocket_url: str, target_id: str) -> None:
        self.target_id = target_id
        self._ws = connect(websocket_url, max_size=None, open_timeout=10, legacy=True)  # held across calls
        self._next = 0
        self.call("Page.enable")
        self.call("Runtime.enable")

    def send(self, method: str, **params: Any) -> int:
        """Send a command without waiting for its answer; its id."""
        self._next += 1
        self._ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        return self._next

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict:
        request_id = self.send(method, **params)
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == request_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_loaded(url)

    def wait_loaded(self, url: Optional[str] = None) -> None:
        wait_for(f"page {url or ''} loaded", lambda: self.evaluate(
            "document.readyState === 'complete' && !!window.clickstreamer" if url is None or "/demo" in url
            else "document.readyState === 'complete'") and (url is None or self.evaluate("location.href") == url), 20)

    def open_served(self, url: str, html: str, timeout: float = 20) -> None:
        """Navigate to `url`, answering the document request with `html` (CDP Fetch): a page of the
        test's own on the collector's origin."""
        self.call("Fetch.enable", patterns=[{"urlPattern": url, "requestStage": "Request"}])
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("method") == "Fetch.requestPaused":
                break
        self.send("Fetch.fulfillRequest", requestId=message["params"]["requestId"], responseCode=200,
                  responseHeaders=[{"name": "Content-Type", "value": "text/html; charset=utf-8"}],
                  body=base64.b64encode(html.encode()).decode())
        self.call("Fetch.disable")
        self.wait_loaded()

    def close(self) -> None:
        self._ws.close()


class Chromium:
    def __init__(self, workdir: Path, service: Service, port: int) -> None:
        self.workdir = workdir
        self.service = service
        self.port = port
        self._pages: list[Page] = []

    @classmethod
    def start(cls, workdir: Path, *, automation_visible: bool = True, user_agent: Optional[str] = None,
              timeout: float = 30) -> "Chromium":
        """`automation_visible=False` hides navigator.webdriver (as an ordinary browser has it)."""
        workdir.mkdir(parents=True, exist_ok=True)
        profile = workdir / "profile"
        args = [chromium_path() or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
        if not automation_visible:
            args.append("--disable-blink-features=AutomationControlled")
        if user_agent:
            args.append(f"--user-agent={user_agent}")
        service = Service("chromium", [*args, "about:blank"], workdir / "chromium.log")
        port_file = profile / "DevToolsActivePort"

        def listening() -> Optional[int]:
            service.assert_alive()
            text = port_file.read_text() if port_file.exists() else ""
            return int(text.split()[0]) if text.strip() else None

        port = wait_for("Chromium's DevTools port", listening, timeout, hint=f"log tail:\n{log_tail(service.log)}")
        return cls(workdir, service, port)

    def _json(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def page(self) -> Page:
        """The first tab."""
        target = next(t for t in self._json("/json/list") if t["type"] == "page")
        page = Page(target["webSocketDebuggerUrl"], target["id"])
        self._pages.append(page)
        return page

    def new_tab(self, url: str = "about:blank") -> Page:
        """A new foreground tab: the others become hidden (visibilitychange)."""
        target = self._json(f"/json/new?{url}", method="PUT")
        page = Page(target["webSocketDebuggerUrl"], target["id"])
        self._pages.append(page)
        return page

    def stop(self) -> None:
        for page in self._pages:
            try:
                page.close()
            except Exception:
                pass
        self.service.stop(timeout=15)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
