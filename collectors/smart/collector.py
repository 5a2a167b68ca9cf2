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

import concurrent.futures
import dataclasses
import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.kit.command import ProgramNotFound, run_program
from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.kit.statefile import set_aside, write_atomically
from collectors.kit.sysfs import read_attr
from collectors.model.readings import AnyReading, DriveReading
from collectors.smart.parse import (
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

# `-n standby,STATUS`: the exit status smartctl returns when it skipped a sleeping disk. Its default, 2, is
# also "device open failed", which would make a vanished disk look asleep (or a sleeping one look gone).
# 3 is unique: it is bits 0 and 1 together, and real smartctl never sets both, because a command-line error
# (bit 0) makes it exit before any device is opened (bit 1); the man page suggests exactly this value.
# A value with no bitmask meaning at all (say 255) would be just as unique, but 3 is what smartd users and
# the man page know, and it can never be mistaken for a health bit (3-7).
STANDBY_EXIT_STATUS = 3
_NOCHECK = f"standby,{STANDBY_EXIT_STATUS}"

# The discovery scan only lists device nodes and opens nothing; it must never eat the drives' time.
_SCAN_BUDGET_SECONDS = 15.0
# Kept back from the scheduler's hard deadline for killing late queries, building readings and writing the
# state file: a run that overruns the deadline is abandoned whole, losing every drive read in it.
_RESERVE_MAX_SECONDS = 2.0
_RESERVE_FRACTION = 0.1
_POLL_SECONDS = 0.05
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


@dataclass
class _Memory:
    """In-memory, per device node: the last good reading and how many checks it slept through."""

    last: DriveReading | None = None
    skipped: int = 0
    problem: str = ""  # category of the last failure logged, "" after a good read


class SmartCollector:
    """Collector "smart": DriveReadings from smartctl --json, standby-aware, with persisted baselines."""

    name = "smart"

    def __init__(
        self,
        smartctl: str = "smartctl",
        devices: Sequence[Mapping[str, object]] = (),
        sysfs_root: Path = Path("/sys"),
        concurrency: int = 4,
        force_after: int = 0,
    ) -> None:
        self._smartctl = smartctl
        self._sysfs_root = Path(sysfs_root)
        self._concurrency = max(1, int(concurrency))
        # smartd's `-n standby,N` idea: after this many skipped checks in a row the next query wakes the
        # disk on purpose, so a disk that is always asleep at check time is still read now and then.
        self._force_after = max(0, int(force_after))
        self._configured, self._ignored = _configured_targets(devices)
        self._memory: dict[str, _Memory] = {}
        self._devices: dict[str, _DeviceState] | None = None  # None = state file not loaded yet
        self._baselines: dict[str, DriveCounters] = {}
        self._dirty = False
        self._warned: set[str] = set()
        self._scan_types: dict[str, str] | None = None  # realpath -> type, for configured entries without one

    # --- the run -------------------------------------------------------------------------------------

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        reserve = min(_RESERVE_MAX_SECONDS, max(0.0, ctx.remaining()) * _RESERVE_FRACTION)
        run_deadline = ctx.deadline - reserve
        self._load_state(ctx)
        targets = self._targets(ctx, run_deadline)
        queries = [self._plan(target, ctx) for target in targets]
        outcomes = self._run_queries(ctx, queries, run_deadline)
        readings: list[AnyReading] = []
        seen: dict[str, str] = {}
        for query in queries:
            target = query.target
            outcome = outcomes.get(target.key)
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

    def _targets(self, ctx: RunContext, run_deadline: float) -> list[_Target]:
        if self._configured:
            # Explicit entries replace discovery, as explicit lines replace DEVICESCAN in smartd.conf.
            unique: dict[str, _Target] = {}
            for configured in self._configured:
                target = self._typed(ctx, configured, run_deadline)
                unique.setdefault(target.key, target)  # "/dev/sda" and "/dev/sda" type "sat" are one entry
            return list(unique.values())
        entries = self._scan(ctx, run_deadline)
        targets: list[_Target] = []
        keys: set[str] = set()
        ignored_nodes = {os.path.realpath(path.split("|")[0]) for path in self._ignored if "|" not in path}
        for entry in entries:
            dev_type = entry.dev_type or _type_for_protocol(entry.protocol)
            if not dev_type:
                self._warn_once(ctx, f"scan-type:{entry.name}",
                                f"{entry.name}: the scan gave no device type; not queried (configure one)")
                continue
            target = _Target(entry.name, dev_type, entry.protocol)
            ignored = entry.name in self._ignored or target.key in self._ignored \
                or os.path.realpath(entry.name) in ignored_nodes
            if target.key in keys or ignored:
                continue
            keys.add(target.key)
            targets.append(target)
        return targets

    def _typed(self, ctx: RunContext, target: _Target, run_deadline: float) -> _Target:
        """A configured entry without a type gets the scan's type: never let smartctl autodetect."""
        if target.dev_type:
            return target
        if self._scan_types is None:
            self._scan_types = {}
            try:
                for entry in self._scan(ctx, run_deadline):
                    if entry.dev_type:
                        self._scan_types.setdefault(os.path.realpath(entry.name), entry.dev_type)
            except Cancelled:
                raise
            except CollectorError as exc:
                self._warn_once(ctx, "scan-for-types", f"{exc}; configured devices without a type use sat/nvme")
        found = self._scan_types.get(os.path.realpath(target.device))
        if found is None:
            # SATA behind libata is the common case; NVMe nodes are recognisable by name.
            found = "nvme" if os.path.basename(target.device).startswith("nvme") else "sat"
        return dataclasses.replace(target, dev_type=found)

    def _scan(self, ctx: RunContext, run_deadline: float) -> tuple[ScanEntry, ...]:
        budget = max(0.0, min(_SCAN_BUDGET_SECONDS, (run_deadline - time.monotonic()) / 2))
        sub = RunContext(deadline=time.monotonic() + budget, state_dir=ctx.state_dir, cancel=ctx.cancel,
                         log=ctx.log)
        argv = [self._smartctl, "--scan", "--json"]
        try:
            result = run_program(argv, sub)
        except Cancelled:
            ctx.check()
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
        known = (self._devices or {}).get(target.key)
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

    def _run_queries(self, ctx: RunContext, queries: Sequence[_Query], run_deadline: float
                     ) -> dict[str, _Outcome]:
        """Run the queries on at most `concurrency` threads; return those that finished in time."""
        outcomes: dict[str, _Outcome] = {}
        if not queries:
            return outcomes
        workers = min(self._concurrency, len(queries))
        available = max(0.0, run_deadline - time.monotonic())
        # With nothing waiting in the queue every query may use the whole run. Otherwise one hung drive may
        # take at most half of it, so that the drives queued behind it still get their turn.
        budget = available if len(queries) <= workers else available / 2
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="physgap-smart")
        futures: dict[concurrent.futures.Future[_Outcome], str] = {}
        try:
            for query in queries:
                futures[pool.submit(self._query, query, ctx, run_deadline, budget)] = query.target.key
            pending = set(futures)
            while pending and not ctx.cancel.is_set():
                left = run_deadline - time.monotonic()
                if left <= 0:
                    break
                done, pending = concurrent.futures.wait(
                    pending, timeout=min(left, _POLL_SECONDS * 4),
                    return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    outcomes[futures[future]] = self._result(ctx, future, futures[future])
        finally:
            # Queued queries are dropped; running ones end by themselves: their deadlines are within the
            # run's, and run_program kills the process group then (or at once when ctx.cancel is set).
            pool.shutdown(wait=False, cancel_futures=True)
        running = [f for f in futures if not f.done()]
        if running:
            # Let them reap their killed processes so no thread outlives the run, using at most half of the
            # reserve: the rest is for readings and the state file, before the scheduler's hard deadline.
            settle = (run_deadline + ctx.deadline) / 2 - time.monotonic()
            concurrent.futures.wait(running, timeout=max(0.0, settle))
        if ctx.cancel.is_set():
            # The daemon is stopping or the scheduler gave up on this run: nobody will read the result.
            raise Cancelled("smart: run cancelled")
        return outcomes

    def _result(self, ctx: RunContext, future: concurrent.futures.Future[_Outcome], key: str) -> _Outcome:
        error = future.exception()
        if error is None:
            return future.result()
        # A bug for one drive's answer must cost that drive only, never the other drives' readings.
        ctx.log.debug("smart: query for %s crashed", key, exc_info=error)
        self._warn_once(ctx, f"crash:{type(error).__name__}",
                        f"internal error handling a smartctl answer: {type(error).__name__} (details at debug)")
        return _failed("internal", f"{key.split('|')[0]}: internal error {type(error).__name__}")

    def _query(self, query: _Query, ctx: RunContext, run_deadline: float, budget: float) -> _Outcome:
        """Worker thread: run smartctl for one drive and parse its answer. Touches no collector state."""
        target = query.target
        label = _label(target)
        start = time.monotonic()
        if ctx.cancel.is_set() or start >= run_deadline:
            return _failed("timeout", f"{label}: not queried before the collector's timeout")
        deadline = min(run_deadline, start + budget)
        sub = RunContext(deadline=deadline, state_dir=ctx.state_dir, cancel=ctx.cancel, log=ctx.log)
        try:
            result = run_program(query.argv, sub)
        except ProgramNotFound as exc:
            return _Outcome("missing", None, None, "missing", str(exc), time.time())
        except Cancelled:
            return _failed("timeout", f"{label}: smartctl killed after {deadline - start:.1f}s without an answer")
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
            return self._unsupported(ctx, target, memory, facts, outcome)
        status = outcome.exit_status if outcome.exit_status is not None else facts.exit_status
        if facts.open_failed or (status is not None and status & _NO_DATA_BITS) or not facts.has_data:
            reason = _first_message(facts) or f"exit status {status}"
            category = "open-failed" if facts.open_failed or (status or 0) & _NO_DATA_BITS else "no-data"
            return self._keep_last(ctx, target, memory, category, f"{_label(target)}: {reason}")
        return self._read(ctx, target, memory, facts, status, outcome.read_at)

    def _read(self, ctx: RunContext, target: _Target, memory: _Memory, facts: SmartFacts, status: int | None,
              read_at: float) -> DriveReading:
        identity = drive_identity(facts) or _fallback_identity(target)
        baseline = self._baselines.get(identity)
        verdict = judge(facts, baseline)
        now = counters(facts)
        merged = _merge_baseline(baseline, now)
        if merged != baseline:
            self._baselines[identity] = merged
            self._dirty = True
        self._remember(target, identity, facts.rotational)
        if memory.problem:
            ctx.log.info("smart: %s answers again", _label(target))
        memory.problem = ""
        memory.skipped = 0
        reading = DriveReading(
            drive=identity,
            device=target.device,
            dev_type=target.dev_type,
            protocol=facts.protocol or target.protocol,
            model=facts.model,
            serial=facts.serial,
            rotational=facts.rotational,
            state="read",
            health=verdict.health,
            evidence=tuple(verdict.evidence),
            smart_passed=facts.smart_passed,
            exit_status=status,
            read_at=read_at,
            skipped_checks=0,
            capacity_bytes=facts.capacity_bytes,
            temperature_celsius=facts.temperature_celsius,
            power_on_seconds=facts.power_on_seconds,
            kernel_name=_kernel_name(target.device, self._sysfs_root),
            **_counter_fields(facts, now),
        )
        memory.last = reading
        return reading

    def _standby(self, target: _Target, memory: _Memory) -> DriveReading:
        memory.skipped += 1
        kernel_name = _kernel_name(target.device, self._sysfs_root)
        if memory.last is not None:
            # The counters and verdict of the last read stand; read_at keeps their age visible.
            return dataclasses.replace(memory.last, state="standby", skipped_checks=memory.skipped,
                                       device=target.device, dev_type=target.dev_type, kernel_name=kernel_name)
        known = (self._devices or {}).get(target.key)
        rotational = known.rotational if known is not None else None
        return DriveReading(
            drive=(known.drive if known is not None and known.drive else _fallback_identity(target)),
            device=target.device,
            dev_type=target.dev_type,
            protocol=target.protocol,
            model="",
            serial="",
            rotational=rotational,
            state="standby",
            health=None,  # never read: nothing to judge, and asleep is not a fault
            evidence=(),
            smart_passed=None,
            exit_status=None,
            read_at=None,
            skipped_checks=memory.skipped,
            kernel_name=kernel_name,
        )

    def _unsupported(self, ctx: RunContext, target: _Target, memory: _Memory, facts: SmartFacts,
                     outcome: _Outcome) -> DriveReading:
        memory.skipped = 0
        memory.problem = ""
        self._info_once(ctx, f"unsupported:{target.key}",
                        f"{_label(target)} has no usable SMART ({facts.unsupported}); reported as unsupported")
        identity = drive_identity(facts) or _fallback_identity(target)
        self._remember(target, identity, facts.rotational)
        reading = DriveReading(
            drive=identity,
            device=target.device,
            dev_type=target.dev_type,
            protocol=facts.protocol or target.protocol,
            model=facts.model,
            serial=facts.serial,
            rotational=facts.rotational,
            state="unsupported",
            health=None,
            evidence=(facts.unsupported,) if facts.unsupported else (),
            smart_passed=None,
            exit_status=outcome.exit_status,
            read_at=outcome.read_at,
            capacity_bytes=facts.capacity_bytes,
            kernel_name=_kernel_name(target.device, self._sysfs_root),
        )
        memory.last = reading
        return reading

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

    def _remember(self, target: _Target, identity: str, rotational: bool | None) -> None:
        devices = self._devices if self._devices is not None else {}
        fresh = _DeviceState(identity, rotational)
        if devices.get(target.key) != fresh:
            devices[target.key] = fresh
            self._devices = devices
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
        if self._devices is not None:
            return
        self._devices = {}
        path = ctx.state_dir / STATE_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self._warn_once(ctx, "state-read", f"cannot read {path}: {exc}; starting afresh in memory")
            return
        try:
            self._devices, self._baselines = _decode_state(text)
        except ValueError as exc:
            where = set_aside(path)
            self._warn_once(ctx, "state-corrupt", f"state file {path} is corrupt ({exc}); {where}; rebuilding it")
            self._devices, self._baselines = {}, {}
            self._dirty = True

    def _save_state(self, ctx: RunContext) -> None:
        if not self._dirty or self._devices is None:
            return
        path = ctx.state_dir / STATE_FILE
        document = {
            "version": _STATE_VERSION,
            "devices": {key: {"drive": s.drive, "rotational": s.rotational}
                        for key, s in sorted(self._devices.items())},
            "baselines": {drive: c.to_json() for drive, c in sorted(self._baselines.items())},
        }
        try:
            write_atomically(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            # Still dirty: retried next run in case the directory becomes writable; logged only once.
            self._warn_once(ctx, "state-write",
                            f"cannot write {path}: {exc.strerror or exc}; keeping baselines in memory only")
            return
        self._dirty = False

    def _warn_once(self, ctx: RunContext, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            ctx.log.warning("smart: %s", message)

    def _info_once(self, ctx: RunContext, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            ctx.log.info("smart: %s", message)


# --- pure helpers ------------------------------------------------------------------------------------


def _failed(category: str, reason: str, status: int | None = None) -> _Outcome:
    return _Outcome("failed", None, status, category, reason, time.time())


def _configured_targets(devices: Sequence[Mapping[str, object]]) -> tuple[tuple[_Target, ...], frozenset[str]]:
    """Config entries -> (targets to query, ignored device paths and path|type keys)."""
    targets: list[_Target] = []
    ignored: set[str] = set()
    seen: set[str] = set()
    for entry in devices:
        device = entry.get("device")
        if not isinstance(device, str) or not device:
            continue
        raw_type = entry.get("type")
        dev_type = raw_type if isinstance(raw_type, str) else ""
        if entry.get("ignore") is True:
            ignored.add(f"{device}|{dev_type}" if dev_type else device)
            continue
        # An entry without a type gets one from the scan before its first query (SmartCollector._typed).
        target = _Target(device, dev_type, "")
        if target.key not in seen:
            seen.add(target.key)
            targets.append(target)
    return tuple(targets), frozenset(ignored)


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


def _counter_fields(facts: SmartFacts, now: DriveCounters) -> dict[str, Any]:
    """DriveReading's counter fields from the judged counters (one source of truth for both)."""
    uncorrectable = [v for v in (now.offline_uncorrectable, now.reported_uncorrect) if v is not None]
    nvme = facts.nvme
    return {
        # SAS drives have no ATA 5; their grown defect list is the same fact (sectors remapped).
        "reallocated_sectors": now.reallocated if now.reallocated is not None else now.grown_defects,
        "pending_sectors": now.pending,
        "uncorrectable_sectors": max(uncorrectable) if uncorrectable else None,
        "media_errors": now.media_errors,
        "wear_ratio": _ratio(nvme.percentage_used) if nvme is not None else None,
        "available_spare_ratio": _ratio(nvme.available_spare) if nvme is not None else None,
        "available_spare_threshold_ratio": _ratio(nvme.available_spare_threshold) if nvme is not None else None,
        "crc_errors": now.crc_errors,
    }


def _ratio(percent: int | None) -> float | None:
    return None if percent is None else percent / 100


def _decode_state(text: str) -> tuple[dict[str, _DeviceState], dict[str, DriveCounters]]:
    """The persisted document; ValueError (incl. JSONDecodeError) when it is not one."""
    document = json.loads(text)
    if not isinstance(document, dict) or not isinstance(document.get("devices"), dict) \
            or not isinstance(document.get("baselines"), dict):
        raise ValueError("no 'devices' and 'baselines' objects")
    devices: dict[str, _DeviceState] = {}
    for key, entry in document["devices"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("drive"), str):
            raise ValueError(f"bad device entry {key!r}")
        rotational = entry.get("rotational")
        if rotational is not None and not isinstance(rotational, bool):
            raise ValueError(f"bad rotation for {key!r}")
        devices[str(key)] = _DeviceState(entry["drive"], rotational)
    baselines: dict[str, DriveCounters] = {}
    for drive, entry in document["baselines"].items():
        try:
            baselines[str(drive)] = DriveCounters.from_json(entry)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"bad baseline entry: {exc}") from exc
    return devices, baselines


__all__ = ["STANDBY_EXIT_STATUS", "STATE_FILE", "SmartCollector"]
