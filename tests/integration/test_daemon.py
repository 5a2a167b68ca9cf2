"""The daemon as a real subprocess: HTTP, TLS, basic auth, signals, reload, startup errors."""

from __future__ import annotations

import base64
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from tests.conftest import (
    DaemonProcess,
    empty_sysfs,
    free_port,
    http_get,
    run_physgap,
    start_daemon,
    write_config,
)
from tests.pki import make_pki


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    path = write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port)
    return path, port


def test_scrape_over_http(config: tuple[Path, int], daemon_factory: list[DaemonProcess]) -> None:
    path, port = config
    daemon = start_daemon(path, port)
    daemon_factory.append(daemon)
    status, landing = http_get(daemon.url + "/")
    assert status == 200 and 'href="metrics"' in landing
    deadline = time.monotonic() + 10
    body = ""
    while time.monotonic() < deadline:
        status, body = http_get(daemon.url + "/metrics")
        if 'physgap_collector_success{collector="nic"} 1.0' in body:
            break
        time.sleep(0.1)
    assert status == 200
    assert 'physgap_build_info{version="0.1.0"} 1.0' in body
    assert 'physgap_collector_success{collector="nic"} 1.0' in body
    assert 'physgap_collector_success{collector="pcie"} 1.0' in body
    assert 'physgap_gap_evaluated{gap="P3"} 0.0' in body  # no NIC in this sysfs: unknown, not resolved
    assert http_get(daemon.url + "/nope")[0] == 404


def test_sigterm_exits_cleanly_within_two_seconds(config: tuple[Path, int],
                                                  daemon_factory: list[DaemonProcess]) -> None:
    path, port = config
    daemon = start_daemon(path, port)
    daemon_factory.append(daemon)
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 2.0


def test_sigterm_while_a_collector_hangs(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    """A dmidecode that never returns must not hold the daemon past its stop deadline."""
    hang = tmp_path / "dmidecode"
    hang.write_text("#!/bin/sh\nexec sleep 600\n")
    hang.chmod(0o755)
    port = free_port()
    path = write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port,
                        extra=f'[pcie]\ndmidecode = "{hang}"\ntimeout = "30s"\n')
    path.write_text(path.read_text().replace('[pcie]\ndmidecode = "/bin/true"\n', ""))
    daemon = start_daemon(path, port)
    daemon_factory.append(daemon)
    time.sleep(0.5)
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 2.0


def test_sighup_with_bad_config_keeps_serving(config: tuple[Path, int],
                                              daemon_factory: list[DaemonProcess]) -> None:
    path, port = config
    daemon = start_daemon(path, port)
    daemon_factory.append(daemon)
    good = path.read_text()
    path.write_text(good.replace('interval = "1s"', 'interval = "1x"'))
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert daemon.proc.poll() is None
    assert http_get(daemon.url + "/metrics")[0] == 200
    # A good config is then picked up: the host label of the report changes.
    path.write_text(good.replace('host = "testhost"', 'host = "renamed"').replace(
        "[pcie]", '[gaps.P5]\nenabled = false\n\n[pcie]'))
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    body = ""
    while time.monotonic() < deadline:
        body = http_get(daemon.url + "/metrics")[1]
        if 'gap="P5"' not in body:
            break
        time.sleep(0.1)
    assert 'gap="P5"' not in body
    assert daemon.stop() == 0
    log = daemon.stderr()
    assert "reload refused" in log and "daemon.interval: bad duration '1x'" in log, log
    assert "configuration reloaded" in log


def test_sighup_with_a_value_a_collector_refuses_keeps_serving(config: tuple[Path, int],
                                                              daemon_factory: list[DaemonProcess]) -> None:
    path, port = config
    daemon = start_daemon(path, port)
    daemon_factory.append(daemon)
    path.write_text(path.read_text() + '\n[[ups.nut]]\nhost = "127.0.0.1"\nups = "my ups"\n')
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert daemon.proc.poll() is None
    assert http_get(daemon.url + "/metrics")[0] == 200
    assert daemon.stop() == 0
    log = daemon.stderr()
    assert "reload refused" in log and "'my ups' is not a NUT UPS name" in log and "Traceback" not in log


