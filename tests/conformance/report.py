"""Per-file result tables for the corpus conformance suites, written to the terminal at module teardown."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import pytest


def emit_lines(request: pytest.FixtureRequest, lines: Sequence[str]) -> None:
    """Write lines through pytest's terminal reporter, visible with or without -s.

    Fixture teardown runs under output capture, so capture is suspended while writing; without a terminal
    reporter (e.g. under xdist workers or -p no:terminal) nothing is written.
    """
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or not lines:
        return
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        for line in lines:
            reporter.write_line(line)
