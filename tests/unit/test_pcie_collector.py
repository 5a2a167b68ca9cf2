"""PcieCollector over sysfs trees shaped after real machines, with stand-in dmidecode programs."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.model.readings import AnyReading, PcieLinkReading, SlotReading, SlotScan
from collectors.pcie.collector import BASELINE_FILE, PcieCollector, parse_speed, parse_width
from collectors.pcie.config import PcieConfig
from tests.pcie_tree import (
    MS01_SLOT_PORTS,
    MS01_THUNDERBOLT_PORTS,
    Function,
    PcieTree,
    Slot,
    microserver_gen10_plus,
    ms01,
    zimaboard_832,
)

WARN = (logging.WARNING, "physgap")

MICROSERVER_DMI = """# dmidecode 3.3
Getting SMBIOS data from sysfs.
SMBIOS 3.1.1 present.

Handle 0x0042, DMI type 9, 17 bytes
System Slot Information
\tDesignation: PCI-E Slot 1
\tType: x16 PCI Express 3
\tCurrent Usage: In Use
\tLength: Long
\tID: 1
\tCharacteristics:
\t\t3.3 V is provided
\t\tPME signal is supported
\tBus Address: 0000:07:00.0

"""


def dmi_slot(designation: str, address: str, length: int = 17, type_line: str = "x4 PCI Express 2 x4") -> str:
    return (
        f"Handle 0x0042, DMI type 9, {length} bytes\nSystem Slot Information\n\tDesignation: {designation}\n"
        f"\tType: {type_line}\n\tCurrent Usage: Available\n\tLength: Long\n\tBus Address: {address}\n\n"
    )


def pcie(sysfs: Path, dmidecode: str) -> PcieCollector:
    """The collector as the daemon builds it for a [pcie] section naming `dmidecode`."""
    return PcieCollector(PcieConfig(dmidecode=dmidecode), sysfs)


def ctx_for(tmp_path: Path, seconds: float = 10.0) -> RunContext:
    return RunContext(deadline=time.monotonic() + seconds, state_dir=tmp_path / "state")


def links(readings: Sequence[AnyReading]) -> dict[str, PcieLinkReading]:
    return {r.address: r for r in readings if isinstance(r, PcieLinkReading)}


def scans(readings: Sequence[AnyReading]) -> list[SlotScan]:
    return [r for r in readings if isinstance(r, SlotScan)]


def slots(readings: Sequence[AnyReading]) -> dict[str, SlotReading]:
    return {r.port: r for r in readings if isinstance(r, SlotReading)}


@pytest.fixture
def program(tmp_path: Path) -> Callable[[str], str]:
    """Writes an executable stand-in; it appends its argv to calls.log so tests can see invocations."""
    counter = iter(range(1000))

    def make(body: str) -> str:
        path = tmp_path / f"dmidecode-{next(counter)}"
        path.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "calls.log"}\n{body}\n')
        path.chmod(0o755)
        return str(path)

    return make


@pytest.fixture
def printing(program: Callable[[str], str], tmp_path: Path) -> Callable[[str], str]:
    """A stand-in dmidecode that prints the given text, as the real one prints a board's table."""

    def make(text: str) -> str:
        dump = tmp_path / f"dump-{len(list(tmp_path.glob('dump-*')))}.txt"
        dump.write_text(text)
        return program(f"cat '{dump}'")

    return make


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


# --- links ---------------------------------------------------------------------------------------------


