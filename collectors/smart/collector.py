"""Drive SMART data from `smartctl --json`, one DriveReading per drive, without waking sleeping disks.

Why it is built the way it is (see ../shared/notes/smart.md for the research behind each point):

* Monitoring that spins disks up is the top complaint about every SMART exporter. Every ATA/SCSI query that
  may reach a spinning disk carries `-n standby,3`, and `-d TYPE` is always explicit, because smartctl's
  device-type autodetection may itself spin a disk up (man smartctl, `-n`). A sleeping disk keeps its last
  reading, marked "standby", with the age of its data and a count of the checks it skipped.
* SSDs that are known not to rotate are read without `-n`: cheap SSDs claim "standby" forever and would
  otherwise never be read (smartctl_exporter#91). NVMe has no `-n` at all.
* One hung smartctl (a dying USB disk, a wedged HBA) costs only its own drive: each query has a deadline
  of its own, inside the run's, and the run returns what finished before the scheduler's hard timeout.
* Exit status 2 means both "open failed" and "asleep" by default, hence the unique standby status below;
  bits 2-7 do not mean "no data" and the data is used; health comes from collectors.smart.verdict.
* Growth ("5592 pending sectors (was 0)") needs a reference that survives restarts: the first counters seen
  for each drive are persisted in the state directory, keyed by the drive's stable identity.
* Serial numbers and WWNs are identities, not log material: messages name the /dev path.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.kit.command import ProgramNotFound, run_program
from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.kit.fanout import fan_out
from collectors.kit.statefile import JsonStateFile
from collectors.kit.sysfs import read_attr
from collectors.kit.units import percent_to_ratio
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import AnyReading, DriveReading
from collectors.smart.config import SmartConfig, SmartDevice
from collectors.smart.parse import (
    STANDBY_EXIT_STATUS,
    ScanEntry,
    SmartFacts,
    SmartParseError,
    drive_identity,
    parse_scan,
    parse_smartctl_json,
)
from collectors.smart.verdict import DriveCounters, counters, judge

STATE_FILE = "smart-state.json"
_STATE_VERSION = 1

_NOCHECK = f"standby,{STANDBY_EXIT_STATUS}"

# The discovery scan only lists device nodes and opens nothing; it must never eat the drives' time.
_SCAN_BUDGET_SECONDS = 15.0
# Kept back from the scheduler's hard deadline for killing late queries, building readings and writing the
# state file: a run that overruns the deadline is abandoned whole, losing every drive read in it.
_RESERVE_MAX_SECONDS = 2.0
_RESERVE_FRACTION = 0.1
# Open failed / could not open: bits 0-1 of smartctl's exit status; nothing in the output is usable.
_NO_DATA_BITS = 0b11
_NVME_TYPES = re.compile(r"^(nvme|snt[a-z]*)$")  # NVMe, and NVMe behind USB bridges (sntjmicron, ...)
_SHARED_NODE_TYPE = re.compile(r"^(megaraid|3ware|areca|cciss|hpt|aacraid|cissa),", re.IGNORECASE)
_NVME_CONTROLLER = re.compile(r"^nvme\d+$")

log = logging.getLogger("physgap.collector.smart")


@dataclass(frozen=True)
class _Target:
    """One drive to query: a /dev node plus the -d type that reaches the disk behind it."""

    device: str
    dev_type: str
    protocol: str  # from the scan; "" for configured devices

    @property
    def key(self) -> str:
        # RAID controllers expose several disks behind one node (/dev/bus/0 -d megaraid,0 / megaraid,1).
        return f"{self.device}|{self.dev_type}"

    @property
    def nvme(self) -> bool:
        return _NVME_TYPES.match(self.dev_type.split(",")[0].lower()) is not None


@dataclass(frozen=True)
class _Query:
    target: _Target
    argv: tuple[str, ...]
    nocheck: bool  # `-n standby,3` is in argv (False for NVMe, known SSDs and force_after wake-ups)


@dataclass(frozen=True)
class _Outcome:
    """What one query produced; built in a worker thread, applied to the collector's memory by the run."""

    kind: str  # "facts" | "standby" | "failed" | "missing"
    facts: SmartFacts | None
    exit_status: int | None
    category: str  # for failures: a stable reason class, so a warning is logged once per reason
    reason: str  # for failures: human text naming the /dev path, never a serial
    read_at: float  # wall-clock time the query finished


