"""Drive SMART data from `smartctl --json`, one DriveReading per drive, without waking sleeping disks.

Why it is built the way it is (see ../shared/notes/smart.md for the research behind each point):

* Monitoring that spins disks up is the top complaint about every SMART exporter. Every ATA/SCSI query that
  may reach a spinning disk carries `-n standby,3`, and `-d TYPE` is always explicit, because smartctl's
  device-type autodetection may itself spin a disk up (man smartctl, `-n`). A sleeping disk keeps its last
  reading, marked "standby", with the age of its data and a count of the checks it skipped.
* SSDs that are known not to rotate are read without `-n`: cheap SSDs claim "standby" forever and would
  otherwise never be read (smartctl_exporter#91). NVMe has no `-n` at all. Known SSDs are also asked for
  `-l ssd`, the standard wear figure (collectors.smart.wear).
* One hung smartctl (a dying USB disk, a wedged HBA) costs only its own drive: each query has a deadline
  of its own, inside the run's, and the run returns what finished before the scheduler's hard timeout.
* Every listed or scanned drive is reported, whatever happened to its query: a drive that never answered
  (hung, open failed, a -d type smartctl rejects, smartctl missing, asleep since the start) is a reading
  without a verdict and with the reason, never an absence that would let the rest look complete.
* A smartctl that survives SIGKILL (stuck in the kernel) is watched until it ends (collectors.smart.stuck);
  its drive is not queried again meanwhile, and stuck plus running queries never exceed `concurrency`.
* Exit status 2 means both "open failed" and "asleep" by default, hence the unique standby status below;
  bits 2-7 do not mean "no data" and the data is used; health comes from collectors.smart.verdict.
* Growth ("5592 pending sectors (was 0)") needs a reference that survives restarts: the first counters seen
  for each drive are persisted in the state directory, keyed by the drive's stable identity. Entries not
  seen for _FORGET_AFTER_SECONDS are pruned, so churn cannot grow the file without bound.
* Serial numbers and WWNs are identities, not log material: messages name the /dev path.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
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
from collectors.smart import stuck
from collectors.smart.config import SmartConfig, SmartDevice
from collectors.smart.parse import (
    STANDBY_EXIT_STATUS,
    ScanEntry,
    SmartFacts,
    SmartParseError,
    drive_identity,
    parse_scan,
    parse_smartctl_json,
    serial_identity,
)
from collectors.smart.ranges import READING_RANGES, plausible
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
# Bit 0 alone: smartctl refused its command line (an unknown -d type) before opening anything.
_COMMAND_LINE_BIT = 0b01
_NVME_TYPES = re.compile(r"^(nvme|snt[a-z]*)$")  # NVMe, and NVMe behind USB bridges (sntjmicron, ...)
_SHARED_NODE_TYPE = re.compile(r"^(megaraid|3ware|areca|cciss|hpt|aacraid|cissa),", re.IGNORECASE)
_NVME_CONTROLLER = re.compile(r"^nvme\d+$")
_BY_PATH = re.compile(r"/dev/disk/by-[a-z-]+/[^\s'\"\]\[,;:]+")

# State entries (device nodes, baselines) not seen for this long are forgotten. A baseline only adds growth
# detection ("8 pending sectors (was 0)"); a drive that comes back after half a year (an off-site backup
# disk rotated twice a year, a NAS powered down for a season) starts a new baseline and is still judged on
# its absolute counts. Half a year keeps every drive that is merely asleep or briefly unplugged.
_FORGET_AFTER_SECONDS = 180 * 24 * 3600.0
# Beyond this many entries per map, the least recently seen go first, even if younger than the period: a
# homelab host has a few dozen drives, so 256 holds a full 60-bay JBOD with three generations of
# replacements, and caps the file near 100 KB whatever makes identities churn. Drives seen in the current
# run are never dropped.
_MAX_STATE_ENTRIES = 256
# "Seen" times are refreshed at most this often, so a quiet system rewrites its state file once a day, not
# every interval.
_SEEN_RESOLUTION_SECONDS = 24 * 3600.0
# How a reading's freshness ranks when two nodes reach one drive: the better reading is reported.
_STATE_RANK = {"read": 3, "standby": 2, "unsupported": 1, "unreachable": 0}

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
    alias: str = ""  # the drive's model_serial identity: keeps its id when a WWN reads garbage
    seen: float = 0.0  # wall-clock time the node was last a target; 0 = unknown (an older file)


@dataclass(frozen=True)
class _State:
    """smart-state.json: per device node what was last read there, per drive the baseline for growth.
    The run updates the maps in place; the file is rewritten when they changed."""

    devices: dict[str, _DeviceState] = field(default_factory=dict)
    baselines: dict[str, DriveCounters] = field(default_factory=dict)
    baseline_seen: dict[str, float] = field(default_factory=dict)  # drive -> wall-clock time last reported


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

    def __init__(self, config: SmartConfig, sysfs_root: Path = Path("/sys"),
                 registry: stuck.Registry = stuck.REGISTRY) -> None:
        self._smartctl = config.smartctl
        self._sysfs_root = sysfs_root
        # The real process table, shared by every collector of this process (see stuck.Registry).
        self._stuck = registry
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
        # Every device a scan has listed since the start: one that drops out of the scan (a disk that fell off
        # the bus, the commonest way to fail) is still queried, so it reads unreachable, never vanishes.
        self._scanned: dict[str, _Target] = {}

    # --- the run -------------------------------------------------------------------------------------

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        # The part of the run smartctl may use: the rest is kept back (see _RESERVE_MAX_SECONDS).
        run = ctx.keeping_back(_RESERVE_FRACTION, at_least=0.0, at_most=_RESERVE_MAX_SECONDS)
        self._load_state(ctx)
        targets, untyped = self._targets(run)
        hung, ended = self._stuck.refresh()
        for key in ended:
            ctx.log.info("smart: %s: the stuck smartctl query has ended; querying the drive again", _label_key(key))
        # Stuck queries are smartctl processes that still exist: together with the running ones they never
        # exceed `concurrency`, the operator's bound on smartctl processes at once. When every slot is held
        # by a stuck query the storage stack is likely wedged, and each new query would only add another.
        slots = self._concurrency - len(hung)
        fixed: dict[_Target, _Outcome] = {}
        queries: dict[_Target, _Query] = {}
        for target in targets:
            if target.key in hung:
                fixed[target] = _failed("hung", hung[target.key].reason(_label(target)))
            elif slots <= 0:
                fixed[target] = _stuck_limit(target, len(hung), self._concurrency)
            else:
                queries[target] = self._plan(target, ctx)
        if slots <= 0 and fixed:
            self._warn.warn("stuck-limit", "%d smartctl queries are still alive after SIGKILL, as many as "
                            "smart.concurrency allows: no drive is queried until one of them ends", len(hung))
        elif slots > 0:
            self._warn.forget("stuck-limit")
        # Queries still running at the run's deadline may use half of the reserve to reap their killed
        # processes, so no thread outlives the run; the rest is for readings and the state file.
        reserve = ctx.deadline - run.deadline  # what keeping_back held back
        outcomes = fan_out(run, queries.values(), self._query, limit=max(1, slots), on_error=self._crashed,
                           settle=reserve / 2, name="physgap-smart") if queries else {}
        chosen: dict[str, DriveReading] = {}
        for target in targets:
            query = queries.get(target)
            outcome = fixed.get(target) or (outcomes.get(query) if query is not None else None)
            if outcome is None:
                outcome = _failed("timeout", f"{_label(target)}: no answer before the collector's timeout")
            self._choose(chosen, target, self._apply(ctx, target, outcome))
        for target in untyped:
            reason = f"{_label(target)}: the scan gave no device type; not queried (configure one in [smart])"
            self._choose(chosen, target, self._keep_last(ctx, target, self._memory_of(target), "no-type", reason,
                                                         quiet=True))
        readings = list(chosen.values())
        self._housekeep([t.key for t in (*targets, *untyped)], [r.drive for r in readings], time.time())
        self._save_state(ctx)
        return readings

    @staticmethod
    def _choose(chosen: dict[str, DriveReading], target: _Target, reading: DriveReading) -> None:
        """One drive, one reading: two nodes may reach one drive (a configured by-id path and a scan result,
        /dev/sdX and /dev/sg, multipath), and the drive's metrics would collide. The fresher one is kept."""
        other = chosen.get(reading.drive)
        if other is not None:
            log.debug("smart: %s is the same drive as %s; reported once", _label(target), other.device)
            if _STATE_RANK.get(other.state, 0) >= _STATE_RANK.get(reading.state, 0):
                return
        chosen[reading.drive] = reading

    def _memory_of(self, target: _Target) -> _Memory:
        return self._memory.setdefault(target.key, _Memory())

    # --- which devices -------------------------------------------------------------------------------

    def _targets(self, run: RunContext) -> tuple[list[_Target], list[_Target]]:
        """(targets to query, scanned devices that cannot be queried for want of a -d type)."""
        if self._configured:
            # Explicit entries replace discovery, as explicit lines replace DEVICESCAN in smartd.conf.
            unique: dict[str, _Target] = {}
            for configured in self._configured:
                target = self._typed(run, configured)
                unique.setdefault(target.key, target)  # "/dev/sda" and "/dev/sda" type "sat" are one entry
            return list(unique.values()), []
        entries = self._scan(run)
        targets: list[_Target] = []
        untyped: list[_Target] = []
        keys: set[str] = set()
        ignored_nodes = {os.path.realpath(path.split("|")[0]) for path in self._ignored if "|" not in path}
        for entry in entries:
            dev_type = entry.dev_type or _type_for_protocol(entry.protocol)
            target = _Target(entry.name, dev_type, entry.protocol)
            ignored = entry.name in self._ignored or target.key in self._ignored \
                or os.path.realpath(entry.name) in ignored_nodes
            if target.key in keys or ignored:
                continue
            keys.add(target.key)
            if not dev_type:
                self._warn.warn(f"scan-type:{entry.name}",
                                "%s: the scan gave no device type; not queried (configure one)", entry.name)
                untyped.append(target)
                continue
            targets.append(target)
            self._scanned[target.key] = target
        # Gone from the scan since: asked again (its node is gone, so the open fails at once and wakes nothing)
        # and shown unreachable with the reason, until the daemon restarts.
        targets += [target for key, target in self._scanned.items() if key not in keys]
        return targets, untyped

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
        memory = self._memory_of(target)
        argv = [self._smartctl, "--json", "-a", "-d", target.dev_type]
        ssd = not target.nvme and self._rotational(target, memory) is False
        if ssd:
            # The standard wear figure (device statistics "Percentage Used Endurance Indicator"; on SAS the
            # Solid State Media page) is not part of -a before smartctl 7.5. Asked of known SSDs only: an
            # HDD has no such page.
            argv += ["-l", "ssd"]
        nocheck = not target.nvme and not ssd
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
        Touches no collector state except the stuck-query registry (under its lock)."""
        # A query that got stuck earlier in this run holds its slot: the bound is checked at each start.
        if not self._stuck.begin(self._concurrency):
            return _stuck_limit(query.target, self._stuck.stuck_count(), self._concurrency)
        try:
            return self._run_query(query, sub)
        finally:
            self._stuck.end()

    def _run_query(self, query: _Query, sub: RunContext) -> _Outcome:
        target = query.target
        label = _label(target)
        start = time.monotonic()
        started = time.time()
        # The mark is inherited by everything smartctl starts, in whatever session: how survivors are found.
        mark = stuck.new_mark()
        since_boot = stuck.boot_clock()
        env = {**os.environ, stuck.MARK_ENV: mark}
        try:
            result = run_program(query.argv, sub, env=env)
        except ProgramNotFound as exc:
            return _Outcome("missing", None, None, "missing", str(exc), time.time())
        except Cancelled:
            reason = f"{label}: smartctl killed after {sub.deadline - start:.1f}s without an answer"
            left = self._stuck.note(target.key, mark, since_boot, started)
            if left:
                return _failed("hung", f"{reason}; {left} of its processes survived SIGKILL; no new query "
                                       "until they end")
            return _failed("timeout", reason)
        except CollectorError as exc:
            self._stuck.note(target.key, mark, since_boot, started)
            return _failed("error", f"{label}: {exc}")
        status = result.returncode
        if status < 0:
            # Killed by a signal (a crash, an OOM kill): its output may stop anywhere, and a negative status
            # read as a bitmask would claim bits smartctl never set.
            return _failed("crashed", f"{label}: smartctl died of {_signal_name(-status)}")
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
                return _no_answer(target, status, detail)
            return _failed("unparseable", f"{label}: smartctl output unusable ({exc})", status)
        return _Outcome("facts", facts, status, "", "", time.time())

    # --- turning an answer into a reading ------------------------------------------------------------

    def _apply(self, ctx: RunContext, target: _Target, outcome: _Outcome) -> DriveReading:
        memory = self._memory_of(target)
        if outcome.kind == "missing":
            self._warn.warn("missing", "%s; every drive reads unreachable until it is installed", outcome.reason)
            return self._keep_last(ctx, target, memory, "missing",
                                   f"{_label(target)}: not queried: {outcome.reason}", quiet=True)
        self._warn.forget("missing")
        if outcome.kind == "standby" or (outcome.facts is not None and outcome.facts.standby):
            return self._standby(target, memory)
        facts = outcome.facts
        if outcome.kind == "failed" or facts is None:
            quiet = outcome.category == "stuck-limit"  # said once for all drives, in collect()
            return self._keep_last(ctx, target, memory, outcome.category, outcome.reason, quiet=quiet)
        if facts.unsupported:
            return self._unsupported(target, memory, facts, outcome)
        status = outcome.exit_status if outcome.exit_status is not None else facts.exit_status
        if facts.open_failed or (status is not None and status & _NO_DATA_BITS) or not facts.has_data:
            detail = _first_message(facts) or f"exit status {status}"
            if facts.open_failed or (status or 0) & _NO_DATA_BITS:
                failed = _no_answer(target, status if status is not None else facts.exit_status, detail)
                return self._keep_last(ctx, target, memory, failed.category, failed.reason)
            return self._keep_last(ctx, target, memory, "no-data", f"{_label(target)}: no SMART data ({detail})")
        return self._read(ctx, target, memory, facts, status, outcome.read_at)

    def _read(self, ctx: RunContext, target: _Target, memory: _Memory, facts: SmartFacts, status: int | None,
              read_at: float) -> DriveReading:
        if facts.implausible:
            log.debug("smart: %s: implausible values dropped: %s", _label(target), "; ".join(facts.implausible))
        who = self._identify(target, memory, facts)
        baseline = self._state.baselines.get(who.drive)
        verdict = judge(facts, baseline)
        now = counters(facts)
        merged = _merge_baseline(baseline, now)
        if merged != baseline:
            self._state.baselines[who.drive] = merged
            self._dirty = True
        self._remember(target, who, facts)
        if memory.problem:
            ctx.log.info("smart: %s answers again", _label(target))
        memory.problem = ""
        memory.skipped = 0
        memory.last = self._reading(target, who, "read", health=verdict.health, evidence=tuple(verdict.evidence),
                                    smart_passed=facts.smart_passed, exit_status=status, read_at=read_at,
                                    measured=_measured(facts, now))
        return memory.last

    def _identify(self, target: _Target, memory: _Memory, facts: SmartFacts) -> _Who:
        """Who answered. A drive keeps the identity it had on this node as long as its model and serial (text,
        which no garbled number can change) are the same: a WWN that reads negative or out of range in one
        answer, or appears only in some, must not turn the drive into a new one (new series, lost baseline)."""
        who = _who(facts, target)
        alias = serial_identity(facts.model, facts.serial)
        if memory.last is not None and memory.last.serial:
            known_drive = memory.last.drive
            known_alias = serial_identity(memory.last.model, memory.last.serial)
        else:
            remembered = self._state.devices.get(target.key)
            known_drive = remembered.drive if remembered is not None else ""
            known_alias = remembered.alias if remembered is not None else ""
        if alias and known_drive and known_drive != who.drive and alias == known_alias:
            log.debug("smart: %s: identity %s kept although this answer gives %s (same model and serial)",
                      _label(target), known_drive, who.drive)
            return dataclasses.replace(who, drive=known_drive)
        return who

    def _standby(self, target: _Target, memory: _Memory) -> DriveReading:
        memory.skipped += 1
        if memory.last is not None:
            # The counters and verdict of the last read stand; read_at keeps their age visible.
            return dataclasses.replace(memory.last, state="standby", skipped_checks=memory.skipped,
                                       device=target.device, dev_type=target.dev_type,
                                       kernel_name=_kernel_name(target.device, self._sysfs_root),
                                       reason=f"{_label(target)}: asleep at the check and not woken; values "
                                              "from the last read")
        # Never read since the daemon started: who it is comes from the state file, if it was ever read.
        who = self._remembered_who(target)
        # health None: never read, nothing to judge, and asleep is not a fault.
        return self._reading(target, who, "standby", skipped_checks=memory.skipped,
                             reason=f"{_label(target)}: asleep at every check since physgap started and not "
                                    "woken (smart.force_after), so never read")

    def _unsupported(self, target: _Target, memory: _Memory, facts: SmartFacts, outcome: _Outcome
                     ) -> DriveReading:
        memory.skipped = 0
        memory.problem = ""
        self._warn.info(f"unsupported:{target.key}", "%s has no usable SMART (%s); reported as unsupported",
                        _label(target), facts.unsupported)
        who = self._identify(target, memory, facts)
        self._remember(target, who, facts)
        memory.last = self._reading(target, who, "unsupported",
                                    evidence=(facts.unsupported,) if facts.unsupported else (),
                                    exit_status=outcome.exit_status, read_at=outcome.read_at)
        return memory.last

    def _reading(self, target: _Target, who: _Who, state: str, *, health: int | None = None,
                 evidence: tuple[str, ...] = (), smart_passed: bool | None = None, exit_status: int | None = None,
                 read_at: float | None = None, skipped_checks: int = 0, reason: str = "",
                 measured: Mapping[str, Any] | None = None) -> DriveReading:
        """The one place a DriveReading is built: the node queried, the drive behind it, and the state.
        Every number passes its plausible range here (collectors.smart.ranges), whatever computed it."""
        numbers: dict[str, Any] = {"capacity_bytes": who.capacity_bytes, **(measured or {})}
        dropped: list[str] = []
        for name, value in numbers.items():
            bounds = READING_RANGES.get(name)
            if bounds is None or value is None:
                continue
            numbers[name] = plausible(name, value, bounds, dropped)
        if dropped:
            log.debug("smart: %s: implausible values dropped: %s", _label(target), "; ".join(dropped))
        return DriveReading(
            drive=who.drive,
            device=target.device,
            dev_type=target.dev_type,
            protocol=who.protocol,
            model=who.model,
            serial=who.serial,
            rotational=who.rotational,
            state=state,
            health=health,
            evidence=evidence,
            smart_passed=smart_passed,
            exit_status=exit_status,
            read_at=read_at,
            skipped_checks=skipped_checks,
            kernel_name=_kernel_name(target.device, self._sysfs_root),
            reason=reason,
            **numbers,
        )

    def _keep_last(self, ctx: RunContext, target: _Target, memory: _Memory, category: str, reason: str,
                   *, quiet: bool = False) -> DriveReading:
        """No usable answer this time: the last reading stands, marked unreachable (its read_at shows its
        age); a drive never read is still reported, unreachable and without a verdict, with the reason."""
        reason = self._scrub(reason, memory)
        if memory.problem != category:
            # Once per reason and device, not every interval: a vanished disk must not flood the journal.
            memory.problem = category
            kept = "keeping its last reading" if memory.last is not None else "reported without a verdict"
            ctx.log.log(logging.DEBUG if quiet else logging.WARNING, "smart: %s; %s", reason, kept)
        last = memory.last
        if last is not None and last.state == "unsupported":
            return last
        if last is not None:
            # The verdict stays (it is the last one known) but the reading says the drive did not answer, so
            # neither a metric nor P2 can present it as freshly healthy.
            return dataclasses.replace(last, state="unreachable", reason=reason)
        who = self._remembered_who(target)
        return self._reading(target, who, "unreachable", reason=reason)

    def _remembered_who(self, target: _Target) -> _Who:
        """Who a device node led to when it was last read (the state file), for a drive not read this run."""
        known = self._state.devices.get(target.key)
        return _Who(known.drive if known is not None and known.drive else _fallback_identity(target),
                    _protocol_of(target), rotational=known.rotational if known is not None else None)

    def _remember(self, target: _Target, who: _Who, facts: SmartFacts) -> None:
        old = self._state.devices.get(target.key)
        fresh = _DeviceState(who.drive, who.rotational, serial_identity(facts.model, facts.serial),
                             old.seen if old is not None and old.seen else time.time())
        if old != fresh:
            self._state.devices[target.key] = fresh
            self._dirty = True

    def _scrub(self, text: str, memory: _Memory) -> str:
        """Text for logs and reasons without the drive's serial or WWN (smartctl messages may name a by-id
        path, which embeds the serial)."""
        text = _BY_PATH.sub(lambda match: f"{os.path.dirname(match.group(0))}/<redacted>", text)
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
        # Entries from a file without "seen" times count as seen now: the period starts with this release.
        now = time.time()
        for key, entry in self._state.devices.items():
            if not entry.seen:
                self._state.devices[key] = dataclasses.replace(entry, seen=now)
        for drive in self._state.baselines:
            self._state.baseline_seen.setdefault(drive, now)

    def _housekeep(self, keys: Iterable[str], drives: Iterable[str], now: float) -> None:
        """Refresh "seen" for what this run looked at; forget what has not been seen for a long time."""
        live_keys, live_drives = set(keys), set(drives)
        devices, seen = self._state.devices, self._state.baseline_seen
        for key in live_keys:
            entry = devices.get(key)
            # Also when the clock went backwards: a time in the future would keep an entry forever.
            if entry is not None and not 0 <= now - entry.seen < _SEEN_RESOLUTION_SECONDS:
                devices[key] = dataclasses.replace(entry, seen=now)
                self._dirty = True
        for drive in live_drives:
            if drive in self._state.baselines and not 0 <= now - seen.get(drive, 0.0) < _SEEN_RESOLUTION_SECONDS:
                seen[drive] = now
                self._dirty = True
        forgot = _prune(self._state, now, live_keys, live_drives)
        if forgot:
            self._dirty = True
            log.info("smart: forgot %d state entr%s not seen for %d days (or beyond %d entries)", forgot,
                     "y" if forgot == 1 else "ies", int(_FORGET_AFTER_SECONDS // 86400), _MAX_STATE_ENTRIES)

    def _save_state(self, ctx: RunContext) -> None:
        # A failed write stays dirty: retried next run, in case the directory becomes writable.
        if self._dirty and self._state_file.save(ctx.state_dir, self._state):
            self._dirty = False


# --- pure helpers ------------------------------------------------------------------------------------


def _failed(category: str, reason: str, status: int | None = None) -> _Outcome:
    return _Outcome("failed", None, status, category, reason, time.time())


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _stuck_limit(target: _Target, stuck_queries: int, limit: int) -> _Outcome:
    return _failed("stuck-limit", f"{_label(target)}: not queried: {stuck_queries} earlier smartctl queries are "
                                  f"still alive after SIGKILL, as many as smart.concurrency ({limit}) allows")


def _no_answer(target: _Target, status: int | None, detail: str) -> _Outcome:
    """smartctl answered without data: a refused command line (bit 0: an unknown -d type) or a failed open."""
    if status is not None and status & _COMMAND_LINE_BIT:
        return _failed("rejected", f"{_label(target)}: smartctl rejected the query with -d {target.dev_type} "
                                   f"({detail}); check the type in [smart] devices", status)
    return _failed("open-failed", f"{_label(target)}: cannot be opened ({detail})", status)


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


def _protocol_of(target: _Target) -> str:
    """The protocol of a drive that never answered: the scan's, else what its -d type speaks."""
    if target.protocol:
        return target.protocol
    kind = target.dev_type.split(",")[0].split("+")[0].lower()
    return "NVMe" if target.nvme else {"sat": "ATA", "ata": "ATA", "scsi": "SCSI"}.get(kind, "")


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