def test_ms01_links_as_lspci_shows_them(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    readings = links(pcie(tree.root, "/nonexistent/dmidecode").collect(ctx_for(tmp_path)))

    x710 = readings["0000:02:00.0"]
    assert (x710.device, x710.class_code, x710.port_type) == ("8086:1572", "0x020000", "endpoint")
    assert (x710.current_speed_gts, x710.max_speed_gts, x710.current_width, x710.max_width) == (8.0, 8.0, 4, 4)
    assert x710.parent == "0000:00:06.2"
    port = readings["0000:00:06.2"]
    assert (port.port_type, port.current_speed_gts, port.max_speed_gts, port.current_width) == (
        "root_port", 8.0, 16.0, 4,
    )  # fmt: skip
    nvme = readings["0000:58:00.0"]
    assert (nvme.current_speed_gts, nvme.current_width, nvme.max_speed_gts, nvme.max_width) == (8.0, 2, 16.0, 4)
    assert "0000:00:00.0" not in readings and "0000:00:0d.0" not in readings  # conventional PCI: no link
    igpu = readings["0000:00:02.0"]
    assert igpu.current_speed_gts is None and igpu.baseline_width is None


def test_first_run_never_reports_a_downgrade_for_links_narrow_by_design(tmp_path: Path) -> None:
    # X710 at 8GT/s behind a 16GT/s port, NVMe x2 of x4, MicroServer I350 wired x2, Gen2 HBA in a Gen3 x16.
    for index, build in enumerate((ms01, microserver_gen10_plus)):
        tree = build(tmp_path / f"sys{index}")
        readings = pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path / f"run{index}"))
        assert [r.address for r in links(readings).values() if r.downgraded] == []
    microserver = links(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path / "run1")))
    assert microserver["0000:02:00.0"].baseline_width == 2
    assert microserver["0000:07:00.0"].baseline_speed_gts == 5.0


def test_downgrade_detected_when_the_link_retrains_narrower(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    collector = pcie(tree.root, "/nonexistent")
    collector.collect(ctx_for(tmp_path))
    for address in ("0000:00:06.2", "0000:02:00.0", "0000:02:00.1"):
        tree.set_link(address, 8.0, 2)

    after = links(collector.collect(ctx_for(tmp_path)))
    assert after["0000:02:00.0"].downgraded and after["0000:02:00.1"].downgraded
    assert (after["0000:02:00.0"].baseline_width, after["0000:02:00.0"].current_width) == (4, 2)
    assert not after["0000:00:06.2"].downgraded  # the verdict belongs to the card end of the link
    assert not after["0000:58:00.0"].downgraded

    for address in ("0000:00:06.2", "0000:02:00.0", "0000:02:00.1"):
        tree.set_link(address, 8.0, 4)
    assert not links(collector.collect(ctx_for(tmp_path)))["0000:02:00.0"].downgraded


def test_speed_drop_is_a_downgrade(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    collector = pcie(tree.root, "/nonexistent")
    collector.collect(ctx_for(tmp_path))
    tree.set_link("0000:01:00.0", 8.0, 4)  # Gen4 SSD trained at Gen3
    reading = links(collector.collect(ctx_for(tmp_path)))["0000:01:00.0"]
    assert reading.downgraded and reading.baseline_speed_gts == 16.0


def test_baseline_survives_a_restart(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path))
    document = json.loads((tmp_path / "state" / BASELINE_FILE).read_text())
    assert document["devices"]["0000:02:00.0"] == {"device": "8086:1572", "speed_gts": 8.0, "width": 4}

    tree.set_link("0000:02:00.0", 8.0, 2)
    restarted = links(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)))
    assert restarted["0000:02:00.0"].downgraded
    assert not list((tmp_path / "state").glob("*.tmp"))  # atomic write leaves no temporary behind


def test_card_swap_resets_the_baseline(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path))
    tree.update("0000:02:00.0", device=0x1583, width=2)  # a different NIC, x2 by design
    reading = links(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)))["0000:02:00.0"]
    assert (reading.device, reading.downgraded, reading.baseline_width) == ("8086:1583", False, 2)


def test_link_down_at_first_sight_does_not_become_the_baseline(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    tree.set_link("0000:5a:00.0", None, 0)
    collector = pcie(tree.root, "/nonexistent")
    first = links(collector.collect(ctx_for(tmp_path)))["0000:5a:00.0"]
    assert (first.baseline_width, first.downgraded) == (None, None)  # nothing to judge it against yet
    tree.set_link("0000:5a:00.0", 5.0, 1)
    second = links(collector.collect(ctx_for(tmp_path)))["0000:5a:00.0"]
    assert (second.baseline_width, second.baseline_speed_gts, second.downgraded) == (1, 5.0, False)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"devices": {"0000:02:00.0": {"width": "x4"}}}'])
