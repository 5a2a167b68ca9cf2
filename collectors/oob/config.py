"""[oob] and [[oob.targets]]: out-of-band management endpoints (Intel AMT, IPMI, or a plain TCP port) to
probe, and where this host's own OOB hardware is read from (sysfs, /dev, dmidecode)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from collectors.kit import config as c

DEFAULT_PORTS = {"amt": 16992, "ipmi": 623}
# AMT's TLS port: tried when 16992 refuses and no port is configured (AMT set to TLS-only closes 16992).
AMT_TLS_PORT = 16993
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class OobTarget:
    name: str
    host: str
    kind: str = "amt"  # amt | ipmi | tcp
    port: int | None = None  # None only for tcp before the cross-check refuses it; the kind's default otherwise
    timeout: float = DEFAULT_TIMEOUT  # the whole probe of this target, every step included
    username: str = ""
    password_file: Path | None = field(default=None)  # read with collectors.kit.secrets, never logged
    tls: bool | None = None  # AMT: None = TLS on port 16993 only
    # AMT written without a port: 16992 first, then 16993 (TLS) when 16992 refuses (AMT set to TLS only).
    tls_fallback: bool = False


@dataclass(frozen=True)
class OobConfig:
    targets: tuple[OobTarget, ...] = ()
    interval: float | None = None
    # This host's own OOB hardware: the MEI device and PCI functions in sysfs, /dev/ipmi0, SMBIOS via dmidecode.
    local: bool = True
    dmidecode: str = "dmidecode"
    dev: Path = Path("/dev")
    timeout: float = 20.0  # the local capability run (dmidecode gets most of it)


TARGET = c.Table({
    "name": c.nonempty_string,
    "host": c.host,
    "kind": c.enum("amt", "ipmi", "tcp"),
    "port": c.port,
    # One probe of one endpoint, every step included (connect, HTTP, the authenticated WS-Man Get): the
    # shared request bounds.
    "timeout": c.request_timeout,
    "username": c.string,
    "password_file": c.optional_path,
    "tls": c.boolean,
}, required=("name", "host"))


def _build(values: c.Values) -> OobConfig:
    targets = tuple(
        OobTarget(name=e["name"], host=e["host"], kind=e.get("kind", "amt"),
                  port=e.get("port", DEFAULT_PORTS.get(e.get("kind", "amt"))),
                  timeout=e.get("timeout", DEFAULT_TIMEOUT), username=e.get("username", ""),
                  password_file=e.get("password_file"), tls=e.get("tls"),
                  tls_fallback=e.get("kind", "amt") == "amt" and "port" not in e and "tls" not in e)
        for e in values.entries("targets"))
    return OobConfig(targets=targets, interval=values.get("interval", None), local=values.get("local", True),
                     dmidecode=values.get("dmidecode", "dmidecode"), dev=values.get("dev", Path("/dev")),
                     timeout=values.get("timeout", 20.0))


def _cross(values: c.Values) -> Iterable[c.Issue]:
    seen: set[str] = set()
    for index, entry in enumerate(values.entries("targets")):
        if entry.get("kind") == "tcp" and "port" not in entry:
            yield c.Issue("port", "missing (a tcp target needs the port to connect to)", "targets", index)
        if bool(entry.get("username")) != bool(entry.get("password_file")):
            yield c.Issue("password_file" if entry.get("username") else "username",
                          "missing (credentials need both username and password_file)", "targets", index)
        if entry.get("kind", "amt") != "amt" and (entry.get("username") or "tls" in entry):
            key = "tls" if "tls" in entry else "username"
            yield c.Issue(key, "only an amt target uses it", "targets", index)
        name = entry.get("name")
        if name in seen:
            yield c.Issue("name", f"{name!r} is used by an earlier target", "targets", index)
        if isinstance(name, str):
            seen.add(name)


# interval: network probes of management controllers, which rate-limit and log logins; the shared
# 1 s .. 1 d bounds. timeout: the local capability run, the shared run bounds.
SECTION = c.Section(
    name="oob",
    table=c.Table({"interval": c.interval, "local": c.boolean, "dmidecode": c.program, "dev": c.path,
                   "timeout": c.run_timeout}),
    children={"targets": TARGET}, build=_build, cross=_cross,
    programs=(c.ProgramKey("dmidecode", "dmidecode", "SMBIOS records ($AMT, IPMI type 38) will not be read",
                           optional=True),),
)
