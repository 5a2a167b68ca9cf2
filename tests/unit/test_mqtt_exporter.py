"""The MQTT exporter as the runtime sees it: off costs nothing, and its settings are checked before anything
running is touched."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from exporters.base import ExporterError
from exporters.mqtt import MqttExporter, MqttSettings
from exporters.sections import MqttConfig
from tests.conftest import REPO
from tests.mqtt_broker import ViewBox, sample_view


def test_paho_is_loaded_only_when_mqtt_has_a_host() -> None:
    probe = ("import sys\n"
             "from exporters.mqtt import MqttExporter, MqttSettings\n"
             "from exporters.sections import MqttConfig\n"
             "from daemon.store import SnapshotStore\n"
             "exporter = MqttExporter(MqttSettings(MqttConfig(), 'h', None))\n"
             "exporter.start(SnapshotStore('h', lambda s: (), ['nic']))\n"
             "exporter.stop()\n"
             "print('paho' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_off_it_follows_views_without_doing_anything() -> None:
    box = ViewBox(sample_view())
    exporter = MqttExporter(MqttSettings(MqttConfig(), "pve1", None))
    exporter.start(box)
    box.put(sample_view(version=2))
    exporter.stop()
    exporter.stop()  # idempotent


def test_a_bad_reload_keeps_the_running_settings(tmp_path: Path) -> None:
    exporter = MqttExporter(MqttSettings(MqttConfig(), "pve1", None))
    exporter.start(ViewBox(sample_view()))
    try:
        bad = MqttSettings(MqttConfig(host="127.0.0.1", username="u", password_file=tmp_path / "absent"), "pve1", None)
        with pytest.raises(ExporterError, match=r"mqtt\.password_file"):
            exporter.reconfigure(bad)
        unreadable_ca = MqttSettings(MqttConfig(host="127.0.0.1", tls=True, ca_file=tmp_path / "ca.pem"), "pve1", None)
        with pytest.raises(ExporterError, match=r"mqtt.ca_file: cannot load CA .*ca.pem"):
            exporter.reconfigure(unreadable_ca)
        assert exporter._settings.config.host == ""  # still the old settings: off
    finally:
        exporter.stop()


def test_an_empty_password_file_is_refused_by_path_not_content(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("\n")
    exporter = MqttExporter(MqttSettings(MqttConfig(host="127.0.0.1", username="u", password_file=secret), "h", None))
    with pytest.raises(ExporterError, match=re.escape(f"mqtt.password_file: secret file {secret} is empty")):
        exporter.start(ViewBox(sample_view()))


def test_a_world_readable_password_file_is_worth_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2-unique\n")
    secret.chmod(0o644)
    exporter = MqttExporter(MqttSettings(MqttConfig(host="127.0.0.1", port=1, username="u", password_file=secret),
                                         "h", None))
    exporter.start(ViewBox(sample_view()))
    exporter.stop()
    assert any("readable by every user" in r.getMessage() for r in caplog.records)
    assert not any("hunter2-unique" in r.getMessage() for r in caplog.records)


def test_the_client_certificate_is_loaded_up_front(tmp_path: Path) -> None:
    from tests.pki import make_pki

    pki = make_pki(tmp_path)
    config = MqttConfig(host="127.0.0.1", tls=True, ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.ca)
    with pytest.raises(ExporterError, match=r"mqtt\.cert_file: cannot load client certificate"):
        MqttExporter(MqttSettings(config, "h", None)).start(ViewBox(sample_view()))


def test_tls_checks_the_broker_s_hostname(tmp_path: Path) -> None:
    from exporters.mqtt.connection import connection_of, tls_context
    from tests.pki import make_pki

    pki = make_pki(tmp_path)
    conn = connection_of(MqttSettings(MqttConfig(host="broker.lan", tls=True, ca_file=pki.ca), "h", None))
    assert conn is not None
    context = tls_context(conn)
    assert context.check_hostname is True
    assert "password" not in repr(conn)
