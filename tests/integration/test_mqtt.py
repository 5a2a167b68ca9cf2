"""The MQTT exporter against a real mosquitto, fed by the real snapshot store: what Home Assistant and any
other subscriber see, across broker restarts, Home Assistant restarts, wrong passwords and TLS.

The daemon-level twins (a `physgap run` process, kill -9, /metrics) are in test_mqtt_daemon.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.model.snapshot import CollectorStatus, View
from daemon.store import SnapshotStore
from exporters import catalog
from exporters.mqtt import MqttExporter, MqttSettings
from exporters.mqtt.topics import field_id, safe_id
from exporters.prometheus import render
from exporters.sections import MqttConfig
from tests.conftest import REPO
from tests.mqtt_broker import (
    GAPS,
    Broker,
    Message,
    Recorder,
    password_broker,
    plain_broker,
    retained,
    running,
    sample_view,
    tls_broker,
)
from tests.unit.test_mqtt_discovery import home_assistant_problems

COLLECTORS = ("ups", "nic", "pcie", "smart", "storage")
AVAILABILITY = "physgap/pve1/availability"
DRIVE1 = "physgap/pve1/drive/wwn-0x5000c50000000001"


def new_store() -> SnapshotStore:
    return SnapshotStore("pve1", lambda snapshot: GAPS, COLLECTORS)


def report(store: SnapshotStore, view: View) -> None:
    """Every collector of `view` reports to the store, as the scheduler would."""
    for status in view.snapshot.collectors.values():
        store.record(status)


def mqtt_settings(broker: Broker, **config: Any) -> MqttSettings:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": broker.port, "interval": 2.0, **config}
    return MqttSettings(MqttConfig(**values), "pve1", "http://pve1:9829/")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with running(plain_broker(tmp_path / "broker")) as started:
        yield started


@pytest.fixture
def exporters() -> Iterator[list[MqttExporter]]:
    made: list[MqttExporter] = []
    yield made
    for exporter in made:
        exporter.stop()


def start(exporters: list[MqttExporter], store: SnapshotStore, settings: MqttSettings, **options: Any) -> MqttExporter:
    exporter = MqttExporter(settings, **{"settle_seconds": 1.0, "min_seconds": 0.2, **options})
    exporter.start(store)
    exporters.append(exporter)
    return exporter


def configs(messages: list[Message] | dict[str, bytes]) -> dict[str, Any]:
    items = messages.items() if isinstance(messages, dict) else ((m.topic, m.payload) for m in messages)
    return {topic: json.loads(payload) for topic, payload in items if topic.endswith("/config") and payload}


def has_states(messages: list[Message], count: int = 10) -> bool:
    return len({m.topic for m in messages if m.topic.startswith("physgap/pve1/") and m.topic != AVAILABILITY}) >= count


# -- what Home Assistant is given --------------------------------------------------------------------------


def test_discovery_is_retained_well_formed_and_states_follow(broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view())
    start(exporters, store, mqtt_settings(broker))
    with Recorder(broker) as live:
        live.wait_for(has_states, what="state documents")
        live.wait_topic(AVAILABILITY, b"online")
    kept = retained(broker)
    assert kept[AVAILABILITY] == b"online"
    documents = configs(kept)
    assert len(documents) == 78  # every entity of the sample host, retained for a Home Assistant that starts later
    assert [p for topic, doc in documents.items() for p in home_assistant_problems(topic, doc)] == []
    # States are not retained: Home Assistant advises against retained states together with expire_after.
    assert not any(topic.startswith("physgap/pve1/") and topic != AVAILABILITY for topic in kept)


def test_discovery_is_sent_with_qos_1_and_states_with_qos_0(broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view())
    with Recorder(broker) as live:  # subscribed with QoS 1: it gets what was sent, up to 1
        start(exporters, store, mqtt_settings(broker))
        live.wait_for(has_states, what="state documents")
        messages = live.snapshot()
    assert {m.qos for m in messages if m.topic.endswith("/config")} == {1}
    assert {m.qos for m in messages if m.topic.startswith("physgap/pve1/") and m.topic != AVAILABILITY} == {0}


def metric_values(view: View) -> dict[tuple[str, tuple[str, ...]], float]:
    """/metrics as rendered for `view`, by (metric, label values in order)."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[tuple[str, tuple[str, ...]], float] = {}
    for family in text_string_to_metric_families(render(view).decode()):
        for sample in family.samples:
            _, field = catalog.find(sample.name) if _known(sample.name) else (None, None)
            if field is not None:
                values[sample.name, tuple(sample.labels[label] for label in field.labels)] = sample.value
    return values


