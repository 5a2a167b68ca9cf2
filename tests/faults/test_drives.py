"""Drive and storage faults through the real daemon and CLI (issue 8, items 1, 4, 11, 12 and 13).

smartctl is a stand-in configured by path: the Python replayer (tests/smartctl_standin.py) for captures,
hangs and garbled numbers, a small shell script where processes must outlive a kill, and the real smartctl
where only its refusal of a `-d` type matters (it opens nothing then). Every case asserts what an operator
sees: /metrics, `physgap report`, /api/v1/view and the state directory.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from tests import smart_fixtures as sf
from tests import storage_fixtures as md
from tests.conftest import (
    DaemonProcess,
    disks_sysfs,
    free_port,
    http_get,
    require_binary,
    run_physgap,
    start_daemon,
    write_config,
)
from tests.faults.harness import marked_env, marked_processes, program, scrape, series, value, wait_until
from tests.smartctl_standin import write_scenario

TIMEOUT = 30
HEALTHY_WWN = "wwn-0x50014ee115c3d740"  # sf.ATA_HDD_HEALTHY


def wwn(wwn_id: int) -> str:
    """The drive id physgap gives a `disk(..., wwn_id)`."""
    return f"wwn-0x50014ee{wwn_id:09x}"


def disk(document: dict[str, Any], name: str, wwn_id: int) -> dict[str, Any]:
    """A capture as drive /dev/<name>, with a WWN of its own."""
    copy: dict[str, Any] = json.loads(json.dumps(document))
    copy["device"]["name"] = copy["device"]["info_name"] = f"/dev/{name}"
    copy["wwn"] = {"naa": 5, "oui": 5358, "id": wwn_id}
    copy["serial_number"] = f"WD-{name.upper()}{wwn_id}"
    return copy


def configure(tmp_path: Path, smart: str, scenario: dict[str, Any] | None = None, port: int | None = None,
              disks: tuple[str, ...] = (), zpool: Path | None = None) -> tuple[Path, int]:
    """A test host whose [smart] section is `smart` (the stand-in replayer unless it names its own smartctl)."""
    port = port or free_port()
    config = write_config(tmp_path / "physgap.toml", disks_sysfs(tmp_path / "sys", *disks), tmp_path / "state",
                          port, smart_scenario=scenario)
    text = config.read_text()
    standin = re.search(r'^smartctl = "(.*)"$', text, re.MULTILINE)
    assert standin is not None
    section = smart if "smartctl =" in smart else f'smartctl = "{standin.group(1)}"\n{smart}'
    text = re.sub(r"\[smart\]\n(?:[^\[\n][^\n]*\n)*", lambda _: f"[smart]\n{section}\n", text)
    if zpool is not None:
        text = re.sub(r'^zpool = ".*"$', f'zpool = "{zpool}"', text, flags=re.MULTILINE)
        assert f'zpool = "{zpool}"' in text  # write_config's [storage] section changed: fix this setup
    assert section in text
    config.write_text(text)
    return config, port


def gap(daemon: DaemonProcess, gap_id: str = "P2") -> dict[str, Any]:
    status, body = http_get(daemon.url + "/api/v1/view")
    assert status == 200, body
    return dict(next(g for g in json.loads(body)["gaps"] if g["id"] == gap_id))


def report_p2(config: Path) -> dict[str, Any]:
    result = run_physgap("report", "--config", str(config), "--format", "json", timeout=TIMEOUT)
    assert result.returncode in (0, 1), result.stderr
    return dict(next(g for g in json.loads(result.stdout)["gaps"] if g["id"] == "P2"))


def reachable(body: str) -> dict[str, float]:
    return {dict(labels)["drive"]: v for labels, v in series(body, "physgap_drive_reachable").items()}


def devices(body: str) -> dict[str, str]:
    """drive id -> /dev path, from physgap_drive_info."""
    return {dict(labels)["drive"]: dict(labels)["device"] for labels in series(body, "physgap_drive_info")}


# --- item 1: a drive that never answered is reported, and P2 is never resolved over it ----------------------


def test_drives_whose_smartctl_hangs_from_the_start_are_listed_unreachable_and_p2_is_unknown(
        tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    hung = ("sdb", "sdc", "sdd", "sde", "sdf")
    scenario = {"scan": None, "devices": {
        "/dev/sda": {"json": disk(sf.ATA_HDD_HEALTHY, "sda", 1)},
        **{f"/dev/{name}": {"json": disk(sf.ATA_HDD_HEALTHY, name, 2 + i), "sleep": 600}
           for i, name in enumerate(hung)}}}
    listed = ", ".join(f'"/dev/{name}"' for name in ("sda", *hung))
    config, port = configure(tmp_path, f'interval = "1s"\ntimeout = "3s"\ndevices = [{listed}]\n', scenario)
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    assert wait_until(lambda: len(reachable(scrape(daemon))) == 6, TIMEOUT), scrape(daemon)
    body = scrape(daemon)
    # Every listed drive has series: the hung ones under a fallback identity, unreachable, without a verdict.
    assert reachable(body) == {wwn(1): 1.0, **{f"dev-{name}": 0.0 for name in hung}}
    assert devices(body)["dev-sdb"] == "/dev/sdb"
    assert value(body, "physgap_drive_health", drive="dev-sdb") is None
    assert value(body, "physgap_drive_health", drive=wwn(1)) == 0.0
    assert value(body, "physgap_gap_evaluated", gap="P2") == 0.0
    p2 = gap(daemon)
    assert p2["status"] == "unknown", p2
    assert p2["reason"].startswith("no verdict for 5 drive(s): ")
    assert "/dev/sdb: smartctl killed after" in p2["reason"]
    assert daemon.stop() == 0


def test_rejected_device_type_and_missing_smartctl_show_the_drive_with_the_reason(tmp_path: Path) -> None:
    """The real smartctl refuses `-d bogus` before opening anything (exit 1); a smartctl path that does not
    exist cannot run at all. Either way the configured drive is reported, unreachable, and P2 says why."""
    smartctl = require_binary("smartctl")
    absent = "/dev/physgap-test-absent-disk"
    config, _ = configure(tmp_path / "rejected", f'smartctl = "{smartctl}"\n'
                                                 f'devices = [{{ device = "{absent}", type = "bogus" }}]\n')
    once = run_physgap("once", "--config", str(config), timeout=TIMEOUT)
    assert once.returncode == 0, once.stderr
    assert value(once.stdout, "physgap_drive_reachable", drive="dev-physgap-test-absent-disk") == 0.0
    p2 = report_p2(config)
    assert p2["status"] == "unknown"
    assert p2["reason"] == (f"no verdict for 1 drive(s): {absent}: smartctl rejected the query with -d bogus "
                            f"({absent}: Unknown device type 'bogus'); check the type in [smart] devices")

    missing = tmp_path / "missing" / "no-such-smartctl"
    config, _ = configure(tmp_path / "missing", f'smartctl = "{missing}"\n'
                                                f'devices = [{{ device = "/dev/sda", type = "sat" }}]\n')
    once = run_physgap("once", "--config", str(config), timeout=TIMEOUT)
    assert once.returncode == 0, once.stderr
    assert value(once.stdout, "physgap_drive_reachable", drive="dev-sda") == 0.0
    assert once.stderr.count("program not found") == 1, once.stderr
    p2 = report_p2(config)
    assert p2["status"] == "unknown"
    assert p2["reason"] == f"no verdict for 1 drive(s): /dev/sda: not queried: {missing}: program not found"


def test_a_degraded_mirror_still_opens_p2_while_a_drive_has_no_verdict(tmp_path: Path) -> None:
    scenario = {"scan": None, "devices": {"/dev/sda": {"json": disk(sf.ATA_HDD_HEALTHY, "sda", 1)},
                                          "/dev/sdb": {"json": disk(sf.ATA_HDD_HEALTHY, "sdb", 2), "sleep": 600}}}
    config, _ = configure(tmp_path, 'timeout = "2s"\ndevices = ["/dev/sda", "/dev/sdb"]\n', scenario,
                          disks=("sda", "sdb"))
    (tmp_path / "proc" / "mdstat").write_text(md.MD_RAID1_DEGRADED)
    p2 = report_p2(config)
    assert (p2["status"], p2["severity"]) == ("open", "critical")
    assert p2["evidence"] == ["md0 (md degraded, failed: sdb) survives no further drive failure"]


# --- item 4: absurd numbers are absent, and cannot change who the drive is ---------------------------------


def test_negative_and_filler_numbers_are_not_readings_and_do_not_change_the_drives_identity(
        tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    """What was seen: a temperature of -27 °C exported, and the drive under a new id. The same garbling
    (a sign-extended byte) hit the WWN's id field, so the WWN was dropped and the id fell back to
    model_serial: a new series and a new baseline. Now the drive keeps its id while model and serial match."""
    good = sf.ATA_HDD_HEALTHY
    scenario = {"scan": None, "devices": {"/dev/sda": {"json": good}}}
    config, port = configure(tmp_path, 'interval = "1s"\n', scenario)
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    assert wait_until(lambda: value(scrape(daemon), "physgap_drive_temperature_celsius", drive=HEALTHY_WWN)
                      is not None, TIMEOUT)
    garbled = sf.with_attribute(sf.variant(good, temperature={"current": -27},
                                           wwn={"naa": 5, "oui": 5358, "id": -27},
                                           power_on_time={"hours": -1}),
                                197, raw=4294967295, raw_string="4294967295")
    write_scenario(tmp_path / "smartctl", {"scan": None, "devices": {"/dev/sda": {"json": garbled}}})
    gone = wait_until(lambda: value(scrape(daemon), "physgap_drive_temperature_celsius", drive=HEALTHY_WWN)
                      is None, TIMEOUT)
    body = scrape(daemon)
    assert gone, body
    assert list(devices(body)) == [HEALTHY_WWN]  # one drive, under the id it always had
    assert value(body, "physgap_drive_reachable", drive=HEALTHY_WWN) == 1.0
    for metric in ("physgap_drive_power_on_seconds", "physgap_drive_pending_sectors"):
        assert value(body, metric, drive=HEALTHY_WWN) is None, metric
    assert value(body, "physgap_drive_health", drive=HEALTHY_WWN) == 0.0  # a filler is not 4 billion bad sectors
    assert daemon.stop() == 0


# --- item 11: a smartctl that survives SIGKILL --------------------------------------------------------------


def stuck_smartctl(folder: Path, *drives: str) -> Path:
    """A smartctl stand-in for drives that hang such that part of the query outlives the kill.

    A process in uninterruptible sleep ignores SIGKILL until the kernel lets go of it; userspace cannot make
    one on purpose. What the daemon must cope with is the consequence: after it killed the query's process
    group, a process of that query is still alive. A helper that moved to a session of its own with
    setsid(1) is exactly that: killpg() cannot reach it, it keeps the query's environment (so the daemon
    finds it as it finds a stuck smartctl), and it lives until the test kills it, as the kernel would finally
    release a stuck one. The group leader itself hangs in `sleep` and is killed at the deadline.
    Drives with a `hang-<name>` file in `folder` hang; the others answer from `<name>.json`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(drives):
        (folder / f"{name}.json").write_text(json.dumps(disk(sf.ATA_HDD_HEALTHY, name, 10 + index)))
    return program(folder / "smartctl", f"""
for arg in "$@"; do dev="$arg"; done
name=$(basename "$dev")
echo "$name" >> "{folder}/calls"
if [ -e "{folder}/hang-$name" ]; then
    setsid sleep 300 </dev/null >/dev/null 2>&1 &
    sleep 300
fi
cat "{folder}/$name.json"
""")


