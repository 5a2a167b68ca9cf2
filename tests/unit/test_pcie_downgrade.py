"""physgap_pcie_link_downgraded exists only where a link was judged: the collector over a sysfs tree shaped after
the MS-01, rendered by the real exporters (Prometheus text, Home Assistant state, status page, P5)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path

from collectors.kit.context import RunContext
from collectors.model.readings import AnyReading, PcieLinkReading
from collectors.model.snapshot import View
from collectors.pcie.collector import PcieCollector
from collectors.pcie.config import PcieConfig
from daemon.gaps import RULES
from daemon.gaps.engine import evaluate
from exporters.catalog import PCIE_LINKS
from exporters.mqtt.entities import objects
from exporters.mqtt.states import state_document
from exporters.prometheus import render
from exporters.status_page import render as render_page
from tests.gap_fixtures import CTX, snapshot
from tests.pcie_tree import PcieTree, ms01

DOWNGRADED = next(f for f in PCIE_LINKS.fields if f.metric == "physgap_pcie_link_downgraded")
SSD = "0000:01:00.0"  # WD SN850X, Gen4 x4 behind root port 00:06.0
WIFI = "0000:5a:00.0"  # Intel AX210, Gen2 x1 behind root port 00:1d.3
ROOT_PORT = "0000:00:06.0"


class Host:
    """The collector as the daemon runs it, one run after another, over `tree`."""

    def __init__(self, tmp_path: Path, tree: PcieTree) -> None:
        self.tmp_path = tmp_path
        self.collector = PcieCollector(PcieConfig(dmidecode="/nonexistent/dmidecode"), tree.root)

    def run(self) -> Sequence[AnyReading]:
        ctx = RunContext(deadline=time.monotonic() + 10, state_dir=self.tmp_path / "state")
        return self.collector.collect(ctx)


def links(readings: Sequence[AnyReading]) -> dict[str, PcieLinkReading]:
    return {r.address: r for r in readings if isinstance(r, PcieLinkReading)}


def view_of(readings: Sequence[AnyReading]) -> View:
    snap = snapshot(nic=(), pcie=tuple(readings))
    return View(snap, evaluate(snap, RULES, {}, CTX))


def exported(readings: Sequence[AnyReading]) -> dict[str, str]:
    """address -> the physgap_pcie_link_downgraded value as /metrics shows it."""
    text = render(view_of(readings)).decode()
    return dict(re.findall(r'^physgap_pcie_link_downgraded\{address="([^"]+)",device="[^"]+"\} (\S+)$', text, re.M))


def ha_state(readings: Sequence[AnyReading], address: str) -> object:
    obj = next(o for o in objects(view_of(readings)) if o.kind is PCIE_LINKS and o.reading.address == address)
    return state_document(obj, 0.0)["downgraded"]


def page_cell(readings: Sequence[AnyReading], address: str) -> str:
    """The Downgraded cell of `address`'s row on the status page, as HTML."""
    page = render_page(view_of(readings), 0.0)
    found = re.search(r'<section id="pcie_link">(.*?)</section>', page, re.S)
    assert found
    headers = re.findall(r"<th[^>]*>(.*?)</th>", found.group(1))
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1).split("<tbody>", 1)[1], re.S):
        cells = re.findall(r"(<t[dh][^>]*>.*?</t[dh]>)", row, re.S)
        if address in cells[0]:
            return cells[headers.index(DOWNGRADED.name)]
    raise AssertionError(f"no row for {address}")


