"""A real mosquitto for the MQTT tests, on a free loopback port, and a subscriber that records what it gets.

Variants: anonymous (`plain`), a password file (`users`), a TLS listener with certificates from a CA the
test makes (`tls`, optionally requiring a client certificate). The broker keeps nothing on disk, so a
restart loses every retained message, as a broker without persistence does: whatever is there afterwards,
physgap published again. Also a View to publish, shaped like a small or a large host.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from collectors.model.readings import ArrayReading, DriveReading, LinkReading, SlotReading, UpsReading
from collectors.model.snapshot import CollectorStatus, Gap, Snapshot, View
from tests.conftest import free_port, require_binary
from tests.pki import Pki, make_pki


@dataclass
class Broker:
    directory: Path
    port: int
    config: Path
    log: Path
    tls: Pki | None = None
    proc: subprocess.Popen[bytes] | None = None
    address: str = "127.0.0.1"

    def start(self, wait: float = 10) -> None:
        mosquitto = require_binary("mosquitto")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([mosquitto, "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited {self.proc.returncode}: {self.log.read_text()}")
            with contextlib.suppress(OSError), socket.create_connection((self.address, self.port), timeout=0.2):
                return
            time.sleep(0.02)
        raise AssertionError(f"mosquitto did not listen on {self.port}: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def connection_attempts(self, client_id: str) -> int:
        """CONNECTs the broker saw from this client id (refused ones included)."""
        return sum(1 for line in self.log_text().splitlines()
                   if "Received CONNECT from" in line and f" {client_id} " in f"{line} ")


def _config(directory: Path, port: int, lines: list[str], address: str = "127.0.0.1") -> Path:
    path = directory / "mosquitto.conf"
    path.write_text("\n".join([
        "user root",  # as root mosquitto would switch to the mosquitto user and lose the test's 0700 files
        f"listener {port} {address}",
        "persistence false",
        "log_dest stderr",
        "log_type all",
        "connection_messages true",
        *lines,
    ]) + "\n")
    return path


def plain_broker(directory: Path) -> Broker:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return Broker(directory, port, _config(directory, port, ["allow_anonymous true"]), directory / "mosquitto.log")


def password_broker(directory: Path, users: dict[str, str]) -> Broker:
    """Only these users, with these passwords; the plain text is hashed in place by mosquitto_passwd -U so
    no password is ever on a command line."""
    directory.mkdir(parents=True, exist_ok=True)
    passwords = directory / "passwords"
    passwords.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    passwords.chmod(0o600)
    subprocess.run([require_binary("mosquitto_passwd"), "-U", str(passwords)], check=True, capture_output=True)
    port = free_port()
    return Broker(directory, port, _config(directory, port, ["allow_anonymous false",
                                                            f"password_file {passwords}"]),
                  directory / "mosquitto.log")


def tls_broker(directory: Path, *, require_client_certificate: bool = False, address: str = "127.0.0.1") -> Broker:
    """A TLS listener whose certificate (from a CA the test makes) names localhost and 127.0.0.1 only: on
    another `address` (127.0.0.2 is loopback too) the name does not match."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = make_pki(directory)
    port = free_port()
    lines = ["allow_anonymous true", f"cafile {pki.ca}", f"certfile {pki.server_cert}", f"keyfile {pki.server_key}"]
    if require_client_certificate:
        lines.append("require_certificate true")
    return Broker(directory, port, _config(directory, port, lines, address), directory / "mosquitto.log", tls=pki,
                  address=address)