def survivors(mark: str, daemon: DaemonProcess) -> list[int]:
    """The stand-in's helpers that escaped a kill: `sleep 300` processes of the test's mark that lead a
    session of their own (the query's own `sleep`, killed at the deadline, is in its shell's session).
    Other programs the daemon runs meanwhile (dmidecode, zpool) carry the mark too and are not counted."""
    found = []
    for pid in marked_processes(mark):
        if pid == daemon.proc.pid:
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            session = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[3])
        except (OSError, ValueError, IndexError):
            continue
        if cmdline == b"sleep\x00300\x00" and session == pid:
            found.append(pid)
    return found


def calls(folder: Path) -> list[str]:
    path = folder / "calls"
    return path.read_text().split() if path.exists() else []


def stuck_daemon(tmp_path: Path, env: dict[str, str], smartctl: Path, drives: tuple[str, ...],
                 concurrency: int) -> DaemonProcess:
    """The daemon in the test's marked environment (start_daemon takes none), so that whatever it leaves
    behind can be found and is killed at the end whatever happens."""
    listed = ", ".join(f'{{ device = "/dev/{name}", type = "sat" }}' for name in drives)
    config, port = configure(tmp_path, f'smartctl = "{smartctl}"\ninterval = "1s"\ntimeout = "2s"\n'
                                       f"concurrency = {concurrency}\ndevices = [{listed}]\n")
    return start_daemon(config, port, env=env, wait=TIMEOUT)