@dataclass(frozen=True)
class _DeviceState:
    """What is remembered about a device node across runs and restarts."""

    drive: str  # identity of the drive last read through this node, "" when never read
    rotational: bool | None  # as the drive itself said at the last read


@dataclass(frozen=True)
class _State:
    """smart-state.json: per device node what was last read there, per drive the baseline for growth.
    The run updates the two maps in place; the file is rewritten when they changed."""

    devices: dict[str, _DeviceState] = field(default_factory=dict)
    baselines: dict[str, DriveCounters] = field(default_factory=dict)


@dataclass(frozen=True)
class _Who:
    """The drive behind a target, as far as it is known: from its answer, or remembered while it sleeps."""

    drive: str
    protocol: str
    model: str = ""
    serial: str = ""
    rotational: bool | None = None
    capacity_bytes: int | None = None


@dataclass
class _Memory:
    """In-memory, per device node: the last good reading and how many checks it slept through."""

    last: DriveReading | None = None
    skipped: int = 0
    problem: str = ""  # category of the last failure logged, "" after a good read


class SmartCollector:
    """Collector "smart": DriveReadings from smartctl --json, standby-aware, with persisted baselines."""

    name = "smart"

    def __init__(self, config: SmartConfig, sysfs_root: Path = Path("/sys")) -> None:
        self._smartctl = config.smartctl
        self._sysfs_root = sysfs_root
        self._concurrency = config.concurrency
        # smartd's `-n standby,N` idea: after this many skipped checks in a row the next query wakes the
        # disk on purpose, so a disk that is always asleep at check time is still read now and then.
        self._force_after = config.force_after
        self._configured, self._ignored = _configured_targets(config.devices)
        self._memory: dict[str, _Memory] = {}
        self._warn = WarnOnce(log, "smart: ")
        self._state_file = JsonStateFile(STATE_FILE, _decode_state, _encode_state, _State, self._warn,
                                         "SMART state")
        self._state = _State()
        self._loaded = False
        self._dirty = False
        self._scan_types: dict[str, str] | None = None  # realpath -> type, for configured entries without one

    # --- the run -------------------------------------------------------------------------------------

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        # The part of the run smartctl may use: the rest is kept back (see _RESERVE_MAX_SECONDS).
        reserve = min(_RESERVE_MAX_SECONDS, max(0.0, ctx.remaining()) * _RESERVE_FRACTION)
        run = ctx.sub(ctx.remaining() - reserve)
        self._load_state(ctx)
        targets = self._targets(run)
        queries = [self._plan(target, ctx) for target in targets]
        # Queries still running at the run's deadline may use half of the reserve to reap their killed
        # processes, so no thread outlives the run; the rest is for readings and the state file.
        outcomes = fan_out(run, queries, self._query, limit=self._concurrency, on_error=self._crashed,
                           settle=reserve / 2, name="physgap-smart")
        readings: list[AnyReading] = []
        seen: dict[str, str] = {}
        for query in queries:
            target = query.target
            outcome = outcomes.get(query)
            if outcome is None:
                outcome = _failed("timeout", f"{_label(target)}: no answer before the collector's timeout")
            reading = self._apply(ctx, query, outcome)
            if reading is None:
                continue
            if reading.drive in seen:
                # Two nodes reach one drive (a configured by-id path and a scan result, /dev/sdX and
                # /dev/sg, multipath): one drive, one reading, or the drive's metrics would collide.
                log.debug("smart: %s is the same drive as %s; reported once", _label(target), seen[reading.drive])
                continue
            seen[reading.drive] = _label(target)
            readings.append(reading)
        self._save_state(ctx)
        return readings

    # --- which devices -------------------------------------------------------------------------------

    def _targets(self, run: RunContext) -> list[_Target]:
        if self._configured:
            # Explicit entries replace discovery, as explicit lines replace DEVICESCAN in smartd.conf.
            unique: dict[str, _Target] = {}
            for configured in self._configured:
                target = self._typed(run, configured)
                unique.setdefault(target.key, target)  # "/dev/sda" and "/dev/sda" type "sat" are one entry
            return list(unique.values())
        entries = self._scan(run)
        targets: list[_Target] = []
        keys: set[str] = set()
        ignored_nodes = {os.path.realpath(path.split("|")[0]) for path in self._ignored if "|" not in path}
        for entry in entries:
            dev_type = entry.dev_type or _type_for_protocol(entry.protocol)
            if not dev_type:
                self._warn.warn(f"scan-type:{entry.name}",
                                "%s: the scan gave no device type; not queried (configure one)", entry.name)
                continue
            target = _Target(entry.name, dev_type, entry.protocol)
            ignored = entry.name in self._ignored or target.key in self._ignored \
                or os.path.realpath(entry.name) in ignored_nodes
            if target.key in keys or ignored:
                continue
            keys.add(target.key)
            targets.append(target)
        return targets

    def _typed(self, run: RunContext, target: _Target) -> _Target:
        """A configured entry without a type gets the scan's type: never let smartctl autodetect."""
        if target.dev_type:
            return target
        if self._scan_types is None:
            self._scan_types = {}
            try:
                for entry in self._scan(run):
                    if entry.dev_type:
                        self._scan_types.setdefault(os.path.realpath(entry.name), entry.dev_type)
            except Cancelled:
                raise
            except CollectorError as exc:
                self._warn.warn("scan-for-types", "%s; configured devices without a type use sat/nvme", exc)
        found = self._scan_types.get(os.path.realpath(target.device))
        if found is None:
            # SATA behind libata is the common case; NVMe nodes are recognisable by name.
            found = "nvme" if os.path.basename(target.device).startswith("nvme") else "sat"
        return dataclasses.replace(target, dev_type=found)

    def _scan(self, run: RunContext) -> tuple[ScanEntry, ...]:
        budget = max(0.0, min(_SCAN_BUDGET_SECONDS, run.remaining() / 2))
        argv = [self._smartctl, "--scan", "--json"]
        try:
            result = run_program(argv, run.sub(budget))
        except Cancelled:
            run.check()
            raise CollectorError(f"{self._smartctl} --scan did not finish within {budget:.1f}s") from None
        text = result.stdout.decode("utf-8", errors="replace")
        try:
            # smartctl_exporter tolerates a non-zero --scan exit (2 when some node could not be looked at):
            # the JSON listing is what counts. An empty listing is valid (a VM has no SMART devices).
            return parse_scan(text)
        except SmartParseError as exc:
            status = f" (exit status {result.returncode})" if result.returncode else ""
            raise CollectorError(f"{self._smartctl} --scan output unusable{status}: {exc}") from exc

    # --- one query -----------------------------------------------------------------------------------

    def _plan(self, target: _Target, ctx: RunContext) -> _Query:
        memory = self._memory.setdefault(target.key, _Memory())
        argv = [self._smartctl, "--json", "-a", "-d", target.dev_type]
        nocheck = not target.nvme and self._rotational(target, memory) is not False
        if nocheck and self._force_after and memory.skipped >= self._force_after:
            nocheck = False
            ctx.log.info("smart: %s slept through %d checks in a row; waking it on purpose (force_after)",
                         _label(target), memory.skipped)
        if nocheck:
            argv += ["-n", _NOCHECK]
        argv.append(target.device)
        return _Query(target, tuple(argv), nocheck)

    def _rotational(self, target: _Target, memory: _Memory) -> bool | None:
        """Does this node lead to a spinning disk? None = unknown, which is treated as spinning."""
        if memory.last is not None and memory.last.rotational is not None:
            return memory.last.rotational
        known = self._state.devices.get(target.key)
        if known is not None and known.rotational is not None:
            return known.rotational
        # Before the first read: the kernel's view. Only a plain block node says anything about the disk;
        # /dev/bus/0 behind a RAID controller or /dev/sg* do not.
        name = _kernel_name(target.device, self._sysfs_root)
        if not name:
            return None
        text = read_attr(self._sysfs_root / "block" / name / "queue" / "rotational")
        if text == "0":
            return False
        if text == "1":
            return True
        return None

    def _crashed(self, query: _Query, error: BaseException) -> _Outcome:
        # A bug for one drive's answer must cost that drive only, never the other drives' readings.
        log.debug("smart: query for %s crashed", _label(query.target), exc_info=error)
        self._warn.warn(f"crash:{type(error).__name__}",
                        "internal error handling a smartctl answer: %s (details at debug)", type(error).__name__)
        return _failed("internal", f"{_label(query.target)}: internal error {type(error).__name__}")

    def _query(self, query: _Query, sub: RunContext) -> _Outcome:
        """Worker thread, under the query's own deadline: run smartctl for one drive and parse its answer.
        Touches no collector state."""
        target = query.target
        label = _label(target)
        start = time.monotonic()
        try:
            result = run_program(query.argv, sub)
        except ProgramNotFound as exc:
            return _Outcome("missing", None, None, "missing", str(exc), time.time())
        except Cancelled:
            return _failed("timeout", f"{label}: smartctl killed after {sub.deadline - start:.1f}s without an answer")
        except CollectorError as exc:
            return _failed("error", f"{label}: {exc}")
        status = result.returncode
        if query.nocheck and status == STANDBY_EXIT_STATUS:
            # Decided by the exit status alone: it is unique (see STANDBY_EXIT_STATUS), and a sleeping disk
            # must stay "standby" even if its short answer is somehow unreadable.
            return _Outcome("standby", None, status, "", "", time.time())
        text = result.stdout.decode("utf-8", errors="replace")
        try:
            facts = parse_smartctl_json(text)
        except SmartParseError as exc:
            if status & _NO_DATA_BITS:
                stderr = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
                detail = stderr[-1] if stderr else f"exit status {status}"
                return _failed("open-failed", f"{label}: cannot be opened ({detail})", status)
            return _failed("unparseable", f"{label}: smartctl output unusable ({exc})", status)
        return _Outcome("facts", facts, status, "", "", time.time())

    # --- turning an answer into a reading ------------------------------------------------------------

    def _apply(self, ctx: RunContext, query: _Query, outcome: _Outcome) -> DriveReading | None:
        target = query.target
        memory = self._memory.setdefault(target.key, _Memory())
        if outcome.kind == "missing":
            raise CollectorError(outcome.reason)  # the program itself is gone: every drive would fail
        if outcome.kind == "standby" or (outcome.facts is not None and outcome.facts.standby):
            return self._standby(target, memory)
        facts = outcome.facts
        if outcome.kind == "failed" or facts is None:
            return self._keep_last(ctx, target, memory, outcome.category, outcome.reason)
        if facts.unsupported:
            return self._unsupported(target, memory, facts, outcome)
        status = outcome.exit_status if outcome.exit_status is not None else facts.exit_status
        if facts.open_failed or (status is not None and status & _NO_DATA_BITS) or not facts.has_data:
            reason = _first_message(facts) or f"exit status {status}"
            category = "open-failed" if facts.open_failed or (status or 0) & _NO_DATA_BITS else "no-data"
            return self._keep_last(ctx, target, memory, category, f"{_label(target)}: {reason}")
        return self._read(ctx, target, memory, facts, status, outcome.read_at)

    def _read(self, ctx: RunContext, target: _Target, memory: _Memory, facts: SmartFacts, status: int | None,
              read_at: float) -> DriveReading:
        who = _who(facts, target)
        baseline = self._state.baselines.get(who.drive)
        verdict = judge(facts, baseline)
        now = counters(facts)
        merged = _merge_baseline(baseline, now)
        if merged != baseline:
            self._state.baselines[who.drive] = merged
            self._dirty = True
        self._remember(target, who)
        if memory.problem:
            ctx.log.info("smart: %s answers again", _label(target))
        memory.problem = ""
        memory.skipped = 0
        memory.last = self._reading(target, who, "read", health=verdict.health, evidence=tuple(verdict.evidence),
                                    smart_passed=facts.smart_passed, exit_status=status, read_at=read_at,
                                    measured=_measured(facts, now))
        return memory.last

    def _standby(self, target: _Target, memory: _Memory) -> DriveReading:
        memory.skipped += 1
        if memory.last is not None:
            # The counters and verdict of the last read stand; read_at keeps their age visible.
            return dataclasses.replace(memory.last, state="standby", skipped_checks=memory.skipped,
                                       device=target.device, dev_type=target.dev_type,
                                       kernel_name=_kernel_name(target.device, self._sysfs_root))
        # Never read since the daemon started: who it is comes from the state file, if it was ever read.
        known = self._state.devices.get(target.key)
        who = _Who(known.drive if known is not None and known.drive else _fallback_identity(target),
                   target.protocol, rotational=known.rotational if known is not None else None)
        # health None: never read, nothing to judge, and asleep is not a fault.
        return self._reading(target, who, "standby", skipped_checks=memory.skipped)

    def _unsupported(self, target: _Target, memory: _Memory, facts: SmartFacts, outcome: _Outcome
                     ) -> DriveReading:
        memory.skipped = 0
        memory.problem = ""
        self._warn.info(f"unsupported:{target.key}", "%s has no usable SMART (%s); reported as unsupported",
                        _label(target), facts.unsupported)
        who = _who(facts, target)
        self._remember(target, who)
        memory.last = self._reading(target, who, "unsupported",
                                    evidence=(facts.unsupported,) if facts.unsupported else (),
                                    exit_status=outcome.exit_status, read_at=outcome.read_at)
        return memory.last

    def _reading(self, target: _Target, who: _Who, state: str, *, health: int | None = None,
                 evidence: tuple[str, ...] = (), smart_passed: bool | None = None, exit_status: int | None = None,
                 read_at: float | None = None, skipped_checks: int = 0,
                 measured: Mapping[str, Any] | None = None) -> DriveReading:
        """The one place a DriveReading is built: the node queried, the drive behind it, and the state."""
        return DriveReading(
            drive=who.drive,
            device=target.device,
            dev_type=target.dev_type,
            protocol=who.protocol,
            model=who.model,
            serial=who.serial,
            rotational=who.rotational,
            capacity_bytes=who.capacity_bytes,
            state=state,
            health=health,
            evidence=evidence,
            smart_passed=smart_passed,
            exit_status=exit_status,
            read_at=read_at,
            skipped_checks=skipped_checks,
            kernel_name=_kernel_name(target.device, self._sysfs_root),
            **(measured or {}),
        )

    def _keep_last(self, ctx: RunContext, target: _Target, memory: _Memory, category: str, reason: str
                   ) -> DriveReading | None:
        """No usable answer this time: the last reading stands (its read_at shows its age), or nothing."""
        if memory.problem != category:
            # Once per reason and device, not every interval: a vanished disk must not flood the journal.
            memory.problem = category
            kept = "keeping its last reading" if memory.last is not None else "no earlier reading to report"
            ctx.log.warning("smart: %s; %s", self._scrub(reason, memory), kept)
        last = memory.last
        if last is None or last.state == "unsupported":
            return last
        # The verdict stays (it is the last one known) but the reading says the drive did not answer, so
        # neither a metric nor P2 can present it as freshly healthy.
        return dataclasses.replace(last, state="unreachable")

    def _remember(self, target: _Target, who: _Who) -> None:
        fresh = _DeviceState(who.drive, who.rotational)
        if self._state.devices.get(target.key) != fresh:
            self._state.devices[target.key] = fresh
            self._dirty = True

    def _scrub(self, text: str, memory: _Memory) -> str:
        """Log text without the drive's serial or WWN (smartctl messages may name a by-id path)."""
        if memory.last is not None:
            drive = memory.last.drive
            for secret in (memory.last.serial, drive, drive.removeprefix("wwn-"), drive.removeprefix("eui-")):
                if secret:
                    text = text.replace(secret, "<redacted>")
        return text

    # --- state file ----------------------------------------------------------------------------------

    def _load_state(self, ctx: RunContext) -> None:
        if self._loaded:
            return
        self._loaded = True
        self._state, corrupt = self._state_file.load(ctx.state_dir)
        self._dirty = self._dirty or corrupt

    def _save_state(self, ctx: RunContext) -> None:
        # A failed write stays dirty: retried next run, in case the directory becomes writable.
        if self._dirty and self._state_file.save(ctx.state_dir, self._state):
            self._dirty = False


