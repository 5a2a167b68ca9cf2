"""ZFS: `zpool status -P -L` text parsed into pools, their vdev trees, states and scan progress.

Pure: `collectors.storage.collector` runs the program and hands the text over.

Format (OpenZFS 2.1, cmd/zpool/zpool_main.c `status_callback`, `print_status_config`, `print_class_vdevs`,
`print_scan_status`), one block per pool, blank line between pools:

      pool: tank
     state: DEGRADED
    status: One or more devices could not be used because ...
    <TAB>continuation lines of status/action start with a tab
      scan: resilver in progress since Mon Jan 15 10:02:11 2024
    <TAB>2.10T scanned at 1.20G/s, 1.48T issued at 845M/s, 3.52T total
    <TAB>368G resilvered, 42.10% done, 0 days 00:42:13 to go
    config:

    <TAB>NAME                     STATE     READ WRITE CKSUM
    <TAB>tank                     DEGRADED     0     0     0
    <TAB>  raidz2-0               DEGRADED     0     0     0
    <TAB>    /dev/sda1            ONLINE       0     0     0
    <TAB>    4829105738271935821  UNAVAIL      0     0     0  was /dev/disk/by-id/ata-...-part1
    <TAB>logs<TAB>
    <TAB>  /dev/nvme0n1p4         ONLINE       0     0     0
    <TAB>cache
    <TAB>  /dev/nvme0n1p5         ONLINE       0     0     0
    <TAB>spares
    <TAB>  /dev/sdg1              AVAIL

    errors: No known data errors

(<TAB> stands for a tab character.) Config lines are a tab, two spaces per depth, the name, the state, then
(not for spares) three error counters, then an optional note
("was <path>" for a missing device, "too many errors", "(resilvering)").
Class headers ("logs", "dedup", "special", "cache", "spares") sit at the pool's own depth and carry no state.
With -P every leaf is a full path; -L resolves symlinks, so present devices read /dev/sda1, /dev/nvme0n1p3.
A missing device is printed by its GUID with the path it had ("was ...", not resolved: the link is gone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "DATA_CLASSES",
    "FAILED_POOL_STATES",
    "VdevNode",
    "Zpool",
    "ZpoolParseError",
    "ZpoolScan",
    "parse_scan",
    "parse_zpool_status",
    "vdev_redundancy",
]


class ZpoolParseError(ValueError):
    """The text is not `zpool status` output at all."""


# Sections whose vdevs hold pool data: losing a special or dedup vdev loses the pool just like a normal one.
DATA_CLASSES = ("data", "special", "dedup")
_SECTIONS = frozenset({"logs", "cache", "spares", "special", "dedup"})
# A pool in these states serves nothing (SUSPENDED: I/O is frozen after failures until `zpool clear`).
FAILED_POOL_STATES = frozenset({"FAULTED", "UNAVAIL", "SUSPENDED"})
_DOWN_STATES = frozenset({"FAULTED", "UNAVAIL", "OFFLINE", "REMOVED"})
_STATES = frozenset({"ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED", "AVAIL", "INUSE",
                     "SPLIT", "UNKNOWN", "SUSPENDED"})

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FIELD = re.compile(r"^\s{0,8}(pool|state|status|action|see|scan|remove|checkpoint|config|errors):\s?(.*)$")
_MIRROR = re.compile(r"^mirror(?:-\d+)?$")
_RAIDZ = re.compile(r"^raidz([1-3])?(?:-\d+)?$")
_DRAID = re.compile(r"^draid([1-3])?(?::[0-9a-z:]*)?(?:-\d+)?$")
_DSPARE = re.compile(r"^draid\d+-\d+-\d+$")  # a distributed spare: a virtual leaf, not a disk
_GROUP = re.compile(r"^(spare|replacing|indirect|root)(?:-\d+)?$")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)%\s*done")


@dataclass(frozen=True)
class VdevNode:
    """One line of the config tree with its children."""

    name: str  # as printed: "mirror-0", "raidz2-0", "/dev/sda1", a GUID for a missing device
    state: str  # ONLINE, DEGRADED, FAULTED, UNAVAIL, OFFLINE, REMOVED; AVAIL/INUSE for spares; "" if unreadable
    children: tuple[VdevNode, ...] = ()
    note: str = ""  # text after the counters: "was /dev/...", "too many errors", "(resilvering)"

    @property
    def kind(self) -> str:
        """"mirror", "raidz", "draid", "spare", "replacing", "indirect", "dspare" or "disk"."""
        if _DSPARE.match(self.name):
            return "dspare"
        if _MIRROR.match(self.name):
            return "mirror"
        if _RAIDZ.match(self.name):
            return "raidz"
        if _DRAID.match(self.name):
            return "draid"
        group = _GROUP.match(self.name)
        if group is not None and not self.name.startswith("/"):
            return group.group(1)
        return "disk"

    @property
    def parity(self) -> int:
        """Parity of a raidz/draid vdev ("raidz-0" of old pools is raidz1); 0 for anything else."""
        match = _RAIDZ.match(self.name) or _DRAID.match(self.name)
        if match is None or self.kind not in ("raidz", "draid"):
            return 0
        return int(match.group(1) or 1)

    @property
    def healthy(self) -> bool:
        """Contributing fully right now. Only ONLINE counts: a DEGRADED leaf is one ZFS stopped trusting
        (too many errors), and a DEGRADED spare-N/replacing-N group still has its old member out."""
        return self.state == "ONLINE"

    @property
    def device_path(self) -> str:
        """The leaf's device path; for a missing device the path it had ("was ..."), else its GUID."""
        if self.name.startswith("/"):
            return self.name
        match = re.match(r"was\s+(\S+)", self.note)
        if match is not None:
            return match.group(1)
        return self.name

    def leaves(self) -> tuple[VdevNode, ...]:
        """Leaf devices under this node (itself if it is one), distributed spares left out: they are virtual."""
        if not self.children:
            return () if self.kind == "dspare" else (self,)
        found: list[VdevNode] = []
        for child in self.children:
            found.extend(child.leaves())
        return tuple(found)

    @property
    def redundancy(self) -> int:
        return vdev_redundancy(self)


