"""NAS boxes over SNMP: the disks and RAID volumes of every [[nas.snmp]] (Synology DSM), as DriveReadings and
ArrayReadings that gap P2 judges beside this host's own.

Every NAS is polled at once through the kit's SNMP client (collectors.kit.snmp: GETBULK, v1/v2c/v3, deadlines,
the lazy pysnmp import). A NAS that does not answer, or answers without a diskTable (an agent that is not DSM's,
or a view without SYNOLOGY-DISK-MIB), is never read as a NAS without disks:
- when no NAS answered, the run fails with every NAS's reason (physgap_collector_success{collector="nas"} 0, and
  P2 reads "nas collector failed: ...");
- when others answered, their readings stand and each silent NAS adds an incomplete StorageScan naming it, so
  P2 cannot read resolved while a NAS's disks are unknown, but still opens on what the others show;
- a NAS that lists disks but no raidTable rows (a view without SYNOLOGY-RAID-MIB, a v1 walk cut short) has
  its disks read and an incomplete StorageScan naming it: its redundancy is unread, so P2 reads unknown, not
  resolved on healthy disks alone;
- a NAS that answered before keeps its disks on show, as unreachable (physgap_drive_reachable 0, the reason
  on each, the last verdict kept so a failing disk's alert does not resolve because its NAS went quiet),
  never as vanished; then the run succeeds, as for a silent switch or SNMP UPS, and the readings say why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from collectors.kit.context import CollectorError, RunContext
from collectors.kit.snmp import Engine, SnmpError, Values, agent_for, poll_all
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import AnyReading, DriveReading, StorageScan
from collectors.nas.config import NasTarget
from collectors.nas.synology import DISK_COLUMNS, RAID_COLUMNS, Disk, array_readings, drive_reading, parse_disks

log = logging.getLogger(__name__)

# Rows read per column at most: DSM lists internal bays plus expansion units' (a few dozen at most) and one row
# per pool and volume. Past this a runaway agent is cut off.
MAX_ROWS = 256

# Disks in use sit in a storage pool, which DSM lists in raidTable: disks without rows leave the NAS's redundancy
# unread, never "no arrays to worry about".
NO_RAID_ROWS = ("no SYNOLOGY-RAID-MIB raidTable rows beside its disks, so its volumes' redundancy is unknown; does "
                "its SNMP view include enterprise 6574.3, and does the NAS have a storage pool?")


@dataclass(frozen=True)
class Answer:
    """What one NAS said (its diskTable as parsed, its raidTable as answered), or why it said nothing."""

    target: NasTarget
    disks: tuple[Disk, ...] | None = None
    raids: Values | None = None
    read_at: float = 0.0
    reason: str = ""


def readings_for(answer: Answer) -> list[AnyReading]:
    """The readings of one NAS: pure, from its answer."""
    name = answer.target.name
    if answer.disks is None:
        return [StorageScan(False, f"NAS {name}: {answer.reason}")]
    readings: list[AnyReading] = [drive_reading(name, disk, answer.read_at) for disk in answer.disks]
    arrays = array_readings(name, answer.raids or {}, answer.target.levels)
    readings.extend(arrays)
    if answer.disks and not arrays:
        readings.append(StorageScan(False, f"NAS {name}: {NO_RAID_ROWS}"))
    return readings


def unreachable_disks(last: Sequence[AnyReading], reason: str) -> list[DriveReading]:
    """A silent NAS's disks as last seen, marked unreachable with the reason: pure."""
    return [replace(reading, state="unreachable", reason=reason) for reading in last
            if isinstance(reading, DriveReading)]


class NasCollector:
    """Polls `[[nas.snmp]]` targets: per NAS its disks and RAID volumes."""

    name = "nas"

    def __init__(self, targets: Sequence[NasTarget]) -> None:
        self.targets = tuple(targets)
        # Unreadable secrets, silent NASes and missing raidTables: once per reason, not every run.
        self._warn = WarnOnce(log)
        # Each NAS's readings from its last answer, by name: what a silent NAS had (not persisted: after a
        # restart a NAS that never answered has no disks to show, and the run says so).
        self._last: dict[str, list[AnyReading]] = {}

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        ctx.check()
        if not self.targets:
            return []
        # The polls end a little before the run does, so a silent NAS's reason is handed back before the
        # scheduler abandons the run at its deadline.
        answers = poll_all(ctx.keeping_back(), self.targets, self._poll,
                           lambda target, reason: Answer(target, reason=reason))
        for answer in answers:
            self._log_outcome(answer)
        silent = [answer for answer in answers if answer.disks is None]
        known = [answer for answer in silent if answer.target.name in self._last]
        if len(silent) == len(answers) and not known:
            raise CollectorError("; ".join(f"NAS {answer.target.name}: {answer.reason}" for answer in silent))
        readings: list[AnyReading] = []
        for answer in answers:
            own = readings_for(answer)
            readings.extend(own)
            name = answer.target.name
            if answer.disks is not None:
                self._last[name] = [r for r in own if isinstance(r, DriveReading)]
                self._log_partial(name, own)
            elif name in self._last:
                readings.extend(unreachable_disks(self._last[name], f"NAS {name}: {answer.reason}"))
        return readings

    async def _poll(self, engine: Engine, target: NasTarget) -> Answer:
        session = await engine.session(agent_for(target.agent, self._warn))
        disks = tuple(parse_disks(await session.columns(DISK_COLUMNS, MAX_ROWS)))
        read_at = time.time()
        if not disks:
            # DSM lists every bay it has a disk in, and a NAS without disks holds no data to watch: no rows is
            # a view without SYNOLOGY-DISK-MIB or an agent that is not DSM's, never "no drives".
            raise SnmpError("the agent answers but returns no SYNOLOGY-DISK-MIB diskTable rows; is it a "
                            "Synology DSM agent, and does its SNMP view include enterprise 6574?")
        raids = await session.columns(RAID_COLUMNS, MAX_ROWS)
        return Answer(target, disks, raids, read_at)

    def _log_outcome(self, answer: Answer) -> None:
        """A NAS's silence when its reason changes, and its recovery, not every run."""
        reason = None if answer.disks is not None else answer.reason
        self._warn.transition(f"silent:{answer.target.name}", reason, "NAS %s", answer.target.name)

    def _log_partial(self, name: str, own: Sequence[AnyReading]) -> None:
        """An answering NAS whose readings are incomplete (no raidTable rows): once while it lasts."""
        key = f"partial:{name!r}"
        partial = [r.reason for r in own if isinstance(r, StorageScan) and not r.complete]
        if partial:
            self._warn.warn(key, "%s", "; ".join(partial))
        else:
            self._warn.forget(key)