def _known(metric: str) -> bool:
    try:
        catalog.find(metric)
    except KeyError:
        return False
    return True


def test_states_say_what_metrics_say(broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view(drives=3))
    with Recorder(broker) as live:
        start(exporters, store, mqtt_settings(broker))
        live.wait_for(has_states, what="state documents")
        time.sleep(0.3)
        states = {topic: m.json() for topic, m in live.latest().items()
                  if topic.startswith("physgap/pve1/") and topic != AVAILABILITY}
    view = store.current()
    metrics = metric_values(view)
    compared = 0
    for kind in catalog.CATALOG:
        for reading in kind.objects(view):
            for field in kind.fields:
                if field.ha is None or field.clock_dependent:
                    continue
                samples = kind.samples(field, reading)
                state = states[f"physgap/pve1/{kind.name}/{safe_id(*kind.key(reading))}"]
                published = state[field_id(field.name)]
                if not samples:
                    assert published is None
                    continue
                value = metrics[field.metric, samples[0].labels]
                expected = None if field.ha_unknown and field.ha_unknown(reading) else field.ha.state(value)
                assert published == expected, (field.metric, samples[0].labels)
                compared += 1
    assert compared >= 70


def test_gap_evidence_reaches_home_assistant_as_attributes(broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view())
    with Recorder(broker) as live:
        start(exporters, store, mqtt_settings(broker))
        message = live.wait_topic(f"physgap/pve1/gap/{safe_id('P2')}")
    assert message.json()["open"] == "ON"
    assert message.json()["attributes"]["severity"] == "critical"
    assert message.json()["attributes"]["status"] == "open"
    assert message.json()["attributes"]["evidence"] == "md0 raid1 degraded: 1 of 2 members failed"


# -- on change, on interval, and never a backlog ------------------------------------------------------------


def test_a_change_is_published_promptly_and_an_unchanged_state_only_on_the_interval(
        broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view())
    with Recorder(broker) as live:
        start(exporters, store, mqtt_settings(broker, interval=30.0), settle_seconds=60.0)
        live.wait_for(has_states, what="state documents")
        time.sleep(0.5)
        live.clear()
        changed_at = time.monotonic()
        report(store, sample_view(temperature=44.0))  # five collectors report; only smart's values changed
        message = live.wait_topic(DRIVE1, since=changed_at, timeout=5)
        time.sleep(1.0)
        sent = {m.topic for m in live.snapshot()}
    assert message.json()["temperature"] == 44.0
    assert message.at - changed_at < 2.0
    assert sent == {"physgap/pve1/drive/wwn-0x5000c50000000000", DRIVE1}


def test_states_are_refreshed_every_interval(broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view())
    with Recorder(broker) as live:
        start(exporters, store, mqtt_settings(broker, interval=1.0), settle_seconds=60.0)
        live.wait_topic("physgap/pve1/array/md0")
        time.sleep(3.6)
        arrivals = [m.at for m in live.snapshot() if m.topic == "physgap/pve1/array/md0"]
    assert 3 <= len(arrivals) <= 6  # nothing changed, yet it came once a second, so expire_after never fires