def vdev_redundancy(vdev: VdevNode) -> int:
    """Member failures a top-level vdev survives right now.

    - mirror: healthy children - 1; raidzN/draidN: N - failed children (floor 0).
    - a plain disk (a stripe member), and a spare-N/replacing-N standing in for one: 0.
    - a vdev that is itself FAULTED/UNAVAIL/OFFLINE/REMOVED: 0.
    A child counts as healthy only when ONLINE; a spare-N group whose hot spare finished resilvering still reads
    DEGRADED until the failed disk is detached, so redundancy is understated (never overstated) until then.
    """
    if vdev.state in _DOWN_STATES:
        return 0
    kind = vdev.kind
    healthy = sum(1 for child in vdev.children if child.healthy)
    failed = len(vdev.children) - healthy
    if kind == "mirror":
        return max(0, healthy - 1)
    if kind in ("raidz", "draid"):
        return max(0, vdev.parity - failed)
    return 0


@dataclass(frozen=True)
class ZpoolScan:
    """The `scan:` field: the last or current scrub/resilver."""

    action: str  # "scrub", "resilver", or "" for "none requested" and anything unrecognised
    in_progress: bool
    paused: bool = False
    percent: float | None = None
    text: str = ""  # the field as printed, continuation lines joined with "; "

    def describe(self) -> str:
        """Text for ArrayReading.sync_action: "resilver", "scrub", "scrub paused", "" when idle (progress is
        separate, so a metric label does not change on every scrape)."""
        if self.paused:
            return f"{self.action} paused"
        if not self.in_progress:
            return ""
        return self.action


def parse_scan(lines: list[str]) -> ZpoolScan:
    """The `scan:` field from its first line and continuation lines."""
    text = "; ".join(part.strip() for part in lines if part.strip())
    first = lines[0].strip() if lines else ""
    word = first.split(" ", 1)[0] if first else ""
    action = "resilver" if word.startswith("resilver") else "scrub" if word == "scrub" else ""
    paused = action == "scrub" and first.startswith("scrub paused")
    in_progress = bool(action) and " in progress" in first
    percent_match = _PERCENT.search(text)
    percent = float(percent_match.group(1)) if percent_match and (in_progress or paused) else None
    return ZpoolScan(action=action, in_progress=in_progress, paused=paused, percent=percent, text=text)


