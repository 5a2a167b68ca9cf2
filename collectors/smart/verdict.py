"""physgap's own drive verdict from parsed smartctl facts: 0 ok, 1 warning, 2 failing, with evidence.

The drive's self-assessment (`smart_status.passed`) is only one input: drives routinely say PASSED with
thousands of pending sectors (corpus: ST3000DM001 5592 pending + PASSED), so the counters that predict
failure (Backblaze via scrutiny, smartd -C/-U, ../shared/notes/smart.md §1.7) are judged on their own,
by their size at first sight and by their growth against a per-drive baseline.

Rules (each adds evidence; the verdict is the worst level found; README "Drive verdict rules" gives each
rule's reason and source):
- failing (2): overall-health FAILED or exit bit 3; a pre-failure attribute failing now (or exit bit 4);
  any NVMe critical-warning bit; NVMe available spare below its threshold; wear >= 100 % of rated
  endurance (any protocol); temperature at or above the class's failing limit;
  pending (197), offline-uncorrectable (198) or reported-uncorrectable (187) counts of
  `Limits.unreadable_failing` (16) or more, at first sight, without a baseline;
  GROWTH of pending, offline-uncorrectable, reported-uncorrectable, SAS uncorrected read/write/verify
  errors, end-to-end or NVMe media errors since the baseline (new unreadable data is active decay:
  smartd -C/-U report every increase, Backblaze AFR for 197/198 jumps from 2.6 % to 34-81 %).
- warning (1): any of reallocated / pending / offline-uncorrectable / reported-uncorrect / end-to-end /
  NVMe media errors / SCSI grown defects / SCSI uncorrected errors > 0; growth of reallocated sectors or
  grown defects (a remap is a success: data is safe, the drive is degrading); an old-age attribute failing
  now (e.g. 190 Airflow_Temperature_Cel FAIL=NOW on a PASSED drive) or any attribute failed in the past;
  self-test log errors (exit bit 7); NVMe spare below its baseline; wear >= 75 % of rated endurance (NVMe,
  SATA and SAS alike, collectors.smart.wear); temperature at or above the warning limit; GROWTH of UDMA
  CRC errors (199).
- notes (no level): CRC errors that did not grow (the count never resets, a cable fixed years ago leaves
  it forever, corpus: "warn only on CRC increase"), error-log entries (exit bit 6), a failed command (exit
  bit 2, data still used), raw values that are not plausible counts.
Size alone fails a drive only for unreadable data (197/198/187): reallocated sectors and SAS grown defects
are remaps that succeeded (the corpus expects WARN for 304 and 387 reallocated sectors and for 260 and 56
grown defects on PASSED drives; the drive's own threshold on attribute 5 fails it when its spare runs out,
corpus: FAILING_NOW at 1265, 1975, 4035 and 16336), NVMe media errors and SAS uncorrected errors count
error events rather than sectors (corpus: 1421 NVMe media errors on a PASSED 980 PRO, WARN), and no
published failure statistics exist for them.

Vendor-packed raw values (Seagate 1/7/188: three 16-bit counters in one 48-bit word, 194 with min/max) are
never read as counts: only attributes 5, 184, 187, 197, 198, 199 are counted, from the leading number
smartctl formats, and a raw word at or above 2**32 - 1 is rejected as saturated or packed. Attribute 188
(Command_Timeout) is not judged at all: its packed fields are not comparable across vendors.

Callers must judge only facts with `state == "read"`: a sleeping, unsupported or unreadable drive has no
verdict (physgap reports those states instead), so `judge` raises ValueError for them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from collectors.smart.parse import AtaAttribute, NvmeHealth, SmartFacts
from collectors.smart.ranges import COUNT

OK, WARNING, FAILING = 0, 1, 2

# Counted ATA attributes. 199 is link (cable/backplane) health, kept apart from media health.
ATA_REALLOCATED = 5
ATA_END_TO_END = 184
ATA_REPORTED_UNCORRECT = 187
ATA_PENDING = 197
ATA_OFFLINE_UNCORRECTABLE = 198
ATA_CRC = 199

NVME_CRITICAL_WARNING_BITS: tuple[tuple[int, str], ...] = (
    (0x01, "available spare below threshold"),
    (0x02, "temperature above or below threshold (may be transient)"),
    (0x04, "NVM subsystem reliability degraded"),
    (0x08, "media placed in read-only mode"),
    (0x10, "volatile memory backup failed"),
    (0x20, "persistent memory region unreliable"),
)


@dataclass(frozen=True)
class Limits:
    """Thresholds, kept in one place so the daemon can expose them as configuration.

    Temperatures in °C, "at or above" semantics. HDD: 3.5" drives are specified to 60-65 °C and fail more
    often well below that, so warn at 55 and fail at 65 (out of every common spec). SATA SSD: controllers are
    specified to 70 °C. NVMe: the drive's own WCTEMP/CCTEMP when the JSON carries them (smartctl >= 7.4),
    else 75/85 (below most drives' WCTEMP, where throttling starts).

    Wear, in percent of rated endurance used, one scale for NVMe, SATA and SAS: fail at 100 (the vendor's
    rating is reached); warn at 75, where the last quarter is left, a third of the time the drive has served
    so far at its own pace: about two years for the corpus' Intel S3500 (78 % after 7.9 years; SOURCES:
    "Expect a wear WARN") and the P4500 at 75 % ("should WARN at a configurable percentage_used (e.g.
    >=70-80)"), time to budget and swap a drive in a planned window rather than after the fact.

    Unreadable data at first sight: pending (197), offline-uncorrectable (198) and reported-uncorrectable
    (187) counts at or above `unreadable_failing` fail the drive without waiting for growth. Any count
    warns: Backblaze's annual failure rates (the buckets scrutiny uses) jump from 2.6 % at 0 to 34 % at 1-2
    pending, 68 % at 2-6, 81 % at 1-2 offline-uncorrectable, 34 % at one reported uncorrect, and smartd
    -C/-U log every non-zero count. A small count can still be one weak spot that a rewrite or a long self
    test clears (on a 512e drive, the norm above 2 TB, one unreadable 4 KiB physical sector is 8 pending
    logical sectors, and host retries add several 187 counts per bad read; smartd offers -C 197+ for "only
    on increase" for that reason), so up to two physical sectors' worth stays a warning and fails only when
    it grows; 16 and more is damage beyond one spot. Every PASSED drive in the corpus with unreadable
    sectors is far above it (5592, 5488 and 661 pending; 618, 97 and 1654 reported uncorrect).
    """

    hdd_warning: float = 55
    hdd_failing: float = 65
    ssd_warning: float = 70
    ssd_failing: float = 80
    nvme_warning: float = 75
    nvme_failing: float = 85
    wear_warning: int = 75
    wear_failing: int = 100
    unreadable_failing: int = 16


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class DriveCounters:
    """The counters judged for growth, persisted per drive as the baseline.

    `reported_uncorrect` is ATA 187, or for SCSI the sum of total uncorrected read/write/verify errors
    (the same meaning: errors the drive could not correct and reported to the host).
    """

    reallocated: int | None
    pending: int | None
    offline_uncorrectable: int | None
    reported_uncorrect: int | None
    end_to_end: int | None
    media_errors: int | None
    grown_defects: int | None
    crc_errors: int | None
    available_spare: int | None

    def to_json(self) -> dict[str, int | None]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> DriveCounters:
        """Tolerant: a missing, negative or non-integer value is None (a state file may be old or damaged)."""
        source = data if isinstance(data, dict) else {}
        values: dict[str, int | None] = {}
        for item in fields(cls):
            value = source.get(item.name)
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            values[item.name] = value if ok else None
        return cls(**values)


@dataclass(frozen=True)
class Verdict:
    health: int  # 0 ok, 1 warning, 2 failing
    evidence: tuple[str, ...]  # worst first; may be non-empty at health 0 (notes such as old CRC errors)


def attribute_count(attribute: AtaAttribute | None) -> int | None:
    """An ATA raw value as a count, or None when it is absent or not a plausible count.

    smartctl formats the raw word per its drive database; the leading number of that string is the count
    ("5 (0 2)" -> 5), which also protects against formats that pack more fields into the word.
    """
    if attribute is None or attribute.raw_value is None:
        return None
    text = attribute.raw_string.strip()
    head = text.split(maxsplit=1)[0] if text else ""
    count = int(head) if head.isdigit() and head.isascii() else attribute.raw_value
    # A 32-bit all-ones raw (corpus ST3160815AS: 197/198 = 4294967295) or anything wider is a saturated or
    # packed word, not a count of sectors.
    return count if COUNT.admits(count) else None


def counters(facts: SmartFacts) -> DriveCounters:
    def ata(attr_id: int) -> int | None:
        return attribute_count(facts.attributes.get(attr_id))

    reported = ata(ATA_REPORTED_UNCORRECT)
    if reported is None:
        reported = facts.scsi_uncorrected_errors
    nvme = facts.nvme
    return DriveCounters(
        reallocated=ata(ATA_REALLOCATED),
        pending=ata(ATA_PENDING),
        offline_uncorrectable=ata(ATA_OFFLINE_UNCORRECTABLE),
        reported_uncorrect=reported,
        end_to_end=ata(ATA_END_TO_END),
        media_errors=nvme.media_errors if nvme is not None else None,
        grown_defects=facts.scsi_grown_defects,
        crc_errors=ata(ATA_CRC),
        available_spare=nvme.available_spare if nvme is not None else None,
    )


class _Findings:
    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def add(self, level: int, text: str) -> None:
        self.items.append((level, text))

    def verdict(self) -> Verdict:
        ordered = sorted(self.items, key=lambda item: -item[0])  # stable: same level keeps rule order
        return Verdict(max((level for level, _ in ordered), default=OK), tuple(text for _, text in ordered))


# (field, evidence noun, level when > 0, level when it grew, fails at first sight from Limits.unreadable_failing)
_COUNTER_RULES: tuple[tuple[str, str, int, int, bool], ...] = (
    ("reallocated", "reallocated sectors", WARNING, WARNING, False),
    ("pending", "pending sectors", WARNING, FAILING, True),
    ("offline_uncorrectable", "offline uncorrectable sectors", WARNING, FAILING, True),
    ("reported_uncorrect", "reported uncorrectable errors", WARNING, FAILING, True),  # ATA 187 only, see below
    ("end_to_end", "end-to-end errors", WARNING, FAILING, False),
    ("media_errors", "NVMe media and data integrity errors", WARNING, FAILING, False),
    ("grown_defects", "grown defects", WARNING, WARNING, False),
)


def judge(facts: SmartFacts, baseline: DriveCounters | None, *, limits: Limits = DEFAULT_LIMITS) -> Verdict:
    """physgap's verdict for a drive that was read. `baseline`: the counters accepted earlier (None at first)."""
    if facts.state != "read":
        raise ValueError(f"no verdict for a drive in state {facts.state!r}: report the state instead")
    found = _Findings()
    nvme = facts.nvme
    cw = nvme.critical_warning if nvme is not None else 0

    if facts.smart_passed is False and not cw:
        found.add(FAILING, "SMART overall-health FAILED")
    elif facts.exit_status & 0x08 and not cw:
        found.add(FAILING, "smartctl: SMART status check returned DISK FAILING")

    _judge_attributes(facts, found)
    current = counters(facts)
    _judge_counters(facts, current, baseline, limits, found)
    if nvme is not None:
        _judge_nvme(nvme, baseline, found)
    _judge_wear(facts, limits, found)
    _judge_temperature(facts, limits, found)
    _judge_crc(current, baseline, found)
    _exit_notes(facts, found)
    return found.verdict()


def _judge_attributes(facts: SmartFacts, found: _Findings) -> None:
    failing_now = past = False
    for attribute in facts.attributes.values():
        label = f"{attribute.id} {attribute.name or 'attribute'}"
        values = f"{attribute.value} <= threshold {attribute.thresh}"
        if attribute.when_failed == "now":
            if attribute.prefailure is False:
                # Old-age attributes at threshold (temperature, wear) do not fail the drive by smartctl's own
                # rules (the corpus ST2000DM006 has 190 FAIL=NOW with overall PASSED).
                found.add(WARNING, f"{label} at or below threshold now ({values}, old-age attribute)")
            else:
                failing_now = True
                found.add(FAILING, f"{label} failing now ({values})")
        elif attribute.when_failed == "past":
            past = True
            found.add(WARNING, f"{label} was at or below threshold in the past")
        elif attribute.id in (ATA_REALLOCATED, ATA_PENDING, ATA_OFFLINE_UNCORRECTABLE, ATA_REPORTED_UNCORRECT,
                              ATA_END_TO_END, ATA_CRC) and attribute.raw_value is not None \
                and attribute_count(attribute) is None:  # fmt: skip
            found.add(OK, f"{label} raw value {attribute.raw_value} is not a plausible count (ignored)")
    if facts.exit_status & 0x10 and not failing_now:
        found.add(FAILING, "smartctl: a pre-failure attribute is at or below its threshold")
    if facts.exit_status & 0x20 and not past:
        found.add(WARNING, "smartctl: an attribute was at or below its threshold in the past")


def _judge_counters(
    facts: SmartFacts, current: DriveCounters, baseline: DriveCounters | None, limits: Limits, found: _Findings,
) -> None:  # fmt: skip
    for name, rule_noun, level, growth_level, unreadable in _COUNTER_RULES:
        value = getattr(current, name)
        if value is None:
            continue
        noun, by_size = rule_noun, unreadable
        if name == "reported_uncorrect" and ATA_REPORTED_UNCORRECT not in facts.attributes:
            # The SCSI error counter log's sum: error events, not sectors, and no failure statistics to set a
            # size limit by, so only its growth fails the drive.
            noun = "uncorrected read/write/verify errors" + _directions(facts.scsi_uncorrected_by_direction)
            by_size = False
        before = getattr(baseline, name) if baseline is not None else None
        if before is not None and value > before:
            found.add(growth_level, f"{value} {noun} (was {before})")
        elif by_size and value >= limits.unreadable_failing:
            found.add(FAILING, f"{value} {noun} (failing from {limits.unreadable_failing})")
        elif value > 0:
            found.add(level, f"{value} {noun}")


def _directions(counts: tuple[tuple[str, int], ...]) -> str:
    """" (read 1, write 535)": which directions of the error counter log hold the errors."""
    shown = [f"{direction} {count}" for direction, count in counts if count]
    return f" ({', '.join(shown)})" if shown else ""


def _judge_nvme(nvme: NvmeHealth, baseline: DriveCounters | None, found: _Findings) -> None:
    named = 0
    for bit, meaning in NVME_CRITICAL_WARNING_BITS:
        if nvme.critical_warning & bit:
            named |= bit
            found.add(FAILING, f"NVMe critical warning: {meaning}")
    if unknown := nvme.critical_warning & ~named:
        found.add(FAILING, f"NVMe critical warning: unknown bits 0x{unknown:02x}")

    spare, threshold = nvme.available_spare, nvme.available_spare_threshold
    if spare is not None and threshold is not None and 0 < threshold <= 100 and spare < threshold:
        found.add(FAILING, f"NVMe available spare {spare}% below threshold {threshold}%")
    elif spare is not None and baseline is not None and baseline.available_spare is not None \
            and spare < baseline.available_spare:  # fmt: skip
        found.add(WARNING, f"NVMe available spare {spare}% (was {baseline.available_spare}%)")


def _judge_wear(facts: SmartFacts, limits: Limits, found: _Findings) -> None:
    wear = facts.wear
    if wear is None:
        return
    used = wear.percent_used
    if used >= limits.wear_failing:
        found.add(FAILING, f"wear {used}% of rated endurance used, from {wear.source} (limit {limits.wear_failing}%)")
    elif used >= limits.wear_warning:
        found.add(WARNING, f"wear {used}% of rated endurance used, from {wear.source} "
                           f"(warning at {limits.wear_warning}%)")


def _judge_temperature(facts: SmartFacts, limits: Limits, found: _Findings) -> None:
    temperature = facts.temperature_celsius
    if temperature is None:
        return
    if facts.protocol == "NVMe":
        nvme = facts.nvme
        cls = "NVMe"
        warning = float(nvme.warning_temp_celsius) if nvme and nvme.warning_temp_celsius else limits.nvme_warning
        failing = float(nvme.critical_temp_celsius) if nvme and nvme.critical_temp_celsius else limits.nvme_failing
    elif facts.rotational is False:
        cls, warning, failing = "SSD", limits.ssd_warning, limits.ssd_failing
    else:  # HDD, and drives that do not say (the stricter limits)
        cls, warning, failing = "HDD", limits.hdd_warning, limits.hdd_failing
    shown = f"{temperature:g} °C"
    if temperature >= failing:
        found.add(FAILING, f"temperature {shown} at or above the {cls} limit {failing:g} °C")
    elif temperature >= warning:
        found.add(WARNING, f"temperature {shown} at or above the {cls} warning limit {warning:g} °C")


def _judge_crc(current: DriveCounters, baseline: DriveCounters | None, found: _Findings) -> None:
    crc = current.crc_errors
    if not crc:
        return
    before = baseline.crc_errors if baseline is not None else None
    cause = "cable or backplane, not the disk"
    if before is not None and crc > before:
        found.add(WARNING, f"199 UDMA CRC errors: {crc} (was {before}) ({cause})")
    else:
        found.add(OK, f"199 UDMA CRC errors: {crc} ({cause})")


def _exit_notes(facts: SmartFacts, found: _Findings) -> None:
    if facts.exit_status & 0x80:
        # A failed self-test is a read failure found by the drive itself; smartctl ignores failures
        # superseded by a newer passing extended test, so what remains is current.
        found.add(WARNING, "self-test log records errors")
    if facts.exit_status & 0x40:
        found.add(OK, "device error log has entries (often old or link errors; not a failure by itself)")
    if facts.exit_status & 0x04:
        found.add(OK, "smartctl: some command failed, data may be partial")
