"""[[switch]]: switches whose port speeds are read over SNMP (the switch side of gap P3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from collectors.kit import config as c


@dataclass(frozen=True)
class SwitchTarget:
    host: str
    port: int = 161
    community: str = field(default="public", repr=False)  # a secret: kept out of reprs and logs
    community_file: Path | None = None
    version: str = "2c"
    name: str = ""
    timeout: float = 5.0

    @property
    def label(self) -> str:
        return self.name or self.host


@dataclass(frozen=True)
class SwitchConfig:
    switches: tuple[SwitchTarget, ...] = ()


SWITCH = c.Table({
    "host": c.host,
    "port": c.port,
    "community": c.string,
    "community_file": c.optional_path,
    "version": c.enum("1", "2c"),
    "name": c.nonempty_string,
    "timeout": c.duration,
}, required=("host",))


def _build(values: c.Values) -> SwitchConfig:
    return SwitchConfig(tuple(
        SwitchTarget(host=e["host"], port=e.get("port", 161), community=e.get("community", "public"),
                     community_file=e.get("community_file"), version=e.get("version", "2c"),
                     name=e.get("name", ""), timeout=e.get("timeout", 5.0))
        for e in values.entries("switch")))


SECTION = c.Section(name="switch", table=SWITCH, array=True, build=_build)