def test_corrupt_baseline_is_set_aside_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    tree = ms01(tmp_path / "sys")
    state = tmp_path / "state"
    state.mkdir()
    (state / BASELINE_FILE).write_text(content)
    with caplog.at_level(*WARN):
        readings = links(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)))
    assert readings["0000:02:00.0"].baseline_width == 4
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    (aside,) = state.glob(f"{BASELINE_FILE}.corrupt-*")
    assert aside.read_text() == content
    assert json.loads((state / BASELINE_FILE).read_text())["devices"]["0000:02:00.0"]["width"] == 4


def test_unwritable_state_dir_is_logged_once_and_memory_keeps_working(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tree = ms01(tmp_path / "sys")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    ctx = RunContext(deadline=time.monotonic() + 10, state_dir=blocker)
    collector = pcie(tree.root, "/nonexistent")
    with caplog.at_level(*WARN):
        collector.collect(ctx)
        tree.set_link("0000:02:00.0", 8.0, 1)
        second = links(collector.collect(ctx))
    assert second["0000:02:00.0"].downgraded  # judged against the in-memory baseline
    assert len([r for r in caplog.records if "cannot write PCIe baseline" in r.getMessage()]) == 1


# --- robustness ----------------------------------------------------------------------------------------


def test_vanished_device_is_skipped(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    tree.vanish("0000:02:00.1")  # dangling symlink left in bus/pci/devices
    readings = links(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)))
    assert "0000:02:00.1" not in readings
    assert readings["0000:02:00.0"].current_width == 4


def test_garbage_attribute_values_become_none(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    tree.write("0000:02:00.0", "current_link_width", "abc")
    tree.write("0000:02:00.0", "current_link_speed", "fast")
    tree.write("0000:02:00.1", "max_link_width", "999")
    tree.write("0000:57:00.0", "vendor", "0xnotahex")
    tree.remove_attribute("0000:59:00.0", "max_link_width")
    tree.write("0000:5a:00.0", "config", "")
    readings = links(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)))
    assert (readings["0000:02:00.0"].current_width, readings["0000:02:00.0"].current_speed_gts) == (None, None)
    assert readings["0000:02:00.1"].max_width is None
    assert "0000:57:00.0" not in readings  # unidentifiable: skipped, not guessed
    assert "0000:59:00.0" not in readings  # incomplete link attributes: no link reading
    assert readings["0000:5a:00.0"].current_width == 1  # config unreadable, sysfs attributes still count


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8.0 GT/s PCIe", 8.0), ("8 GT/s", 8.0), ("2.5 GT/s", 2.5), ("16.0 GT/s PCIe", 16.0),
        ("Unknown", None), ("Unknown speed", None), ("", None), (None, None), ("nan GT/s", None),
    ],
)  # fmt: skip
def test_speed_text_of_old_and_new_kernels(text: str | None, expected: float | None) -> None:
    assert parse_speed(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("4", 4), ("0", 0), ("16\n", 16), ("abc", None), ("-1", None),
                                                ("33", None), (None, None)])  # fmt: skip
def test_width_text(text: str | None, expected: int | None) -> None:
    assert parse_width(text) == expected


def test_old_kernel_speed_strings_in_a_tree(tmp_path: Path) -> None:
    tree = zimaboard_832(tmp_path / "sys", old_kernel=True)
    assert (tree.devices / "0000:00:13.0" / "max_link_speed").read_text() == "5 GT/s\n"
    readings = links(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)))
    assert readings["0000:00:13.0"].max_speed_gts == 5.0
    assert readings["0000:00:02.0"].current_speed_gts is None  # "Unknown speed"


def test_missing_devices_directory_is_a_collector_error(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="cannot list"):
        pcie(tmp_path / "no-sysfs", "/nonexistent").collect(ctx_for(tmp_path))


