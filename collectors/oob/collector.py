"""The out-of-band probe round: every [[oob.targets]] entry at once, each under its own deadline.

A round lasts about as long as its slowest target's timeout, not the sum: one blackholed BMC costs only its
own reading ("timeout"), and a hung name lookup costs its own ("unresolvable", timed out) and, while it
hangs, no second lookup of that name in later rounds (the collector's resolver).
Every configured target has a reading in every round, so an endpoint that did not answer is shown as such,
never dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from collectors.kit.context import RunContext
from collectors.kit.fanout import fan_out
from collectors.kit.resolve import Resolver
from collectors.kit.secrets import read_secret, warn_if_others_can_read
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import AnyReading, OobReading
from collectors.oob.config import DEFAULT_PORTS, OobTarget
from collectors.oob.probe import Credentials, probe

log = logging.getLogger("physgap.collector.oob")

# Threads, not sockets, are what each probe costs while it waits; a homelab has a handful of endpoints,
# and a rack a few dozen. Beyond this, targets queue (and fan_out halves each one's share of the run).
MAX_CONCURRENCY = 256
# What the round may take beyond its slowest target: thread start-up and building the readings.
ROUND_SLACK_SECONDS = 1.0


def round_timeout(targets: Sequence[OobTarget]) -> float:
    """The run timeout of one round: the slowest target's own deadline plus a little slack."""
    return max((t.timeout for t in targets), default=0.0) + ROUND_SLACK_SECONDS


class OobProbeCollector:
    name = "oob"

    def __init__(self, targets: Sequence[OobTarget]) -> None:
        self._targets = tuple(targets)
        self._warn = WarnOnce(log)
        self._resolver = Resolver("physgap-oob-resolve")

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        def work(target: OobTarget, sub: RunContext) -> OobReading:
            return probe(target, sub.sub(target.timeout), lambda: self._credentials(target), self._resolver)

        def crashed(target: OobTarget, error: BaseException) -> OobReading:
            return _reading(target, "error", f"probe failed: {type(error).__name__}: {error}", 0.0)

        results = fan_out(ctx, self._targets, work, limit=min(MAX_CONCURRENCY, max(1, len(self._targets))),
                          on_error=crashed, name="physgap-oob")
        readings: list[AnyReading] = []
        for target in self._targets:
            reading = results.get(target)
            if reading is None:
                # Never started before the round's deadline (targets queued behind the concurrency cap).
                reading = _reading(target, "timeout", "no answer before the probe round's deadline",
                                   target.timeout)
            # Keyed on the state alone: a detail such as a name lookup's duration differs every round.
            self._warn.transition(f"down:{target.name}", None if reading.up else reading.state,
                                  "OOB target %s (%s %s)", target.name, target.kind, target.host,
                                  detail=reading.detail)
            readings.append(reading)
        return readings

    def _credentials(self, target: OobTarget) -> Credentials | None:
        if not target.username or target.password_file is None:
            return None
        secret = read_secret(target.password_file)
        warn_if_others_can_read(secret, self._warn, "OOB password file %s is readable by other users")
        return Credentials(target.username, secret.value)


def _reading(target: OobTarget, state: str, detail: str, duration: float) -> OobReading:
    return OobReading(target=target.name, kind=target.kind, host=target.host,
                      port=target.port or DEFAULT_PORTS.get(target.kind, 0), state=state, detail=detail,
                      duration_seconds=duration)