# --- pure helpers ------------------------------------------------------------------------------------


def _failed(category: str, reason: str, status: int | None = None) -> _Outcome:
    return _Outcome("failed", None, status, category, reason, time.time())


def _configured_targets(devices: Sequence[SmartDevice]) -> tuple[tuple[_Target, ...], frozenset[str]]:
    """Config entries -> (targets to query, ignored device paths and path|type keys)."""
    targets: dict[str, _Target] = {}
    ignored: set[str] = set()
    for entry in devices:
        if entry.ignore:
            ignored.add(f"{entry.device}|{entry.type}" if entry.type else entry.device)
            continue
        # An entry without a type gets one from the scan before its first query (SmartCollector._typed).
        target = _Target(entry.device, entry.type, "")
        targets.setdefault(target.key, target)
    return tuple(targets.values()), frozenset(ignored)


def _type_for_protocol(protocol: str) -> str:
    return {"ATA": "sat", "NVMe": "nvme", "SCSI": "scsi"}.get(protocol, "")


def _label(target: _Target) -> str:
    """How logs name a device: its /dev path, never a by-id name (those embed the serial number)."""
    device = target.device
    if device.startswith("/dev/disk/"):
        resolved = os.path.realpath(device)
        device = resolved if resolved != device and not resolved.startswith("/dev/disk/") else (
            f"{os.path.dirname(device)}/<redacted>")
    if _SHARED_NODE_TYPE.match(target.dev_type):
        return f"{device} [{target.dev_type}]"
    return device


