"""The HTML report in a real browser: headless Chromium (Debian's chromium package), with no
network at all (a network namespace of its own), at a phone's width and a desktop's.

Chromium is driven over its DevTools pipe (--remote-debugging-pipe: commands on fd 3,
replies and events on fd 4, each a JSON message ended by NUL), so no port is opened and no
extra package is needed. The test fails on anything the page logs to the console, any
exception, any request for something outside the file, and a page wider than a phone; it
keeps full-page screenshots of a failing report in build/test-artifacts/html-report/ (build/
is ignored by git) for a person to look at.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_render_formats import broken_build_report, failing_report

from grader.render import html

CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts" / "html-report"
PHONE = (412, 915)     # a common Android phone, in CSS pixels
DESKTOP = (1280, 800)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package "
                                                         "(setup.sh installs it)")


class Browser:
    """One headless Chromium without network, and the DevTools protocol over its pipe."""

    def __init__(self, profile: Path) -> None:
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        shell = f'exec unshare -rn "$0" "$@" 3<&{commands_read} 4>&{replies_write}'
        self.process = subprocess.Popen(
            ["bash", "-c", shell, CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--hide-scrollbars",
             "about:blank"],
            pass_fds=(commands_read, replies_write), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._last_id = 0
        self.events: list[dict] = []

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], max(deadline - time.monotonic(),
                                                                     0))
            if not ready:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            self.events.append(self._receive(deadline))

    def open(self, page: Path, width: int, height: int) -> Page:
        """`page` in a new tab of `width` x `height` CSS pixels (a phone's is mobile)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        tab = Page(self, session["sessionId"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            tab.call(f"{domain}.enable")
        tab.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                        "deviceScaleFactor": 1,
                                                        "mobile": width < 600})
        self.events.clear()
        tab.call("Page.navigate", {"url": page.as_uri()})
        self.wait_for("Page.loadEventFired")
        return tab

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (EOFError, TimeoutError, RuntimeError):
            self.process.kill()
        self.process.wait(timeout=30)
        os.close(self._commands)
        os.close(self._replies)


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session

    def call(self, method: str, params: dict | None = None) -> dict:
        return self.browser.call(method, params, self.session)

    def evaluate(self, expression: str) -> object:
        return self.call("Runtime.evaluate", {"expression": expression,
                                              "returnByValue": True})["result"]["value"]

    def problems(self) -> list[str]:
        """Console messages, exceptions, logged errors and requests outside the page."""
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                found.append(f"console.{params['type']}: {params['args']}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Log.entryAdded":
                found.append(f"log {params['entry']['level']}: {params['entry']['text']}")
            elif (method == "Network.requestWillBeSent"
                  and not params["request"]["url"].startswith("file://")):
                found.append(f"request: {params['request']['url']}")
        return found

    def screenshot(self, path: Path) -> None:
        """The whole page, however long, as a PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture
def browser(tmp_path) -> Iterator[Browser]:
    chromium = Browser(tmp_path / "profile")
    yield chromium
    chromium.close()


def test_the_browser_check_sees_console_errors_and_requests(browser, tmp_path):
    """The check below proves something only if it fails on a page that misbehaves."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><script>console.error("boom")</script>'
                    '<img src="http://127.0.0.1:9/x.png">')
    problems = browser.open(page, *PHONE).problems()
    assert any("console.error" in problem and "boom" in problem for problem in problems)
    assert any("request: http://127.0.0.1:9/x.png" in problem for problem in problems)


@pytest.mark.parametrize("name, make_report", [("failing", failing_report),
                                               ("broken-build", broken_build_report)])
def test_the_report_renders_cleanly_on_a_phone_and_a_desktop(browser, tmp_path, name,
                                                             make_report):
    page = tmp_path / f"{name}.html"
    page.write_text(html.render(make_report().for_student()), encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for device, (width, height) in (("phone", PHONE), ("desktop", DESKTOP)):
        tab = browser.open(page, width, height)
        assert tab.problems() == []
        assert tab.evaluate("document.documentElement.scrollWidth") <= width, \
            f"the report is wider than a {device} and scrolls sideways"
        assert tab.evaluate("document.querySelectorAll('section.check').length") == \
            len(make_report().checks)
        tab.screenshot(ARTIFACTS / f"{name}-{device}.png")
        assert (ARTIFACTS / f"{name}-{device}.png").stat().st_size > 10_000
