"""The status page as an operator relies on it: the assessment table in the assessment's columns and colours,
every kind of object from the catalog, problems first, ages that keep moving on a cached page, and nothing a
device says can become markup."""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any

from collectors.model.readings import ArrayReading, DriveReading, LinkReading, SlotReading, SlotScan, UpsReading
from collectors.model.snapshot import CollectorStatus, Gap, Snapshot, View
from daemon.store import SnapshotStore
from exporters import catalog
from exporters.status_page import PageCache, duration, render, status_page_route

NOW = 1_700_000_000.0

GAPS = (
    Gap("P1", "No UPS", "Power event corrupts NVMe.", True, "high", ("desk@127.0.0.1:3493: on battery (OB DISCHRG)",),
        True),
    Gap("P2", "Single NAS drive", "One drive failure loses all data.", True, "critical",
        ("md0 (md degraded, failed: sdb) survives no further drive failure",), True),
    Gap("P3", "Running at GbE when 10G is available", "Bottleneck.", False, "low", (), True),
    Gap("P4", "Single compute host", "All VMs on one machine.", False, "high", (), False,
        "not measured yet: physgap does not probe compute hosts in this release"),
)

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>" onmouseover="alert(2)'


def drive(name: str, model: str, state: str = "read", health: int | None = 0, read_at: float | None = NOW - 90,
          **extra: Any) -> DriveReading:
    return DriveReading(drive=f"wwn-0x5000{name}", device=f"/dev/{name}", dev_type="sat", protocol="ATA",
                        model=model, serial=f"S-{name}", rotational=True, state=state, health=health, evidence=(),
                        smart_passed=health != 2, exit_status=0, read_at=read_at, kernel_name=name, **extra)


def ups(name: str, flags: tuple[str, ...], charge: float) -> UpsReading:
    return UpsReading(ups=f"{name}@127.0.0.1:3493", source="nut", up=True, reason="", flags=flags,
                      manufacturer="APC", model="Back-UPS", battery_charge_ratio=charge,
                      battery_runtime_seconds=1500.0, load_ratio=0.17)


def world(drives: Iterable[DriveReading] | None = None, collectors_ok: bool = True, version: int = 7) -> View:
    if drives is None:
        drives = (drive("sda", "WDC WD40EFRX", temperature_celsius=34.0, reallocated_sectors=0),
                  drive("sdb", "TOSHIBA MG05ACA800E", health=2, reallocated_sectors=12001, pending_sectors=48),
                  drive("sdc", "ST3000DM001", state="standby", read_at=NOW - 7200))
    statuses = {
        "smart": CollectorStatus("smart", True, duration_seconds=0.25, last_run=NOW - 5, last_success=NOW - 5,
                                 readings=tuple(drives)),
        "storage": CollectorStatus("storage", True, last_run=NOW - 3, last_success=NOW - 3, readings=(
            ArrayReading("md0", "md", "raid1", "clean", ("sda", "sdb"), ("sdb",), 0, True),)),
        "ups": CollectorStatus("ups", collectors_ok, "" if collectors_ok else "connection refused <127.0.0.1:3493>",
                               last_run=NOW - 2, last_success=NOW - 600, readings=(
                                   ups("desk", ("OB", "DISCHRG"), 0.8), ups("rack", ("OL",), 1.0))),
        "nic": CollectorStatus("nic", True, last_run=NOW - 1, last_success=NOW - 1, readings=(
            LinkReading("enp87s0", True, "ethernet", "up", True, True, 1000, True, 2500, (), 2500, 3),)),
        "pcie": CollectorStatus("pcie", True, last_run=NOW - 1, last_success=NOW - 1, readings=(
            SlotScan(True, "sysfs"),
            SlotReading("PCIE1", "0000:00:01.0", "PCIE1", "x16 PCI Express 4", "x16", False, None, "no link"))),
        "oob": CollectorStatus("oob", None),
    }
    return View(Snapshot("pve1", NOW - 1, MappingProxyType(statuses)), GAPS, version)


class Dom(HTMLParser):
    """Elements, attributes and text as a browser's parser sees them."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def section(page: str, name: str) -> str:
    found = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S)
    assert found, f"no section {name}"
    return found.group(1)


def text(fragment: str) -> str:
    return "".join(Dom(fragment).text).strip()


def rows(html: str) -> list[list[str]]:
    """Each body row's cells as text."""
    return [[text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html.split("<tbody>", 1)[1], re.S)]


