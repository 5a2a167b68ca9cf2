"""Frozen dataclasses for everything a collector can report.

Units are the ones the source speaks (Mbit/s for links, GT/s for PCIe); the metric view converts to base
units, so a parser never has to know how a value will be exported. Values derived from the fields (link up,
drive reachable, speeds in bytes) are properties here, so every exporter reads the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

# Links speak Mbit/s (sysfs, ethtool); exported base units are bytes per second.
BYTES_PER_MBIT = 1_000_000 / 8


def _bytes_per_second(mbps: int | None) -> float | None:
    return None if mbps is None else mbps * BYTES_PER_MBIT


@dataclass(frozen=True)
class LinkReading:
    """One network interface as sysfs and the ethtool ioctl saw it."""

    interface: str
    physical: bool  # has a `device` link in sysfs (a PCI/USB/virtio NIC), or a bond of such
    kind: str  # "ethernet", "bond", "virtual"
    operstate: str  # RFC 2863 string from sysfs, "unknown" when unreadable
    admin_up: bool
    carrier: bool | None  # None when unreadable (admin-down gives EINVAL)
    speed_mbps: int | None  # negotiated speed; None unless carrier is up and the driver reports one
    full_duplex: bool | None
    max_speed_mbps: int | None  # best link mode the NIC supports (ethtool supported bitmap)
    supported_modes: tuple[str, ...]  # ethtool link-mode names, e.g. "10000baseSR/Full"
    expected_speed_mbps: int | None  # from [nics].expected
    carrier_changes: int | None
    bond_master: str | None = None
    bond_members: tuple[str, ...] = ()
    pci_address: str | None = None

    @property
    def up(self) -> bool:
        """Operationally up *and* with carrier: an unreadable carrier (None) is not a link that works."""
        return self.operstate == "up" and self.carrier is True

    @property
    def speed_bytes_per_second(self) -> float | None:
        return _bytes_per_second(self.speed_mbps)

    @property
    def max_speed_bytes_per_second(self) -> float | None:
        return _bytes_per_second(self.max_speed_mbps)

    @property
    def expected_speed_bytes_per_second(self) -> float | None:
        return _bytes_per_second(self.expected_speed_mbps)


@dataclass(frozen=True)
class PcieLinkReading:
    """A PCIe function's link: what it trained at, what it can do, and what it did before."""

    address: str  # dddd:bb:dd.f
    device: str  # vendor:device ids, e.g. "8086:1572"
    class_code: str  # e.g. "0x020000"
    port_type: str  # "endpoint", "root_port", "downstream_port", "upstream_port", "bridge", "other"
    current_speed_gts: float | None
    max_speed_gts: float | None
    current_width: int | None
    max_width: int | None
    baseline_speed_gts: float | None  # first healthy observation, persisted in the state directory
    baseline_width: int | None
    # Trained below its own baseline (not below its capability: some are narrow by design); None when not
    # judged: a root/downstream port (the device end of the link carries the verdict), no baseline yet, or
    # the current link unreadable. `not_judged` says which.
    downgraded: bool | None
    parent: str | None = None  # the port this function hangs off, when known
    not_judged: str = ""  # why `downgraded` is None; "" when it was judged


@dataclass(frozen=True)
class SlotReading:
    """A physical slot (or M.2 socket) implemented by a PCIe port, with what sits in it."""

    slot: str  # stable name: SMBIOS designation when matched, else "port <address>" / physical slot number
    port: str  # address of the root/downstream port implementing the slot
    designation: str  # SMBIOS designation or "" when firmware gave none usable
    slot_type: str  # SMBIOS type string or "" (labels only: firmware lies about usage)
    width: str  # e.g. "x16"; from SMBIOS when sane, else the port's link capability
    occupied: bool
    device: str | None  # address of the function behind the slot, when occupied
    evidence: str  # how occupancy was decided, e.g. "presence detect off, link width 0"


