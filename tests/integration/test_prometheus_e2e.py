"""The alerts as an operator receives them: a real Prometheus (Debian `prometheus`) scrapes the real physgap
daemon and evaluates the project's own deploy/prometheus/physgap-rules.yml; the test reads what Prometheus's
API says is firing.

The daemon replays one SATA drive through the stand-in smartctl (tests/smartctl_standin.py, the scenario
rewritten between phases) and one UPS on a real upsd with the dummy-ups driver (tests/nut_fixture.py). The
drive starts healthy, then its pending sectors grow (physgap's verdict: failing) and later go back to the
baseline (a pending sector that reads again on rewrite is cleared without a remap): PhysgapDriveFailing fires
naming the drive's model, /dev path and serial, and the P2 gap alert names it too; both resolve after the
heal. A second drive's reallocated count grows (degrading); a remap never goes away, so its heal is the
drive being replaced by a new one (new serial). The UPS goes on battery and back on line.

The rule file Prometheus loads is the project's file with only the `for:` durations shortened (to 1s; a
`for: 0m` stays 0m) so the test runs in seconds: the expressions, labels and annotations (with their
`query` joins of physgap_drive_info and the UPS series) are the project's own, copied through YAML
unchanged. Prometheus scrapes and evaluates every second; each wait is bounded.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import nut_devs
from tests import smart_fixtures as sf
from tests.conftest import (
    REPO,
    DaemonProcess,
    disks_sysfs,
    free_port,
    http_get,
    listening,
    require_binary,
    start_daemon,
    write_config,
)
from tests.nut_fixture import NutServer
from tests.smartctl_standin import write_scenario

RULES = REPO / "deploy" / "prometheus" / "physgap-rules.yml"
SHORT_FOR = "1s"
WAIT = 60.0  # seconds, per awaited state
UPS = "ups1"
MODEL = "WDC WD40EFRX-68N32N0"  # sf.ATA_HDD_HEALTHY's model


# --- the parts: rules copy, Prometheus, daemon ---------------------------------------------------------------


def shortened_rules() -> tuple[dict[str, Any], int]:
    """The project's rule file with every `for:` other than zero set to SHORT_FOR; the number changed."""
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    changed = 0
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule and str(rule["for"]).rstrip("smh") != "0":
                rule["for"] = SHORT_FOR
                changed += 1
    return rules, changed


