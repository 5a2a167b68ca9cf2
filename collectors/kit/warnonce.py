"""Warn once per reason: a dead UPS or a vanished disk must not flood the journal every interval, and a
fault that went away and came back must be reported again."""

from __future__ import annotations

import logging
import threading


class WarnOnce:
    """Remembers which reasons were logged; thread-safe, since fan-out workers report through one."""

    def __init__(self, log: logging.Logger, prefix: str = "") -> None:
        self._log = log
        self._prefix = prefix
        self._seen: set[str] = set()
        # transition(): each source's reason for not answering, while it does not.
        self._down: dict[str, str] = {}
        self._lock = threading.Lock()

    def _first(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def warn(self, key: str, message: str, *args: object) -> bool:
        """Log at warning level the first time `key` is seen (debug after that); True when it was logged."""
        return self._emit(logging.WARNING, key, message, args)

    def info(self, key: str, message: str, *args: object) -> bool:
        return self._emit(logging.INFO, key, message, args)

    def _emit(self, level: int, key: str, message: str, args: tuple[object, ...]) -> bool:
        first = self._first(key)
        self._log.log(level if first else logging.DEBUG, self._prefix + message, *args)
        return first

    def seen(self, key: str) -> bool:
        with self._lock:
            return key in self._seen

    def forget(self, prefix: str = "") -> bool:
        """The cause went away: keys starting with `prefix` may warn again. True when any was remembered."""
        with self._lock:
            kept = {key for key in self._seen if not key.startswith(prefix)}
            dropped = len(kept) != len(self._seen)
            self._seen = kept
            return dropped

    def transition(self, key: str, reason: str | None, subject: str, *args: object, detail: str = "") -> None:
        """Log a source's changes, not its state every run: `reason` (why it does not answer) at warning level
        when it differs from the last one (debug while it holds), as "<subject>: <reason>[: <detail>]"; None
        (it answers) as "<subject> answers again" at info level, once, and only if it was down. `detail` is
        logged but does not count as a change (it may vary every run, as a lookup's duration does)."""
        with self._lock:
            before = self._down.pop(key, None)
            if reason is not None:
                self._down[key] = reason
        if reason is None:
            if before is not None:
                self._log.info(self._prefix + subject + " answers again", *args)
            return
        level = logging.WARNING if reason != before else logging.DEBUG
        if detail:
            self._log.log(level, self._prefix + subject + ": %s: %s", *args, reason, detail)
        else:
            self._log.log(level, self._prefix + subject + ": %s", *args, reason)
