"""Reading one sysfs attribute the way every collector needs it: bounded, stripped, None when refused."""

from __future__ import annotations

import errno
from pathlib import Path

# Real attributes are a line or two; a replaced root (tests, containers) must not make us slurp a big file.
MAX_ATTR_BYTES = 4096


class DeviceGone(OSError):
    """ENODEV: the device went away under an open attribute file."""


def read_attr(path: Path, *, device_gone: bool = False) -> str | None:
    """The stripped text of a sysfs attribute, or None when the kernel refuses to give it.

    Refusal is any OSError: a missing attribute on an older kernel, EINVAL for an admin-down NIC's
    `carrier`/`speed`, EOPNOTSUPP from a driver, a file that vanished with its device. Test trees stand in
    for EINVAL with a directory (IsADirectoryError), since root ignores file modes. With `device_gone`,
    ENODEV raises DeviceGone instead, for callers that must drop the whole device rather than one value.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_ATTR_BYTES)
    except OSError as exc:
        if device_gone and exc.errno == errno.ENODEV:
            raise DeviceGone(exc.errno, exc.strerror, str(path)) from exc
        return None
    return raw.decode("ascii", "replace").strip()


# sysfs prints kernel integers, and the widest a network or block attribute holds is 64 bits: 20 decimal
# digits, 16 hex ones. Longer text is no kernel number, so it is refused before int() has to parse it.
_MAX_INT_DIGITS = 24


def parse_int(text: str | None, *, low: int, high: int, base: int = 10) -> int | None:
    """A sysfs integer within [low, high], else None (absent, garbage, or absurd).

    Every caller states the range the kernel can actually produce for its attribute: a value outside it is
    a sentinel or a broken replayed tree, and must read as unknown rather than reach a metric or a rule.
    """
    if text is None:
        return None
    digits = text.strip()
    if not digits or len(digits) > _MAX_INT_DIGITS:
        return None
    try:
        value = int(digits, base)
    except ValueError:
        return None
    return value if low <= value <= high else None
