"""One SNMP agent as configured: [[ups.snmp]] and [[switch]] are written with the same keys; [[switch]] also
takes the SNMPv3 ones (SNMP_AGENT_V3).

Kept apart from collectors.kit.snmp (the client) so that reading the configuration never loads asyncio or
pysnmp on a host that polls no SNMP agent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.kit import config as c

SNMP_PORT = 161
# pysnmp's default (1 s x 5 retries) would spend 6 s on every silent agent; the kit retries once, so a lost
# datagram costs one second and a silent agent two.
SNMP_TIMEOUT = 1.0


@dataclass(frozen=True)
class SnmpTarget:
    """One SNMP agent (a UPS card, a switch). The [[ups.snmp]] and [[switch]] keys are the field names."""

    host: str
    port: int = SNMP_PORT
    community: str = field(default="public", repr=False)  # a secret: kept out of reprs and logs
    community_file: Path | None = None  # wins over `community`; relative: looked up in $CREDENTIALS_DIRECTORY
    version: str = "2c"  # "1", "2c" or "3"
    name: str = ""
    timeout: float = SNMP_TIMEOUT  # seconds per request
    # SNMPv3 (version "3", [[switch]] only so far): the user-based security model. Keys come from files only
    # (relative: looked up in $CREDENTIALS_DIRECTORY); with no priv_key_file the agent is asked authNoPriv.
    username: str = ""
    auth_protocol: str = "SHA"
    auth_key_file: Path | None = None
    priv_protocol: str = "AES"
    priv_key_file: Path | None = None
    context: str = ""  # SNMPv3 context name; most agents use the default, empty one

    @property
    def label(self) -> str:
        return self.name or self.host


SNMP_AGENT = c.Table({
    "host": c.address,
    "port": c.port,
    "community": c.string,
    "community_file": c.optional_path,
    "version": c.enum("1", "2c"),
    "name": c.nonempty_string,
    "timeout": c.request_timeout,  # per SNMP request: the kit retries once, the run's timeout bounds the total
}, required=("host",))

# The USM protocols physgap offers, by the names net-snmp's -a/-x options use. Privacy needs the Python package
# `cryptography` at run time (pysnmp's ciphers); authentication alone does not.
AUTH_PROTOCOLS = ("MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512")
PRIV_PROTOCOLS = ("DES", "AES", "AES192", "AES256")
V3_KEYS = ("username", "auth_protocol", "auth_key_file", "priv_protocol", "priv_key_file", "context")

SNMP_AGENT_V3 = c.Table({
    **SNMP_AGENT.keys,
    "version": c.enum("1", "2c", "3"),
    "username": c.nonempty_string,
    "auth_protocol": c.enum(*AUTH_PROTOCOLS),
    "auth_key_file": c.optional_path,
    "priv_protocol": c.enum(*PRIV_PROTOCOLS),
    "priv_key_file": c.optional_path,
    "context": c.string,
}, required=SNMP_AGENT.required)
"""SNMP_AGENT plus SNMPv3: what [[switch]] accepts. Check entries with `agent_issues` too."""


def agent_issues(entry: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(key, problem) for an SNMP_AGENT_V3 entry whose keys contradict each other; single values are
    already checked. physgap never sends noAuthNoPriv: an SNMPv3 agent without authentication is as open
    as a v2c community, so it is configured as one."""
    version = entry.get("version", "2c")
    if version == "3":
        if "username" not in entry:
            yield "username", "missing (required with version = \"3\")"
        if entry.get("auth_key_file") is None:
            yield "auth_key_file", ("missing (required with version = \"3\": physgap asks SNMPv3 agents "
                                    "authNoPriv or authPriv, never noAuthNoPriv)")
        for key in ("community", "community_file"):
            if key in entry:
                yield key, "SNMPv3 uses username and keys, not a community"
        if "priv_protocol" in entry and entry.get("priv_key_file") is None:
            yield "priv_protocol", "has no priv_key_file to go with it"
        return
    for key in V3_KEYS:
        if key in entry:
            yield key, f"only used with version = \"3\" (this agent is asked with SNMPv{version})"
