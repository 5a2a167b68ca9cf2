"""The tiny interface every collector implements, and the run context the scheduler hands it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from collectors.model.readings import AnyReading


class CollectorError(Exception):
    """A collector could not produce readings; the message is shown to the operator as the reason."""


class Cancelled(CollectorError):
    """The run hit its deadline or the daemon is stopping."""


@dataclass
class RunContext:
    """What one collector run may use. Side effects (processes, sockets) must honour `deadline`."""

    deadline: float  # time.monotonic() value after which the run is abandoned
    state_dir: Path
    cancel: threading.Event = field(default_factory=threading.Event)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("physgap"))

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def sub(self, budget: float) -> RunContext:
        """A context for one step of this run: its own deadline `budget` seconds from now (never past the
        run's), the same cancel event, state directory and log. A step that overruns its budget raises
        Cancelled in the step only; the run goes on with what is left."""
        deadline = min(self.deadline, time.monotonic() + max(0.0, budget))
        return RunContext(deadline=deadline, state_dir=self.state_dir, cancel=self.cancel, log=self.log)

    def keeping_back(self, share: float = 0.1, at_least: float = 0.1, at_most: float = 1.0) -> RunContext:
        """A sub-context that ends `share` of the remaining time (clamped to at_least..at_most seconds) before
        the run does: what runs in it (a poll, a program) is stopped while there is still time to hand the
        run's readings back, instead of the scheduler abandoning the whole run at its deadline."""
        remaining = max(0.0, self.remaining())
        return self.sub(remaining - min(at_most, max(at_least, share * remaining)))

    def check(self) -> None:
        """Raise Cancelled when the run should stop; call between slow steps."""
        if self.cancel.is_set() or self.remaining() <= 0:
            raise Cancelled("deadline reached")


class Collector(Protocol):
    """One physical source. `collect` returns fresh readings or raises CollectorError with a reason."""

    @property
    def name(self) -> str: ...

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]: ...
