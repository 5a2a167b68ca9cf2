"""[[oob.targets]]: out-of-band management endpoints (Intel AMT, IPMI, or a plain TCP port) to probe."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from collectors.kit import config as c

DEFAULT_PORTS = {"amt": 16992, "ipmi": 623}


@dataclass(frozen=True)
class OobTarget:
    name: str
    host: str
    kind: str = "amt"  # amt | ipmi | tcp
    port: int | None = None  # None: the kind's default (AMT 16992, IPMI 623); required for tcp
    timeout: float = 5.0
    username: str = ""
    password_file: Path | None = field(default=None)  # read with collectors.kit.secrets, never logged


@dataclass(frozen=True)
class OobConfig:
    targets: tuple[OobTarget, ...] = ()
    interval: float | None = None


TARGET = c.Table({
    "name": c.nonempty_string,
    "host": c.host,
    "kind": c.enum("amt", "ipmi", "tcp"),
    "port": c.port,
    # One probe of one endpoint (an HTTP request to AMT, an IPMI ping): the shared request bounds.
    "timeout": c.request_timeout,
    "username": c.string,
    "password_file": c.optional_path,
}, required=("name", "host"))


def _build(values: c.Values) -> OobConfig:
    targets = tuple(
        OobTarget(name=e["name"], host=e["host"], kind=e.get("kind", "amt"),
                  port=e.get("port", DEFAULT_PORTS.get(e.get("kind", "amt"))), timeout=e.get("timeout", 5.0),
                  username=e.get("username", ""), password_file=e.get("password_file"))
        for e in values.entries("targets"))
    return OobConfig(targets=targets, interval=values.get("interval", None))


def _cross(values: c.Values) -> Iterable[c.Issue]:
    seen: set[str] = set()
    for index, entry in enumerate(values.entries("targets")):
        if entry.get("kind") == "tcp" and "port" not in entry:
            yield c.Issue("port", "missing (a tcp target needs the port to connect to)", "targets", index)
        name = entry.get("name")
        if name in seen:
            yield c.Issue("name", f"{name!r} is used by an earlier target", "targets", index)
        if isinstance(name, str):
            seen.add(name)


# interval: network probes of management controllers, which rate-limit and log logins; the shared
# 1 s .. 1 d bounds.
SECTION = c.Section(name="oob", table=c.Table({"interval": c.interval}), children={"targets": TARGET},
                    build=_build, cross=_cross)
