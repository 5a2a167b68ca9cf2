"""Reading a small file whole (a configuration, a state file, a secret, /etc/pve/.members) without ever
blocking or being made to read forever.

A FIFO in such a file's place would block a plain open() until someone writes to it, and a device node
(/dev/zero, a disk) has no end, or has effects when opened (/dev/watchdog arms on open). So the path is
checked by name before it is opened, and again on the open descriptor (the name may have been swapped in
between; O_NONBLOCK keeps that open from waiting for a FIFO writer), and at most `limit` + 1 bytes are read.

The errors are typed so that each caller can keep its own words: an OSError from looking the path up or
opening it (FileNotFoundError, PermissionError, ...) comes out as it is; NotRegularFile names what the path
is instead; ReadFailed is an OSError after the file was opened; TooLarge says that the cap was passed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_READ_CHUNK = 64 * 1024


def file_kind(mode: int) -> str:
    """What a path that is not a regular file is, in words: "a FIFO", "a directory", ..."""
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


class NotRegularFile(OSError):
    """The path is a FIFO, socket, device or directory; str() is its kind in words (file_kind)."""

    def __init__(self, mode: int) -> None:
        super().__init__(file_kind(mode))
        self.mode = mode

    @property
    def is_directory(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_device(self) -> bool:
        return stat.S_ISCHR(self.mode) or stat.S_ISBLK(self.mode)


class ReadFailed(OSError):
    """Reading failed after the file was opened; errno and strerror are the read's own."""


class TooLarge(ValueError):
    """The file holds more than the caller's limit; str() is "larger than N bytes"."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


def read_regular_file(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """The whole content of a regular file of at most `limit` bytes, with the open file's stat (its mode
    and owner, for callers that judge who else may read it). Raises as the module docstring says; a path
    with a NUL byte raises ValueError, as os.open does."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise NotRegularFile(info.st_mode)
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except NotRegularFile:
            raise
        except OSError as exc:
            raise ReadFailed(exc.errno, exc.strerror) from None
    finally:
        os.close(fd)
    if size > limit:
        raise TooLarge(limit)
    return b"".join(chunks), info


def read_regular(path: Path, limit: int) -> bytes:
    """read_regular_file without the stat."""
    return read_regular_file(path, limit)[0]
