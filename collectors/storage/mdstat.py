"""Linux md (software RAID): `/proc/mdstat` text and md sysfs attribute values, parsed into frozen dataclasses.

Pure: nothing here touches the filesystem; `collectors.storage.collector` reads the files and hands the text over.

Formats this is built on (kernel drivers/md/md.c `md_seq_show`, `status_resync`, `state_show`, and
Documentation/admin-guide/md.rst):

    Personalities : [raid1] [raid6] [raid5] [raid4]
    md0 : active raid5 sdd1[4] sdc1[2] sdb1[1] sda1[0]
          5860145664 blocks super 1.2 level 5, 512k chunk, algorithm 2 [4/3] [UUU_]
          [=====>...............]  recovery = 28.5% (557160448/1953381888) finish=152.6min speed=152474K/sec
          bitmap: 0/15 pages [0KB], 65536KB chunk

    unused devices: <none>

- A member is `name[descriptor]` followed by flags: (F) faulty, (S) spare (no slot in the array), (W) write-mostly,
  (R) replacement, (J) journal. The descriptor number is NOT the slot: slots come from sysfs `dev-*/slot`.
- `[n/m]` is raid_disks / working disks and `[UU_]` shows which slots are in sync; arrays without redundancy
  (raid0, linear) print neither.
- sysfs `md/dev-*/state` is a comma list: faulty, in_sync, write_mostly, spare, blocked, replacement, journal, ...;
  a member being rebuilt onto reads "spare" there while it already holds a slot, so "spare" alone does not make
  a hot spare: `slot` decides ("none" for a real spare).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from collectors.kit.sysfs import parse_int

__all__ = [
    "MdArray",
    "MdMember",
    "MdSync",
    "MdSysfs",
    "MdSysfsMember",
    "MdstatParseError",
    "MemberState",
    "md_redundancy",
    "merge_sysfs",
    "parse_mdstat",
    "parse_member_state",
    "parse_raid10_copies",
    "parse_sync_completed",
]


class MdstatParseError(ValueError):
    """The text is not /proc/mdstat at all (as opposed to an mdstat with unreadable parts, which is tolerated)."""


# Levels whose data survives no member loss; "container" (IMSM/DDF) holds no data of its own.
NON_REDUNDANT_LEVELS = frozenset({"raid0", "linear", "multipath", "faulty", "container"})
_KNOWN_LEVELS = frozenset({"raid1", "raid4", "raid5", "raid6", "raid10"}) | NON_REDUNDANT_LEVELS
# md v1.x superblocks describe at most 1920 devices; a sysfs count or slot beyond that is garbage, and a
# negative one (-1 from a broken tree) must not pass for a member count.
_MAX_MEMBERS = 1920
_SYNC_ACTIONS = ("resync", "recovery", "check", "repair", "reshape")
# sysfs `sync_action` speaks "recover" where mdstat says "recovery"; the reading uses the mdstat word.
_SYSFS_ACTION = {"resync": "resync", "recover": "recovery", "check": "check", "repair": "repair", "reshape": "reshape"}

_HEADER = re.compile(r"^(md[\w.\-]*)\s*:\s*(active|inactive)\b(.*)$")
_MEMBER = re.compile(r"^([^\s\[\]()]+)\[(\d+)\]((?:\([A-Za-z]\))*)$")
_SLOTS = re.compile(r"\[(\d+)/(\d+)\]\s*\[([U_]*)\]")
_PROGRESS = re.compile(r"\b(" + "|".join(_SYNC_ACTIONS) + r")\s*=\s*([0-9]+(?:\.[0-9]+)?)%")
_WAITING = re.compile(r"\b(" + "|".join(_SYNC_ACTIONS) + r")\s*=\s*(DELAYED|PENDING)\b")
_COPIES = re.compile(r"\b(\d+)\s+(near|far|offset)-copies\b")
_BLOCKS = re.compile(r"^\d+\s+blocks\b")


@dataclass(frozen=True)
class MdMember:
    """One component device of an array, by the kernel name md lists it under ("sda1", "nvme0n1p2")."""

    name: str
    descriptor: int | None = None  # the [n] in mdstat; an identity number, not the slot
    slot: int | None = None  # role in the array (sysfs `slot`); None for hot spares or when unknown
    faulty: bool = False
    spare: bool = False  # not (yet) a full member: a hot spare, or a device being rebuilt onto
    in_sync: bool = False
    write_mostly: bool = False
    replacement: bool = False
    journal: bool = False

    @property
    def role(self) -> str:
        """"faulty", "journal", "active", "rebuilding", "spare" or "unknown"."""
        if self.faulty:
            return "faulty"
        if self.journal:
            return "journal"
        if self.in_sync:
            return "active"
        if self.slot is not None:
            return "rebuilding"  # holds a slot but is not in sync yet: recovery target
        if self.spare:
            return "spare"
        return "unknown"

    @property
    def hot_spare(self) -> bool:
        """Idle spare: attached to the array but carrying no data."""
        return self.role == "spare"


@dataclass(frozen=True)
class MdSync:
    """A running (or queued) sync operation."""

    action: str  # "resync", "recovery", "check", "repair", "reshape"
    percent: float | None  # None while delayed/pending or when not reported
    waiting: str = ""  # "delayed" or "pending" while queued behind another array on the same disks

    def describe(self) -> str:
        """Text for ArrayReading.sync_action: "recovery", "resync delayed", "check" (progress is separate, so a
        metric label does not change on every scrape)."""
        if self.waiting:
            return f"{self.action} {self.waiting}"
        return self.action


@dataclass(frozen=True)
class MdArray:
    """One md array as /proc/mdstat (and, when merged, sysfs) describes it."""

    name: str  # kernel name: "md0", "md127"
    active: bool  # "active" in mdstat (or an active sysfs array_state)
    read_only: bool  # (read-only) / (auto-read-only)
    level: str  # "raid1", "raid5", "raid0", "linear", ... ; "" when not known (inactive arrays print none)
    members: tuple[MdMember, ...]
    raid_disks: int | None = None  # slots the array is built with (the n in [n/m], sysfs raid_disks)
    working_disks: int | None = None  # the m in [n/m]
    slot_status: str = ""  # "UU_" as mdstat prints it
    degraded_slots: int | None = None  # sysfs md/degraded: slots without an in-sync member
    array_state: str = ""  # sysfs md/array_state ("clean", "active", "inactive", "broken", ...); else mdstat word
    sync: MdSync | None = None
    copies: int | None = None  # raid10 data copies (near x far), from md/layout or the mdstat text
    container: bool = False  # an IMSM/DDF container: metadata only, the volumes inside are separate arrays

    @property
    def failed_slots(self) -> int:
        """Slots that hold no in-sync member right now.

        sysfs `degraded` is the kernel's own count; the mdstat `[UU_]` map is next; `[n/m]` after that; the
        faulty members are a last resort (they undercount when a failed disk was already removed).
        """
        if self.degraded_slots is not None:
            return max(0, self.degraded_slots)
        if self.slot_status:
            return self.slot_status.count("_")
        if self.raid_disks is not None and self.working_disks is not None:
            return max(0, self.raid_disks - self.working_disks)
        return sum(1 for member in self.members if member.faulty)

    @property
    def failed_members(self) -> tuple[MdMember, ...]:
        """Members md marked faulty. Disks already removed from the array cannot be named (see failed_slots)."""
        return tuple(member for member in self.members if member.faulty)

    @property
    def running(self) -> bool:
        """Serving I/O: inactive arrays and "broken" ones (raid0/linear with a missing member) are not."""
        state = self.array_state
        return self.active and state not in ("inactive", "broken", "clear")

    @property
    def degraded(self) -> bool:
        return not self.running or self.failed_slots > 0 or bool(self.failed_members)

    @property
    def redundancy(self) -> int:
        """Member failures the array survives right now (see md_redundancy)."""
        if not self.running:
            return 0
        return md_redundancy(self.level, self.raid_disks, self.failed_slots, self.copies,
                             in_sync=sum(1 for m in self.members if m.in_sync))


def md_redundancy(level: str, raid_disks: int | None, failed: int, copies: int | None = None,
                  in_sync: int = 0) -> int:
    """Member failures an md array of `level` survives with `failed` slots already out.

    - raid1: every in-sync member is a full copy: raid_disks - failed - 1 (a single-member raid1 gives 0).
    - raid4/raid5: one parity: 1 - failed; raid6: 2 - failed (floor 0).
    - raid10: max(0, copies - 1 - failed). This is the guaranteed (worst-case) figure: with near-2 on four
      disks one failure leaves 0, although a second failure in the *other* mirror pair would be survived;
      which pairs share a block depends on layout and slot order, which this does not model.
    - raid0, linear, multipath, faulty and unknown levels: 0.
    `raid_disks` unknown (a truncated mdstat without sysfs) falls back to the in-sync member count for raid1.
    """
    if level == "raid1":
        disks = raid_disks if raid_disks is not None else in_sync + failed
        return max(0, disks - failed - 1)
    if level in ("raid4", "raid5"):
        return max(0, 1 - failed)
    if level == "raid6":
        return max(0, 2 - failed)
    if level == "raid10":
        return max(0, (copies if copies is not None else 2) - 1 - failed)
    return 0


def _member(token: str) -> MdMember | None:
    match = _MEMBER.match(token)
    if match is None:
        return None
    flags = set(match.group(3).upper().replace("(", "").replace(")", ""))
    return MdMember(
        name=match.group(1),
        descriptor=int(match.group(2)),
        faulty="F" in flags,
        spare="S" in flags,
        # mdstat marks neither in_sync nor rebuilding: a member that is neither faulty nor spare is taken as
        # in sync here, and the [UU_] map (or sysfs) corrects the array-level count.
        in_sync=not flags & {"F", "S", "J"},
        write_mostly="W" in flags,
        replacement="R" in flags,
        journal="J" in flags,
    )


def _parse_header(name: str, word: str, rest: str) -> MdArray:
    tokens = rest.split()
    read_only = False
    level = ""
    members: list[MdMember] = []
    for token in tokens:
        if token in ("(read-only)", "(auto-read-only)"):
            read_only = True
            continue
        if not level and not members and token in _KNOWN_LEVELS:
            level = token
            continue
        member = _member(token)
        if member is not None:
            members.append(member)
        # Anything else (a token cut off by truncation, a future keyword) is skipped.
    return MdArray(name=name, active=word == "active", read_only=read_only, level=level,
                   members=tuple(members), array_state=word)


def _apply_detail(array: MdArray, line: str) -> MdArray:
    slots = _SLOTS.search(line)
    if slots is not None:
        status = slots.group(3)
        raid_disks = int(slots.group(1))
        # A truncated map is worse than none: only trust it when it covers every slot.
        array = replace(array, raid_disks=raid_disks, working_disks=int(slots.group(2)),
                        slot_status=status if len(status) == raid_disks else "")
    copies = _COPIES.search(line)
    if copies is not None:
        array = replace(array, copies=int(copies.group(1)))
    if _BLOCKS.match(line) and "super external:" in line and "/" not in line.split("super external:", 1)[1]:
        # "super external:imsm" is the container itself; its volumes say "super external:/md127/0".
        array = replace(array, container=True)
    progress = _PROGRESS.search(line)
    if progress is not None:
        return replace(array, sync=MdSync(progress.group(1), float(progress.group(2))))
    waiting = _WAITING.search(line)
    if waiting is not None:
        return replace(array, sync=MdSync(waiting.group(1), None, waiting.group(2).lower()))
    return array


def parse_mdstat(text: str) -> tuple[MdArray, ...]:
    """Every array in /proc/mdstat text. Unreadable lines are skipped; a truncated tail loses only its details.

    Raises MdstatParseError when the text has neither the `Personalities` line, the `unused devices` line nor
    any array header: then it is not mdstat (a wrong file, a binary blob), and "no arrays" would be a lie.
    """
    arrays: list[MdArray] = []
    current: MdArray | None = None
    recognised = False
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            if current is not None:
                arrays.append(current)
                current = None
            continue
        if stripped.startswith(("Personalities", "unused devices", "read_ahead")):
            recognised = True
            if current is not None:
                arrays.append(current)
                current = None
            continue
        header = _HEADER.match(stripped)
        if header is not None and not raw[:1].isspace():
            recognised = True
            if current is not None:
                arrays.append(current)
            current = _parse_header(header.group(1), header.group(2), header.group(3))
            continue
        if current is not None:
            current = _apply_detail(current, stripped)
    if current is not None:
        arrays.append(current)
    if not recognised:
        raise MdstatParseError("not /proc/mdstat: no Personalities line, no array, no 'unused devices' line")
    return tuple(arrays)


@dataclass(frozen=True)
class MemberState:
    faulty: bool
    in_sync: bool
    spare: bool
    write_mostly: bool
    replacement: bool
    journal: bool


def parse_member_state(text: str) -> MemberState:
    """sysfs `md/dev-*/state`, e.g. "in_sync,write_mostly" or "faulty"."""
    flags = {flag.strip() for flag in text.replace(" ", ",").split(",") if flag.strip()}
    return MemberState(
        faulty="faulty" in flags,
        in_sync="in_sync" in flags,
        spare="spare" in flags,
        # md.rst documents "writemostly"; state_show prints "write_mostly". Accept both.
        write_mostly=bool(flags & {"write_mostly", "writemostly"}),
        replacement="replacement" in flags,
        journal="journal" in flags,
    )


def parse_sync_completed(text: str | None) -> float | None:
    """sysfs `sync_completed` "557160448 / 1953381888" as a percentage; "none", "delayed" and garbage: None."""
    if text is None:
        return None
    parts = text.split("/")
    if len(parts) != 2:
        return None
    try:
        done, total = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    if total <= 0 or done < 0:
        return None
    return min(100.0, 100.0 * done / total)


def parse_raid10_copies(layout: str | None) -> int | None:
    """Data copies from a raid10 `md/layout` value: near copies (bits 0-7) times far copies (bits 8-15).

    258 (0x102) is the default near=2; 513 (0x201) is far=2; bit 16 marks the offset variant of far.
    """
    if layout is None:
        return None
    try:
        value = int(layout.strip())
    except ValueError:
        return None
    near, far = value & 0xFF, (value >> 8) & 0xFF
    if near < 1 or far < 1:
        return None
    return near * far


@dataclass(frozen=True)
class MdSysfsMember:
    """Raw values of one `md/dev-<name>/` directory; None where the attribute could not be read."""

    name: str  # the <name> of dev-<name>
    state: str | None = None
    slot: str | None = None


@dataclass(frozen=True)
class MdSysfs:
    """Raw values of one array's `md/` directory as sysfs gave them (None: absent or unreadable)."""

    level: str | None = None
    raid_disks: str | None = None
    degraded: str | None = None
    array_state: str | None = None
    sync_action: str | None = None
    sync_completed: str | None = None
    layout: str | None = None
    members: tuple[MdSysfsMember, ...] = ()


