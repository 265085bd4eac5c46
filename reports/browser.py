"""Open a page in real headless Chromium and record what it did: the proof that a report
loads from ``file://`` without errors and without touching the network.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (JSON
messages separated by NUL bytes on file descriptors 3 and 4), so nothing beyond the
browser is needed: no websocket client, no driver. The browser runs with a throw-away
profile and is closed (and reaped) however the visit ends. A visit records every
exception, console error and log error, every network request other than the page
itself, how long the page took to load and to draw (the report sets ``data-ready`` on
``<html>`` when its charts are drawn), values of JavaScript expressions, and optionally
a screenshot. Used by the Chromium tests and ``bench/report.py``.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harness.errors import EnvironmentProblem

CHROMIUM_NAMES: Final = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_FLAGS: Final = ("--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--no-first-run",
                         "--no-default-browser-check", "--disable-extensions",
                         "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                         "--mute-audio", "--remote-debugging-pipe")
MAX_SCREENSHOT_HEIGHT: Final = 8000


def chromium_path() -> str | None:
    """The Chromium executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True, slots=True)
class PageVisit:
    """What happened while a page loaded."""

    url: str
    load_ms: float  # from navigation to the load event, wall clock
    ready_ms: float | None  # from navigation until <html data-ready> (None: never)
    exceptions: tuple[str, ...]
    console_errors: tuple[str, ...]
    log_errors: tuple[str, ...]
    requests: tuple[str, ...]  # every request other than the page itself
    values: Mapping[str, Any] = field(default_factory=dict)
    screenshot: Path | None = None

    @property
    def errors(self) -> tuple[str, ...]:
        """Every error seen, of any kind."""
        return self.exceptions + self.console_errors + self.log_errors


class _Pipe:
    """The DevTools protocol over Chromium's debugging pipe."""

    def __init__(self, to_browser: int, from_browser: int) -> None:
        self._out, self._in = to_browser, from_browser
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: Mapping[str, Any] | None = None,
             session: str | None = None) -> int:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": dict(params or {})}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._out, data):]
        return self._next_id

    def call(self, method: str, params: Mapping[str, Any] | None = None,
             session: str | None = None, timeout_s: float = 30.0) -> dict[str, Any]:
        """Send a command and wait for its answer (events seen meanwhile are kept)."""
        mid = self.send(method, params, session)
        reply = self.wait(lambda m: m.get("id") == mid, timeout_s)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        result = reply.get("result") or {}
        assert isinstance(result, dict)
        return result

    def wait(self, pred: Any, timeout_s: float) -> dict[str, Any]:
        """The first message (answer or event) matching ``pred``; events are recorded."""
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "method" in msg:
                    self.events.append(msg)
                if pred(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._in], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed its debugging pipe")
                self._buf += chunk


def _text_of(args: list[dict[str, Any]]) -> str:
    return " ".join(str(a.get("value", a.get("description", ""))) for a in args)


def visit(path: Path, *, screenshot: Path | None = None, width: int = 1400, height: int = 1000,
          full_page: bool = True, evaluate: Mapping[str, str] | None = None,
          timeout_s: float = 60.0, chromium: str | None = None) -> PageVisit:
    """Load a local page in headless Chromium and report what it did (see module doc).

    ``evaluate`` maps names to JavaScript expressions whose values are returned in
    ``values`` (evaluated once the page has drawn)."""
    exe = chromium or chromium_path()
    if exe is None:
        raise EnvironmentProblem("no Chromium on PATH: install Debian's `chromium` package")
    url = Path(path).resolve().as_uri()
    profile = tempfile.mkdtemp(prefix="chaos-chromium-")
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()

    def wire_pipes() -> None:  # in the child: the pipe ends become fds 3 and 4
        a, b = os.dup(to_child_r), os.dup(from_child_w)
        os.dup2(a, 3)
        os.dup2(b, 4)

    proc = subprocess.Popen(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
         "about:blank"],
        pass_fds=(3, 4), preexec_fn=wire_pipes,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_child_r)
    os.close(from_child_w)
    pipe = _Pipe(to_child_w, from_child_r)
    try:
        return _visit(pipe, url, screenshot, width, height, full_page, evaluate or {},
                      timeout_s)
    finally:
        try:
            pipe.send("Browser.close")
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=10)
        os.close(to_child_w)
        os.close(from_child_r)
        shutil.rmtree(profile, ignore_errors=True)


def _visit(pipe: _Pipe, url: str, screenshot: Path | None, width: int, height: int,
           full_page: bool, evaluate: Mapping[str, str], timeout_s: float) -> PageVisit:
    target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout_s=timeout_s)
    session = pipe.call("Target.attachToTarget", {"targetId": target["targetId"],
                                                  "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.call(f"{domain}.enable", session=session)
    pipe.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                     "deviceScaleFactor": 1, "mobile": False},
              session=session)
    pipe.events.clear()
    started = time.monotonic()
    pipe.call("Page.navigate", {"url": url}, session=session, timeout_s=timeout_s)
    pipe.wait(lambda m: m.get("method") == "Page.loadEventFired", timeout_s)
    load_ms = (time.monotonic() - started) * 1000
    ready_ms = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready = _evaluate(pipe, session, "document.documentElement.dataset.ready === '1'")
        if ready is True:
            ready_ms = (time.monotonic() - started) * 1000
            break
        errs = _evaluate(pipe, session, "document.documentElement.dataset.jsErrors || '0'")
        if errs not in ("0", None):
            break
        time.sleep(0.05)
    values = {name: _evaluate(pipe, session, expr) for name, expr in evaluate.items()}
    shot = None
    if screenshot is not None:
        shot = _screenshot(pipe, session, screenshot, width, height, full_page)
    events = pipe.events
    exceptions = tuple(
        str(e["params"]["exceptionDetails"].get("exception", {}).get("description")
            or e["params"]["exceptionDetails"].get("text"))
        for e in events if e["method"] == "Runtime.exceptionThrown")
    console_errors = tuple(_text_of(e["params"].get("args", [])) for e in events
                           if e["method"] == "Runtime.consoleAPICalled"
                           and e["params"].get("type") in ("error", "assert"))
    log_errors = tuple(str(e["params"]["entry"].get("text")) for e in events
                       if e["method"] == "Log.entryAdded"
                       and e["params"]["entry"].get("level") == "error")
    requests = tuple(e["params"]["request"]["url"] for e in events
                     if e["method"] == "Network.requestWillBeSent"
                     and e["params"]["request"]["url"] != url)
    return PageVisit(url, round(load_ms, 1), None if ready_ms is None else round(ready_ms, 1),
                     exceptions, console_errors, log_errors, requests, values, shot)


def _evaluate(pipe: _Pipe, session: str, expression: str) -> Any:
    out = pipe.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                    session=session)
    return (out.get("result") or {}).get("value")


def _screenshot(pipe: _Pipe, session: str, path: Path, width: int, height: int,
                full_page: bool) -> Path:
    if full_page:
        metrics = pipe.call("Page.getLayoutMetrics", session=session)
        size = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
        height = min(int(size.get("height", height)), MAX_SCREENSHOT_HEIGHT)
        pipe.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session)
        time.sleep(0.3)  # the page redraws its charts on resize
    shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