@dataclass
class Prometheus:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = http_get(f"{self.url}/api/v1/{path}{query}")
        assert status == 200, body
        answer = json.loads(body)
        assert answer["status"] == "success", answer
        return answer["data"]

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing); a resolved alert is no longer listed."""
        found: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return found

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query", query=expr)["result"]
        return result

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start_prometheus(root: Path, target_port: int) -> Prometheus:
    binary = require_binary("prometheus")
    root.mkdir(parents=True, exist_ok=True)
    rules, changed = shortened_rules()
    assert changed >= 5, "the rule file has fewer `for:` durations than expected: was it rewritten?"
    (root / "physgap-rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    (root / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "rule_files:\n  - physgap-rules.yml\n"
        # job "physgap": the name the rules and the example scrape config use.
        f"scrape_configs:\n  - job_name: physgap\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n",
        encoding="utf-8")
    port = free_port()
    log = root / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            cwd=root, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    prometheus = Prometheus(proc, port, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited {proc.returncode}: {prometheus.log_tail()}")
        if listening(port) and http_get(prometheus.url + "/-/ready")[0] == 200:
            return prometheus
        time.sleep(0.1)
    proc.kill()
    proc.wait(5)
    raise AssertionError(f"prometheus not ready on {port} within 30s: {prometheus.log_tail()}")


def drive_doc(serial: str, wwn_id: int, **raw: int) -> dict[str, Any]:
    """sf.ATA_HDD_HEALTHY on /dev/sda as another unit of the same model; raw={attr id as a_<id>: count}."""
    document = sf.variant(sf.ATA_HDD_HEALTHY, serial_number=serial,
                          wwn={"naa": 5, "oui": 5358, "id": wwn_id})
    for key, count in raw.items():
        document = sf.with_attribute(document, int(key.removeprefix("a_")), raw=count)
    return document


@dataclass
class Setup:
    root: Path
    daemon: DaemonProcess
    nut: NutServer
    prometheus: Prometheus

    def replay(self, document: dict[str, Any]) -> None:
        """What smartctl answers for /dev/sda from its next call on."""
        write_scenario(self.root / "smartctl",
                       {"scan": None, "devices": {"/dev/sda": {"type": "sat", "json": document}}})

    def context(self) -> str:
        metrics = http_get(self.daemon.url + "/metrics")[1]
        wanted = ("physgap_drive_", "physgap_gap_open", "physgap_ups_on_battery", "physgap_collector_success")
        lines = [line for line in metrics.splitlines() if line.startswith(wanted)]
        return ("\nalerts: " + json.dumps(self.prometheus.alerts(), indent=1) + "\nphysgap /metrics:\n"
                + "\n".join(lines) + "\nphysgap log:\n" + "\n".join(self.daemon.stderr().splitlines()[-20:])
                + "\nprometheus log:\n" + self.prometheus.log_tail())

    def wait(self, what: str, found: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            result = found()
            if result:
                return result
            time.sleep(0.25)
        raise AssertionError(f"not within {WAIT:g}s: {what}{self.context()}")

    def firing(self, alertname: str, **labels: str) -> dict[str, Any] | None:
        for alert in self.prometheus.alerts():
            have = alert["labels"]
            if alert["state"] == "firing" and have.get("alertname") == alertname and all(
                    have.get(key) == value for key, value in labels.items()):
                return alert
        return None

    def active(self, alertname: str, **labels: str) -> bool:
        """Pending or firing: anything but resolved."""
        return any(a["labels"].get("alertname") == alertname
                   and all(a["labels"].get(k) == v for k, v in labels.items()) for a in self.prometheus.alerts())

    def drive_id(self, serial: str) -> str:
        """The `drive` label of the drive with this serial, once Prometheus has scraped its healthy verdict."""
        def healthy() -> str | None:
            info = self.prometheus.query(f'physgap_drive_info{{serial="{serial}"}}')
            if len(info) != 1:
                return None
            drive: str = info[0]["metric"]["drive"]
            health = self.prometheus.query(f'physgap_drive_health{{drive="{drive}"}}')
            return drive if [h["value"][1] for h in health] == ["0"] else None
        drive: str = self.wait(f"drive {serial} scraped with health 0", healthy)
        return drive


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("prometheus-e2e")
    nut = NutServer.start(root / "nut", {UPS: nut_devs.ONLINE})
    daemon: DaemonProcess | None = None
    prometheus: Prometheus | None = None
    try:
        port = free_port()
        first = {"scan": None, "devices": {"/dev/sda": {"type": "sat", "json": drive_doc("WD-E2E0000000", 1)}}}
        config = write_config(root / "physgap.toml", disks_sysfs(root / "sys", "sda"), root / "state", port,
                              smart_scenario=first,
                              extra=f'[[ups.nut]]\nhost = "127.0.0.1"\nport = {nut.port}\n')
        # Its log goes to a file: a pipe nobody reads until the end would block the daemon's logging.
        daemon = start_daemon(config, port, log=root / "physgap.log")
        prometheus = start_prometheus(root / "prometheus", port)
        loaded = {rule["name"] for group in prometheus.api("rules")["groups"] for rule in group["rules"]}
        assert {"PhysgapDriveFailing", "PhysgapDriveDegrading", "PhysgapGapOpen", "PhysgapUpsOnBattery"} <= loaded
        yield Setup(root, daemon, nut, prometheus)
    finally:
        if prometheus is not None:
            prometheus.proc.terminate()
            try:
                prometheus.proc.wait(10)
            except subprocess.TimeoutExpired:
                prometheus.proc.kill()
                prometheus.proc.wait(5)
        if daemon is not None and daemon.proc.poll() is None:
            daemon.proc.terminate()
            try:
                daemon.proc.wait(10)
            except subprocess.TimeoutExpired:
                daemon.proc.kill()
                daemon.proc.wait(5)
        nut.close()


# --- the tests --------------------------------------------------------------------------------------------


def test_failing_drive_alert_names_the_drive_and_resolves_when_its_sectors_read_again(setup: Setup) -> None:
    serial = "WD-E2E1111111"
    setup.replay(drive_doc(serial, 11))
    drive = setup.drive_id(serial)  # healthy and scraped: the baseline (0 pending) is recorded

    setup.replay(drive_doc(serial, 11, a_197=8, a_198=8))  # 8 pending, 8 offline uncorrectable (were 0)
    alert = setup.wait(f"PhysgapDriveFailing firing for {drive}",
                       lambda: setup.firing("PhysgapDriveFailing", drive=drive))
    assert alert["labels"]["severity"] == "critical"
    description = alert["annotations"]["description"]
    assert f"drive {drive} ({MODEL} at /dev/sda, serial {serial})" in description, description
    assert f"Drive {MODEL} at /dev/sda on 127.0.0.1:" in alert["annotations"]["summary"], alert["annotations"]

    # The gap row behind it: P2 (no redundancy behind a failing drive) is critical and names the drive.
    gap = setup.wait("PhysgapGapOpen firing for P2",
                     lambda: setup.firing("PhysgapGapOpen", gap="P2", severity="critical"))
    assert f"Drive {MODEL} at /dev/sda (serial {serial}) is failing." in gap["annotations"]["description"], gap

    setup.replay(drive_doc(serial, 11))  # pending and uncorrectable back to the baseline's 0
    setup.wait("PhysgapDriveFailing resolved", lambda: not setup.active("PhysgapDriveFailing", drive=drive))
    setup.wait("PhysgapGapOpen for P2 resolved", lambda: not setup.active("PhysgapGapOpen", gap="P2"))
    assert [h["value"][1] for h in setup.prometheus.query(f'physgap_drive_health{{drive="{drive}"}}')] == ["0"]
    assert not setup.active("PhysgapDriveDegrading", drive=drive)


def test_degrading_drive_alert_fires_and_resolves_when_the_drive_is_replaced(setup: Setup) -> None:
    serial, replacement = "WD-E2E2222222", "WD-E2E3333333"
    setup.replay(drive_doc(serial, 22))
    drive = setup.drive_id(serial)

    setup.replay(drive_doc(serial, 22, a_5=16))  # 16 sectors remapped since the baseline: degrading
    alert = setup.wait(f"PhysgapDriveDegrading firing for {drive}",
                       lambda: setup.firing("PhysgapDriveDegrading", drive=drive))
    assert alert["labels"]["severity"] == "medium"
    assert (f"drive {drive} ({MODEL} at /dev/sda, serial {serial}) on" in alert["annotations"]["description"]
            ), alert
    assert not setup.active("PhysgapDriveFailing", drive=drive)  # a remap is a success: degrading, not failing
    gap = setup.wait("PhysgapGapOpen firing for P2", lambda: setup.firing("PhysgapGapOpen", gap="P2"))
    assert f"Drive {MODEL} at /dev/sda (serial {serial}) is degrading." in gap["annotations"]["description"], gap

    setup.replay(drive_doc(replacement, 33))  # a new drive in the same bay
    new = setup.drive_id(replacement)
    assert new != drive
    setup.wait("PhysgapDriveDegrading resolved", lambda: not setup.active("PhysgapDriveDegrading", drive=drive))
    setup.wait("PhysgapGapOpen for P2 resolved", lambda: not setup.active("PhysgapGapOpen", gap="P2"))
    assert not setup.active("PhysgapDriveDegrading", drive=new)


def test_ups_on_battery_alert_says_flags_charge_and_runtime_and_resolves_on_mains(setup: Setup) -> None:
    ups = f"{UPS}@127.0.0.1:{setup.nut.port}"  # physgap's UPS label: NUT's own upsname@host:port
    setup.wait("UPS on line scraped", lambda: [s["value"][1] for s in setup.prometheus.query(
        f'physgap_ups_on_battery{{ups="{ups}"}}')] == ["0"])
    assert not setup.active("PhysgapUpsOnBattery")

    setup.nut.update_dev(UPS, nut_devs.ON_BATTERY)  # OB DISCHRG, 80 %, 1500 s
    alert = setup.wait("PhysgapUpsOnBattery firing", lambda: setup.firing("PhysgapUpsOnBattery", ups=ups))
    assert alert["labels"]["severity"] == "high"
    description = alert["annotations"]["description"]
    assert "Flags: DISCHRG OB." in description, description
    assert "Charge 80%." in description, description
    assert "Runtime left 25m 0s." in description, description
    # The P1 gap (this test host has no upsmon attached, so it is open throughout) now says why it matters.
    setup.wait("P1's description names the UPS on battery", lambda: (
        (gap := setup.firing("PhysgapGapOpen", gap="P1")) is not None
        and f"UPS {ups} is on battery, charge 80%, runtime 25m 0s." in gap["annotations"]["description"]))

    setup.nut.update_dev(UPS, nut_devs.ONLINE)
    setup.wait("PhysgapUpsOnBattery resolved", lambda: not setup.active("PhysgapUpsOnBattery", ups=ups))
    assert not setup.active("PhysgapUpsCritical")