def test_a_burst_of_views_while_the_broker_is_away_becomes_the_latest_state_only(
        tmp_path: Path, exporters: list[MqttExporter]) -> None:
    broker = plain_broker(tmp_path / "broker")  # not started yet
    store = new_store()
    report(store, sample_view())
    exporter = start(exporters, store, mqtt_settings(broker, interval=60.0), settle_seconds=60.0)
    for step in range(200):
        report(store, sample_view(temperature=30.0 + step / 10))
    with running(broker), Recorder(broker) as live:
        live.wait_topic(DRIVE1, timeout=15)
        time.sleep(1.0)
        drive_states = [m for m in live.snapshot() if m.topic == DRIVE1]
    assert exporter is not None
    assert len(drive_states) <= 2  # the first flush, perhaps a settle re-send: not 200 stale values
    assert drive_states[-1].json()["temperature"] == 49.9


# -- broker and Home Assistant restarts ---------------------------------------------------------------------


def test_the_broker_restarting_brings_back_discovery_and_states(broker: Broker, exporters: list[MqttExporter],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="physgap.exporters.mqtt")
    store = new_store()
    report(store, sample_view())
    start(exporters, store, mqtt_settings(broker))
    with Recorder(broker) as live:
        live.wait_for(has_states)
    broker.restart()  # no persistence: every retained message is gone
    with Recorder(broker) as live:
        live.wait_topic(AVAILABILITY, b"online", timeout=15)
        live.wait_topic(DRIVE1, timeout=15)
    kept = retained(broker)
    assert kept[AVAILABILITY] == b"online"
    assert len(configs(kept)) == 78
    lost = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert len(lost) == 1 and "127.0.0.1" in lost[0]


def test_home_assistant_coming_online_gets_discovery_and_states_again(broker: Broker,
                                                                      exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view())
    with Recorder(broker) as home_assistant:
        start(exporters, store, mqtt_settings(broker, interval=60.0), settle_seconds=60.0)
        home_assistant.wait_for(has_states)
        time.sleep(0.5)
        home_assistant.clear()
        home_assistant.publish("homeassistant/status", b"offline")
        time.sleep(0.5)
        assert not any(m.topic.endswith("/config") for m in home_assistant.snapshot())
        home_assistant.publish("homeassistant/status", b"online")
        home_assistant.wait_for(lambda ms: len(configs(ms)) == 78, what="discovery again")
        home_assistant.wait_topic(DRIVE1)


def test_states_follow_again_shortly_after_discovery(broker: Broker, exporters: list[MqttExporter]) -> None:
    # Home Assistant subscribes to a new entity's state topic only after it processed the config.
    store = new_store()
    report(store, sample_view())
    with Recorder(broker) as live:
        start(exporters, store, mqtt_settings(broker, interval=60.0), settle_seconds=1.0)
        first = live.wait_topic("physgap/pve1/array/md0")
        second = live.wait_topic("physgap/pve1/array/md0", since=first.at + 0.5, timeout=5)
    assert 0.5 < second.at - first.at < 3.0


# -- availability ---------------------------------------------------------------------------------------------


def test_a_clean_stop_says_offline(broker: Broker) -> None:
    store = new_store()
    exporter = MqttExporter(mqtt_settings(broker))
    exporter.start(store)
    with Recorder(broker) as live:
        live.wait_topic(AVAILABILITY, b"online")
        started = time.monotonic()
        exporter.stop()
        assert time.monotonic() - started < 2.0
        live.wait_topic(AVAILABILITY, b"offline")
    assert retained(broker)[AVAILABILITY] == b"offline"


HOST_PROCESS = """
import sys, time
sys.path.insert(0, {repo!r})
from daemon.store import SnapshotStore
from exporters.mqtt import MqttExporter, MqttSettings
from exporters.sections import MqttConfig
from tests.mqtt_broker import GAPS, sample_view
store = SnapshotStore("pve1", lambda s: GAPS, {collectors!r})
for status in sample_view().snapshot.collectors.values():
    store.record(status)
MqttExporter(MqttSettings(MqttConfig(host="127.0.0.1", port={port}, interval=2.0), "pve1", None)).start(store)
print("started", flush=True)
time.sleep(600)
"""


