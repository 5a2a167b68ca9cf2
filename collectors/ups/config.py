"""[ups] with [[ups.nut]] servers and [[ups.snmp]] agents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.kit import config as c

DEFAULT_UPSMON_CONF = Path("/etc/nut/upsmon.conf")


@dataclass(frozen=True)
class UpsConfig:
    nut: tuple[Mapping[str, Any], ...] = ()  # [[ups.nut]] servers, checked
    snmp: tuple[Mapping[str, Any], ...] = ()  # [[ups.snmp]] agents, checked
    autodetect: bool = True  # with no [[ups.nut]], try 127.0.0.1:3493
    upsmon_conf: Path | None = DEFAULT_UPSMON_CONF  # this host's upsmon.conf; None = do not read
    interval: float | None = None
    timeout: float = 10.0


NUT_SERVER = c.Table({
    "host": c.host,
    "port": c.port,
    "ups": c.string,
    "username": c.string,
    "password_file": c.optional_path,
    "starttls": c.boolean,
    "ca_file": c.optional_path,
    "timeout": c.duration,
})
SNMP_AGENT = c.Table({
    "host": c.host,
    "port": c.port,
    "community": c.string,
    "community_file": c.optional_path,
    "version": c.enum("1", "2c"),
    "name": c.nonempty_string,
    "timeout": c.duration,
}, required=("host",))


def _build(values: c.Values) -> UpsConfig:
    return UpsConfig(
        nut=values.entries("nut"),
        snmp=values.entries("snmp"),
        autodetect=values.get("autodetect", True),
        upsmon_conf=values.get("upsmon_conf", DEFAULT_UPSMON_CONF),
        interval=values.get("interval", None),
        timeout=values.get("timeout", 10.0),
    )


def _cross(values: c.Values) -> Iterable[c.Issue]:
    for index, entry in enumerate(values.entries("nut")):
        name = entry.get("ups", "")
        if name and any(ch.isspace() or ch in '"\\@' for ch in name):
            yield c.Issue("ups", f"{name!r} is not a NUT UPS name", "nut", index)


SECTION = c.Section(
    name="ups",
    table=c.Table({"interval": c.duration, "timeout": c.duration, "upsmon_conf": c.optional_path,
                   "autodetect": c.boolean}),
    children={"nut": NUT_SERVER, "snmp": SNMP_AGENT},
    build=_build,
    cross=_cross,
)
