"""The status page in a real browser: Debian's chromium, headless, driven over the DevTools protocol on a
pipe (no browser driver, no websocket library), loads `/` from a real daemon replaying the fixture world (a
failing md member, a sleeping disk, a degraded mirror, a UPS on battery on a real upsd). The test reads what
the browser rendered: text, computed colours, and whether a phone-sized viewport scrolls sideways. Screenshots
are saved under the test's tmp_path for a human to look at.

And the page is one route of the same server as /metrics: with basic auth configured it answers nobody
without the password.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from tests.conftest import (
    DaemonProcess,
    empty_sysfs,
    free_port,
    http_get,
    require_binary,
    start_daemon,
    write_config,
)
from tests.golden.world import fixture_world
from tests.pki import make_pki

COLLECTORS = ("nic", "pcie", "smart", "storage", "ups")
TIMEOUT = 30.0


SHIM = ("import os, sys\n"
        "inbound, outbound = int(sys.argv[1]), int(sys.argv[2])\n"
        "os.dup2(inbound, 3)\nos.dup2(outbound, 4)\nos.close(inbound)\nos.close(outbound)\n"
        "os.execv(sys.argv[3], sys.argv[3:])\n")


class Browser:
    """Headless Chromium over `--remote-debugging-pipe`: NUL-separated JSON on fds 3 (in) and 4 (out)."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser, self._write_fd = os.pipe()
        self._read_fd, from_browser = os.pipe()
        # Chromium reads commands on fd 3 and answers on fd 4. A small exec shim puts the pipe ends there (no
        # preexec_fn, which is unsafe with threads); they are first copied above fd 9 so that placing one
        # cannot overwrite the other.
        inbound, outbound = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser, from_browser))
        os.close(to_browser)
        os.close(from_browser)
        argv = [chromium, "--headless", "--disable-gpu", "--remote-debugging-pipe", f"--user-data-dir={profile}",
                "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "about:blank"]
        if os.geteuid() == 0:
            argv.insert(1, "--no-sandbox")  # Chromium refuses to sandbox itself as root
        self.proc = subprocess.Popen([sys.executable, "-c", SHIM, str(inbound), str(outbound), *argv],
                                     pass_fds=(inbound, outbound), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(inbound)
        os.close(outbound)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._read_fd], [], [], remaining)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._read_fd, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            answer = self._receive(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def open(self, url: str, width: int, height: int, mobile: bool = False) -> str:
        """A new tab of the given viewport with `url` loaded; returns its session."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session: str = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=session)
        self.call("Log.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "mobile": mobile,
                                                         "deviceScaleFactor": 2 if mobile else 1}, session)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session
                      for e in self.events):
            self.events.append(self._receive(deadline))
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, session: str, path: Path, full_page: bool = True) -> Path:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page}, session)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.proc.wait(10)
        except (OSError, EOFError, TimeoutError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)
        finally:
            os.close(self._write_fd)
            os.close(self._read_fd)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    instance = Browser(require_binary("chromium"), tmp_path / "chromium-profile")
    try:
        yield instance
    finally:
        instance.close()


def wait_until_collected(daemon: DaemonProcess) -> None:
    """Until every collector has finished at least once: a page of half a world tests nothing."""
    deadline = time.monotonic() + TIMEOUT
    body = ""
    while time.monotonic() < deadline:
        status, body = http_get(daemon.url + "/metrics")
        if status == 200 and all(f'physgap_collector_last_success_timestamp_seconds{{collector="{name}"}}' in body
                                 for name in COLLECTORS):
            return
        time.sleep(0.2)
    raise AssertionError(f"not every collector reported within {TIMEOUT} s:\n{body}")


# Each body row of a section's table: its class and its cells' rendered text.
ROWS = """Array.from(document.querySelectorAll('#%s tbody tr')).map(r => ({
  cls: r.className, cells: Array.from(r.cells).map(c => c.innerText.trim())}))"""
# The cell of a row under a header, with how the browser painted it.
CELL = """(() => {
  const table = document.querySelector('#%s table');
  const column = Array.from(table.tHead.rows[0].cells).findIndex(h => h.innerText.trim() === %s);
  const row = Array.from(table.tBodies[0].rows).find(r => r.innerText.includes(%s));
  const cell = row.cells[column], style = getComputedStyle(cell);
  return {text: cell.innerText.trim(), background: style.backgroundColor, image: style.backgroundImage,
          label: getComputedStyle(cell, '::before').content};
})()"""


def test_a_browser_shows_the_gaps_the_failing_drive_and_the_ups_on_battery(
        tmp_path: Path, browser: Browser, daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    with fixture_world(tmp_path / "world", port) as world:
        daemon = start_daemon(world.config, port)
        daemon_factory.append(daemon)
        wait_until_collected(daemon)
        page = browser.open(daemon.url + "/", 1280, 900)
        gaps = browser.evaluate(page, ROWS % "gaps")
        drives = browser.evaluate(page, ROWS % "drive")
        upses = browser.evaluate(page, ROWS % "ups")
        failing = browser.evaluate(page, CELL % ("drive", json.dumps("Health"), json.dumps("MG05ACA800E")))
        unknown = browser.evaluate(page, CELL % ("gaps", json.dumps("Severity"), json.dumps("P6")))
        not_applicable = browser.evaluate(page, CELL % ("gaps", json.dumps("Severity"), json.dumps("P4")))
        resolved = browser.evaluate(page, CELL % ("gaps", json.dumps("Severity"), json.dumps("P5")))
        asleep = browser.evaluate(page, CELL % ("drive", json.dumps("Standby"), json.dumps("/dev/sdc")))
        on_battery = browser.evaluate(page, CELL % ("ups", json.dumps("On battery"), json.dumps("desk@")))
        title = browser.evaluate(page, "document.title")
        desktop = browser.screenshot(page, tmp_path / "status-desktop.png")

        phone = browser.open(daemon.url + "/", 390, 844, mobile=True)
        widths = browser.evaluate(phone, "[document.documentElement.scrollWidth, window.innerWidth]")
        card = browser.evaluate(phone, CELL % ("drive", json.dumps("Health"), json.dumps("MG05ACA800E")))
        # What a phone shows first, and the whole page (tall: every table is a stack of cards there).
        mobile = browser.screenshot(phone, tmp_path / "status-phone.png", full_page=False)
        browser.screenshot(phone, tmp_path / "status-phone-full.png")
        assert daemon.stop() == 0

    # The assessment table, every rule in order, open ones coloured by severity.
    assert [(g["cells"][0], g["cells"][3], g["cells"][4], g["cls"]) for g in gaps] == [
        ("P1", "High", "open", "sev-high"), ("P2", "Critical", "open", "sev-critical"),
        ("P3", "Low", "open", "sev-low"), ("P4", "High", "not applicable", "status-not-applicable"),
        ("P5", "Informational", "resolved", "status-resolved"), ("P6", "High", "unknown", "status-unknown")]
    assert "/dev/sdb TOSHIBA MG05ACA800E failing in md0" in gaps[1]["cells"][5]
    assert "desk@127.0.0.1" in gaps[0]["cells"][5]
    assert title.startswith("testhost · 3 open, worst Critical")
    # Unknown is hatched grey and marked "?", resolved solid green, not applicable neither: none can be
    # mistaken for another.
    assert "repeating-linear-gradient" in unknown["image"] and resolved["image"] == "none"
    assert resolved["background"] == "rgb(47, 158, 68)" and unknown["label"] == '"? "'
    assert not_applicable["image"] == "none" and not_applicable["background"] not in (
        resolved["background"], unknown["background"])

    # The failing drive comes first, painted red (the inline style sheet passed the page's CSP).
    assert "TOSHIBA MG05ACA800E" in drives[0]["cells"] and drives[0]["cls"] == "row-bad"
    assert failing["text"] == "failing" and failing["background"] == "rgb(164, 22, 26)"
    assert asleep["text"] == "yes"  # the sleeping disk is shown as such, not as failed or missing

    # The UPS on battery, with its flags and charge.
    desk = next(u for u in upses if u["cells"][0].startswith("desk@"))
    assert "OB DISCHRG" in desk["cells"] and "80 %" in desk["cells"] and on_battery["text"] == "yes"

    # On a phone the tables become labelled cards: nothing scrolls sideways.
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px viewport"
    assert card["label"] == '"Health"' and card["text"].endswith("failing")
    assert not [e for e in browser.events if e.get("method") == "Log.entryAdded"
                and "Content Security Policy" in e["params"]["entry"].get("text", "")]
    for shot in (desktop, mobile):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def _get(url: str, ca: Path, auth: tuple[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_the_page_sits_behind_the_same_tls_and_basic_auth_as_the_metrics(
        tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    pki = make_pki(tmp_path)
    web = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"page-secret", bcrypt.gensalt(rounds=4)).decode()
    web.write_text(f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
                   f"basic_auth_users:\n  operator: {hashed}\n")
    port = free_port()
    config = write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port)
    config.write_text(config.read_text().replace("[prometheus]\n", f'[prometheus]\nweb_config = "{web}"\n'))
    daemon = start_daemon(config, port, scheme="https")
    daemon_factory.append(daemon)
    base = f"https://localhost:{port}"

    for path in ("/", "/metrics", "/api/v1/view"):
        status, headers, _ = _get(base + path, pki.ca)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic"), path
        assert _get(base + path, pki.ca, ("operator", "wrong"))[0] == 401, path
    status, headers, body = _get(base + "/", pki.ca, ("operator", "page-secret"))
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<section id="gaps">' in body and "physgap <span class=\"host\">testhost</span>" in body
    # Plain HTTP to the TLS port gets no page either.
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
    assert daemon.stop() == 0