def _label_key(key: str) -> str:
    device, _, dev_type = key.partition("|")
    return _label(_Target(device, dev_type, ""))


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
        "wear_ratio": percent_to_ratio(facts.wear.percent_used) if facts.wear is not None else None,
        "available_spare_ratio": percent_to_ratio(nvme.available_spare) if nvme is not None else None,
        "available_spare_threshold_ratio": (percent_to_ratio(nvme.available_spare_threshold)
                                            if nvme is not None else None),
        "crc_errors": now.crc_errors,
    }


def _prune(state: _State, now: float, live_keys: set[str], live_drives: set[str]) -> int:
    """Forget device nodes and baselines not seen for _FORGET_AFTER_SECONDS, then the least recently seen
    beyond _MAX_STATE_ENTRIES; never what this run saw, nor a baseline a remembered node still points to.
    Returns how many entries went."""
    devices, baselines, seen = state.devices, state.baselines, state.baseline_seen
    forgot = 0
    for key in _stale(list(devices), live_keys, lambda key: devices[key].seen, now):
        del devices[key]
        forgot += 1
    referenced = {entry.drive for entry in devices.values()}
    for drive in _stale(list(baselines), live_drives | referenced, lambda drive: seen.get(drive, 0.0), now):
        del baselines[drive]
        forgot += 1
    for drive in [d for d in seen if d not in baselines]:
        del seen[drive]
    return forgot


