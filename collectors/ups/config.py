"""[ups] with [[ups.nut]] servers and [[ups.snmp]] agents: checked once by the daemon's loader, built here into the
typed configs the collectors take as they are.

This module imports neither the SNMP collector nor the SNMP kit: a daemon without [[ups.snmp]] must not load
asyncio or pysnmp just to read its configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.kit import config as c
from collectors.kit.snmp_target import SNMP_AGENT, SnmpTarget
from collectors.ups.nut_client import DEFAULT_PORT as NUT_PORT

DEFAULT_UPSMON_CONF = Path("/etc/nut/upsmon.conf")


@dataclass(frozen=True)
class NutServerConfig:
    """One upsd. The [[ups.nut]] keys are the field names."""

    host: str = "127.0.0.1"  # bare, as the socket wants it: "[::1]" in the file arrives here as "::1"
    port: int = NUT_PORT
    ups: str = ""  # empty: every UPS the server lists
    username: str = ""
    password_file: Path | None = None  # relative: looked up in $CREDENTIALS_DIRECTORY
    starttls: bool = False
    ca_file: Path | None = None
    timeout: float = 5.0  # seconds per request
    autodetected: bool = False  # not written by the user: 127.0.0.1:3493 tried because no server was configured

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class UpsConfig:
    nut: tuple[NutServerConfig, ...] = ()
    snmp: tuple[SnmpTarget, ...] = ()
    autodetect: bool = True  # with no [[ups.nut]], try 127.0.0.1:3493
    upsmon_conf: Path | None = DEFAULT_UPSMON_CONF  # this host's upsmon.conf; None = do not read
    interval: float | None = None
    timeout: float = 10.0


NUT_SERVER = c.Table({
    "host": c.address,
    "port": c.port,
    "ups": c.string,
    "username": c.string,
    "password_file": c.optional_path,
    "starttls": c.boolean,
    "ca_file": c.optional_path,
    # Per request to upsd (a loopback upsd answers in about 3 ms): the shared request bounds.
    "timeout": c.request_timeout,
})
def _build(values: c.Values) -> UpsConfig:
    # Every entry passed its table's checks, whose keys are the dataclasses' fields: what is not written
    # takes the dataclass default, so each default exists once.
    return UpsConfig(
        nut=tuple(NutServerConfig(**entry) for entry in values.entries("nut")),
        snmp=tuple(SnmpTarget(**entry) for entry in values.entries("snmp")),
        autodetect=values.get("autodetect", True),
        upsmon_conf=values.get("upsmon_conf", DEFAULT_UPSMON_CONF),
        interval=values.get("interval", None),
        timeout=values.get("timeout", 10.0),
    )


def _cross(values: c.Values) -> Iterable[c.Issue]:
    for index, entry in enumerate(values.entries("nut")):
        yield from _ups_name(entry, index)


def _ups_name(entry: Mapping[str, Any], index: int) -> Iterable[c.Issue]:
    # A UPS name is one protocol word (`LIST VAR <ups>`), and an "@" would make "ups@host:port" ambiguous.
    name = entry.get("ups", "")
    if name and any(ch.isspace() or ch in '"\\@' for ch in name):
        yield c.Issue("ups", f"{name!r} is not a NUT UPS name", "nut", index)


SECTION = c.Section(
    name="ups",
    # interval: upsd refreshes a driver's data every 2 s by default, so polling faster than once a second
    # reads the same values again; the shared 1 s .. 1 d bounds. timeout: the shared run bounds.
    table=c.Table({"interval": c.interval, "timeout": c.run_timeout, "upsmon_conf": c.optional_path,
                   "autodetect": c.boolean}),
    children={"nut": NUT_SERVER, "snmp": SNMP_AGENT},
    build=_build,
    cross=_cross,
)