def test_the_assessment_table_has_the_assessment_s_columns_and_every_gap_in_rule_order() -> None:
    page = render(world(), NOW)
    gaps = section(page, "gaps")
    assert re.findall(r"<th(?: [^>]*)?>(.*?)</th>", gaps) == ["#", "Gap", "Risk", "Severity", "Status", "Evidence"]
    table = rows(gaps)
    assert [r[0] for r in table] == ["P1", "P2", "P3", "P4"]
    assert table[1][3:] == ["Critical", "open", "md0 (md degraded, failed: sdb) survives no further drive failure"]
    # Severity is the gap's own, whatever its status (the Status column says resolved or unknown).
    assert table[2][3:5] == ["Low", "resolved"]
    # An unknown gap says why instead of showing evidence, and never reads as resolved.
    assert table[3][3:] == ["High", "unknown", GAPS[3].reason]


def test_open_gaps_are_coloured_by_severity_and_unknown_differs_from_resolved() -> None:
    gaps = section(render(world(), NOW), "gaps")
    classes = re.findall(r'<tr class="([^"]*)">', gaps)
    assert classes == ["sev-high", "sev-critical", "status-resolved", "status-unknown"]
    page = render(world(), NOW)
    # The style sheet gives each its own look: unknown hatched, resolved green.
    assert ".status-unknown{" in page and ".status-resolved{" in page and ".sev-critical{" in page
    assert '<span class="pill sev-critical">1 critical open</span>' in page
    assert '<span class="pill status-unknown">1 unknown</span>' in page
    assert "<title>pve1 · 2 open, worst Critical · physgap</title>" in page


def test_every_section_in_order_with_catalog_names_as_headers() -> None:
    page = render(world(), NOW)
    ids = re.findall(r'<section id="([^"]+)">', page)
    assert ids == ["gaps", "drive", "array", "ups", "nic", "switch", "switch_port", "slot", "pcie_link", "oob",
                   "oob_local", "compute", "host", "collector"]
    drives = section(page, "drive")
    headers = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', drives)
    for field in catalog.DRIVES.fields:
        if field.metric in ("physgap_drive_temperature_celsius", "physgap_drive_health",
                            "physgap_drive_reading_age_seconds", "physgap_drive_pending_sectors"):
            assert field.name in headers
    # Columns nobody has a value for are left out: no drive here reports NVMe wear.
    assert catalog.DRIVES.fields[0].name not in headers  # the identity is spread over its labels instead
    assert "Wear" not in headers and "Model" in headers and "Serial" in headers
    assert "None reported." in section(page, "pcie_link")


def test_the_failing_drive_comes_first_in_red_with_its_state_in_words() -> None:
    drives = section(render(world(), NOW), "drive")
    table = rows(drives)
    assert table[0][0] == "wwn-0x5000sdb"
    assert "TOSHIBA MG05ACA800E" in table[0] and "failing" in table[0] and "12,001" in table[0]
    assert re.search(r'<td data-label="Health" class="bad num">failing</td>', drives)
    assert drives.index("<tr class=\"row-bad\">") < drives.index("wwn-0x5000sda")


def test_the_ups_on_battery_shows_its_flags_charge_and_runtime() -> None:
    table = {r[0]: r for r in rows(section(render(world(), NOW), "ups"))}
    desk = table["desk@127.0.0.1:3493"]
    assert "OB DISCHRG" in desk and "80 %" in desk and "25 min" in desk
    assert table["rack@127.0.0.1:3493"][table["rack@127.0.0.1:3493"].index("OL")] == "OL"


def test_link_speeds_read_in_bits_and_slots_show_their_labels() -> None:
    page = render(world(), NOW)
    nic = rows(section(page, "nic"))[0]
    assert "1 Gbit/s" in nic and "2.5 Gbit/s" in nic
    slot = rows(section(page, "slot"))[0]
    assert slot[:2] == ["PCIE1", "PCIE1"] and "x16" in slot and "no" in slot


def test_collectors_show_age_and_last_error_and_a_collector_that_never_ran() -> None:
    collectors = {r[0]: r for r in rows(section(render(world(collectors_ok=False), NOW), "collector"))}
    assert collectors["ups"][-1] == "connection refused <127.0.0.1:3493>"
    assert "10 min ago" in collectors["ups"]
    assert collectors["smart"][1:] == ["yes", "250 ms", "5 s ago", "—"]
    assert collectors["oob"][1] == "unknown"


