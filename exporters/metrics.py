"""The one metric view: View (snapshot + gaps) -> Prometheus metric families.

Every `physgap_*` metric name lives in this file and nowhere else. Families are built fresh on each call,
as prometheus_client custom collectors should, so label sets never go stale between scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.metrics_core import CounterMetricFamily

from collectors.model.readings import (
    UPS_FLAGS,
    ArrayReading,
    DriveReading,
    LinkReading,
    PcieLinkReading,
    SlotReading,
    UpsReading,
)
from collectors.model.snapshot import View
from daemon import __version__

MBIT_TO_BYTES = 1_000_000 / 8


def metric_families(view: View) -> Iterator[Metric]:
    """Every family: what `once`, the textfile and tests render."""
    yield from static_families(view)
    yield from clock_families(view, time.time())


def static_families(view: View) -> Iterator[Metric]:
    """Families that depend on the View alone, so a renderer may cache them per View version."""
    for family in _families(view):
        yield _without_duplicates(family)


def clock_families(view: View, now: float) -> Iterator[Metric]:
    """Families that change with the clock alone (ages), rendered fresh on every scrape."""
    age = GaugeMetricFamily("physgap_drive_reading_age_seconds",
                            "Age of the SMART data shown. SMART is read on its own interval and cached, and a "
                            "sleeping disk keeps its last reading.", labels=["drive"])
    for drive in view.snapshot.readings(DriveReading):
        if drive.state != "unsupported" and drive.read_at is not None:
            age.add_metric([drive.drive], max(0.0, now - drive.read_at))
    yield _without_duplicates(age)


def _without_duplicates(family: Metric) -> Metric:
    """Drop repeated label sets (two config entries naming the same UPS, an md array and a ZFS pool of the
    same name): Prometheus would keep an arbitrary one of them, so keep the first, deterministically."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for sample in family.samples:
        key = (sample.name, tuple(sorted(sample.labels.items())))
        if key not in seen:
            seen.add(key)
            unique.append(sample)
    family.samples = unique
    return family


def _families(view: View) -> Iterator[Metric]:
    yield from _self_metrics(view)
    yield from _gap_metrics(view)
    yield from _ups_metrics(view)
    yield from _nic_metrics(view)
    yield from _pcie_metrics(view)
    yield from _drive_metrics(view)
    yield from _array_metrics(view)


def _self_metrics(view: View) -> Iterator[Metric]:
    build = InfoMetricFamily("physgap_build", "physgap version.")
    build.add_metric([], {"version": __version__})
    yield build
    success = GaugeMetricFamily("physgap_collector_success",
                                "1 when the collector's last run succeeded, 0 when it failed or has not run yet.",
                                labels=["collector"])
    duration = GaugeMetricFamily("physgap_collector_duration_seconds",
                                 "Wall time of the collector's last run.", labels=["collector"])
    last_ok = GaugeMetricFamily(
        "physgap_collector_last_success_timestamp_seconds",
        "Unix time of the collector's last successful run. Readings are cached between runs: "
        "each collector polls on its own interval, a scrape never touches hardware.",
        labels=["collector"])
    for name, status in sorted(view.snapshot.collectors.items()):
        success.add_metric([name], 1.0 if status.success else 0.0)
        if status.last_run is not None:
            duration.add_metric([name], status.duration_seconds)
        if status.last_success is not None:
            last_ok.add_metric([name], status.last_success)
    yield success
    yield duration
    yield last_ok


def _gap_metrics(view: View) -> Iterator[Metric]:
    gap_open = GaugeMetricFamily("physgap_gap_open",
                                 "1 while the physical-layer gap is open; 0 when resolved or not evaluated.",
                                 labels=["gap", "title", "severity"])
    evaluated = GaugeMetricFamily("physgap_gap_evaluated",
                                  "1 when the gap rule had the data to decide; 0 means its status is unknown.",
                                  labels=["gap"])
    for gap in view.gaps:
        gap_open.add_metric([gap.id, gap.title, gap.severity], 1.0 if gap.open else 0.0)
        evaluated.add_metric([gap.id], 1.0 if gap.evaluated else 0.0)
    yield gap_open
    yield evaluated


