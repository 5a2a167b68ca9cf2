"""systemd/physgap.service against the real systemd-analyze: it must verify cleanly and stay within the
hardening budget (`systemd-analyze security` exposure <= 3.0, "OK").

Both checks run offline (`--offline=true`, a copy of the unit in a temp directory), so they work where PID 1
is not systemd (containers, CI). The unit's real ExecStart (/opt/physgap/venv/bin/physgap) does not exist
on a build machine and `verify` would reject it, so the copy runs /bin/true instead; nothing else changes.
Negative controls prove the gates can fail: a stripped copy must miss the threshold, a misspelt key must
be reported.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "physgap.service"
THRESHOLD = 30  # systemd-analyze takes exposure x 10 as an integer; 30 = 3.0, the top of "OK"

# Directives that only run the service; everything else in [Service] is hardening or privilege.
_LIFECYCLE = {"Type", "NotifyAccess", "WatchdogSec", "ExecStart", "ExecReload", "Restart", "RestartSec",
              "TimeoutStopSec", "User", "Group", "SupplementaryGroups", "AmbientCapabilities",
              "StateDirectory", "ConfigurationDirectory"}


@pytest.fixture(scope="module")
def analyze() -> str:
    return require_binary("systemd-analyze")


def _runnable_copy(directory: Path, text: str | None = None) -> Path:
    """The unit under its own name in `directory`, with ExecStart pointing at an executable that exists."""
    text = UNIT.read_text() if text is None else text
    text, count = re.subn(r"(?m)^ExecStart=.*$", "ExecStart=/bin/true", text)
    assert count == 1, "physgap.service must have exactly one ExecStart="
    copy = directory / "physgap.service"
    copy.write_text(text)
    return copy


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # SYSTEMD_LOG_LEVEL pins the verbosity; the unit's directory as cwd keeps the output's paths short.
    env = {**os.environ, "SYSTEMD_LOG_LEVEL": "notice", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def _unit_complaints(output: str) -> list[str]:
    # `verify` exits 0 on unknown keys and unparsable values (they are "ignored"), so its return code alone
    # proves little: any line that points into our file is a finding.
    return [line for line in output.splitlines() if re.search(r"physgap\.service:\d+:", line)]


def _exposure(output: str) -> float:
    match = re.search(r"Overall exposure level for physgap\.service:\s*([0-9.]+)", output)
    assert match, f"no overall exposure in systemd-analyze output:\n{output}"
    return float(match.group(1))


def _directives(text: str) -> dict[str, list[str]]:
    """Section-less key -> values (repeatable keys keep every value); comments and blank lines dropped."""
    found: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


# --- the real gates ------------------------------------------------------------------------------------


def test_unit_verifies_cleanly(analyze: str, tmp_path: Path) -> None:
    copy = _runnable_copy(tmp_path)
    result = _run([analyze, "verify", copy.name], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert _unit_complaints(output) == [], output


def test_security_exposure_within_budget(analyze: str, tmp_path: Path) -> None:
    copy = _runnable_copy(tmp_path)
    result = _run([analyze, "security", "--offline=true", f"--threshold={THRESHOLD}", copy.name], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    exposure = _exposure(output)
    assert exposure <= THRESHOLD / 10, output


# --- negative controls: the gates above can fail -------------------------------------------------------


def test_security_gate_rejects_unhardened_unit(analyze: str, tmp_path: Path) -> None:
    kept = []
    in_service = False
    for line in UNIT.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            in_service = stripped == "[Service]"
        elif (in_service and "=" in stripped and not stripped.startswith("#")
              and stripped.partition("=")[0] not in _LIFECYCLE):
            continue
        kept.append(line)
    copy = _runnable_copy(tmp_path, "\n".join(kept) + "\n")
    result = _run([analyze, "security", "--offline=true", f"--threshold={THRESHOLD}", copy.name], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"the threshold gate passed a unit without hardening:\n{output}"
    assert _exposure(output) > THRESHOLD / 10


def test_verify_check_reports_a_misspelt_key(analyze: str, tmp_path: Path) -> None:
    text = UNIT.read_text()
    assert "\nNoNewPrivileges=yes\n" in text
    copy = _runnable_copy(tmp_path, text.replace("\nNoNewPrivileges=yes\n", "\nNoNewPrivilege=yes\n"))
    result = _run([analyze, "verify", copy.name], tmp_path)
    complaints = _unit_complaints(result.stdout + result.stderr)
    assert any("NoNewPrivilege" in line for line in complaints), result.stdout + result.stderr


def test_verify_rejects_a_missing_executable(analyze: str, tmp_path: Path) -> None:
    # The reason tests substitute ExecStart: the same check keeps a typo in the real path from shipping.
    copy = tmp_path / "physgap.service"
    copy.write_text(re.sub(r"(?m)^ExecStart=.*$", f"ExecStart={tmp_path}/no-such-physgap run", UNIT.read_text()))
    result = _run([analyze, "verify", copy.name], tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr


# --- the contract the hardening must not erode ---------------------------------------------------------


def test_unit_keeps_what_physgap_needs() -> None:
    d = _directives(UNIT.read_text())
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["120s"]
    assert d["Restart"] == ["on-failure"]
    assert d["ExecStart"] == ["/opt/physgap/venv/bin/physgap run"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["User"] == ["physgap"] and d["Group"] == ["physgap"]
    assert d["SupplementaryGroups"] == ["disk"]
    caps = {"CAP_SYS_RAWIO", "CAP_SYS_ADMIN"}
    assert set(d["AmbientCapabilities"][0].split()) == caps
    assert set(d["CapabilityBoundingSet"][0].split()) == caps
    assert d["DevicePolicy"] == ["closed"]
    assert set(d["DeviceAllow"]) == {"block-sd r", "char-sg r", "char-nvme r", "block-blkext r"}
    assert d["ProtectSystem"] == ["strict"]
    assert d["StateDirectory"] == ["physgap"]
    assert d["ConfigurationDirectory"] == ["physgap"]


@pytest.mark.parametrize(
    ("directive", "why"),
    [
        ("PrivateDevices", "hides /dev/sd*, /dev/nvme*: SMART could not read any drive"),
        ("PrivateUsers", "confines CAP_SYS_RAWIO/CAP_SYS_ADMIN to a user namespace where they do not count"),
        ("PrivateNetwork", "physgap must see the host's interfaces"),
        ("ProcSubset", "pid would hide /proc/mdstat from the storage collector"),
        ("DynamicUser", "the tmpfiles DMI rule and NUT/IPMI ACLs need the fixed user physgap"),
    ],
)
def test_unit_avoids_sandboxing_that_breaks_collectors(directive: str, why: str) -> None:
    assert directive not in _directives(UNIT.read_text()), why


def test_dev_mem_is_not_allowed() -> None:
    # dmidecode reads /sys/firmware/dmi/tables, made readable for group physgap by physgap.tmpfiles.
    assert "/dev/mem" not in " ".join(_directives(UNIT.read_text()).get("DeviceAllow", []))


def test_syscall_filter_keeps_the_calls_physgap_makes(analyze: str, tmp_path: Path) -> None:
    # ioctl: SG_IO, NVMe pass-through, SIOCETHTOOL; setsid: each external program runs in its own session
    # so a timeout kills its whole process group (collectors/command.py).
    def members(group: str) -> set[str]:
        result = _run([analyze, "syscall-filter", group], tmp_path)
        assert result.returncode == 0, result.stderr
        calls: set[str] = set()
        for line in result.stdout.splitlines()[1:]:  # first line: the group's own name
            item = line.strip()
            if item.startswith("@"):
                calls |= members(item)  # nested group
            elif item and not item.startswith("#"):
                calls.add(item)
        return calls

    allowed = members("@system-service")
    denied = members("@privileged") | members("@resources")
    for call in ("ioctl", "setsid", "socket", "sendto", "kill"):
        assert call in allowed and call not in denied, call


def test_group_nut_opens_upsmon_conf_but_not_nuts_secrets() -> None:
    # physgap.sysusers puts physgap in group nut so P1 can read upsmon.conf (root:nut 0640 on Debian). The
    # same group could read every NUT password (upsd.users), driver credentials (ups.conf) and talk to the
    # drivers' sockets in /run/nut (0660, instant commands); the unit must keep those out of reach, and must
    # not name nut in SupplementaryGroups= (a host without NUT would fail every start with 216/GROUP).
    d = _directives(UNIT.read_text())
    hidden = set(" ".join(d.get("InaccessiblePaths", [])).split())
    assert {"-/etc/nut/upsd.users", "-/etc/nut/ups.conf", "-/run/nut"} <= hidden
    assert not hidden & {"/etc/nut", "-/etc/nut", "/etc/nut/upsmon.conf", "-/etc/nut/upsmon.conf"}
    assert "nut" not in " ".join(d["SupplementaryGroups"]).split()
    assert "m physgap nut" in (ROOT / "systemd" / "physgap.sysusers").read_text().splitlines()
