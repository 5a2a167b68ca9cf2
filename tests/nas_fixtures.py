"""NAS test data: the project's own Synology recordings (tests/snmp_data/nas, net-snmp `snmpwalk -On` text shaped
after, not copied from, centreon's Synology walks in shared/corpus/snmp: DSM's OID layout, status enums and
disk/volume naming, our own models, temperatures and states), and a way to read one without an agent: the plain
values the SNMP kit hands a collector."""

from __future__ import annotations

import re
from pathlib import Path

from collectors.kit.snmp import Value
from tests.conftest import REPO

NAS_DATA = REPO / "tests" / "snmp_data" / "nas"

_LINE = re.compile(r"^\.?(?P<oid>[0-9.]+) = (?:(?P<kind>[A-Za-z0-9-]+): )?(?P<raw>.*)$")


def snmpwalk_values(path: Path) -> dict[str, Value]:
    """`oid -> value` as collectors.kit.snmp returns them: STRING as str, every numeric type as int (a line
    without a type, as in the corpus' first line, is a number)."""
    values: dict[str, Value] = {}
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        raw = match["raw"].strip()
        if match["kind"] == "STRING":
            values[match["oid"]] = raw.strip('"')
        else:
            values[match["oid"]] = int(re.sub(r"^\((\d+)\).*", r"\1", raw))
    return values