def _nic_metrics(view: View) -> Iterator[Metric]:
    links = sorted(view.snapshot.readings(LinkReading), key=lambda r: r.interface)
    info = GaugeMetricFamily("physgap_nic_info", "Network interface identity; always 1.",
                             labels=["interface", "kind", "operstate", "pci_address", "bond_master"])
    up = GaugeMetricFamily("physgap_nic_up", "1 when the interface is operationally up with carrier.",
                           labels=["interface"])
    speed = GaugeMetricFamily("physgap_nic_speed_bytes",
                              "Negotiated link speed in bytes per second; absent while the link is down.",
                              labels=["interface"])
    max_speed = GaugeMetricFamily("physgap_nic_max_speed_bytes",
                                  "Best link mode the NIC supports, in bytes per second.", labels=["interface"])
    expected = GaugeMetricFamily("physgap_nic_expected_speed_bytes",
                                 "Speed the operator expects ([nics].expected), in bytes per second.",
                                 labels=["interface"])
    duplex = GaugeMetricFamily("physgap_nic_full_duplex", "1 when the link negotiated full duplex.",
                               labels=["interface"])
    changes = CounterMetricFamily("physgap_nic_carrier_changes", "Carrier changes since the interface appeared.",
                                  labels=["interface"])
    for link in links:
        name = [link.interface]
        info.add_metric([link.interface, link.kind, link.operstate, link.pci_address or "",
                         link.bond_master or ""], 1.0)
        up.add_metric(name, 1.0 if link.operstate == "up" and link.carrier else 0.0)
        if link.speed_mbps is not None:
            speed.add_metric(name, link.speed_mbps * MBIT_TO_BYTES)
        if link.max_speed_mbps is not None:
            max_speed.add_metric(name, link.max_speed_mbps * MBIT_TO_BYTES)
        if link.expected_speed_mbps is not None:
            expected.add_metric(name, link.expected_speed_mbps * MBIT_TO_BYTES)
        if link.full_duplex is not None:
            duplex.add_metric(name, 1.0 if link.full_duplex else 0.0)
        if link.carrier_changes is not None:
            changes.add_metric(name, float(link.carrier_changes))
    yield from (info, up, speed, max_speed, expected, duplex, changes)


def _pcie_metrics(view: View) -> Iterator[Metric]:
    slot_in_use = GaugeMetricFamily(
        "physgap_pcie_slot_in_use",
        "1 when something sits in the physical slot, judged from the port's presence detect and link "
        "(SMBIOS supplies the labels only).",
        labels=["slot", "designation", "type", "width", "port"])
    for slot in sorted(view.snapshot.readings(SlotReading), key=lambda s: s.port):
        slot_in_use.add_metric([slot.slot, slot.designation, slot.slot_type, slot.width, slot.port],
                               1.0 if slot.occupied else 0.0)
    yield slot_in_use

    labels = ["address", "device"]
    speed = GaugeMetricFamily("physgap_pcie_link_speed_gts", "Current PCIe link speed in GT/s.", labels=labels)
    max_speed = GaugeMetricFamily("physgap_pcie_link_max_speed_gts", "PCIe link speed capability in GT/s.",
                                  labels=labels)
    width = GaugeMetricFamily("physgap_pcie_link_width", "Current PCIe link width in lanes.", labels=labels)
    max_width = GaugeMetricFamily("physgap_pcie_link_max_width", "PCIe link width capability in lanes.",
                                  labels=labels)
    downgraded = GaugeMetricFamily(
        "physgap_pcie_link_downgraded",
        "1 when the link trained below the speed or width first seen for this device in this address.",
        labels=labels)
    for link in sorted(view.snapshot.readings(PcieLinkReading), key=lambda r: r.address):
        key = [link.address, link.device]
        if link.current_speed_gts is not None:
            speed.add_metric(key, link.current_speed_gts)
        if link.max_speed_gts is not None:
            max_speed.add_metric(key, link.max_speed_gts)
        if link.current_width is not None:
            width.add_metric(key, float(link.current_width))
        if link.max_width is not None:
            max_width.add_metric(key, float(link.max_width))
        downgraded.add_metric(key, 1.0 if link.downgraded else 0.0)
    yield from (speed, max_speed, width, max_width, downgraded)