def test_deadline_is_honoured_between_devices(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    with pytest.raises(Cancelled):
        pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path, seconds=-1))


def test_topology_from_bus_numbers_when_entries_are_plain_directories(tmp_path: Path) -> None:
    with_links = links(pcie(ms01(tmp_path / "a").root, "x").collect(ctx_for(tmp_path / "a")))
    plain = links(pcie(ms01(tmp_path / "b", symlinks=False).root, "x").collect(ctx_for(tmp_path / "b")))
    assert {a: r.parent for a, r in plain.items()} == {a: r.parent for a, r in with_links.items()}
    assert plain["0000:58:00.0"].parent == "0000:00:1d.0"


# --- slots ---------------------------------------------------------------------------------------------


def test_ms01_thunderbolt_ports_are_not_empty_slots(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    collector = pcie(tree.root, "/nonexistent")
    readings = collector.collect(ctx_for(tmp_path))
    found = slots(readings)
    assert sorted(found) == sorted(MS01_SLOT_PORTS)
    assert not set(MS01_THUNDERBOLT_PORTS) & set(found)
    assert all(s.occupied for s in found.values())
    x710_slot = found["0000:00:06.2"]
    assert (x710_slot.device, x710_slot.width, x710_slot.slot) == ("0000:02:00.0", "x4", "port 0000:00:06.2")
    ports = len(MS01_SLOT_PORTS) + len(MS01_THUNDERBOLT_PORTS)
    assert scans(readings) == [SlotScan(True, f"{ports} PCIe port(s) read from config space")]


def test_zimaboard_has_exactly_one_empty_slot(tmp_path: Path) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    found = slots(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)))
    empty = [s for s in found.values() if not s.occupied]
    assert [s.port for s in empty] == ["0000:00:13.0"]
    assert empty[0].width == "x4" and empty[0].device is None
    assert "presence detect off" in empty[0].evidence and "link width 0" in empty[0].evidence
    assert len(found) == 3


def test_card_inserted_into_the_empty_slot_is_seen(tmp_path: Path) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    collector = pcie(tree.root, "/nonexistent")
    assert not slots(collector.collect(ctx_for(tmp_path)))["0000:00:13.0"].occupied
    tree.add(Function("0000:01:00.0", 0x1B21, 0x1166, 0x010601, "endpoint", 8.0, 2, 5.0, 2), parent="0000:00:13.0")
    tree.set_link("0000:00:13.0", 5.0, 2)
    slot = slots(collector.collect(ctx_for(tmp_path)))["0000:00:13.0"]
    assert slot.occupied and slot.device == "0000:01:00.0"


def test_microserver_only_the_real_slot_is_a_slot(tmp_path: Path) -> None:
    tree = microserver_gen10_plus(tmp_path / "sys")
    found = slots(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)))
    assert list(found) == ["0000:00:01.0"]  # the PCH ports are Slot-: onboard I350, iLO, nothing else
    assert found["0000:00:01.0"].occupied and found["0000:00:01.0"].device == "0000:07:00.0"
    assert found["0000:00:01.0"].slot == "slot 1"  # the kernel's slot object, without SMBIOS


def test_unprivileged_config_reads_mean_slots_unknown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    tree.unprivileged()
    collector = pcie(tree.root, "/nonexistent")
    with caplog.at_level(*WARN):
        first = collector.collect(ctx_for(tmp_path))
        collector.collect(ctx_for(tmp_path))
    assert slots(first) == {}
    assert [s.complete for s in scans(first)] == [False]
    assert "not root" in scans(first)[0].reason
    assert links(first)["0000:00:13.0"].port_type == "root_port"  # guessed from topology
    assert links(first)["0000:02:00.0"].port_type == "endpoint"
    assert len([r for r in caplog.records if "slot occupancy unknown" in r.getMessage()]) == 1
    assert calls(tmp_path) == []  # no slots to label: dmidecode is not run