@dataclass(frozen=True)
class DriveReading:
    """One drive as smartctl --json described it, with physgap's own verdict.

    `state` says how fresh it is: "read" (data from this check), "standby" (the disk was asleep and was
    not woken: the counters are those of the last read, `read_at` says when), "unreachable" (the last
    query failed: open failed, timeout, garbage; the values are the last read's), "unsupported" (a VM
    disk, a RAID volume, anything without SMART: never a failure). A listed or scanned drive that was never
    read (hung, open failed, smartctl missing, asleep since the start) is still a reading: `health` None,
    `reason` saying why, identity from the state file or the /dev name ("dev-sdb").
    """

    drive: str  # stable identity: "wwn-0x5000c500a1b2c3d4", else "model_serial" (NVMe: EUI-64 when given)
    device: str  # /dev path used for the query; informational, it can change across boots
    dev_type: str  # the smartctl -d type used ("sat", "nvme", "scsi", "megaraid,0", ...)
    protocol: str  # "ATA", "NVMe", "SCSI" or "" when unknown
    model: str
    serial: str
    rotational: bool | None  # None when the drive does not say (NVMe and SSDs are False)
    state: str  # "read" | "standby" | "unreachable" | "unsupported"
    health: int | None  # 0 ok, 1 warning, 2 failing; None when unsupported or never read
    evidence: tuple[str, ...]  # why the verdict is what it is, e.g. "5592 pending sectors (was 0)"
    smart_passed: bool | None  # the drive's own overall self-assessment
    exit_status: int | None  # smartctl's bitmask from the last query
    read_at: float | None  # wall-clock time of the data in this reading
    skipped_checks: int = 0  # checks skipped in a row because the disk slept
    capacity_bytes: int | None = None
    temperature_celsius: float | None = None
    power_on_seconds: float | None = None
    reallocated_sectors: int | None = None  # ATA 5 / SAS grown defects
    pending_sectors: int | None = None  # ATA 197
    uncorrectable_sectors: int | None = None  # ATA 198 (or 187 when larger); SAS uncorrected r/w/v errors
    media_errors: int | None = None  # NVMe media and data integrity errors
    wear_ratio: float | None = None  # rated endurance used / 100, any protocol (can exceed 1)
    available_spare_ratio: float | None = None
    available_spare_threshold_ratio: float | None = None
    crc_errors: int | None = None  # ATA 199: cable/backplane, not media
    kernel_name: str = ""  # "sda", "nvme0n1": how md/ZFS members are matched to this drive
    # The NAS ([[nas.snmp]] name) whose bay holds this drive, read over SNMP; "" for a drive of this host.
    nas: str = ""
    # Why this is not a fresh read (state unreachable or standby), for the report: "/dev/sdb: smartctl killed
    # after 27.0s without an answer". Names the /dev path, never a serial.
    reason: str = ""

    @property
    def smart_supported(self) -> bool:
        return self.state != "unsupported"

    @property
    def reachable(self) -> bool:
        """False when the last query got no usable answer; the values are then the last read's."""
        return self.state != "unreachable"

    @property
    def standby(self) -> bool:
        """Asleep at the last check and deliberately not woken; the values are then the last read's."""
        return self.state == "standby"

    def reading_age_seconds(self, now: float) -> float | None:
        """How old the data shown is at `now`; None when there is no SMART data to age.

        Clamped at 0: a wall clock stepped backwards must not show data from the future.
        """
        if not self.smart_supported or self.read_at is None:
            return None
        return max(0.0, now - self.read_at)


@dataclass(frozen=True)
class ArrayReading:
    """A Linux md array, a ZFS pool or a NAS's RAID volume: which drives it holds and how many it may still
    lose."""

    array: str  # "md0", "tank"; a NAS's: "<nas>:<raidName>" ("syno1:Volume 1")
    kind: str  # "md" | "zfs" | "synology" (SYNOLOGY-RAID-MIB over SNMP: no members, level only if declared)
    level: str  # "raid1", "raid5", "raid0", "mirror", "raidz2", "stripe", "single", ...
    state: str  # md array_state or ZFS pool state ("clean", "active", "ONLINE", "DEGRADED", ...)
    members: tuple[str, ...]  # whole-disk kernel names of the members ("sda", "nvme0n1"), failed ones included
    failed_members: tuple[str, ...]  # members missing, faulted or removed
    # Member failures the array survives right now (0 = one more failure loses data); None when the source
    # does not say (a NAS volume over SNMP whose RAID level is not declared): never a guessed number.
    redundancy: int | None
    degraded: bool
    sync_action: str = ""  # "resync", "recovery", "resilver", "scrub", "scrub paused", "" when idle
    sync_progress_ratio: float | None = None  # 0..1 while a sync runs and reports progress
    # Devices that belong to the array without holding its data (not in `members`, not in `redundancy`),
    # as whole-disk kernel names: hot spares (md and ZFS), ZFS log (SLOG) and cache (L2ARC) devices.
    spares: tuple[str, ...] = ()
    logs: tuple[str, ...] = ()
    caches: tuple[str, ...] = ()
    log_redundancy: int = 0  # log device failures the pool's log vdevs survive now (a mirrored SLOG: 1)
    nas: str = ""  # the NAS ([[nas.snmp]] name) holding this volume, read over SNMP; "" for this host's own


