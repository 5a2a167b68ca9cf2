"""Measure the MQTT exporter: CPU and bytes per publish cycle, and what MQTT adds to the daemon's memory.

Prints one JSON document. Needs Debian's `mosquitto` (scripts/test installs it); a throwaway broker is
started on a free loopback port. Hosts (the same synthetic View shapes the tests use):
  small   1 drive, 1 NIC, no UPS                         ~45 entities
  medium  32 drives, 4 NICs, 1 UPS                      ~540 entities
  large   128 drives, 4 NICs, 1 UPS                    ~1980 entities
(each drive is 15 entities: the catalog gives every SMART field a Home Assistant entity).

Per host, with the real exporter connected to the real broker, one cycle of each kind is timed on the
exporter's own code path (CPU of the whole process, paho's network thread included):
  first_flush  the very first connect: every discovery config rendered and sent, every state
  flush    after a reconnect: availability, every discovery config, every state
  refresh  the interval's re-send of every state, nothing changed
  change   one drive's temperature changed (what a collector report usually is)
Bytes are MQTT wire bytes of the PUBLISH packets sent.

RSS: two identical host processes (store + exporter, medium host) run side by side, one with [mqtt] on and
connected, one with it off; `--daemon` also compares two `physgap run` processes (needs the exporter
wired into the daemon). Target: MQTT adds 3 MB or less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on the path: the repository root takes its place, so the project
# imports resolve as they do for the daemon.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO)
else:
    sys.path.insert(0, str(REPO))

from bench.proc import rss_mb  # noqa: E402
from exporters.mqtt import MqttExporter, MqttSettings  # noqa: E402
from exporters.mqtt.entities import objects  # noqa: E402
from exporters.sections import MqttConfig  # noqa: E402
from tests.mqtt_broker import Broker, ViewBox, plain_broker, running, sample_view  # noqa: E402

HOSTS: dict[str, dict[str, Any]] = {"small": {"drives": 1, "nics": 1, "upses": 0}, "medium": {"drives": 32, "nics": 4},
         "large": {"drives": 128, "nics": 4}}
RSS_TARGET_MB = 3.0


def wire_bytes(topic: str, payload: bytes, qos: int) -> int:
    """Size of an MQTT 3.1.1 PUBLISH packet: fixed header, topic, packet id for QoS > 0, payload."""
    remaining = 2 + len(topic.encode()) + (2 if qos else 0) + len(payload)
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16384 else 3
    return 1 + length_bytes + remaining


class Meter:
    """Counts what the exporter's publisher sends (wraps its publish method: the bench's only intrusion)."""

    def __init__(self, exporter: MqttExporter) -> None:
        publisher = exporter._publisher
        assert publisher is not None
        self.messages = 0
        self.bytes = 0
        original = publisher.publish

        def publish(topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> bool:
            sent = original(topic, payload, qos=qos, retain=retain)
            if sent:
                self.messages += 1
                self.bytes += wire_bytes(topic, payload, qos)
            return sent

        publisher.publish = publish  # type: ignore[method-assign]
        original_retained = publisher.publish_retained

        def publish_retained(messages: Any, stopping: Any) -> bool:
            listed = list(messages)
            sent = original_retained(listed, stopping)
            if sent:
                self.messages += len(listed)
                self.bytes += sum(wire_bytes(topic, payload, 1) for topic, payload in listed)
            return sent

        publisher.publish_retained = publish_retained  # type: ignore[method-assign]

    def take(self) -> tuple[int, int]:
        taken = (self.messages, self.bytes)
        self.messages = self.bytes = 0
        return taken


def timed_cycle(exporter: MqttExporter, meter: Meter) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    with exporter._lock:
        exporter._cycle()
    elapsed_wall = time.perf_counter() - wall
    time.sleep(0.3)  # let paho's thread write it all out; its CPU is part of the cycle
    cpu_ms = (time.process_time() - cpu) * 1000
    messages, sent = meter.take()
    return {"cpu_ms": round(cpu_ms, 2), "wall_ms": round(elapsed_wall * 1000, 2), "messages": messages,
            "bytes": sent}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 2) for key in runs[0]}


def cycles(broker: Broker, shape: dict[str, Any], repeats: int) -> dict[str, Any]:
    box = ViewBox(sample_view(**shape))
    settings = MqttSettings(MqttConfig(host="127.0.0.1", port=broker.port, interval=3600.0), "bench", None)
    exporter = MqttExporter(settings, settle_seconds=3600.0, min_seconds=3600.0)
    exporter.start(box)  # its own thread is held off by min_seconds: every cycle is driven from here
    try:
        deadline = time.monotonic() + 20
        while exporter._publisher is None or not exporter._publisher.connected:
            if time.monotonic() > deadline:
                raise RuntimeError("the exporter did not connect")
            time.sleep(0.05)
        time.sleep(1.0)  # had the thread's first cycle found the connection up, its flush is written out now
        meter = Meter(exporter)
        with exporter._lock:
            exporter._topics, exporter._topics_for, exporter._connections_seen = {}, None, -1
        first = timed_cycle(exporter, meter)  # every discovery config rendered for the first time
        flushes, refreshes, changes = [], [], []
        for step in range(repeats):
            exporter._connections_seen = -1  # what a reconnect looks like to the exporter: send everything
            flushes.append(timed_cycle(exporter, meter))
            exporter._refreshed_at = float("-inf")
            refreshes.append(timed_cycle(exporter, meter))
            box._view = sample_view(**shape, temperature=36.0 + step)  # every drive warmer: a large "change"
            changes.append(timed_cycle(exporter, meter))
        entities = sum(len(obj.fields) for obj in objects(box.current()))
        return {"entities": entities, "objects": len(objects(box.current())), "first_flush": first,
                "flush": median_of(flushes),
                "refresh": median_of(refreshes), "change_all_drives": median_of(changes)}
    finally:
        exporter.stop()


HOST_PROCESS = """
import sys, time
sys.path.insert(0, {repo!r})
from daemon.store import SnapshotStore
from exporters.mqtt import MqttExporter, MqttSettings
from exporters.sections import MqttConfig
from tests.mqtt_broker import GAPS, sample_view
store = SnapshotStore("bench{tag}", lambda s: GAPS, ["ups", "nic", "pcie", "smart", "storage"])
for step in range(20):
    for status in sample_view(drives=32, nics=4, temperature=30.0 + step).snapshot.collectors.values():
        store.record(status)