def test_a_query_that_survives_sigkill_is_never_started_twice_and_the_drive_reads_hung(
        tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    folder = tmp_path / "bin"
    smartctl = stuck_smartctl(folder, "sda", "sdb")
    (folder / "hang-sdb").touch()
    with marked_env() as (mark, env):
        daemon = stuck_daemon(tmp_path, env, smartctl, ("sda", "sdb"), concurrency=4)
        daemon_factory.append(daemon)
        assert wait_until(lambda: reachable(scrape(daemon)).get("dev-sdb") == 0.0, TIMEOUT)
        left = survivors(mark, daemon)
        assert len(left) == 1, left
        # Several more runs: sda is read each time, sdb is never asked again while its query lives.
        runs = calls(folder).count("sda")
        assert wait_until(lambda: calls(folder).count("sda") >= runs + 3, TIMEOUT)
        assert calls(folder).count("sdb") == 1
        assert survivors(mark, daemon) == left
        # A reload builds new collectors: the stuck query belongs to the process and still holds the drive.
        daemon.proc.send_signal(signal.SIGHUP)
        runs = calls(folder).count("sda")
        assert wait_until(lambda: calls(folder).count("sda") >= runs + 2, TIMEOUT)
        assert calls(folder).count("sdb") == 1
        p2 = gap(daemon)
        assert p2["status"] == "unknown"
        assert "/dev/sdb: hung: the smartctl query started" in p2["reason"]
        assert "still alive after SIGKILL" in p2["reason"] and "no new query until it ends" in p2["reason"]

        # The kernel lets go (here: the survivor is killed) and the disk answers again: read on the next run.
        (folder / "hang-sdb").unlink()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: reachable(scrape(daemon)).get(wwn(11)) == 1.0, TIMEOUT), scrape(daemon)
        assert calls(folder).count("sdb") == 2
        assert gap(daemon)["status"] == "resolved"
        assert daemon.stop() == 0
        assert survivors(mark, daemon) == []