# The ups.status flags NUT documents: each gets an explicit series (0 or 1) wherever flags are exported, and a
# source that speaks another protocol (SNMP) maps onto these names. Other tokens (HE, ...) are kept as reported.
UPS_FLAGS = ("OL", "OB", "LB", "HB", "RB", "CHRG", "DISCHRG", "BYPASS", "CAL", "OFF", "OVER", "TRIM", "BOOST",
             "FSD", "ALARM")


@dataclass(frozen=True)
class UpsReading:
    """One UPS as NUT (or an SNMP agent) reported it. Numbers are range-checked: an invalid one is None."""

    ups: str  # "<name>@<host>:<port>" for NUT, the configured name (else host) for SNMP
    source: str  # "nut" | "snmp"
    up: bool  # the data is current: the server answered and the driver is connected and fresh
    reason: str  # why not up: "DATA-STALE", "DRIVER-NOT-CONNECTED", "connection refused", ... ("" when up)
    flags: tuple[str, ...]  # ups.status tokens as reported (OL, OB, LB, RB, FSD, HE, ...), unknown ones kept
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    driver: str = ""
    battery_charge_ratio: float | None = None
    battery_runtime_seconds: float | None = None
    load_ratio: float | None = None
    input_voltage_volts: float | None = None  # with several phases: the lowest phase-to-neutral (or line) one
    output_voltage_volts: float | None = None  # likewise
    alarm: str = ""  # ups.alarm free text
    shutdown_clients: int | None = None  # NUMLOGINS: attached upsmon instances; None when unknowable (SNMP)
    local_upsmon: bool | None = None  # this host's upsmon.conf MONITORs it with a SHUTDOWNCMD; None unreadable
    # Per phase (three-phase, split-phase) or per UPS-MIB line, only for a UPS that reports more than one:
    # (phase, volts) sorted by phase. Phase names as the source says them: NUT's "L1-N", "L1-L2"; "L1".. for
    # SNMP lines and phases, whose MIBs do not say phase-to-neutral or phase-to-phase.
    input_phase_volts: tuple[tuple[str, float], ...] = ()
    output_phase_volts: tuple[tuple[str, float], ...] = ()

    @property
    def on_battery(self) -> bool:
        return "OB" in self.flags

    @property
    def low_battery(self) -> bool:
        return "LB" in self.flags

    @property
    def replace_battery(self) -> bool:
        return "RB" in self.flags

    @property
    def shutdown_protected(self) -> bool | None:
        """Whether this host would be shut down cleanly by this UPS; None when that cannot be known.

        This host's upsmon.conf decides when it is readable: a upsmon attached from another machine
        (NUMLOGINS) protects that machine, not this one. Only when the file cannot be read does an attached
        upsmon count, as the best evidence there is.
        """
        if self.local_upsmon is not None:
            return self.local_upsmon
        if self.shutdown_clients is None:
            return None
        return self.shutdown_clients >= 1

    @property
    def lowest_input_phase(self) -> tuple[str, float] | None:
        """The input phase with the lowest voltage (the sagging one); None for a single-phase UPS."""
        return min(self.input_phase_volts, key=lambda phase: phase[1], default=None)

    @property
    def lowest_output_phase(self) -> tuple[str, float] | None:
        return min(self.output_phase_volts, key=lambda phase: phase[1], default=None)

    @property
    def critical(self) -> bool:
        """What upsmon acts on: on battery with low battery, or forced shutdown."""
        return (self.on_battery and self.low_battery) or "FSD" in self.flags

    @property
    def flag_states(self) -> tuple[tuple[str, bool], ...]:
        """Every documented flag, set or not, then any other token while it is reported.

        Explicit clear flags let an alert on "OB == 1" tell "on line" from "no data".
        """
        extra = tuple(flag for flag in self.flags if flag not in UPS_FLAGS)
        return tuple((flag, flag in self.flags) for flag in (*UPS_FLAGS, *extra))