def _fallback_identity(target: _Target) -> str:
    base = os.path.basename(os.path.realpath(target.device)) or "unknown"
    if _SHARED_NODE_TYPE.match(target.dev_type):
        base += "-" + re.sub(r"[^A-Za-z0-9]+", "-", target.dev_type).strip("-")
    return f"dev-{base}"


def _kernel_name(device: str, sysfs_root: Path) -> str:
    """"sda", "nvme0n1": the block device behind a /dev path, as md and ZFS name their members."""
    if not device.startswith("/dev/"):
        return ""
    resolved = os.path.realpath(device)
    if not resolved.startswith("/dev/"):
        return ""
    name = os.path.basename(resolved)
    block = sysfs_root / "block"
    if not name:
        return ""
    if (block / name).is_dir():
        return name
    if _NVME_CONTROLLER.match(name) and (block / f"{name}n1").is_dir():
        return f"{name}n1"  # the controller node smartctl uses; md/ZFS hold its first namespace
    return ""


def _first_message(facts: SmartFacts) -> str:
    for message in facts.messages:
        if message:
            return str(message)
    return ""


def _merge_baseline(baseline: DriveCounters | None, now: DriveCounters) -> DriveCounters:
    """The reference for growth: the first counters seen, kept as they were.

    Only fields the first reading lacked (a partial read, exit bit 2) are filled in later; a value once
    recorded is never replaced, so a counter that grows keeps being reported as growth ("8 (was 0)").
    """
    if baseline is None:
        return now
    missing = {f.name: getattr(now, f.name) for f in dataclasses.fields(baseline)
               if getattr(baseline, f.name) is None and getattr(now, f.name) is not None}
    return dataclasses.replace(baseline, **missing) if missing else baseline