def _drive_metrics(view: View) -> Iterator[Metric]:
    drives = sorted(view.snapshot.readings(DriveReading), key=lambda d: d.drive)
    info = GaugeMetricFamily("physgap_drive_info", "Drive identity; always 1. drive is a stable id (WWN, else "
                             "model and serial); device is the /dev path, which can change across boots.",
                             labels=["drive", "device", "model", "serial", "protocol", "rotational"])
    supported = GaugeMetricFamily("physgap_drive_smart_supported",
                                  "0 for drives without SMART (VM disks, RAID volumes): never a failure.",
                                  labels=["drive"])
    passed = GaugeMetricFamily("physgap_drive_smart_passed", "The drive's own overall SMART self-assessment.",
                               labels=["drive"])
    health = GaugeMetricFamily("physgap_drive_health",
                               "physgap's verdict: 0 ok, 1 warning (degrading), 2 failing. Unlike smart_passed "
                               "it counts pending, reallocated and uncorrectable sectors and their growth.",
                               labels=["drive"])
    reachable = GaugeMetricFamily("physgap_drive_reachable",
                                  "0 when the last query got no usable answer (open failed, timeout, garbage); the "
                                  "other values are then the last read's.", labels=["drive"])
    standby = GaugeMetricFamily("physgap_drive_standby",
                                "1 when the disk was asleep at the last check and was not woken; its other "
                                "values are from the last read (see reading_age_seconds).", labels=["drive"])
    values: list[tuple[GaugeMetricFamily, str]] = [
        (GaugeMetricFamily("physgap_drive_temperature_celsius", "Drive temperature.", labels=["drive"]),
         "temperature_celsius"),
        (GaugeMetricFamily("physgap_drive_power_on_seconds", "Power-on time.", labels=["drive"]), "power_on_seconds"),
        (GaugeMetricFamily("physgap_drive_reallocated_sectors", "Reallocated sectors (ATA 5; SAS grown defects).",
                           labels=["drive"]), "reallocated_sectors"),
        (GaugeMetricFamily("physgap_drive_pending_sectors", "Sectors pending reallocation (ATA 197).",
                           labels=["drive"]), "pending_sectors"),
        (GaugeMetricFamily("physgap_drive_uncorrectable_sectors", "Uncorrectable sectors (ATA 198/187).",
                           labels=["drive"]), "uncorrectable_sectors"),
        (GaugeMetricFamily("physgap_drive_media_errors", "NVMe media and data integrity errors.", labels=["drive"]),
         "media_errors"),
        (GaugeMetricFamily("physgap_drive_wear_ratio", "NVMe percentage used / 100; can exceed 1.", labels=["drive"]),
         "wear_ratio"),
        (GaugeMetricFamily("physgap_drive_available_spare_ratio", "NVMe available spare.", labels=["drive"]),
         "available_spare_ratio"),
        (GaugeMetricFamily("physgap_drive_crc_errors", "Interface CRC errors (ATA 199): a cable or backplane "
                           "problem, not the disk.", labels=["drive"]), "crc_errors"),
    ]
    for drive in drives:
        key = [drive.drive]
        rotational = "" if drive.rotational is None else str(drive.rotational).lower()
        info.add_metric([drive.drive, drive.device, drive.model, drive.serial, drive.protocol, rotational], 1.0)
        supported.add_metric(key, 0.0 if drive.state == "unsupported" else 1.0)
        if drive.state == "unsupported":
            continue
        reachable.add_metric(key, 0.0 if drive.state == "unreachable" else 1.0)
        standby.add_metric(key, 1.0 if drive.state == "standby" else 0.0)
        if drive.smart_passed is not None:
            passed.add_metric(key, 1.0 if drive.smart_passed else 0.0)
        if drive.health is not None:
            health.add_metric(key, float(drive.health))
        for family, attribute in values:
            value = getattr(drive, attribute)
            if value is not None:
                family.add_metric(key, float(value))
    yield from (info, supported, passed, health, reachable, standby)
    yield from (family for family, _ in values)


def _array_metrics(view: View) -> Iterator[Metric]:
    arrays = sorted(view.snapshot.readings(ArrayReading), key=lambda a: (a.kind, a.array))
    info = GaugeMetricFamily("physgap_array_info", "md array or ZFS pool; always 1.",
                             labels=["array", "kind", "level"])
    members = GaugeMetricFamily("physgap_array_members", "Member drives, failed ones included.", labels=["array"])
    failed = GaugeMetricFamily("physgap_array_failed_members", "Members missing, faulted or removed.",
                               labels=["array"])
    redundancy = GaugeMetricFamily("physgap_array_redundancy",
                                   "Further member failures the array survives now; 0 means the next one loses data.",
                                   labels=["array"])
    degraded = GaugeMetricFamily("physgap_array_degraded", "1 while the array runs degraded.", labels=["array"])
    progress = GaugeMetricFamily("physgap_array_sync_progress_ratio",
                                 "Progress of the running resync, recovery, resilver or scrub; absent when idle.",
                                 labels=["array", "action"])
    for array in arrays:
        key = [array.array]
        info.add_metric([array.array, array.kind, array.level], 1.0)
        members.add_metric(key, float(len(array.members)))
        failed.add_metric(key, float(len(array.failed_members)))
        redundancy.add_metric(key, float(array.redundancy))
        degraded.add_metric(key, 1.0 if array.degraded else 0.0)
        if array.sync_progress_ratio is not None:
            progress.add_metric([array.array, array.sync_action], array.sync_progress_ratio)
    yield from (info, members, failed, redundancy, degraded, progress)