@dataclass(frozen=True)
class SwitchReading:
    """One configured switch ([[switch]]): whether its SNMP agent answered, and which of this host's NICs are
    cabled to it (by [[switch]].ports or LLDP), so a NIC whose switch is silent reads "switch side unknown"."""

    switch: str  # the configured name, else the host
    up: bool  # the agent answered this run; False: every port of it is unknown, `reason` says why
    reason: str  # "" when up
    sys_name: str = ""  # sysName.0 as the switch reports it
    # (local interface, the port it should be on: "te1", "ifIndex 17", "LLDP port id gi17"): every NIC mapped
    # to this switch, resolved to a port or not
    links: tuple[tuple[str, str], ...] = ()
    unmatched: tuple[str, ...] = ()  # local interfaces of `links` whose port the switch does not have


# ifOperStatus values (IF-MIB), 1-based on the wire: 1 up ... 7 lowerLayerDown.
IF_OPER_STATUSES = ("up", "down", "testing", "unknown", "dormant", "notPresent", "lowerLayerDown")


@dataclass(frozen=True)
class SwitchPortReading:
    """One physical port of a switch as IF-MIB describes it. A speed is only ever that of an up port: agents
    report 0, 10 or the port's nominal speed on down ports, and sentinels (0, 4294967295) are unknown."""

    switch: str
    if_index: int
    port: str  # ifName (else ifDescr, else the ifIndex): the name the switch's own UI shows
    alias: str  # ifAlias: the operator's description on the switch
    oper_status: str  # one of IF_OPER_STATUSES, "unknown" when absent or out of range
    speed_mbps: int | None  # ifHighSpeed (Mbit/s), else ifSpeed / 10^6; None unless up and plausible
    interface: str = ""  # this host's NIC cabled to the port ("" when none is mapped)
    mapped_by: str = ""  # "config" | "lldp" | ""

    @property
    def up(self) -> bool:
        return self.oper_status == "up"

    @property
    def speed_bytes_per_second(self) -> float | None:
        return _bytes_per_second(self.speed_mbps)


@dataclass(frozen=True)
class HostReading:
    """One compute host: a node of this host's Proxmox cluster (from .members), or a configured host probed
    over TCP from here. `online` None means not determined (a name that does not resolve, a probe cut off by
    the run's deadline, a membership flag that is neither 0 nor 1): never counted as online or offline."""

    host: str  # the Proxmox node name, or the compute entry as configured ("pve2", "10.0.10.6:22")
    source: str  # "pve" (cluster membership) | "tcp" (probed from this host)
    online: bool | None
    detail: str  # how `online` was decided: "corosync member", "8006 open", "refused on 8006, 22", ...
    address: str = ""  # the node's ip in .members, or the address that answered / was tried
    cluster: str = ""  # the Proxmox cluster name; "" for a standalone node or a probed host
    local: bool = False  # this very node (the .members nodename)


# An out-of-band probe's outcome, value 0 first (physgap_oob_probe_state). "answering": the endpoint answered as
# its kind (AMT: Server banner AND a Digest realm "Digest:<hex>" on an unauthenticated /wsman POST; IPMI: an
# RMCP/ASF presence pong; tcp: the port accepted). "not_oob": something answered, but not as that kind (a
# plain web server, firmware that only copies the AMT banner). "refused": the host is up, the port closed.
# "timeout": no answer within the target's deadline. "unreachable": the network said so (no route, ICMP host
# unreachable). "unresolvable": the name does not resolve. "error": anything else (the detail says what).
OOB_STATES = ("answering", "not_oob", "refused", "timeout", "unreachable", "unresolvable", "error")
# AMT provisioning states as the RMCP pong encodes them (0 pre, 1 in, 2 post).
AMT_PROVISIONING = ("pre", "in", "post")


