"""[smart]: the smartctl program, which devices (empty = `smartctl --scan`), and the cadence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from collectors.kit import config as c


@dataclass(frozen=True)
class SmartDevice:
    """One configured device: a /dev path, the smartctl -d type ("" = the scan's), or ignored."""

    device: str
    type: str = ""
    ignore: bool = False


@dataclass(frozen=True)
class SmartConfig:
    smartctl: str = "smartctl"
    devices: tuple[SmartDevice, ...] = ()  # empty = smartctl --scan
    # SMART is cached on purpose: a scrape must never wake a disk (see README, Metrics).
    interval: float | None = 600.0
    timeout: float = 60.0
    concurrency: int = 4
    force_after: int = 0  # wake a disk after this many skipped checks; 0 = never


def devices(value: Any) -> tuple[SmartDevice, ...]:
    if not isinstance(value, list):
        raise ValueError('expected a list such as [{ device = "/dev/sda", type = "sat" }]')
    found: list[SmartDevice] = []
    for entry in value:
        if isinstance(entry, str):
            if not entry:
                raise ValueError("device must be a path such as \"/dev/sda\"")
            found.append(SmartDevice(entry))
            continue
        if not isinstance(entry, dict):
            raise ValueError("each entry must be a device path or a { device, type } table")
        unknown = set(entry) - {"device", "type", "ignore"}
        if unknown or "device" not in entry:
            raise ValueError("each entry needs device and may have type and ignore")
        device = entry["device"]
        if not isinstance(device, str) or not device:
            raise ValueError("device must be a path such as \"/dev/sda\"")
        dev_type = entry.get("type", "")
        if "type" in entry and (not isinstance(dev_type, str) or not dev_type):
            raise ValueError(f"{device}: type must be a smartctl -d type such as \"sat\"")
        ignore = entry.get("ignore", False)
        if not isinstance(ignore, bool):
            raise ValueError(f"{device}: ignore must be true or false")
        found.append(SmartDevice(device, dev_type, ignore))
    return tuple(found)


SECTION = c.Section(
    name="smart",
    table=c.Table({"smartctl": c.program, "devices": devices,
                   # One smartctl per drive per run, each a process and an ATA/NVMe command (a sleeping
                   # disk is asked with -n standby and not woken): never more than once a second per
                   # drive, a higher floor than the NICs' sysfs reads ("1ms" meant 100 smartctl runs a
                   # second). At most a day, as every interval.
                   "interval": c.duration_within(1.0, c.DURATION_CEILING),
                   # One run covers every drive, queued `concurrency` at a time, and smartctl on a dying
                   # disk can take tens of seconds per drive: up to 30 minutes, a longer ceiling than the
                   # other collectors; at least 1 s, below which no smartctl answers even on a good day.
                   "timeout": c.duration_within(1.0, 1800.0),
                   "concurrency": c.int_range(1, 64),
                   "force_after": c.int_range(0, 10_000)}),
    build=c.by_field_names(SmartConfig),
    programs=(c.ProgramKey("smartctl", SmartConfig.smartctl,
                           "drives cannot be read (smartctl comes with smartmontools)"),),
)