def test_device_strings_cannot_become_markup() -> None:
    hostile = drive("sdx", HOSTILE, health=2)
    view = world(drives=(hostile,))
    view = View(view.snapshot, (Gap("P2", "Single NAS drive", "r", True, "critical", (f"/dev/sdx {HOSTILE} failing",),
                                    True),), 1)
    page = render(view, NOW)
    dom = Dom(page)
    assert [tag for tag, _ in dom.tags if tag in ("script", "img")] == []
    assert not any(name.startswith("on") for _, attrs in dom.tags for name in attrs)
    text = "".join(dom.text)
    assert HOSTILE in text  # shown as the text it is, in the drive table and in the evidence
    assert text.count(HOSTILE) == 2


def test_absurd_values_are_shown_not_fatal() -> None:
    odd = drive("sdz", "ODD", health=7, temperature_celsius=float("nan"), power_on_seconds=float("inf"),
                reallocated_sectors=-3, read_at=NOW + 3600)  # read "in the future": a clock stepped back
    table = rows(section(render(world(drives=(odd,)), NOW), "drive"))[0]
    assert "nan" in table and "inf" in table  # temperature and power-on time, as the source said
    # ... and marked unknown, never left as a plain (healthy-looking) cell.
    drives = section(render(world(drives=(odd,)), NOW), "drive")
    cells = re.findall(r'<td[^>]*class="([^"]*)"[^>]*>(nan|inf)</td>', drives)
    assert sorted(text for _, text in cells) == ["inf", "nan"] and all("unknown" in cls for cls, _ in cells)
    assert "-3" in table and "7" in table and table[-1] == "0 ms"


def test_a_cached_page_follows_new_views_and_its_ages_keep_moving() -> None:
    store = SnapshotStore("pve1", lambda s: (), ["smart"])
    cache = PageCache(store.current)
    assert "None reported." in section(cache.body(NOW), "drive")
    store.record(CollectorStatus("smart", True, last_run=NOW, last_success=NOW, readings=(drive("sda", "WDC"),)))
    first = cache.body(NOW)
    assert "wwn-0x5000sda" in first
    assert re.search(r'data-label="Last success"[^>]*>0 ms ago<', first)
    assert re.search(r'data-label="Reading age"[^>]*>90 s<', first)
    # No new View (a stuck collector): the page is the cached one, but the ages read at request time.
    later = cache.body(NOW + 600)
    assert re.search(r'data-label="Last success"[^>]*>10 min ago<', later)
    assert re.search(r'data-label="Reading age"[^>]*>12 min<', later)
    assert re.sub(r">[^<]*ago<|>\d+ (s|min)<", "><", first) == re.sub(r">[^<]*ago<|>\d+ (s|min)<", "><", later)


def test_the_route_serves_html_that_may_run_no_script_gzip_when_asked() -> None:
    import gzip

    view = world()
    route = status_page_route(lambda: view, telemetry_path="/physgap/metrics", refresh_seconds=15)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(route({"PATH_INFO": "/", "HTTP_ACCEPT_ENCODING": "gzip, br"}, start_response))
    headers = seen["headers"]
    assert seen["status"] == "200 OK" and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Encoding"] == "gzip" and int(headers["Content-Length"]) == len(body)
    assert "script-src" not in headers["Content-Security-Policy"]
    assert headers["Content-Security-Policy"].startswith("default-src 'none'; style-src 'sha256-")
    assert headers["Cache-Control"] == "no-store"
    page = gzip.decompress(body).decode()
    assert '<meta http-equiv="refresh" content="15">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert 'href="physgap/metrics"' in page and 'href="api/v1/view"' in page
    # No external asset: every URL on the page is a relative link of this server or a data: URL.
    urls = re.findall(r'(?:href|src)="([^"]*)"', page)
    assert all(not re.match(r"[a-z]+://|//", url) for url in urls), urls


def test_the_style_hash_in_the_policy_matches_the_style_element() -> None:
    import base64
    import hashlib

    from exporters.status_page_css import CONTENT_SECURITY_POLICY

    style = re.search(r"<style>(.*?)</style>", render(world(), NOW), re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in CONTENT_SECURITY_POLICY


def test_durations_read_as_an_operator_says_them() -> None:
    assert [duration(s) for s in (0.0123, 5, 119, 600, 7199, 7200, 86400 * 3, -4)] == [
        "12 ms", "5 s", "119 s", "10 min", "120 min", "2 h", "3 d", "0 ms"]