@dataclass(frozen=True)
class OobReading:
    """One configured out-of-band endpoint ([[oob.targets]]) as one probe round found it."""

    target: str  # the configured name
    kind: str  # "amt" | "ipmi" | "tcp"
    host: str
    port: int  # the port that decided the state (AMT: 16992, or 16993 after 16992 refused)
    state: str  # one of OOB_STATES
    detail: str  # what was seen, for the report: "Intel AMT 15.0.23 (Digest realm)", "refused on 16992, 16993"
    duration_seconds: float  # wall time of this target's probe
    product: str = ""  # "Intel AMT", "IPMI", "ASF", "" when nothing identified itself
    version: str = ""  # "15.0.23.1706" from the AMT Server header, "11.6" from an RMCP pong
    provisioning: str = ""  # one of AMT_PROVISIONING, from an RMCP pong that carries it; "" unknown
    # CIM_AssociatedPowerManagementService.PowerState (2 on, 4 sleep S3, 7 hibernate S4, 8 off S5, ...): only
    # with credentials; None when not asked or not answered.
    power_state: int | None = None

    @property
    def up(self) -> bool:
        return self.state == "answering"

    @property
    def powered_on(self) -> bool | None:
        return None if self.power_state is None else self.power_state == 2


@dataclass(frozen=True)
class OobLocalReading:
    """What this host's own hardware offers for out-of-band management, read without the network.

    One per capability: "mei" (an Intel ME/CSME: the HECI PCI function or the mei driver), "amt" (Intel AMT:
    the AMT SOL PCI function or an SMBIOS `$AMT` record with its flags set), "ipmi" (a BMC: /dev/ipmi0, the ACPI
    IPI0001 device or an SMBIOS type 38 record). `present` None: could not be read; `evidence` says why.
    """

    capability: str  # "mei" | "amt" | "ipmi"
    present: bool | None
    evidence: str  # how it was decided: "PCI 0000:00:16.3 8086:a2bd (AMT SOL)", "SMBIOS type 38 (KCS)", ...
    version: str = ""  # firmware version where the host exposes it (ME firmware from /sys/class/mei)


Reading = (LinkReading | PcieLinkReading | SlotReading | DriveReading | ArrayReading | UpsReading | HostReading
           | SwitchReading | SwitchPortReading
           | OobReading | OobLocalReading)


@dataclass(frozen=True)
class SlotScan:
    """Whether slot occupancy could be decided at all on this host, and if not, why.

    Without it an empty list of SlotReadings would be ambiguous: no slots, or no way to see them.
    """

    complete: bool
    reason: str  # what was read, or why slots could not be determined


@dataclass(frozen=True)
class StorageScan:
    """Whether every array source present on this host could be read (md, ZFS), and if not, why.

    Without it a failing `zpool status` would look like a host without pools: absent and fine.
    """

    complete: bool
    reason: str  # "" when complete; else which source could not be read and why


@dataclass(frozen=True)
class ComputeScan:
    """Where this host's compute-host list came from, and whether it could be read at all.

    Without it, an empty set of HostReadings would be ambiguous: a host outside any compute cluster (then
    `source` is "" and gap P4 cannot apply), or a membership file that could not be read (`complete` False:
    unknown, never "0 hosts online").
    """

    source: str  # "pve" (Proxmox .members) | "tcp" (configured hosts, probed) | "" (nothing to go by)
    complete: bool  # the source was read; False (with `reason`) when it exists but could not be
    reason: str  # what was read, or why nothing could be
    cluster: str = ""  # Proxmox cluster name; "" when standalone or probed
    quorate: bool | None = None  # the Proxmox cluster's quorum, when clustered
    hosts_configured: int | None = None  # hosts the source lists (cluster nodes, compute entries)
    hosts_online: int | None = None  # of those, online; None unless every host's state is known
    note: str = ""  # what else the operator should know: a .members that could not be read, so the
    # compute list was probed instead; a node list shorter than the cluster's own node count

    @property
    def applicable(self) -> bool:
        return bool(self.source)


AnyReading = Reading | SlotScan | StorageScan | ComputeScan