def test_stuck_queries_are_bounded_by_concurrency(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    """Stuck and running queries together never exceed smart.concurrency: with two slots and three hanging
    disks, two processes get stuck, the third disk is never queried, and the reason says why."""
    folder = tmp_path / "bin"
    drives = ("sda", "sdb", "sdc", "sdd")
    smartctl = stuck_smartctl(folder, *drives)
    for name in ("sdb", "sdc", "sdd"):
        (folder / f"hang-{name}").touch()
    with marked_env() as (mark, env):
        daemon = stuck_daemon(tmp_path, env, smartctl, drives, concurrency=2)
        daemon_factory.append(daemon)
        assert wait_until(lambda: len(survivors(mark, daemon)) == 2, TIMEOUT)
        # Several cycles later still two, and sdd was never started.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert len(survivors(mark, daemon)) <= 2
            time.sleep(0.2)
        assert "sdd" not in calls(folder)
        assert calls(folder).count("sdb") == calls(folder).count("sdc") == 1
        body = scrape(daemon)
        assert reachable(body) == {wwn(10): 0.0, "dev-sdb": 0.0, "dev-sdc": 0.0, "dev-sdd": 0.0}
        p2 = gap(daemon)
        assert "/dev/sdd: not queried: 2 earlier smartctl queries are still alive after SIGKILL, as many as " \
               "smart.concurrency (2) allows" in p2["reason"], p2
        assert daemon.stop() == 0


# --- item 12: spares, log and cache devices are not members -------------------------------------------------


def test_a_failing_zfs_hot_spare_is_a_medium_finding_not_a_drive_without_redundancy(tmp_path: Path) -> None:
    zpool = program(tmp_path / "bin" / "zpool", f"cat <<'EOF'\n{md.ZFS_WITH_CLASSES}EOF")
    scenario = {"scan": None, "devices": {"/dev/sde": {"json": disk(sf.ATA_FAILED, "sde", 5)}}}
    config, _ = configure(tmp_path, "", scenario, disks=("sde",), zpool=zpool)
    p2 = report_p2(config)
    assert (p2["status"], p2["severity"]) == ("open", "medium"), p2
    assert len(p2["evidence"]) == 1
    assert p2["evidence"][0].startswith("/dev/sde TOSHIBA MG05ACA800E failing as a hot spare of nas (holds no "
                                        "data; the next member failure would rebuild onto it): ")


# --- item 13: the state file: pruned, and refused when it is not a file --------------------------------------


def test_fifos_in_place_of_state_files_are_set_aside_without_blocking(tmp_path: Path) -> None:
    scenario = {"scan": None, "devices": {"/dev/sda": {"json": sf.ATA_HDD_HEALTHY}}}
    config, _ = configure(tmp_path, "", scenario)
    state = tmp_path / "state"
    state.mkdir()
    for name in ("smart-state.json", "pcie-baseline.json"):
        os.mkfifo(state / name)
    once = run_physgap("once", "--config", str(config), timeout=TIMEOUT)
    assert once.returncode == 0, once.stderr
    assert value(once.stdout, "physgap_collector_success", collector="smart") == 1.0
    assert value(once.stdout, "physgap_drive_health", drive=HEALTHY_WWN) == 0.0
    for name in ("smart-state.json", "pcie-baseline.json"):
        warned = [line for line in once.stderr.splitlines() if f"{state / name} is a FIFO" in line]
        assert len(warned) == 1, once.stderr
        aside = [p for p in state.iterdir() if p.name.startswith(f"{name}.corrupt-")]
        assert len(aside) == 1 and stat.S_ISFIFO(aside[0].lstat().st_mode)
    # Both were written afresh as regular files.
    for name in ("smart-state.json", "pcie-baseline.json"):
        assert stat.S_ISREG((state / name).lstat().st_mode)
    assert json.loads((state / "smart-state.json").read_text())["devices"]["/dev/sda|sat"]["drive"] == HEALTHY_WWN


def _entry(drive: str, seen: float | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"drive": drive, "rotational": True}
    if seen is not None:
        entry["seen"] = seen
    return entry


@pytest.mark.parametrize("old_format", [False, True], ids=["seen-200-days-ago", "file-without-seen-times"])
def test_state_entries_not_seen_for_half_a_year_are_pruned_and_old_files_still_load(
        tmp_path: Path, old_format: bool) -> None:
    scenario = {"scan": None, "devices": {"/dev/sda": {"json": sf.ATA_HDD_HEALTHY}}}
    config, _ = configure(tmp_path, "", scenario)
    state = tmp_path / "state"
    state.mkdir()
    long_ago = None if old_format else time.time() - 200 * 86400
    counters = {"pending": 0, "reallocated": 0}
    churned = {f"wwn-0x5000c5000000{i:04x}": dict(counters) for i in range(140)}
    document: dict[str, Any] = {
        "version": 1,
        "devices": {f"/dev/sd{i}|sat": _entry(drive, long_ago) for i, drive in enumerate(churned)},
        "baselines": churned,
    }
    if long_ago is not None:
        document["baseline_seen"] = dict.fromkeys(churned, long_ago)
    (state / "smart-state.json").write_text(json.dumps(document))
    once = run_physgap("once", "--config", str(config), timeout=TIMEOUT)
    assert once.returncode == 0, once.stderr
    kept = json.loads((state / "smart-state.json").read_text())
    if old_format:
        # An earlier release's file loads as it is; its entries count as seen now and get a time.
        assert set(churned) <= set(kept["baselines"])
        assert len(kept["devices"]) == 141 and all(e["seen"] > time.time() - 60 for e in kept["devices"].values())
    else:
        assert list(kept["devices"]) == ["/dev/sda|sat"]
        assert list(kept["baselines"]) == [HEALTHY_WWN]
    assert "Traceback" not in once.stderr


def test_state_file_is_capped_however_fast_identities_churn(tmp_path: Path) -> None:
    scenario = {"scan": None, "devices": {"/dev/sda": {"json": sf.ATA_HDD_HEALTHY}}}
    config, _ = configure(tmp_path, "", scenario)
    state = tmp_path / "state"
    state.mkdir()
    now = time.time()
    drives = [f"wwn-0x5000c5000000{i:04x}" for i in range(400)]
    document = {
        "version": 1,
        # All seen within the last month: young, but far more than any host has drives.
        "devices": {f"/dev/bus/0|megaraid,{i}": _entry(d, now - 86400 - i * 600) for i, d in enumerate(drives)},
        "baselines": {drive: {"pending": 0} for drive in drives},
        "baseline_seen": {d: now - 86400 - i * 600 for i, d in enumerate(drives)},
    }
    (state / "smart-state.json").write_text(json.dumps(document))
    once = run_physgap("once", "--config", str(config), timeout=TIMEOUT)
    assert once.returncode == 0, once.stderr
    kept = json.loads((state / "smart-state.json").read_text())
    assert len(kept["devices"]) == len(kept["baselines"]) == 256
    assert "/dev/sda|sat" in kept["devices"] and HEALTHY_WWN in kept["baselines"]
    assert "/dev/bus/0|megaraid,0" in kept["devices"]  # the most recently seen stay
    assert "/dev/bus/0|megaraid,399" not in kept["devices"]
