"""WarnOnce.transition, the one place a silent source's journal lines are decided (SNMP UPS, NAS, switch, OOB
target): a reason is worth a warning when it is new or changed, not every run, and a recovery is said once at info
level, only after a failure, so an operator reading the journal sees when a box went quiet, why, and when it was
back."""

from __future__ import annotations

import logging

import pytest

from collectors.kit.warnonce import WarnOnce

LOGGER = "physgap.test.warnonce"


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """(level, message) at info and above since the last clear, then clear."""
    found = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO and r.name == LOGGER]
    caplog.clear()
    return found


def test_a_reason_warns_once_a_new_reason_warns_again_and_recovery_is_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    warn = WarnOnce(logging.getLogger(LOGGER))
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    warn.transition("down:rack", None, "SNMP UPS %s", "rack")
    assert logged(caplog) == []  # answering from the start: nothing to recover from
    for _ in range(3):
        warn.transition("down:rack", "no SNMP answer", "SNMP UPS %s", "rack")
    assert logged(caplog) == [("WARNING", "SNMP UPS rack: no SNMP answer")]
    warn.transition("down:rack", "the agent answers but speaks no UPS MIB", "SNMP UPS %s", "rack")
    warn.transition("down:rack", "no SNMP answer", "SNMP UPS %s", "rack")  # flapping back is news too
    assert logged(caplog) == [("WARNING", "SNMP UPS rack: the agent answers but speaks no UPS MIB"),
                              ("WARNING", "SNMP UPS rack: no SNMP answer")]
    warn.transition("down:rack", None, "SNMP UPS %s", "rack")
    warn.transition("down:rack", None, "SNMP UPS %s", "rack")
    assert logged(caplog) == [("INFO", "SNMP UPS rack answers again")]
    warn.transition("down:rack", "no SNMP answer", "SNMP UPS %s", "rack")  # down again after recovering
    assert logged(caplog) == [("WARNING", "SNMP UPS rack: no SNMP answer")]


def test_sources_are_apart_even_when_one_name_starts_another(caplog: pytest.LogCaptureFixture) -> None:
    warn = WarnOnce(logging.getLogger(LOGGER))
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    warn.transition("down:sw", "timeout", "switch %s", "sw")
    warn.transition("down:sw2", "timeout", "switch %s", "sw2")
    warn.transition("down:sw", None, "switch %s", "sw")
    warn.transition("down:sw2", "timeout", "switch %s", "sw2")
    assert logged(caplog) == [("WARNING", "switch sw: timeout"), ("WARNING", "switch sw2: timeout"),
                              ("INFO", "switch sw answers again")]


def test_a_changing_detail_is_logged_but_is_no_new_reason(caplog: pytest.LogCaptureFixture) -> None:
    warn = WarnOnce(logging.getLogger(LOGGER))
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    for waited in (2.1, 2.4):
        warn.transition("down:bmc", "unresolvable", "OOB target %s (%s %s)", "bmc", "ipmi", "bmc.lan",
                        detail=f"name lookup for bmc.lan took {waited:.1f} s")
    assert logged(caplog) == [("WARNING", "OOB target bmc (ipmi bmc.lan): unresolvable: name lookup for bmc.lan "
                                          "took 2.1 s")]
    warn.transition("down:bmc", "unresolvable", "OOB target %s (%s %s)", "bmc", "ipmi", "bmc.lan", detail="again")
    # The same reason again: kept at debug level, with its detail.
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "OOB target bmc (ipmi bmc.lan): unresolvable: again")]