def test_kill_9_makes_the_broker_say_offline_through_the_will(broker: Broker) -> None:
    script = HOST_PROCESS.format(repo=str(REPO), collectors=COLLECTORS, port=broker.port)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        with Recorder(broker) as live:
            live.wait_topic(AVAILABILITY, b"online", timeout=15)
            killed_at = time.monotonic()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
            message = live.wait_topic(AVAILABILITY, b"offline", timeout=10, since=killed_at)
        assert message.at - killed_at < 2.0  # the socket closes with the process: no keepalive wait
        assert retained(broker)[AVAILABILITY] == b"offline"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


# -- entities that vanish ---------------------------------------------------------------------------------------


def test_a_drive_that_is_gone_has_its_entities_removed(broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view(drives=3))
    start(exporters, store, mqtt_settings(broker))
    gone = "homeassistant/sensor/physgap_pve1/drive_wwn-0x5000c50000000002_temperature/config"
    with Recorder(broker) as live:
        live.wait_topic(gone)
        # The smart collector fails: its drives vanish from the View, but they are not gone.
        report(store, sample_view(drives=0, missing=("smart",)))
        time.sleep(1.5)
        assert not any(m.topic == gone and not m.payload for m in live.snapshot())
        # It runs again, successfully, without the third drive: that drive's entities are removed.
        report(store, sample_view(drives=2))
        live.wait_topic(gone, b"")
    kept = configs(retained(broker))
    assert not any("wwn-0x5000c50000000002" in topic for topic in kept)
    assert any("wwn-0x5000c50000000001" in topic for topic in kept)


def test_entities_left_from_an_earlier_run_are_removed_once_every_collector_reported(
        broker: Broker, exporters: list[MqttExporter]) -> None:
    old = "homeassistant/sensor/physgap_pve1/drive_wwn-0x50000000deadbeef_temperature/config"
    other_host = "homeassistant/sensor/physgap_nas/drive_wwn-0x50000000deadbeef_temperature/config"
    with Recorder(broker) as seed:
        seed.publish(old, b'{"name": "replaced disk"}', retain=True)
        seed.publish(other_host, b'{"name": "another host"}', retain=True)
    store = new_store()
    report(store, sample_view(never=("ups",)))  # ups has not reported yet: nothing is known to be gone
    start(exporters, store, mqtt_settings(broker), settle_seconds=0.5)
    time.sleep(2.0)
    assert old in retained(broker)
    report(store, sample_view())
    with Recorder(broker) as live:
        live.wait_for(lambda ms: old not in retained(broker, settle=0.2), timeout=10, what="the orphan removed")
        assert live is not None
    assert other_host in retained(broker)  # another host's entities are not ours to remove


# -- the broker away, refused or strict ---------------------------------------------------------------------------


