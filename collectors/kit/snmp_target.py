"""One SNMP agent as configured: [[ups.snmp]] and [[switch]] are written with the same keys.

Kept apart from collectors.kit.snmp (the client) so that reading the configuration never loads asyncio or
pysnmp on a host that polls no SNMP agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
    version: str = "2c"  # "1" or "2c"
    name: str = ""
    timeout: float = SNMP_TIMEOUT  # seconds per request

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
