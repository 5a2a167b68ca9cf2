"""Read one of the project's snmprec recordings without an agent: the plain `oid -> value` a collector gets
from collectors.kit.snmp for the same file served by snmpsim."""

from __future__ import annotations

from pathlib import Path

from collectors.kit.snmp import Value, clean_text

# snmprec value types the kit returns as int (Integer32, Counter32, Gauge32, TimeTicks, Counter64).
_INTEGER_TYPES = {"2", "65", "66", "67", "70"}


def read_snmprec(path: Path) -> dict[str, Value]:
    """`oid|type|value` lines as the mapping layer sees them: integer types as int, OCTET STRINGs (4, hex 4x)
    and OIDs (6) as cleaned text. `#` lines are comments, as snmpsim reads them."""
    values: dict[str, Value] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        oid, kind, raw = line.split("|", 2)
        if kind in _INTEGER_TYPES:
            values[oid] = int(raw)
        elif kind == "4x":
            values[oid] = clean_text(bytes.fromhex(raw))
        else:
            values[oid] = clean_text(raw.encode())
    return values
