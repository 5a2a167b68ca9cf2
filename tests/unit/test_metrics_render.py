"""One value the exposition cannot carry costs its own sample, never the scrape.

The readings here are built directly, as a source with a missing bound (or a future one) would hand them
over; the sources bound their own values too (tests/faults/test_links.py shows that end to end). What is
checked is exporters.metrics as /metrics, the textfile and `physgap once` all use it: exporters.prometheus
render() of a View.
"""

from __future__ import annotations

import logging
import math
from types import MappingProxyType

import pytest

from collectors.model.readings import LinkReading, UpsReading
from collectors.model.snapshot import CollectorStatus, Snapshot, View
from exporters.prometheus import render
from tests.faults.harness import samples


def nic(name: str, carrier_changes: int | None = 3, speed: int | None = 1000) -> LinkReading:
    return LinkReading(interface=name, physical=True, kind="ethernet", operstate="up", admin_up=True, carrier=True,
                       speed_mbps=speed, full_duplex=True, max_speed_mbps=None, supported_modes=(),
                       expected_speed_mbps=None, carrier_changes=carrier_changes)


def view(*readings: LinkReading | UpsReading) -> View:
    status = CollectorStatus("nic", True, readings=readings, last_run=1.0, last_success=1.0)
    return View(Snapshot("h", 0.0, MappingProxyType({"nic": status})), (), 1)


def test_an_integer_too_large_for_a_float_drops_only_its_sample(caplog: pytest.LogCaptureFixture) -> None:
    """The 400-digit carrier_changes that turned every /metrics answer into a 500."""
    # The catalog drops the value (for every renderer) and says so.
    with caplog.at_level(logging.DEBUG, logger="exporters"):
        text = render(view(nic("enp87s0", carrier_changes=10**400), nic("enp2s0", carrier_changes=7))).decode()
    found = samples(text)
    assert ("physgap_nic_carrier_changes_total", (("interface", "enp87s0"),)) not in found
    assert found[("physgap_nic_carrier_changes_total", (("interface", "enp2s0"),))] == 7.0
    # Everything else about the same interface is still served.
    assert found[("physgap_nic_up", (("interface", "enp87s0"),))] == 1.0
    assert found[("physgap_nic_speed_bytes", (("interface", "enp87s0"),))] == 1.25e8
    assert found[("physgap_collector_success", (("collector", "nic"),))] == 1.0
    assert "physgap_nic_carrier_changes_total('enp87s0',) dropped" in caplog.text


def test_not_a_number_is_no_reading() -> None:
    """NaN compares false with every alert threshold: it would read "fine" where nothing was measured."""
    ups = UpsReading(ups="ups1@127.0.0.1:3493", source="nut", up=True, reason="", flags=("OL",),
                     battery_charge_ratio=math.nan, load_ratio=math.inf, input_voltage_volts=230.0)
    found = samples(render(view(ups)).decode())
    key = (("ups", "ups1@127.0.0.1:3493"),)
    assert ("physgap_ups_battery_charge_ratio", key) not in found
    assert ("physgap_ups_load_ratio", key) not in found
    assert found[("physgap_ups_input_voltage_volts", key)] == 230.0
    assert found[("physgap_ups_up", key)] == 1.0


def test_a_label_that_is_not_text_drops_its_samples_not_the_scrape() -> None:
    """A lone surrogate (undecodable bytes kept by surrogateescape) cannot be encoded: the whole body would
    fail at the end, so the object's samples go and the others stay."""
    text = render(view(nic("eth\udcff0"), nic("eth1"))).decode()
    found = samples(text)
    assert found[("physgap_nic_up", (("interface", "eth1"),))] == 1.0
    assert not any(dict(labels).get("interface", "").startswith("eth\\") or "\udcff" in str(labels)
                   for _, labels in found)