@contextlib.contextmanager
def running(broker: Broker) -> Iterator[Broker]:
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# -- the test's own MQTT client -------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Recorder:
    """A subscriber (a stand-in for Home Assistant and mosquitto_sub) keeping every message it receives."""

    broker: Broker
    topics: tuple[str, ...] = ("#",)
    username: str | None = None
    password: str | None = None
    messages: list[Message] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: mqtt.Client | None = None

    def __enter__(self) -> Recorder:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"recorder-{time.monotonic_ns()}")
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.broker.tls is not None:
            context = ssl.create_default_context(cafile=str(self.broker.tls.ca))
            context.load_cert_chain(str(self.broker.tls.client_cert), str(self.broker.tls.client_key))
            client.tls_set_context(context)
        subscribed = threading.Event()
        client.on_message = lambda c, u, m: self._record(m)
        client.on_subscribe = lambda *args: subscribed.set()
        client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in self.topics])
        client.connect(self.broker.address, self.broker.port)
        client.loop_start()
        if not subscribed.wait(10):
            raise AssertionError("the recorder could not subscribe")
        self._client = client
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _record(self, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Message(message.topic, bytes(message.payload), bool(message.retain), message.qos,
                                         time.monotonic()))

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        assert self._client is not None
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def snapshot(self) -> list[Message]:
        with self._lock:
            return list(self.messages)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def latest(self) -> dict[str, Message]:
        found: dict[str, Message] = {}
        for message in self.snapshot():
            found[message.topic] = message
        return found

    def wait_for(self, predicate: Callable[[list[Message]], bool], timeout: float = 10, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return
            time.sleep(0.02)
        topics = sorted({m.topic for m in self.snapshot()})
        raise AssertionError(f"timed out waiting for {what or 'messages'}; topics seen: {topics[:40]}")

    def wait_topic(self, topic: str, payload: bytes | None = None, timeout: float = 10, since: float = 0.0
                   ) -> Message:
        def matches(m: Message) -> bool:
            return m.topic == topic and m.at >= since and (payload is None or m.payload == payload)

        self.wait_for(lambda ms: any(matches(m) for m in ms), timeout, f"{topic} {payload!r}")
        return next(m for m in reversed(self.snapshot()) if matches(m))


def retained(broker: Broker, topic_filter: str = "#", settle: float = 0.5, **auth: str) -> dict[str, bytes]:
    """What a client subscribing now is given: every retained message under `topic_filter`."""
    with Recorder(broker, (topic_filter,), **auth) as fresh:  # type: ignore[arg-type]
        time.sleep(settle)
        return {m.topic: m.payload for m in fresh.snapshot() if m.retain}


# -- a View to publish ------------------------------------------------------------------------------------


def drive(index: int, *, health: int = 0, temperature: float = 35.0, read_at: float = 1000.0) -> DriveReading:
    return DriveReading(
        drive=f"wwn-0x5000c500{index:08x}", device=f"/dev/sd{chr(97 + index % 26)}", dev_type="sat",
        protocol="ATA", model="ST4000VN008", serial=f"ZDH{index:05d}", rotational=True, state="read", health=health,
        evidence=("5592 pending sectors (was 0)",) if health else (), smart_passed=health < 2, exit_status=0,
        read_at=read_at, temperature_celsius=temperature, power_on_seconds=3.6e7, reallocated_sectors=0,
        pending_sectors=5592 if health else 0, uncorrectable_sectors=0, crc_errors=0)


def link(name: str, speed_mbps: int | None = 1000, max_mbps: int = 10000) -> LinkReading:
    return LinkReading(interface=name, physical=True, kind="ethernet", operstate="up" if speed_mbps else "down",
                       admin_up=True, carrier=speed_mbps is not None, speed_mbps=speed_mbps, full_duplex=True,
                       max_speed_mbps=max_mbps, supported_modes=(), expected_speed_mbps=None, carrier_changes=2)


def ups(name: str = "rack@127.0.0.1:3493", charge: float = 1.0) -> UpsReading:
    return UpsReading(ups=name, source="nut", up=True, reason="", flags=("OL",), manufacturer="APC", model="SMT1500",
                      serial="AS1", driver="usbhid-ups", battery_charge_ratio=charge, battery_runtime_seconds=2400.0,
                      load_ratio=0.23, input_voltage_volts=230.0, output_voltage_volts=230.0, shutdown_clients=1)


GAPS = (
    Gap("P1", "No UPS", "Power loss kills the host uncleanly.", False, "high", (), True),
    Gap("P2", "Single NAS drive", "One failure loses data.", True, "critical",
        ("md0 raid1 degraded: 1 of 2 members failed",), True),
    Gap("P4", "Single compute host", "No failover.", False, "high", (), False, "not measured yet"),
)


def sample_view(drives: int = 2, nics: int = 2, *, upses: int = 1, version: int = 1, temperature: float = 35.0,
                charge: float = 1.0, read_at: float = 1000.0, missing: tuple[str, ...] = (),
                never: tuple[str, ...] = ()) -> View:
    """A host: `upses` UPSes, `nics` links, a slot, `drives` drives (the second one degrading), an md mirror,
    and three gaps (resolved, open, unknown). Collectors named in `missing` failed this time (after succeeding
    before); those in `never` have not run yet."""
    readings: dict[str, tuple[Any, ...]] = {
        "ups": tuple(ups(f"ups{i}@127.0.0.1:3493" if i else "rack@127.0.0.1:3493", charge=charge)
                     for i in range(upses)),
        "nic": tuple(link(f"enp{i}s0", 1000 if i else 10000) for i in range(nics)),
        "pcie": (SlotReading("M.2 slot", "0000:00:1c.0", "M.2 slot", "M.2", "x4", False, None, "link width 0"),),
        "smart": tuple(drive(i, health=1 if i == 1 else 0, temperature=temperature, read_at=read_at)
                       for i in range(drives)),
        "storage": (ArrayReading("md0", "md", "raid1", "clean", ("sda", "sdb"), (), 1, False),),
    }
    collectors = {name: CollectorStatus(name, None) if name in never
                  else CollectorStatus(name, False, "boom", 0.1, 999.0, 900.0) if name in missing
                  else CollectorStatus(name, True, "", 0.25, 999.0, 999.0, items)
                  for name, items in readings.items()}
    return View(Snapshot("pve1", 1000.0, MappingProxyType(collectors)), GAPS, version)


class ViewBox:
    """A ViewSource holding whatever View a test puts in, waking subscribers like the store does."""

    def __init__(self, view: View) -> None:
        self._view = view
        self._subscribers: list[Callable[[View], None]] = []

    def current(self) -> View:
        return self._view

    def subscribe(self, callback: Callable[[View], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def put(self, view: View) -> None:
        self._view = view
        for callback in list(self._subscribers):
            callback(view)
