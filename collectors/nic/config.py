"""[nics]: which interfaces to watch and what speed the operator expects of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from collectors.kit import config as c
from collectors.nic.linkmodes import parse_speed


@dataclass(frozen=True)
class NicsConfig:
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    expected_mbps: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # name -> Mbit/s
    include_virtual: bool = False
    interval: float | None = None  # None: [daemon].interval
    timeout: float = 10.0


def speed_table(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError('expected a table such as { enp2s0f0np0 = "10G" }')
    table: dict[str, int] = {}
    for name, speed in value.items():
        if not isinstance(speed, str):
            raise ValueError(f"{name}: expected a speed string such as \"10G\"")
        try:
            mbps = parse_speed(speed)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        if mbps is None:
            raise ValueError(f"{name}: {speed!r} is not a speed")
        table[name] = mbps
    return table


def _build(values: c.Values) -> NicsConfig:
    return NicsConfig(
        include=values.get("include", ("*",)),
        exclude=values.get("exclude", ()),
        expected_mbps=MappingProxyType(values.get("expected", {})),
        include_virtual=values.get("include_virtual", False),
        interval=values.get("interval", None),
        timeout=values.get("timeout", 10.0),
    )


SECTION = c.Section(
    name="nics",
    table=c.Table({"include": c.globs, "exclude": c.globs, "expected": speed_table,
                   "include_virtual": c.boolean,
                   # The cheapest collector: sysfs files and one ioctl per interface, about 0.2 ms of CPU
                   # per NIC, so it may run four times a second (a lower floor than every collector that
                   # forks a program); at most a day, as every interval.
                   "interval": c.duration_within(0.25, c.DURATION_CEILING),
                   "timeout": c.run_timeout}),
    build=_build,
)