def test_unprivileged_with_kernel_slot_objects_reports_those_slots(tmp_path: Path) -> None:
    tree = microserver_gen10_plus(tmp_path / "sys")
    tree.unprivileged()
    collector = pcie(tree.root, "/nonexistent")
    readings = collector.collect(ctx_for(tmp_path))
    found = slots(readings)
    assert list(found) == ["0000:00:01.0"]
    assert found["0000:00:01.0"].occupied and "presence detect" not in found["0000:00:01.0"].evidence
    assert [(s.complete, s.reason.endswith("kernel slot objects")) for s in scans(readings)] == [(True, True)]


def test_unprivileged_thunderbolt_slot_object_is_not_an_empty_slot(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    tree.add_slot_object("3", "0000:03:00")  # pciehp registers the TB root ports' slots
    tree.add_slot_object("7", "0000:57:00")
    tree.unprivileged()
    found = slots(pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)))
    assert list(found) == ["0000:00:1c.0"]


# --- repeat runs: fixed facts kept per device, status read every run ------------------------------------


def unplug(tree: PcieTree, address: str) -> None:
    """Hot-removal as the kernel does it: the bus/pci/devices link goes, and the device's directory with it.

    The directory is moved aside rather than deleted: kernfs never gives a new device the inode of one just
    removed, while this test filesystem would reuse it at once, so the old inode is kept taken.
    """
    link = tree.devices / address
    directory = link.resolve()
    directory.rename(directory.with_name(f"removed-{address}"))
    link.unlink()


@pytest.mark.parametrize("build", [ms01, microserver_gen10_plus, zimaboard_832])
@pytest.mark.parametrize("root", [True, False], ids=["root", "unprivileged"])
def test_repeat_run_on_an_unchanged_tree_reports_what_a_first_run_does(
    tmp_path: Path, build: Callable[[Path], PcieTree], root: bool
) -> None:
    tree = build(tmp_path / "sys")
    if not root:
        tree.unprivileged()
    running = pcie(tree.root, "/nonexistent")
    first = running.collect(ctx_for(tmp_path))
    repeat = running.collect(ctx_for(tmp_path))
    assert repeat == first
    assert pcie(tree.root, "/nonexistent").collect(ctx_for(tmp_path)) == repeat  # a restart sees the same