def _stale(names: list[str], live: set[str], last_seen: Callable[[str], float], now: float) -> list[str]:
    """Names to forget: older than the period, then the oldest beyond the cap."""
    candidates = sorted((n for n in names if n not in live), key=last_seen)
    old = [n for n in candidates if now - last_seen(n) > _FORGET_AFTER_SECONDS]
    gone = set(old)
    kept = [n for n in candidates if n not in gone]
    excess = len(names) - len(old) - _MAX_STATE_ENTRIES
    return old + (kept[:excess] if excess > 0 else [])


def _encode_state(state: _State) -> dict[str, Any]:
    # Only additions to the version 1 layout ("alias", "seen", "baseline_seen"): a file written here still
    # loads in earlier releases, and their files load here.
    return {
        "version": _STATE_VERSION,
        "devices": {key: {"drive": d.drive, "rotational": d.rotational, "alias": d.alias, "seen": round(d.seen)}
                    for key, d in state.devices.items()},
        "baselines": {drive: c.to_json() for drive, c in state.baselines.items()},
        "baseline_seen": {drive: round(when) for drive, when in state.baseline_seen.items()
                          if drive in state.baselines},
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
        alias = entry.get("alias", "")
        state.devices[str(key)] = _DeviceState(entry["drive"], rotational, alias if isinstance(alias, str) else "",
                                               _time(entry.get("seen")))
    for drive, entry in document["baselines"].items():
        try:
            state.baselines[str(drive)] = DriveCounters.from_json(entry)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"bad baseline entry: {exc}") from exc
    seen = document.get("baseline_seen")
    if isinstance(seen, dict):
        for drive, when in seen.items():
            if str(drive) in state.baselines and _time(when):
                state.baseline_seen[str(drive)] = _time(when)
    return state


def _time(value: object) -> float:
    """A stored wall-clock time; 0.0 (unknown, treated as "seen now" on load) when absent or not a time."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e11:
        return 0.0
    return float(value)


__all__ = ["STATE_FILE", "SmartCollector"]
