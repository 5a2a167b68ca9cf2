"""Files in the state directory (per-device baselines): atomic writes, corrupt files set aside, and only
regular files read (collectors.kit.files): a FIFO, socket, device node or directory in a state file's place
is refused without ever blocking on it (a FIFO nobody writes to would block a plain open() forever) and set
aside."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from collectors.kit.files import NotRegularFile, read_regular
from collectors.kit.warnonce import WarnOnce

T = TypeVar("T")

# State files hold a few entries per drive or PCIe device (tens of KB); anything this large is not one of
# them, and reading it whole would cost the daemon's memory.
MAX_STATE_BYTES = 4 * 1024 * 1024


def write_atomically(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Readers see the old file or the new one, never a torn write, even across a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    # Persist the rename itself; not every filesystem allows fsync on a directory.
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def set_aside(path: Path) -> str:
    """Move a corrupt file out of the way (kept for a post-mortem); returns what happened, for the log."""
    stamp = f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
    aside = path.with_name(stamp)
    # Never over an earlier one set aside in the same second: that is evidence too.
    for number in range(1, 100):
        if not os.path.lexists(aside):
            break
        aside = path.with_name(f"{stamp}-{number}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        return f"could not move it aside ({exc.strerror or exc})"
    return f"moved to {aside.name}"


class JsonStateFile(Generic[T]):
    """One JSON document in the state directory: loaded once, a corrupt file set aside (kept for a
    post-mortem) and rebuilt, saved atomically only when changed. A state directory that cannot be read or
    written costs persistence across restarts, never the readings; each such problem is logged once.

    `decode` turns the parsed JSON into the caller's value and raises ValueError when it is not one;
    `encode` turns the value back into JSON-able data.
    """

    def __init__(self, name: str, decode: Callable[[Any], T], encode: Callable[[T], Any], empty: Callable[[], T],
                 warn: WarnOnce, what: str) -> None:
        self._name = name
        self._decode = decode
        self._encode = encode
        self._empty = empty
        self._warn = warn
        self._what = what  # for messages: "PCIe baseline", "SMART state"

    def load(self, state_dir: Path) -> tuple[T, bool]:
        """(value, dirty): dirty when the file was corrupt or not a file, and a fresh one should be written."""
        path = state_dir / self._name
        try:
            text = read_regular(path, MAX_STATE_BYTES).decode("utf-8")
        except FileNotFoundError:
            return self._empty(), False
        except NotRegularFile as exc:
            # Moved out of the way (kept for a post-mortem) so that the next save can write a real file.
            where = set_aside(path)
            self._warn.warn(f"state-special:{path}", "%s %s is %s, not a regular file; %s; starting afresh",
                            self._what, path, exc, where)
            return self._empty(), True
        except ValueError as exc:  # too large, or not UTF-8: not a state file physgap wrote
            where = set_aside(path)
            self._warn.warn(f"state-corrupt:{path}", "%s %s is corrupt (%s); %s; rebuilding it",
                            self._what, path, exc, where)
            return self._empty(), True
        except OSError as exc:
            self._warn.warn(f"state-read:{path}", "cannot read %s %s: %s; starting afresh in memory",
                            self._what, path, exc)
            return self._empty(), False
        try:
            return self._decode(json.loads(text)), False
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            where = set_aside(path)
            self._warn.warn(f"state-corrupt:{path}", "%s %s is corrupt (%s); %s; rebuilding it",
                            self._what, path, exc, where)
            return self._empty(), True

    def save(self, state_dir: Path, value: T) -> bool:
        """True when written; False (logged once) when it could not be: the caller retries next run."""
        path = state_dir / self._name
        try:
            write_atomically(path, json.dumps(self._encode(value), indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            self._warn.warn(f"state-write:{path}", "cannot write %s %s: %s; keeping it in memory only",
                            self._what, path, exc.strerror or exc)
            return False
        return True