@dataclass(frozen=True)
class Zpool:
    """One pool: its state, scan, and vdev tree split by allocation class."""

    name: str
    state: str  # the " state:" field (ONLINE, DEGRADED, FAULTED, UNAVAIL, SUSPENDED), else the root line's
    scan: ZpoolScan | None = None
    vdevs: tuple[VdevNode, ...] = ()  # normal-class top-level vdevs
    special: tuple[VdevNode, ...] = ()
    dedup: tuple[VdevNode, ...] = ()
    logs: tuple[VdevNode, ...] = ()
    cache: tuple[VdevNode, ...] = ()
    spares: tuple[VdevNode, ...] = ()
    status: str = ""
    errors: str = ""

    @property
    def data_vdevs(self) -> tuple[VdevNode, ...]:
        """Top-level vdevs holding pool data (normal, special, dedup); logs, cache and spares excluded.

        Indirect vdevs (left behind by `zpool remove`) hold only a mapping and are not counted.
        """
        return tuple(v for v in (*self.vdevs, *self.special, *self.dedup) if v.kind != "indirect")

    @property
    def redundancy(self) -> int:
        """Minimum over the data vdevs; 0 for a pool that is FAULTED/UNAVAIL/SUSPENDED or shows no data vdev."""
        if self.state in FAILED_POOL_STATES:
            return 0
        vdevs = self.data_vdevs
        if not vdevs:
            return 0
        return min(vdev.redundancy for vdev in vdevs)

    @property
    def level(self) -> str:
        """"mirror", "raidz2", "draid1", "stripe" (several plain disks), "single" (one), or "mirror+raidz1"."""
        kinds: list[str] = []
        disks = 0
        for vdev in self.vdevs:
            kind = vdev.kind
            if kind == "indirect":
                continue
            if kind in ("disk", "spare", "replacing"):
                disks += 1
                continue
            label = f"{kind}{vdev.parity}" if kind in ("raidz", "draid") else kind
            if label not in kinds:
                kinds.append(label)
        if not kinds:
            return "single" if disks == 1 else "stripe" if disks > 1 else "unknown"
        if disks:
            kinds.append("disk")
        return "+".join(kinds)

    @property
    def members(self) -> tuple[VdevNode, ...]:
        """Leaf devices of the data vdevs, failed ones included."""
        leaves: list[VdevNode] = []
        for vdev in self.data_vdevs:
            leaves.extend(vdev.leaves())
        return tuple(leaves)

    @property
    def failed_members(self) -> tuple[VdevNode, ...]:
        return tuple(leaf for leaf in self.members if not leaf.healthy)

    @property
    def spare_devices(self) -> tuple[VdevNode, ...]:
        """Hot spares (AVAIL, or INUSE while standing in: then also a member, under a spare-N group).
        Distributed spares are virtual and left out, as in `leaves`."""
        return _leaves(self.spares)

    @property
    def log_devices(self) -> tuple[VdevNode, ...]:
        """Separate intent-log (SLOG) devices: they hold only the last seconds of synchronous writes."""
        return _leaves(self.logs)

    @property
    def cache_devices(self) -> tuple[VdevNode, ...]:
        """L2ARC devices: a read cache whose every block is also in the pool."""
        return _leaves(self.cache)

    @property
    def log_redundancy(self) -> int:
        """Log device failures the log vdevs survive now (a mirrored SLOG: 1); 0 without log devices."""
        return min((vdev.redundancy for vdev in self.logs), default=0)

    @property
    def degraded(self) -> bool:
        return self.state != "ONLINE" or bool(self.failed_members)


def _leaves(vdevs: tuple[VdevNode, ...]) -> tuple[VdevNode, ...]:
    found: list[VdevNode] = []
    for vdev in vdevs:
        found.extend(vdev.leaves())
    return tuple(found)


@dataclass
class _Line:
    depth: int
    name: str
    state: str
    note: str


@dataclass
class _Builder:
    name: str
    state: str = ""
    status: list[str] = field(default_factory=list)
    scan: list[str] = field(default_factory=list)
    errors: str = ""
    lines: list[_Line] = field(default_factory=list)
    base_column: int | None = None