def _ups_metrics(view: View) -> Iterator[Metric]:
    upses = sorted(view.snapshot.readings(UpsReading), key=lambda u: u.ups)
    labels = ["ups"]
    up = GaugeMetricFamily("physgap_ups_up", "1 when the UPS's data is current (server answered, driver connected "
                           "and fresh); 0 with the reason in the log and the report.", labels=labels)
    info = GaugeMetricFamily("physgap_ups_info", "UPS identity; always 1.",
                             labels=["ups", "manufacturer", "model", "serial", "driver", "source"])
    status = GaugeMetricFamily("physgap_ups_status", "1 while the ups.status flag is set. Every known flag has a "
                               "series (explicit 0); other tokens such as HE appear while present.",
                               labels=["ups", "flag"])
    on_battery = GaugeMetricFamily("physgap_ups_on_battery", "1 while running on battery (OB).", labels=labels)
    low_battery = GaugeMetricFamily("physgap_ups_low_battery", "1 while the battery is low (LB).", labels=labels)
    replace = GaugeMetricFamily("physgap_ups_replace_battery", "1 while the UPS asks for a new battery (RB).",
                                labels=labels)
    critical = GaugeMetricFamily("physgap_ups_critical", "1 when upsmon would shut down: on battery with low "
                                 "battery, or forced shutdown (FSD).", labels=labels)
    clients = GaugeMetricFamily("physgap_ups_shutdown_clients", "upsmon instances attached to this UPS (NUMLOGINS).",
                                labels=labels)
    protected = GaugeMetricFamily("physgap_ups_shutdown_protected", "1 when this host's upsmon.conf monitors the "
                                  "UPS with a SHUTDOWNCMD (or, when that file is unreadable, a upsmon is attached).",
                                  labels=labels)
    numbers: list[tuple[GaugeMetricFamily, str]] = [
        (GaugeMetricFamily("physgap_ups_battery_charge_ratio", "Battery charge.", labels=labels),
         "battery_charge_ratio"),
        (GaugeMetricFamily("physgap_ups_battery_runtime_seconds", "Estimated runtime on battery.", labels=labels),
         "battery_runtime_seconds"),
        (GaugeMetricFamily("physgap_ups_load_ratio", "Output load.", labels=labels), "load_ratio"),
        (GaugeMetricFamily("physgap_ups_input_voltage_volts", "Input voltage.", labels=labels), "input_voltage_volts"),
        (GaugeMetricFamily("physgap_ups_output_voltage_volts", "Output voltage.", labels=labels),
         "output_voltage_volts"),
    ]
    for ups in upses:
        key = [ups.ups]
        up.add_metric(key, 1.0 if ups.up else 0.0)
        info.add_metric([ups.ups, ups.manufacturer, ups.model, ups.serial, ups.driver, ups.source], 1.0)
        if ups.shutdown_clients is not None:
            clients.add_metric(key, float(ups.shutdown_clients))
        if ups.shutdown_protected is not None:
            protected.add_metric(key, 1.0 if ups.shutdown_protected else 0.0)
        if not ups.up:
            continue
        for flag in (*UPS_FLAGS, *(f for f in ups.flags if f not in UPS_FLAGS)):
            status.add_metric([ups.ups, flag], 1.0 if flag in ups.flags else 0.0)
        on_battery.add_metric(key, 1.0 if ups.on_battery else 0.0)
        low_battery.add_metric(key, 1.0 if ups.low_battery else 0.0)
        replace.add_metric(key, 1.0 if ups.replace_battery else 0.0)
        critical.add_metric(key, 1.0 if ups.critical else 0.0)
        for family, attribute in numbers:
            value = getattr(ups, attribute)
            if value is not None:
                family.add_metric(key, float(value))
    yield from (up, info, status, on_battery, low_battery, replace, critical, clients, protected)
    yield from (family for family, _ in numbers)