def _who(facts: SmartFacts, target: _Target) -> _Who:
    return _Who(drive_identity(facts) or _fallback_identity(target), facts.protocol or target.protocol,
                facts.model, facts.serial, facts.rotational, facts.capacity_bytes)


def _measured(facts: SmartFacts, now: DriveCounters) -> dict[str, Any]:
    """DriveReading's measured fields; the counters are the judged ones (one source of truth for both)."""
    uncorrectable = [v for v in (now.offline_uncorrectable, now.reported_uncorrect) if v is not None]
    nvme = facts.nvme
    return {
        "temperature_celsius": facts.temperature_celsius,
        "power_on_seconds": facts.power_on_seconds,
        # SAS drives have no ATA 5; their grown defect list is the same fact (sectors remapped).
        "reallocated_sectors": now.reallocated if now.reallocated is not None else now.grown_defects,
        "pending_sectors": now.pending,
        "uncorrectable_sectors": max(uncorrectable) if uncorrectable else None,
        "media_errors": now.media_errors,
        "wear_ratio": percent_to_ratio(nvme.percentage_used) if nvme is not None else None,
        "available_spare_ratio": percent_to_ratio(nvme.available_spare) if nvme is not None else None,
        "available_spare_threshold_ratio": (percent_to_ratio(nvme.available_spare_threshold)
                                            if nvme is not None else None),
        "crc_errors": now.crc_errors,
    }


def _encode_state(state: _State) -> dict[str, Any]:
    return {
        "version": _STATE_VERSION,
        "devices": {key: {"drive": d.drive, "rotational": d.rotational} for key, d in state.devices.items()},
        "baselines": {drive: c.to_json() for drive, c in state.baselines.items()},
    }


def _decode_state(document: Any) -> _State:
    """The persisted document; ValueError when it is not one (JsonStateFile sets such a file aside)."""
    if not isinstance(document, dict) or not isinstance(document.get("devices"), dict) \
            or not isinstance(document.get("baselines"), dict):
        raise ValueError("no 'devices' and 'baselines' objects")
    state = _State()
    for key, entry in document["devices"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("drive"), str):
            raise ValueError(f"bad device entry {key!r}")
        rotational = entry.get("rotational")
        if rotational is not None and not isinstance(rotational, bool):
            raise ValueError(f"bad rotation for {key!r}")
        state.devices[str(key)] = _DeviceState(entry["drive"], rotational)
    for drive, entry in document["baselines"].items():
        try:
            state.baselines[str(drive)] = DriveCounters.from_json(entry)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"bad baseline entry: {exc}") from exc
    return state


__all__ = ["STATE_FILE", "SmartCollector"]
