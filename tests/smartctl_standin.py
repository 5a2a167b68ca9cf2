#!/usr/bin/env python3
"""A stand-in `smartctl` that replays captured `smartctl --json` outputs, for tests without disks.

The daemon runs it exactly as it runs the real program (the configured `smartctl` path), so the production
code path -- argv building, process deadlines, exit-status bits, JSON parsing -- is what the tests exercise.

Scenario (JSON), looked up in this order:
  1. the file named by env PHYSGAP_SMARTCTL_SCENARIO;
  2. `scenario.json` next to the program as invoked (argv[0], not resolved: works for copies and symlinks);
  3. `scenario.json` next to the resolved program file.

    {"scan": {...} | "garbage text" | null,   # null: built from "devices" (each entry's "type", default sat)
     "scan_exit": 0,
     "devices": {
        "/dev/sda": {"file": "capture.json",     # relative to the scenario's folder, or absolute
                     "json": {...},              # inline document instead of "file"
                     "exit": 0,                  # default: the capture's smartctl.exit_status, else 0
                     "standby": false,           # asleep: `-n standby[,N]` gets the 7.3 standby answer
                     "sleep": 0,                 # seconds to hang before answering (a dying USB disk)
                     "garbage": "...",           # printed instead of the capture
                     "truncate": 120,            # print only the first N characters of the capture
                     "type": "sat", "protocol": "ATA"},   # used by the generated scan
        "/dev/bus/0|megaraid,1": {...}}}         # "DEVICE|TYPE" keys win for nodes shared by several disks

Every invocation appends its argv (["smartctl", ...]) as one JSON line to `calls.jsonl` next to the scenario.
A device not in the scenario answers like a vanished disk: open failed, exit 2.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

SCENARIO_ENV = "PHYSGAP_SMARTCTL_SCENARIO"
SCENARIO_NAME = "scenario.json"
CALLS_NAME = "calls.jsonl"

_PROTOCOLS = {"sat": "ATA", "ata": "ATA", "nvme": "NVMe", "scsi": "SCSI"}
# smartctl's own banner, as 7.3 r5338 (Debian 12) prints it.
_BANNER: dict[str, Any] = {
    "version": [7, 3],
    "svn_revision": "5338",
    "platform_info": "x86_64-linux-6.1.0-18-amd64",
    "build_info": "(local build)",
}
# Long options smartctl accepts that take a separate value (the stand-in must skip the value, not treat it
# as the device name).
_VALUE_OPTIONS = {"-d", "--device", "-n", "--nocheck", "-T", "--tolerance", "-b", "--badsum", "-r", "--report",
                  "-l", "--log", "-f", "--format", "-F", "--firmwarebug", "-v", "--vendorattribute",
                  "-P", "--presets", "-B", "--drivedb", "-t", "--test", "-s", "--smart", "-o",
                  "--offlineauto", "-S", "--saveauto", "-g", "--get"}


def write_wrapper(directory: Path, python: str | None = None, name: str = "smartctl") -> Path:
    """Copy the stand-in into `directory` and write an executable `name` that runs it with `python`.

    The wrapper points the stand-in at `directory/scenario.json` explicitly, so the scenario lives next to
    the program the daemon is configured with, whatever the daemon's own environment holds.
    """
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / "smartctl_standin.py"
    copy.write_text(Path(__file__).read_text(encoding="utf-8"), encoding="utf-8")
    wrapper = directory / name
    wrapper.write_text(
        "#!/bin/sh\n"
        f"{SCENARIO_ENV}=\"$(dirname \"$0\")/{SCENARIO_NAME}\" exec \"{python or sys.executable}\" \"{copy}\" \"$@\"\n",
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return wrapper


def write_scenario(directory: Path, scenario: dict[str, Any]) -> Path:
    """Write scenario.json atomically (a collector run in another thread may be reading it)."""
    path = directory / SCENARIO_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(scenario, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_calls(directory: Path) -> list[list[str]]:
    """Every recorded invocation, oldest first."""
    path = directory / CALLS_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _scenario_path() -> Path | None:
    named = os.environ.get(SCENARIO_ENV)
    if named:
        return Path(named)
    for folder in (Path(sys.argv[0]).parent, Path(__file__).resolve().parent):
        candidate = folder / SCENARIO_NAME
        if candidate.exists():
            return candidate
    return None


def _record(folder: Path, argv: list[str]) -> None:
    line = (json.dumps(["smartctl", *argv]) + "\n").encode("utf-8")
    # One O_APPEND write per call: concurrent invocations (the collector runs several) never interleave.
    fd = os.open(folder / CALLS_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _option(argv: list[str], short: str, long: str) -> str | None:
    for index, arg in enumerate(argv):
        if arg in (short, long) and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(long + "="):
            return arg.split("=", 1)[1]
    return None


def _device_arg(argv: list[str]) -> str | None:
    skip = False
    device = None
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _VALUE_OPTIONS:
            skip = True
            continue
        if not arg.startswith("-"):
            device = arg
    return device


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()


def _scan(scenario: dict[str, Any], argv: list[str]) -> int:
    scan = scenario.get("scan")
    status = int(scenario.get("scan_exit", 0))
    if isinstance(scan, str):
        sys.stdout.write(scan)
        return status
    if scan is None:
        devices = []
        for key, spec in scenario.get("devices", {}).items():
            name, _, key_type = key.partition("|")
            dev_type = key_type or spec.get("type", "sat")
            devices.append({
                "name": name,
                "info_name": name if not key_type else f"{name} [{dev_type}]",
                "type": dev_type,
                "protocol": spec.get("protocol", _PROTOCOLS.get(dev_type.split(",")[0], "SCSI")),
            })
        scan = {"json_format_version": [1, 0],
                "smartctl": {**_BANNER, "argv": ["smartctl", *argv], "exit_status": status},
                "devices": devices}
    _emit(scan)
    return status


def _open_failed(device: str, dev_type: str, argv: list[str]) -> int:
    _emit({
        "json_format_version": [1, 0],
        "smartctl": {**_BANNER, "argv": ["smartctl", *argv],
                     "messages": [{"string": f"Smartctl open device: {device} [{dev_type.upper()}] failed: "
                                             "No such device", "severity": "error"}],
                     "exit_status": 2},
        "local_time": {"time_t": int(time.time()), "asctime": time.asctime()},
    })
    return 2


def _standby(device: str, dev_type: str, nocheck: str, argv: list[str]) -> int:
    parts = nocheck.split(",")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 2
    protocol = _PROTOCOLS.get(dev_type.split(",")[0], "SCSI")
    # smartctl 7.3 checks the power mode before IDENTIFY: only the device block, no model or serial.
    _emit({
        "json_format_version": [1, 0],
        "smartctl": {**_BANNER, "argv": ["smartctl", *argv],
                     "messages": [{"string": f"Device is in STANDBY mode, exit({status})",
                                   "severity": "information"}],
                     "exit_status": status},
        "device": {"name": device, "info_name": f"{device} [{dev_type.upper()}]", "type": dev_type,
                   "protocol": protocol},
    })
    return status


def _capture(folder: Path, spec: dict[str, Any]) -> tuple[str, int]:
    if "json" in spec:
        document: Any = spec["json"]
        text = None
    else:
        path = Path(spec["file"])
        text = (path if path.is_absolute() else folder / path).read_text(encoding="utf-8")
        try:
            document = json.loads(text)
        except ValueError:
            document = None
    status = 0
    if isinstance(document, dict):
        status = int(document.get("smartctl", {}).get("exit_status", 0))
    if "exit" in spec:
        status = int(spec["exit"])
        if isinstance(document, dict) and isinstance(document.get("smartctl"), dict):
            document = {**document, "smartctl": {**document["smartctl"], "exit_status": status}}
            text = None
    if text is None:
        text = json.dumps(document, indent=2) + "\n"
    return text, status


def main(argv: list[str]) -> int:
    scenario_path = _scenario_path()
    if scenario_path is None:
        sys.stderr.write("smartctl stand-in: no scenario.json (set PHYSGAP_SMARTCTL_SCENARIO)\n")
        return 1
    folder = scenario_path.parent
    _record(folder, argv)
    scenario: dict[str, Any] = json.loads(scenario_path.read_text(encoding="utf-8"))
    if "-V" in argv or "--version" in argv:
        sys.stdout.write("smartctl 7.3 2022-02-28 r5338 (stand-in)\n")
        return 0
    if "--scan" in argv or "--scan-open" in argv:
        return _scan(scenario, argv)

    device = _device_arg(argv)
    if device is None:
        sys.stderr.write("smartctl stand-in: no device given\n")
        return 1
    dev_type = _option(argv, "-d", "--device") or "auto"
    devices: dict[str, dict[str, Any]] = scenario.get("devices", {})
    spec = devices.get(f"{device}|{dev_type}", devices.get(device))
    if spec is None:
        return _open_failed(device, dev_type, argv)
    if spec.get("sleep"):
        time.sleep(float(spec["sleep"]))
    nocheck = _option(argv, "-n", "--nocheck")
    if spec.get("standby") and nocheck is not None and nocheck.split(",")[0] in ("standby", "idle"):
        return _standby(device, dev_type, nocheck, argv)
    if "garbage" in spec:
        sys.stdout.write(str(spec["garbage"]))
        return int(spec.get("exit", 0))
    text, status = _capture(folder, spec)
    if "truncate" in spec:
        text = text[: int(spec["truncate"])]
    sys.stdout.write(text)
    if spec.get("stderr"):
        sys.stderr.write(str(spec["stderr"]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