def test_a_judged_endpoint_exports_0_then_1_when_it_retrains_narrower(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    host = Host(tmp_path, tree)
    first = host.run()
    assert exported(first)[SSD] == "0.0"
    assert ha_state(first, SSD) == "OFF"
    assert ">no<" in page_cell(first, SSD)

    tree.set_link(SSD, 16.0, 2)
    narrower = host.run()
    assert exported(narrower)[SSD] == "1.0"
    assert ha_state(narrower, SSD) == "ON"
    assert ">yes<" in page_cell(narrower, SSD)


def test_unreadable_current_speed_has_no_downgraded_sample(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    host = Host(tmp_path, tree)
    host.run()  # the baseline: 16 GT/s x4
    tree.set_link(SSD, None, 4)  # the kernel prints "Unknown": the width is fine, the speed is not measured

    readings = host.run()
    assert SSD not in exported(readings)
    assert ha_state(readings, SSD) is None  # Home Assistant: unknown, not OFF
    cell = page_cell(readings, SSD)
    assert "unknown" in cell and ">no<" not in cell
    reading = links(readings)[SSD]
    assert (reading.downgraded, reading.not_judged) == (None, "current link speed unreadable")


def test_link_that_cannot_be_read_at_all_is_not_judged(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    host = Host(tmp_path, tree)
    host.run()
    # A device that stopped answering reads all ones: the kernel shows speed code 0xf as "Unknown" and
    # width 0x3f as 63, which is no PCIe width.
    tree.write(SSD, "current_link_speed", "Unknown")
    tree.write(SSD, "current_link_width", "63")
    readings = host.run()
    assert SSD not in exported(readings)
    reading = links(readings)[SSD]
    assert (reading.downgraded, reading.not_judged) == (None, "current link speed and width unreadable")


def test_a_measured_drop_is_judged_even_when_the_other_half_is_unreadable(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    host = Host(tmp_path, tree)
    host.run()
    tree.set_link(SSD, None, 1)  # x1 of a x4 baseline: a downgrade whatever the speed
    readings = host.run()
    assert links(readings)[SSD].downgraded is True
    assert exported(readings)[SSD] == "1.0"


def test_first_seen_link_without_a_trained_baseline_has_no_downgraded_sample(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    tree.set_link(WIFI, None, 0)  # link down when physgap first sees the card: nothing to compare with
    host = Host(tmp_path, tree)

    readings = host.run()
    reading = links(readings)[WIFI]
    assert (reading.baseline_width, reading.downgraded) == (None, None)
    assert reading.not_judged.startswith("no baseline yet")
    assert WIFI not in exported(readings)
    assert ha_state(readings, WIFI) is None

    tree.set_link(WIFI, 5.0, 1)  # it trains: that is the baseline, and from now on it is judged
    assert exported(host.run())[WIFI] == "0.0"


def test_root_and_downstream_ports_carry_no_verdict_of_their_own(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    host = Host(tmp_path, tree)
    host.run()
    for address in (ROOT_PORT, SSD):
        tree.set_link(address, 16.0, 2)
    readings = host.run()
    port = links(readings)[ROOT_PORT]
    assert (port.port_type, port.downgraded, port.baseline_width) == ("root_port", None, None)
    assert port.not_judged == "judged at the device end of the link"
    values = exported(readings)
    assert ROOT_PORT not in values and values[SSD] == "1.0"  # one verdict per link, at the card
    # The port's row shows no value rather than "no"; its speed and width are still there.
    assert ">no<" not in page_cell(readings, ROOT_PORT)
    assert re.search(rf'physgap_pcie_link_width\{{address="{ROOT_PORT}"', render(view_of(readings)).decode())


def test_the_integrated_gpu_has_no_link_to_judge(tmp_path: Path) -> None:
    readings = Host(tmp_path, ms01(tmp_path / "sys")).run()
    assert "0000:00:02.0" not in exported(readings)
    igpu = links(readings)["0000:00:02.0"]
    assert (igpu.downgraded, igpu.not_judged) == (None, "integrated in the root complex: no link")


def test_p5_lists_only_judged_downgrades(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    host = Host(tmp_path, tree)
    host.run()
    tree.set_link(SSD, None, 4)  # not judged
    tree.set_link("0000:02:00.0", 8.0, 2)  # X710 port 0 at x2 of its x4 baseline
    p5 = next(g for g in view_of(host.run()).gaps if g.id == "P5")
    assert [e for e in p5.evidence if "baseline" in e] == [
        "0000:02:00.0 8086:1572 trained 8GT/s x2, below its baseline 8GT/s x4"]