def _config_line(raw: str, base: int) -> _Line | None:
    expanded = raw.expandtabs(8)
    stripped = expanded.lstrip(" ")
    if not stripped:
        return None
    indent = len(expanded) - len(stripped)
    depth = max(0, (indent - base) // 2)
    tokens = stripped.split()
    name = tokens[0]
    state = tokens[1] if len(tokens) > 1 and tokens[1] in _STATES else ""
    note = ""
    if state:
        rest = tokens[2:]
        # Skip the READ WRITE CKSUM counters ("0", "12", "1.2K"); spares have none.
        counters = 0
        while rest and counters < 3 and re.fullmatch(r"[0-9]+(?:\.[0-9]+)?[KMGTPE]?", rest[0]):
            rest = rest[1:]
            counters += 1
        note = " ".join(rest)
    return _Line(depth, name, state, note)


def _build_tree(lines: list[_Line]) -> dict[str, list[VdevNode]]:
    """Nest config lines by depth; split the pool root's children by the class headers between them."""
    sections: dict[str, list[VdevNode]] = {"data": []}
    if not lines:
        return sections

    def subtree(index: int, depth: int) -> tuple[list[VdevNode], int]:
        nodes: list[VdevNode] = []
        while index < len(lines) and lines[index].depth >= depth:
            line = lines[index]
            if line.depth > depth:
                # A line deeper than its parent allows (garbled indentation): attach it where it lands.
                children, index = subtree(index, line.depth)
                nodes.extend(children)
                continue
            children, index = subtree(index + 1, depth + 1)
            nodes.append(VdevNode(line.name, line.state, tuple(children), line.note))
        return nodes, index

    section = "data"
    index = 1  # lines[0] is the pool root
    while index < len(lines):
        line = lines[index]
        if line.depth == 0:
            if not line.state and line.name in _SECTIONS:
                section = line.name
                sections.setdefault(section, [])
            index += 1
            continue
        nodes, index = subtree(index, 1)
        sections.setdefault(section, []).extend(nodes)
    return sections


def _finish(builder: _Builder) -> Zpool:
    sections = _build_tree(builder.lines)
    state = builder.state
    if not state and builder.lines:
        state = builder.lines[0].state
    return Zpool(
        name=builder.name,
        state=state,
        scan=parse_scan(builder.scan) if builder.scan else None,
        vdevs=tuple(sections.get("data", ())),
        special=tuple(sections.get("special", ())),
        dedup=tuple(sections.get("dedup", ())),
        logs=tuple(sections.get("logs", ())),
        cache=tuple(sections.get("cache", ())),
        spares=tuple(sections.get("spares", ())),
        status=" ".join(builder.status),
        errors=builder.errors,
    )


def parse_zpool_status(text: str) -> tuple[Zpool, ...]:
    """Every pool in `zpool status [-P -L]` text.

    "no pools available" (and empty output) give (); text with no `pool:` field at all raises ZpoolParseError.
    A pool cut off mid-way keeps what was read: a truncated config yields fewer vdevs, never invented ones.
    """
    text = _ANSI.sub("", text)
    if not text.strip() or "no pools available" in text:
        return ()
    pools: list[Zpool] = []
    current: _Builder | None = None
    field_name = ""
    for raw in text.splitlines():
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        match = _FIELD.match(line)
        if match is not None and not line.startswith("\t"):
            key, value = match.group(1), match.group(2).strip()
            if key == "pool":
                if current is not None:
                    pools.append(_finish(current))
                current = _Builder(name=value)
            elif current is not None:
                if key == "state":
                    current.state = value
                elif key == "status":
                    current.status.append(value)
                elif key == "scan":
                    current.scan.append(value)
                elif key == "errors":
                    current.errors = value
            field_name = key
            continue
        if current is None:
            continue
        if field_name == "config":
            stripped = line.strip()
            if current.base_column is None:
                if stripped.split()[:2] == ["NAME", "STATE"]:
                    expanded = line.expandtabs(8)
                    current.base_column = len(expanded) - len(expanded.lstrip(" "))
                continue
            parsed = _config_line(line, current.base_column)
            if parsed is not None:
                current.lines.append(parsed)
        elif field_name == "scan":
            current.scan.append(line)
        elif field_name == "status":
            current.status.append(line.strip())
    if current is not None:
        pools.append(_finish(current))
    if not pools:
        raise ZpoolParseError("not zpool status output: no 'pool:' field")
    return tuple(pools)