def test_a_broker_that_is_down_at_start_blocks_nothing(tmp_path: Path, exporters: list[MqttExporter],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="physgap.exporters.mqtt")
    broker = plain_broker(tmp_path / "broker")
    store = new_store()
    started = time.monotonic()
    start(exporters, store, mqtt_settings(broker))
    assert time.monotonic() - started < 0.5
    report(store, sample_view())  # collection goes on; the store's subscribers return at once
    assert store.current().version == len(COLLECTORS)
    time.sleep(2.5)
    refused = [r for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(refused) == 1 and "Connection refused" in refused[0].getMessage()
    with running(broker), Recorder(broker) as live:
        live.wait_topic(AVAILABILITY, b"online", timeout=15)
        live.wait_topic(DRIVE1, timeout=5)


def test_a_wrong_password_is_one_clear_log_line_and_retries_with_backoff(
        tmp_path: Path, exporters: list[MqttExporter], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = tmp_path / "mqtt.pass"
    secret.write_text("not-the-password\n")
    secret.chmod(0o600)
    with running(password_broker(tmp_path / "broker", {"physgap": "right-password"})) as broker:
        store = new_store()
        report(store, sample_view())
        settings = mqtt_settings(broker, username="physgap", password_file=secret)
        exporter = start(exporters, store, settings)
        time.sleep(7.5)
        refusals = broker.log_text().count("not authorised")
        messages = [r.getMessage() for r in caplog.records if r.name.startswith("physgap")]
        # Still alive: with the password fixed and the daemon reloaded, it connects and publishes.
        secret.write_text("right-password\n")
        with Recorder(broker, username="physgap", password="right-password") as live:
            exporter.reconfigure(settings)
            live.wait_topic(DRIVE1)
    refused = [m for m in messages if "refused" in m]
    assert refused == [f"MQTT broker 127.0.0.1:{broker.port} refused the connection: Not authorized (check "
                       "username and password_file); retrying with backoff"]
    assert 3 <= refusals <= 5  # attempts at 0, 1, 3 and 7 s: backing off, not hammering every second
    assert not any("password" in m and "password_file" not in m for m in messages)


def test_the_password_file_works_and_no_secret_leaks_anywhere(tmp_path: Path, exporters: list[MqttExporter],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = "pw-7f3a9c-unique"
    secret = tmp_path / "mqtt.pass"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    users = {"physgap": password, "homeassistant": "ha-password"}
    with running(password_broker(tmp_path / "broker", users)) as broker:
        store = new_store()
        report(store, sample_view())
        with Recorder(broker, username="homeassistant", password="ha-password") as everything:
            exporter = start(exporters, store, mqtt_settings(broker, username="physgap", password_file=secret))
            everything.wait_for(has_states)
            exporter.stop()
            everything.wait_topic(AVAILABILITY, b"offline")
            messages = everything.snapshot()
    assert messages
    for message in messages:
        assert password not in message.topic and password.encode() not in message.payload
    assert not any(password in record.getMessage() for record in caplog.records)
    assert password not in repr(exporter.__dict__)
    assert password.encode() not in Path("/proc/self/cmdline").read_bytes()
    assert password not in broker.log_text()


def test_a_systemd_credential_is_found_by_its_name(tmp_path: Path, exporters: list[MqttExporter],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "mqtt-password").write_text("cred-password")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    with running(password_broker(tmp_path / "broker", {"physgap": "cred-password"})) as broker, \
            Recorder(broker, username="physgap", password="cred-password") as live:
        store = new_store()
        start(exporters, store, mqtt_settings(broker, username="physgap", password_file=Path("mqtt-password")))
        live.wait_topic(AVAILABILITY, b"online")


def test_an_unreadable_password_file_is_a_configuration_error(tmp_path: Path, broker: Broker) -> None:
    from exporters.base import ExporterError

    exporter = MqttExporter(mqtt_settings(broker, username="physgap", password_file=tmp_path / "missing"))
    with pytest.raises(ExporterError, match=r"mqtt.password_file: cannot read secret file .*missing"):
        exporter.start(new_store())


def test_tls_with_the_test_s_own_ca(tmp_path: Path, exporters: list[MqttExporter]) -> None:
    with running(tls_broker(tmp_path / "broker")) as broker, Recorder(broker) as live:
        assert broker.tls is not None
        store = new_store()
        report(store, sample_view())
        start(exporters, store, mqtt_settings(broker, host="localhost", tls=True, ca_file=broker.tls.ca))
        live.wait_topic(AVAILABILITY, b"online")
        live.wait_topic(DRIVE1)


def test_tls_with_a_client_certificate(tmp_path: Path, exporters: list[MqttExporter]) -> None:
    with running(tls_broker(tmp_path / "broker", require_client_certificate=True)) as broker, \
            Recorder(broker) as live:
        pki = broker.tls
        assert pki is not None
        start(exporters, new_store(), mqtt_settings(broker, tls=True, ca_file=pki.ca, cert_file=pki.client_cert,
                                                    key_file=pki.client_key))
        live.wait_topic(AVAILABILITY, b"online")


def test_tls_refuses_a_broker_its_ca_did_not_sign(tmp_path: Path, exporters: list[MqttExporter],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="physgap.exporters.mqtt")
    with running(tls_broker(tmp_path / "broker")) as broker, Recorder(broker) as live:
        pki = broker.tls
        assert pki is not None
        start(exporters, new_store(), mqtt_settings(broker, tls=True, ca_file=pki.directory / "rogue-ca.crt"))
        time.sleep(2.5)
        assert not any(m.topic == AVAILABILITY for m in live.snapshot())
    failures = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(failures) == 1 and "certificate verify failed" in failures[0]


def test_tls_checks_the_broker_s_name(tmp_path: Path, exporters: list[MqttExporter],
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="physgap.exporters.mqtt")
    with running(tls_broker(tmp_path / "broker", address="127.0.0.2")) as broker:
        pki = broker.tls
        assert pki is not None
        start(exporters, new_store(), mqtt_settings(broker, host="127.0.0.2", tls=True, ca_file=pki.ca))
        time.sleep(2.5)
    failures = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(failures) == 1 and "IP address mismatch" in failures[0], failures


def test_mqtt_5_works_the_same(broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view())
    with Recorder(broker) as live:
        start(exporters, store, mqtt_settings(broker, protocol="5"))
        live.wait_topic(AVAILABILITY, b"online")
        live.wait_for(lambda ms: len(configs(ms)) == 78, what="discovery")
        live.wait_topic(DRIVE1)
    assert "(p5," in broker.log_text()  # the broker saw an MQTT 5 CONNECT


# -- reload ----------------------------------------------------------------------------------------------------


def test_a_reload_to_another_broker_leaves_the_old_one_offline(tmp_path: Path, broker: Broker,
                                                               exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view())
    exporter = start(exporters, store, mqtt_settings(broker))
    with Recorder(broker) as old:
        old.wait_topic(AVAILABILITY, b"online")
    with running(plain_broker(tmp_path / "second")) as second, Recorder(second) as new:
        exporter.reconfigure(mqtt_settings(second))
        new.wait_topic(AVAILABILITY, b"online")
        new.wait_topic(DRIVE1)
    assert retained(broker)[AVAILABILITY] == b"offline"


def test_a_reload_with_a_new_interval_updates_expire_after_without_reconnecting(
        broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    report(store, sample_view())
    exporter = start(exporters, store, mqtt_settings(broker, interval=2.0))
    with Recorder(broker) as live:
        # The broker replays retained messages in its own topic order: the configs can all be in before the
        # retained "online", which must not land after the clear and read as a reconnect.
        live.wait_for(lambda ms: len(configs(ms)) == 78 and any(m.topic == AVAILABILITY for m in ms))
        live.clear()
        exporter.reconfigure(mqtt_settings(broker, interval=10.0))
        live.wait_for(lambda ms: len(configs(ms)) == 78, what="updated discovery")
        assert {doc["expire_after"] for doc in configs(live.snapshot()).values()} == {30}
        republished = [m for m in live.snapshot() if m.topic == AVAILABILITY]
        assert not republished, republished  # same connection
    assert broker.log_text().count("as physgap_pve1 ") == 1


def test_turning_mqtt_off_on_reload_says_offline(broker: Broker, exporters: list[MqttExporter]) -> None:
    store = new_store()
    exporter = start(exporters, store, mqtt_settings(broker))
    with Recorder(broker) as live:
        live.wait_topic(AVAILABILITY, b"online")
        exporter.reconfigure(MqttSettings(MqttConfig(), "pve1", None))
        live.wait_topic(AVAILABILITY, b"offline")
    report(store, sample_view())  # and nothing breaks while off
    time.sleep(0.5)


def test_a_collector_report_never_waits_for_the_broker(tmp_path: Path, exporters: list[MqttExporter]) -> None:
    # A broker that accepts TCP but never answers: CONNECT hangs until paho's timeout.
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        store = new_store()
        settings = MqttSettings(MqttConfig(host="127.0.0.1", port=silent.getsockname()[1]), "pve1", None)
        exporter = start(exporters, store, settings)
        started = time.monotonic()
        for _ in range(50):
            store.record(CollectorStatus("nic", True))
        assert time.monotonic() - started < 0.5
        stop_started = time.monotonic()
        exporter.stop()
        assert time.monotonic() - stop_started < 2.5
    finally:
        silent.close()
