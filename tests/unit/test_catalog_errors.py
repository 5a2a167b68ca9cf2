"""A value no field can read costs that value only, in every renderer: /metrics, MQTT and the status page."""

from __future__ import annotations

from typing import Any

from exporters import catalog
from exporters.mqtt.entities import objects
from exporters.mqtt.states import state_document
from exporters.prometheus import render
from exporters.status_page import render as render_page
from tests.unit.test_status_page import NOW, drive, world


def test_an_unreadable_value_costs_only_itself_everywhere() -> None:
    odd: Any = "34 C"  # a reading whose temperature is text: float() raises inside the catalog's field
    view = world(drives=(drive("sda", "WDC WD40EFRX", temperature_celsius=odd, reallocated_sectors=5),))
    kind, temperature = catalog.find("physgap_drive_temperature_celsius")
    reading = next(iter(kind.objects(view)))
    assert kind.samples(temperature, reading) == ()
    assert temperature.ha_state(reading) is None

    metrics = render(view).decode()
    assert 'physgap_drive_temperature_celsius{drive="wwn-0x5000sda"}' not in metrics
    assert 'physgap_drive_reallocated_sectors{drive="wwn-0x5000sda"} 5.0' in metrics

    (state,) = [state_document(obj, NOW) for obj in objects(view) if obj.kind is kind]
    assert state["temperature"] is None and state["reallocated_sectors"] == 5.0

    page = render_page(view, NOW)  # no 500: the other columns are there
    assert "WDC WD40EFRX" in page and "34 C" not in page