def test_port_in_use_is_a_clear_error(config: tuple[Path, int], daemon_factory: list[DaemonProcess]) -> None:
    path, port = config
    daemon_factory.append(start_daemon(path, port))
    result = run_physgap("run", "--config", str(path), timeout=20)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_at_start_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "physgap.toml"
    path.write_text('[prometheus]\nlisten = "nowhere"\n')
    result = run_physgap("run", "--config", str(path), timeout=20)
    assert result.returncode == 2
    assert f"{path}:2: prometheus.listen: bad listen address" in result.stderr


# --- TLS and basic auth ----------------------------------------------------------------------------------


def _get(url: str, ca: Path, auth: tuple[str, str] | None = None) -> int:
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_tls_and_basic_auth(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    pki = make_pki(tmp_path)
    ca, cert, key = pki.ca, pki.server_cert, pki.server_key
    hashed = bcrypt.hashpw(b"s3cret-pw", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
                   f"basic_auth_users:\n  prom: {hashed}\n")
    port = free_port()
    path = write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port)
    daemon = start_daemon(path, port, "--web.config.file", str(web), scheme="https")
    daemon_factory.append(daemon)
    url = f"https://localhost:{port}/metrics"
    assert _get(url, ca, ("prom", "s3cret-pw")) == 200
    assert _get(url, ca, ("prom", "wrong")) == 401
    assert _get(url, ca) == 401
    with pytest.raises(OSError):  # plain HTTP to the TLS port gets no page (the server drops it)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert daemon.stop() == 0
    assert "s3cret-pw" not in daemon.stderr()


def test_missing_tls_key_is_a_clear_error_at_start(tmp_path: Path) -> None:
    cert = make_pki(tmp_path).server_cert
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {tmp_path / 'absent.pem'}\n")
    port = free_port()
    path = write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port)
    result = run_physgap("run", "--config", str(path), "--web.config.file", str(web), timeout=20)
    assert result.returncode == 2
    assert "absent.pem" in result.stderr and "Traceback" not in result.stderr


def test_textfile_is_written_and_promtool_clean(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    from tests.conftest import require_binary

    promtool = require_binary("promtool")
    port = free_port()
    textfile = tmp_path / "textfile" / "physgap.prom"
    textfile.parent.mkdir()
    path = write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port)
    path.write_text(path.read_text().replace("[prometheus]\n", f'[prometheus]\ntextfile = "{textfile}"\n'))
    daemon = start_daemon(path, port)
    daemon_factory.append(daemon)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (textfile.exists() and "pcie\"} 1.0" in textfile.read_text()):
        time.sleep(0.1)
    text = textfile.read_text()
    assert 'physgap_collector_success{collector="pcie"} 1.0' in text
    assert "process_cpu_seconds_total" not in text  # node_exporter exports its own process_* series
    assert [p.name for p in textfile.parent.iterdir()] == ["physgap.prom"]  # no temp files left behind
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")
    assert daemon.stop() == 0


def test_sighup_rereads_a_changed_web_config(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    """A rotated password in the same web.yml takes effect on reload, on the same port."""
    pki = make_pki(tmp_path)
    web = tmp_path / "web.yml"

    def write_web(password: bytes) -> None:
        hashed = bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode()
        web.write_text(f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n"
                       f"basic_auth_users:\n  prom: {hashed}\n")

    write_web(b"old-password")
    port = free_port()
    path = write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port)
    path.write_text(path.read_text().replace("[prometheus]\n", f'[prometheus]\nweb_config = "{web}"\n'))
    daemon = start_daemon(path, port, scheme="https")
    daemon_factory.append(daemon)
    url = f"https://localhost:{port}/metrics"
    assert _get(url, pki.ca, ("prom", "old-password")) == 200
    write_web(b"new-password")
    daemon.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if _get(url, pki.ca, ("prom", "new-password")) == 200:
                break
        except OSError:
            pass  # the listener is being replaced
        time.sleep(0.1)
    assert _get(url, pki.ca, ("prom", "new-password")) == 200
    assert _get(url, pki.ca, ("prom", "old-password")) == 401
    assert daemon.stop() == 0
