"""`physgap run` with [mqtt] against a real mosquitto: what a Home Assistant user relies on from the daemon
itself. States match /metrics, kill -9 shows offline, a restarted broker gets everything again, a broker
that is down or refuses the password costs nothing else, and no secret appears anywhere.

These need the MQTT exporter wired into the daemon (daemon/runtime.py). Until it is, they fail at once
with a message saying so, rather than skipping: a green suite must mean MQTT works.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters import catalog
from exporters.mqtt.topics import field_id, safe_id
from tests.conftest import DaemonProcess, free_port, http_get, run_physgap, start_daemon, write_config
from tests.golden.world import SMART_SCENARIO
from tests.mqtt_broker import Broker, Message, Recorder, password_broker, plain_broker, retained, running
from tests.net_tree import build_net_tree, ms01_ifaces
from tests.pcie_tree import ms01

AVAILABILITY = "physgap/testhost/availability"
COLLECTORS = ("nic", "pcie", "smart", "storage")


def host_config(tmp_path: Path, port: int, mqtt: str) -> Path:
    """A test host shaped like the MS-01 (NICs, PCIe, four drives through the stand-in smartctl), no UPS."""
    sysfs = tmp_path / "sys"
    ms01(sysfs)
    build_net_tree(sysfs, ms01_ifaces())
    return write_config(tmp_path / "physgap.toml", sysfs, tmp_path / "state", port, smart_scenario=SMART_SCENARIO,
                        extra=f"[mqtt]\n{mqtt}")


def credentials(secret: Path) -> str:
    return f'username = "physgap"\npassword_file = "{secret}"\n'


def mqtt_section(broker: Broker, extra: str = "") -> str:
    return f'host = "127.0.0.1"\nport = {broker.port}\ninterval = "2s"\n{extra}'


def start(daemons: list[DaemonProcess], config: Path, port: int) -> DaemonProcess:
    """A daemon whose log is read while it runs: its stderr goes to a file next to its config."""
    daemon = start_daemon(config, port, log=config.parent / "daemon.log")
    daemons.append(daemon)
    return daemon


def wait_online(live: Recorder, daemon: DaemonProcess, timeout: float = 15, since: float = 0.0) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in live.snapshot() if m.topic == AVAILABILITY and m.payload == b"online" and m.at >= since]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"the daemon never said online; its log:\n{daemon.stderr()}")


def all_collected(daemon: DaemonProcess) -> str:
    deadline = time.monotonic() + 30
    body = ""
    while time.monotonic() < deadline:
        status, body = http_get(daemon.url + "/metrics")
        if status == 200 and all(f'physgap_collector_last_success_timestamp_seconds{{collector="{name}"}}' in body
                                 for name in COLLECTORS):
            return body
        time.sleep(0.2)
    raise AssertionError(f"not every collector reported: {body[-2000:]}")


def states_of(live: Recorder) -> dict[str, dict[str, object]]:
    return {topic: m.json() for topic, m in live.latest().items()
            if topic.startswith("physgap/testhost/") and topic != AVAILABILITY and m.payload}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running(plain_broker(tmp_path / "broker")) as started:
        yield started


def test_the_daemon_publishes_what_its_metrics_say(tmp_path: Path, broker: Broker,
                                                   daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    with Recorder(broker) as live:
        daemon = start(daemon_factory, host_config(tmp_path, port, mqtt_section(broker)), port)
        wait_online(live, daemon)
        all_collected(daemon)
        time.sleep(3)  # a refresh after every collector reported
        metrics_text = http_get(daemon.url + "/metrics")[1]
        states = states_of(live)
    values = {(s.name, tuple(sorted(s.labels.items()))): s.value
              for family in text_string_to_metric_families(metrics_text) for s in family.samples}
    compared = 0
    for topic, state in states.items():
        kind_name = topic.split("/")[2]
        if kind_name == "collector":
            continue  # durations and timestamps move with every run
        kind = next(k for k in catalog.CATALOG if k.name == kind_name)
        for field in kind.fields:
            if field.ha is None or field.clock_dependent:
                continue
            matching = [(labels, value) for (name, labels), value in values.items() if name == field.metric
                        and safe_id(*(dict(labels)[label] for label in kind.key_labels)) == topic.split("/")[3]]
            published = state[field_id(field.name)]
            if not matching:
                assert published is None, (topic, field.metric)
                continue
            expected = field.ha.state(matching[0][1])
            if kind_name == "gap" and published is None:
                continue  # an unevaluated gap: open 0 in Prometheus, unknown in Home Assistant
            assert published == expected, (topic, field.metric)
            compared += 1
    assert compared >= 40
    assert any(topic.startswith("physgap/testhost/drive/") for topic in states)
    assert any(topic.startswith("physgap/testhost/nic/") for topic in states)
    discovery = {t: json.loads(p) for t, p in retained(broker, "homeassistant/#").items() if p}
    assert len(discovery) > 40
    assert {doc["device"]["name"] for doc in discovery.values()} == {"testhost"}
    # The status page listens on loopback here: Home Assistant elsewhere could not open a link to it.
    assert all("configuration_url" not in doc["device"] for doc in discovery.values())


def test_kill_9_shows_offline_through_the_will(tmp_path: Path, broker: Broker,
                                               daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    with Recorder(broker) as live:
        daemon = start(daemon_factory, host_config(tmp_path, port, mqtt_section(broker)), port)
        wait_online(live, daemon)
        killed = time.monotonic()
        os.kill(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(5)
        live.wait_topic(AVAILABILITY, b"offline", timeout=10, since=killed)
    assert retained(broker)[AVAILABILITY] == b"offline"


def test_sigterm_says_offline_and_stops_in_time(tmp_path: Path, broker: Broker,
                                                daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    with Recorder(broker) as live:
        daemon = start(daemon_factory, host_config(tmp_path, port, mqtt_section(broker)), port)
        wait_online(live, daemon)
        stopping = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(5) == 0
        assert time.monotonic() - stopping < 2.0  # the README promises two seconds
        live.wait_topic(AVAILABILITY, b"offline", since=stopping)


def test_a_restarted_broker_gets_discovery_and_states_again(tmp_path: Path, broker: Broker,
                                                           daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    with Recorder(broker) as live:
        daemon = start(daemon_factory, host_config(tmp_path, port, mqtt_section(broker)), port)
        wait_online(live, daemon)
        all_collected(daemon)
        time.sleep(1)
        before = len({t for t, p in retained(broker, "homeassistant/#").items() if p})
    broker.restart()
    with Recorder(broker) as live:
        wait_online(live, daemon, timeout=20)
        live.wait_for(lambda ms: any(m.topic.startswith("physgap/testhost/drive/") for m in ms), what="drive states")
    after = len({t for t, p in retained(broker, "homeassistant/#").items() if p})
    assert after == before > 40
    assert daemon.proc.poll() is None


def test_home_assistant_restarting_gets_discovery_again(tmp_path: Path, broker: Broker,
                                                       daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    with Recorder(broker) as home_assistant:
        daemon = start(daemon_factory, host_config(tmp_path, port, mqtt_section(broker)), port)
        wait_online(home_assistant, daemon)
        time.sleep(2)
        asked = time.monotonic()
        home_assistant.publish("homeassistant/status", b"online")
        home_assistant.wait_for(lambda ms: sum(1 for m in ms if m.topic.endswith("/config") and m.at >= asked) > 40,
                                what="discovery after homeassistant/status online")


def test_a_broker_down_at_start_costs_nothing_else(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    broker = plain_broker(tmp_path / "broker")  # configured, not running
    port = free_port()
    daemon = start(daemon_factory, host_config(tmp_path, port, mqtt_section(broker)), port)
    body = all_collected(daemon)  # collection and /metrics work without the broker
    assert 'physgap_collector_success{collector="smart"} 1.0' in body
    with running(broker), Recorder(broker) as live:
        wait_online(live, daemon, timeout=70)  # the reconnect backoff may have grown to a minute meanwhile
    assert "cannot connect to MQTT broker" in daemon.stderr()


def test_a_wrong_password_is_one_log_line_and_nothing_else_breaks(tmp_path: Path,
                                                                  daemon_factory: list[DaemonProcess]) -> None:
    password = "wrong-but-secret-4711"
    secret = tmp_path / "mqtt.pass"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    with running(password_broker(tmp_path / "broker", {"physgap": "the-right-one"})) as broker:
        port = free_port()
        config = host_config(tmp_path, port, mqtt_section(broker, credentials(secret)))
        daemon = start(daemon_factory, config, port)
        all_collected(daemon)
        time.sleep(4)
        assert daemon.proc.poll() is None
        assert http_get(daemon.url + "/metrics")[0] == 200
        log = daemon.stderr()
        cmdline = Path(f"/proc/{daemon.proc.pid}/cmdline").read_bytes()
    assert log.count("refused the connection: Not authorized") == 1, log
    assert broker.log_text().count("not authorised") >= 2  # and it kept trying
    assert password not in log and password.encode() not in cmdline


def test_no_secret_in_any_topic_payload_log_line_or_argv(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    password = "s3cret-for-the-daemon-only"
    secret = tmp_path / "mqtt.pass"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    users = {"physgap": password, "homeassistant": "ha-pass"}
    with running(password_broker(tmp_path / "broker", users)) as broker, \
            Recorder(broker, username="homeassistant", password="ha-pass") as everything:
        port = free_port()
        config = host_config(tmp_path, port, mqtt_section(broker, credentials(secret)))
        daemon = start(daemon_factory, config, port)
        wait_online(everything, daemon)
        all_collected(daemon)
        cmdline = Path(f"/proc/{daemon.proc.pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{daemon.proc.pid}/environ").read_bytes()
        metrics = http_get(daemon.url + "/metrics")[1]
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(5)
        messages = everything.snapshot()
    assert messages
    assert not any(password in m.topic or password.encode() in m.payload for m in messages)
    assert password not in daemon.stderr() and password not in metrics
    assert password.encode() not in cmdline and password.encode() not in environ


def test_physgap_discovery_prints_the_documents_the_daemon_publishes(tmp_path: Path, broker: Broker,
                                                                     daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    config = host_config(tmp_path, port, mqtt_section(broker))
    printed = run_physgap("discovery", "--config", str(config))
    if printed.returncode == 2 and "invalid choice" in printed.stderr:
        pytest.fail("`physgap discovery` does not exist yet: wire exporters.mqtt.discovery_json into daemon/cli.py")
    assert printed.returncode == 0, printed.stderr
    documents = json.loads(printed.stdout)
    assert documents and all(d["retain"] is True and d["qos"] == 1 for d in documents)
    with Recorder(broker) as live:
        daemon = start(daemon_factory, config, port)
        wait_online(live, daemon)
        all_collected(daemon)
        time.sleep(1)
    published = {t: json.loads(p) for t, p in retained(broker, "homeassistant/#").items() if p}
    assert {d["topic"] for d in documents} <= set(published)
    some = documents[0]
    assert published[some["topic"]] == some["payload"]
