"""Switch test data: the project's own IF-MIB recordings (tests/snmp_data/switch, shaped after the LibreNMS
recordings in shared/corpus/snmp) and lldpcli JSON (tests/lldp_data, shaped after lldpd's own JSON writer and
integration tests), plus a stand-in lldpcli program (tests/snmprec.py reads a recording without an agent)."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.conftest import REPO

SWITCH_DATA = REPO / "tests" / "snmp_data" / "switch"
LLDP_DATA = REPO / "tests" / "lldp_data"


def write_lldpcli(folder: Path, fixture: str | None, exit_code: int = 0, stderr: str = "") -> Path:
    """A stand-in `lldpcli` that checks it was asked `-f json show neighbors` and prints a fixture (or fails
    like lldpcli does when lldpd is not running)."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "lldpcli"
    body = "cat " + shlex.quote(str(LLDP_DATA / fixture)) if fixture else ":"
    program.write_text(
        "#!/bin/sh\n"
        '[ "$*" = "-f json show neighbors" ] || { echo "unexpected arguments: $*" >&2; exit 64; }\n'
        f"{body}\n"
        + (f"echo {shlex.quote(stderr)} >&2\n" if stderr else "")
        + f"exit {exit_code}\n")
    program.chmod(0o755)
    return program
