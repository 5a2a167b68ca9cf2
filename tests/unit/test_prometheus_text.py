"""The per-scrape formatter writes the same bytes as prometheus_client's generate_latest."""

from __future__ import annotations

from prometheus_client import ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from collectors.model.readings import DriveReading
from collectors.model.snapshot import CollectorStatus
from daemon.store import SnapshotStore
from exporters.metrics import clock_families
from exporters.prometheus import _generate, _text


def drive(name: str, read_at: float) -> DriveReading:
    return DriveReading(drive=name, device="/dev/sda", dev_type="sat", protocol="ATA", model="M", serial="S",
                        rotational=True, state="read", health=0, evidence=(), smart_passed=True, exit_status=0,
                        read_at=read_at)


def same_bytes(families: list[Metric]) -> None:
    assert _text(families) == _generate(lambda: families)


def test_reading_ages_with_awkward_labels_format_as_prometheus_client_does() -> None:
    store = SnapshotStore("h", lambda s: (), ["smart"])
    awkward = ('wwn-0x5000c500a1', 'model_"quoted"', "back\\slash", "new\nline", "ümlaut ✓", "")
    store.record(CollectorStatus("smart", True, readings=tuple(drive(n, 1.5e9 + i) for i, n in enumerate(awkward))))
    families = list(clock_families(store.current(), 1.8e9))
    assert families and families[0].samples
    same_bytes(families)


def test_gauges_counters_and_odd_values_match() -> None:
    gauge = GaugeMetricFamily("physgap_x", "help with \\ and\nnewline", labels=["a", "b"])
    for value in (0.0, 1e21, 1.5e-7, float("inf"), float("-inf"), 123456789.0, -0.0):
        gauge.add_metric(["z", f"v{value}"], value)
    counter = CounterMetricFamily("physgap_y", "a counter", labels=["a"])
    counter.add_metric(["1"], 3.0)
    plain = GaugeMetricFamily("physgap_z", "no labels", value=2.0)
    same_bytes([gauge, counter, plain])


def test_process_metrics_match_and_other_types_fall_back() -> None:
    process = ProcessCollector(registry=None)
    families = list(process.collect())
    assert {f.name for f in families} >= {"process_cpu_seconds", "process_resident_memory_bytes"}
    same_bytes(families)
    info = InfoMetricFamily("physgap_build", "version", value={"version": "1"})
    same_bytes([info, GaugeMetricFamily("physgap_z", "z", value=1.0)])