def test_hot_added_device_is_seen_on_the_next_run(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    collector = pcie(tree.root, "/nonexistent")
    assert "0000:03:00.0" not in links(collector.collect(ctx_for(tmp_path)))
    # An NVMe enclosure on the first USB4 port: the port detects it and trains, pciehp adds the device.
    tree.update("0000:00:07.0", width=4, slot=Slot(3, presence=True, hot_plug=True, surprise=True))
    tree.add(Function("0000:03:00.0", 0x144D, 0xA80A, 0x010802, "endpoint", 16.0, 4, 2.5, 4, cap_offset=0x70),
             parent="0000:00:07.0")  # fmt: skip
    readings = collector.collect(ctx_for(tmp_path))
    nvme = links(readings)["0000:03:00.0"]
    assert (nvme.device, nvme.parent, nvme.port_type, nvme.current_width) == ("144d:a80a", "0000:00:07.0",
                                                                              "endpoint", 4)
    assert links(readings)["0000:00:07.0"].current_width == 4
    assert sorted(slots(readings)) == sorted(MS01_SLOT_PORTS)  # still a hot-plug port, not a card slot


def test_hot_removed_device_is_gone_on_the_next_run(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    collector = pcie(tree.root, "/nonexistent")
    assert slots(collector.collect(ctx_for(tmp_path)))["0000:00:1d.3"].device == "0000:5a:00.0"
    # The M.2 Wi-Fi card is removed: its device goes, the port's link drops and presence detect clears.
    unplug(tree, "0000:5a:00.0")
    tree.update("0000:00:1d.3", width=0, slot=Slot(15, presence=False))
    readings = collector.collect(ctx_for(tmp_path))
    assert "0000:5a:00.0" not in links(readings)
    slot = slots(readings)["0000:00:1d.3"]
    assert (slot.occupied, slot.device) == (False, None)
    assert slot.evidence == "presence detect off, link width 0, nothing on bus 5a"


def test_replaced_card_at_the_same_address_is_read_afresh(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    collector = pcie(tree.root, "/nonexistent")
    assert links(collector.collect(ctx_for(tmp_path)))["0000:01:00.0"].device == "15b7:5030"
    # Between two runs the Gen4 x4 SSD is swapped for a Gen3 x2 one, with its capabilities elsewhere.
    unplug(tree, "0000:01:00.0")
    tree.add(Function("0000:01:00.0", 0x1987, 0x5013, 0x010802, "endpoint", 8.0, 2, 8.0, 2, cap_offset=0x80),
             parent="0000:00:06.0")  # fmt: skip
    tree.set_link("0000:00:06.0", 8.0, 2)
    reading = links(collector.collect(ctx_for(tmp_path)))["0000:01:00.0"]
    assert (reading.device, reading.max_speed_gts, reading.max_width, reading.current_width) == (
        "1987:5013", 8.0, 2, 2,
    )  # fmt: skip
    assert (reading.baseline_width, reading.downgraded) == (2, False)  # the new card's own baseline


def test_port_link_and_presence_detect_are_read_every_run(tmp_path: Path) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    collector = pcie(tree.root, "/nonexistent")
    assert not slots(collector.collect(ctx_for(tmp_path)))["0000:00:13.0"].occupied
    # A card is seated but its link has not trained yet: presence detect alone says the slot is taken.
    tree.update("0000:00:13.0", slot=Slot(2, presence=True))
    seated = slots(collector.collect(ctx_for(tmp_path)))["0000:00:13.0"]
    assert seated.occupied and seated.evidence.startswith("presence detect on, link width 0")
    # Then the link trains at x2.
    tree.set_link("0000:00:13.0", 5.0, 2)
    readings = collector.collect(ctx_for(tmp_path))
    assert (links(readings)["0000:00:13.0"].current_speed_gts, links(readings)["0000:00:13.0"].current_width) == (
        5.0, 2,
    )  # fmt: skip
    assert "link width 2" in slots(readings)["0000:00:13.0"].evidence


def test_config_space_unreadable_at_first_sight_is_read_again(tmp_path: Path) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    tree.write("0000:00:13.0", "config", "")  # e.g. EIO while the port was powering up
    collector = pcie(tree.root, "/nonexistent")
    assert "0000:00:13.0" not in slots(collector.collect(ctx_for(tmp_path)))
    tree.update("0000:00:13.0")  # readable again: the same device, its config space back
    slot = slots(collector.collect(ctx_for(tmp_path)))["0000:00:13.0"]
    assert "presence detect off" in slot.evidence and not slot.occupied


# --- SMBIOS labels -------------------------------------------------------------------------------------


def test_smbios_designation_matched_by_device_address(tmp_path: Path, printing: Callable[[str], str]) -> None:
    tree = microserver_gen10_plus(tmp_path / "sys")
    found = slots(pcie(tree.root, printing(MICROSERVER_DMI)).collect(ctx_for(tmp_path)))
    slot = found["0000:00:01.0"]
    assert (slot.slot, slot.designation, slot.slot_type, slot.width) == (
        "PCI-E Slot 1", "PCI-E Slot 1", "PCI Express 3", "x16",
    )  # fmt: skip
    assert calls(tmp_path) == ["-t slot"]


def test_smbios_designation_matched_by_root_port_address(tmp_path: Path, printing: Callable[[str], str]) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    dump = "# dmidecode 3.4\n\n" + dmi_slot("J6C1", "0000:00:13.0")
    found = slots(pcie(tree.root, printing(dump)).collect(ctx_for(tmp_path)))
    assert found["0000:00:13.0"].designation == "J6C1" and not found["0000:00:13.0"].occupied
    assert found["0000:00:14.0"].designation == ""


@pytest.mark.parametrize(
    "dump",
    [
        dmi_slot("Slot 1", "0000:00:00.0") + dmi_slot("Slot 2", "0000:00:00.0"),  # AMI placeholders
        dmi_slot("J6C1", "0000:00:14.0") + dmi_slot("J7C1", "0000:00:14.0"),  # two names, one port
        dmi_slot("<BAD INDEX>", "0000:00:13.0", length=147),
        dmi_slot("PCIEX1_1", "0000:00:13.0", length=66),  # corrupt record length
        dmi_slot("Slot4", "0000:ff:02.0"),
    ],
    ids=["placeholder", "ambiguous", "bad-index", "bad-length", "bus-ff"],
)
def test_untrustworthy_smbios_records_label_nothing(
    tmp_path: Path, printing: Callable[[str], str], dump: str
) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    found = slots(pcie(tree.root, printing("# dmidecode 3.4\n\n" + dump)).collect(ctx_for(tmp_path)))
    assert [s.designation for s in found.values()] == ["", "", ""]
    assert [s.slot for s in found.values()] == ["port 0000:00:13.0", "port 0000:00:14.0", "port 0000:00:14.1"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('echo "# dmidecode 3.4"; echo "/dev/mem: Permission denied" >&2; exit 1', "Permission denied"),
        ('echo "# dmidecode 3.4"; echo "Scanning /dev/mem for entry point."; exit 1', "exit status 1"),
        ("printf '\\000\\001binary junk\\377\\n'", "output unusable"),
    ],
    ids=["no-root", "no-smbios", "garbage"],
)
def test_dmidecode_failure_is_logged_once_and_links_still_come(
    tmp_path: Path, program: Callable[[str], str], caplog: pytest.LogCaptureFixture, body: str, reason: str
) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    collector = pcie(tree.root, program(body))
    with caplog.at_level(*WARN):
        first = collector.collect(ctx_for(tmp_path))
        second = collector.collect(ctx_for(tmp_path))
    assert len(links(first)) == len(links(second)) == 6
    assert len(slots(second)) == 3
    assert len([r for r in caplog.records if reason in r.getMessage()]) == 1
    assert len(calls(tmp_path)) == 1  # the failure is cached too


def test_missing_dmidecode_program(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    with caplog.at_level(*WARN):
        readings = pcie(tree.root, str(tmp_path / "no-such-dmidecode")).collect(ctx_for(tmp_path))
    assert len(slots(readings)) == 3
    assert any("not found" in r.getMessage() for r in caplog.records)


def test_hung_dmidecode_costs_only_part_of_the_deadline(
    tmp_path: Path, program: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    collector = pcie(tree.root, program("exec sleep 60"))
    started = time.monotonic()
    with caplog.at_level(*WARN):
        readings = collector.collect(ctx_for(tmp_path, seconds=3.0))
    elapsed = time.monotonic() - started
    assert elapsed < 3.0
    assert len(links(readings)) == 6 and len(slots(readings)) == 3
    assert any("did not finish" in r.getMessage() for r in caplog.records)


def test_smbios_table_is_read_once_per_collector(tmp_path: Path, printing: Callable[[str], str]) -> None:
    tree = microserver_gen10_plus(tmp_path / "sys")
    dmidecode = printing(MICROSERVER_DMI)
    collector = pcie(tree.root, dmidecode)
    for _ in range(3):
        collector.collect(ctx_for(tmp_path))
    assert len(calls(tmp_path)) == 1
    reloaded = pcie(tree.root, dmidecode)  # what SIGHUP does: daemon.build makes new collectors
    assert slots(reloaded.collect(ctx_for(tmp_path)))["0000:00:01.0"].designation == "PCI-E Slot 1"
    assert len(calls(tmp_path)) == 2


def test_state_dir_is_created(tmp_path: Path) -> None:
    tree = ms01(tmp_path / "sys")
    ctx = RunContext(deadline=time.monotonic() + 10, state_dir=tmp_path / "deep" / "state")
    pcie(tree.root, "/nonexistent").collect(ctx)
    assert (tmp_path / "deep" / "state" / BASELINE_FILE).is_file()
    assert os.stat(tmp_path / "deep" / "state" / BASELINE_FILE).st_size > 0
