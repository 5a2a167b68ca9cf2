"""The OOB collector's journal lines against a real loopback port: an endpoint that stops answering is warned about
once, not every round, and when it answers again the journal says so (before, recovery went unsaid and the last
line in the journal was the failure)."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from collectors.kit.context import RunContext
from collectors.model.readings import OobReading
from collectors.oob.collector import OobProbeCollector
from collectors.oob.config import OobTarget

LOGGER = "physgap.collector.oob"


def states(collector: OobProbeCollector) -> list[str]:
    readings = collector.collect(RunContext(deadline=time.monotonic() + 5, state_dir=Path("/nonexistent")))
    return [r.state for r in readings if isinstance(r, OobReading)]


def test_a_refused_endpoint_warns_once_and_its_recovery_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))  # bound, not listening: the kernel refuses connections
        port = server.getsockname()[1]
        collector = OobProbeCollector([OobTarget("kvm", "127.0.0.1", "tcp", port, 2.0)])
        caplog.set_level(logging.DEBUG, logger=LOGGER)
        assert states(collector) + states(collector) == ["refused", "refused"]
        server.listen()
        assert states(collector) + states(collector) == ["answering", "answering"]
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO and r.name == LOGGER]
    assert logged == [("WARNING", f"OOB target kvm (tcp 127.0.0.1): refused: connection refused on port {port}"),
                      ("INFO", "OOB target kvm (tcp 127.0.0.1) answers again")]