_ACTIVE_STATES = frozenset({"clean", "active", "active-idle", "write-pending", "readonly", "read-auto"})


def merge_sysfs(name: str, array: MdArray | None, sysfs: MdSysfs) -> MdArray:
    """Overlay sysfs values on what mdstat said (or build the array from sysfs alone when mdstat lost it).

    sysfs wins where it answered: it is per-attribute and cannot be cut off mid-line the way a racing or
    truncated mdstat read can.
    """
    if array is None:
        array = MdArray(name=name, active=False, read_only=False, level="", members=())
    level = (sysfs.level or "").strip() or array.level
    array_state = (sysfs.array_state or "").strip() or array.array_state
    active = array.active
    if sysfs.array_state is not None:
        active = array_state in _ACTIVE_STATES
    read_only = array.read_only or array_state in ("readonly", "read-auto")
    raid_disks = parse_int(sysfs.raid_disks, low=0, high=_MAX_MEMBERS)
    degraded = parse_int(sysfs.degraded, low=0, high=_MAX_MEMBERS)
    copies = parse_raid10_copies(sysfs.layout) if level == "raid10" else None

    sync = array.sync
    action = (sysfs.sync_action or "").strip()
    if action in _SYSFS_ACTION:
        word = _SYSFS_ACTION[action]
        percent = sync.percent if sync is not None and sync.action == word else None
        if percent is None:
            percent = parse_sync_completed(sysfs.sync_completed)
        waiting = "delayed" if (sysfs.sync_completed or "").strip() == "delayed" else ""
        sync = MdSync(word, percent, waiting if percent is None else "")
    elif action in ("idle", "frozen"):
        sync = None

    members = {member.name: member for member in array.members}
    for entry in sysfs.members:
        base = members.get(entry.name, MdMember(name=entry.name))
        if entry.state is not None:
            state = parse_member_state(entry.state)
            base = replace(base, faulty=state.faulty, in_sync=state.in_sync, spare=state.spare,
                           write_mostly=state.write_mostly, replacement=state.replacement, journal=state.journal)
        slot = parse_int(entry.slot, low=0, high=_MAX_MEMBERS)
        if slot is not None and slot >= 0:
            base = replace(base, slot=slot)
        elif entry.slot is not None and entry.slot.strip() == "none":
            base = replace(base, slot=None)
        members[entry.name] = base

    return replace(
        array,
        active=active,
        read_only=read_only,
        level=level,
        members=tuple(members.values()),
        raid_disks=raid_disks if raid_disks is not None else array.raid_disks,
        degraded_slots=degraded if degraded is not None else array.degraded_slots,
        array_state=array_state,
        sync=sync,
        copies=copies if copies is not None else array.copies,
        container=array.container or level == "container",
    )