config = MqttConfig(host={host!r}, port={port}, interval=1.0)
MqttExporter(MqttSettings(config, "bench{tag}", None), min_seconds=0.2, settle_seconds=1.0).start(store)
print("ready", flush=True)
time.sleep(600)
"""


def rss_harness(broker: Broker, warmup: float) -> dict[str, float]:
    procs = {}
    for tag, host in (("off", ""), ("on", "127.0.0.1")):
        script = HOST_PROCESS.format(repo=str(REPO), tag=tag, host=host, port=broker.port)
        procs[tag] = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        for proc in procs.values():
            assert proc.stdout is not None
            proc.stdout.readline()
        time.sleep(warmup)  # several refresh cycles and a settle re-send
        return {f"rss_{tag}_mb": round(rss_mb(proc.pid), 1) for tag, proc in procs.items()}
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait(5)


def drive_scenario(drives: int) -> dict[str, Any]:
    """The stand-in smartctl's answers for `drives` healthy NAS disks, each with its own WWN and serial."""
    from tests import smart_fixtures as sf

    devices = {}
    for index in range(drives):
        name = f"/dev/sd{chr(97 + index // 26) if index >= 26 else ''}{chr(97 + index % 26)}"
        document = sf.variant(sf.ATA_HDD_HEALTHY, serial_number=f"WD-BENCH{index:06d}",
                              wwn={"naa": 5, "oui": 5358, "id": 4660000000 + index})
        document["device"] = {**document["device"], "name": name, "info_name": name}
        devices[name] = {"type": "sat", "json": document}
    return {"scan": None, "devices": devices}


def rss_daemon(broker: Broker, warmup: float, drives: int) -> dict[str, Any]:
    """Two `physgap run` on the same synthetic host (MS-01 NICs and PCIe, `drives` disks through the test
    suite's stand-in smartctl), one with [mqtt] and one without."""
    import urllib.request

    from tests.conftest import free_port, write_config
    from tests.mqtt_broker import Recorder
    from tests.net_tree import build_net_tree, ms01_ifaces
    from tests.pcie_tree import ms01

    procs: dict[str, subprocess.Popen[bytes]] = {}
    with tempfile.TemporaryDirectory() as tmp, Recorder(broker, ("physgap/+/availability",)) as live:
        for tag in ("off", "on"):
            root = Path(tmp, tag)
            root.mkdir()
            sysfs = root / "sys"
            ms01(sysfs)
            build_net_tree(sysfs, ms01_ifaces())
            port = free_port()
            mqtt = f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\ninterval = "5s"\n' if tag == "on" else ""
            config = write_config(root / "physgap.toml", sysfs, root / "state", port,
                                  smart_scenario=drive_scenario(drives), extra=mqtt)
            config.write_text(config.read_text().replace('host = "testhost"', f'host = "bench{tag}"')
                              .replace('interval = "1s"', 'interval = "5s"'))
            procs[tag] = subprocess.Popen([sys.executable, "-m", "daemon.cli", "--log-level", "warning", "run",
                                           "--config", str(config)], cwd=REPO, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        try:
            time.sleep(warmup)
            wired = any(m.topic == "physgap/benchon/availability" and m.payload == b"online" for m in live.snapshot())
            result: dict[str, Any] = {f"rss_{tag}_mb": round(rss_mb(p.pid), 1) for tag, p in procs.items()}
            result["drives"] = drives
            result["mqtt_wired"] = wired
            return result
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats and a short warm-up")
    parser.add_argument("--daemon", action="store_true", help="also compare two `physgap run` processes")
    args = parser.parse_args()
    repeats, warmup = (3, 3.0) if args.quick else (15, 20.0)
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                              "quick": args.quick}
    with tempfile.TemporaryDirectory() as tmp, running(plain_broker(Path(tmp, "broker"))) as broker:
        result["cycles"] = {name: cycles(broker, shape, repeats) for name, shape in HOSTS.items()}
        harness = rss_harness(broker, warmup)
        harness["added_mb"] = round(harness["rss_on_mb"] - harness["rss_off_mb"], 1)
        result["rss_exporter_host_process"] = harness
        if args.daemon:
            for drives in (32, 128):
                daemon = rss_daemon(broker, warmup, drives=drives)
                daemon["added_mb"] = round(daemon["rss_on_mb"] - daemon["rss_off_mb"], 1)
                result[f"rss_physgap_run_{drives}_drives"] = daemon
    measured = [v for k, v in result.items() if k.startswith("rss_physgap_run")] or [
        result["rss_exporter_host_process"]]
    result["target_met"] = {"rss_added_mb": all(m["added_mb"] <= RSS_TARGET_MB for m in measured)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
