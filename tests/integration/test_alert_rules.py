"""deploy/prometheus against the real promtool: the rules load, their unit tests pass, and those unit tests
can fail (each alert's firing expectation is live, not vacuous). Also checks the example scrape config.

Shipping rules without tests is how a peer's UPS rule came to never fire (`and` across series whose label
sets differ); every alert here is covered both firing and staying quiet, and this file enforces that.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_binary

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "physgap-rules.yml"
RULE_TESTS = PROM / "physgap-rules.test.yml"
SCRAPE = PROM / "scrape-physgap.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool")


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _alert_names() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return sorted({r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r})


def _staged(tmp_path: Path, tests: dict[str, Any]) -> Path:
    """The rules plus a (possibly mutated) test file, side by side as rule_files expects."""
    shutil.copy(RULES, tmp_path / RULES.name)
    target = tmp_path / RULE_TESTS.name
    target.write_text(yaml.safe_dump(tests, sort_keys=False))
    return target


# --- the rules and their tests ------------------------------------------------------------------------


def test_rules_load_without_lint_findings(promtool: str) -> None:
    # --lint-fatal: duplicate rules and the like fail the check instead of printing a warning.
    result = _run([promtool, "check", "rules", "--lint-fatal", RULES.name], PROM)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def _rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = _run([promtool, "test", "rules", RULE_TESTS.name], PROM)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = [c for t in yaml.safe_load(RULE_TESTS.read_text())["tests"] for c in t.get("alert_rule_test", [])]
    for alert in _alert_names():
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c.get("exp_alerts") for c in mine), f"{alert}: no test where it fires"
        assert any(not c.get("exp_alerts") for c in mine), f"{alert}: no test where it stays quiet"


def test_rules_document_themselves() -> None:
    # Alertmanager templates and on-call humans both read these; an alert without them is a riddle.
    for rule in _rules():
        annotations = rule.get("annotations", {})
        assert {"summary", "description"} <= set(annotations), rule["alert"]
        assert "$labels.instance" in annotations["summary"], rule["alert"]


# --- negative controls: the unit tests can fail ---------------------------------------------------------


@pytest.mark.parametrize("alert", _alert_names())
def test_unit_tests_catch_an_alert_that_stopped_firing(promtool: str, tmp_path: Path, alert: str) -> None:
    # Claim the alert stays quiet where the tests say it fires: promtool must disagree.
    tests = yaml.safe_load(RULE_TESTS.read_text())
    mutated = copy.deepcopy(tests)
    for group in mutated["tests"]:
        for case in group.get("alert_rule_test", []):
            if case["alertname"] == alert and case.get("exp_alerts"):
                case["exp_alerts"] = []
    result = _run([promtool, "test", "rules", _staged(tmp_path, mutated).name], tmp_path)
    assert result.returncode != 0, f"promtool accepted a silenced {alert}:\n{result.stdout}"
    assert "FAILED" in result.stdout + result.stderr


def test_unit_tests_catch_an_alert_firing_too_early(promtool: str, tmp_path: Path) -> None:
    # Expect PhysgapGapOpen already while it is pending (before `for:` elapsed).
    tests = yaml.safe_load(RULE_TESTS.read_text())
    firing = next(c for g in tests["tests"] for c in g.get("alert_rule_test", [])
                  if c["alertname"] == "PhysgapGapOpen" and c.get("exp_alerts"))
    pending = next(c for g in tests["tests"] for c in g.get("alert_rule_test", [])
                   if c["alertname"] == "PhysgapGapOpen" and not c.get("exp_alerts")
                   and _minutes(c["eval_time"]) < _minutes(firing["eval_time"]))
    pending["exp_alerts"] = copy.deepcopy(firing["exp_alerts"])
    result = _run([promtool, "test", "rules", _staged(tmp_path, tests).name], tmp_path)
    assert result.returncode != 0, result.stdout
    assert "FAILED" in result.stdout + result.stderr


@pytest.mark.parametrize(("matching", "fires"), [("", False), ("on(instance, job, interface) ", True)])
def test_label_matching_trap_is_real(promtool: str, tmp_path: Path, matching: str, fires: bool) -> None:
    # Why the rules spell out on(...): `and` matches complete label sets, so joining physgap_nic_up with
    # physgap_nic_info (extra labels kind, operstate, ...) matches nothing and the alert can never fire,
    # the same silent failure as the peer's UPS rule. With on(...) the same rule fires as tested.
    rules = yaml.safe_load(RULES.read_text())
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        if rule.get("alert") == "PhysgapNicDown":
            rule["expr"] = f'physgap_nic_up == 0 and {matching}physgap_nic_info{{operstate="down"}}'
    (tmp_path / RULES.name).write_text(yaml.safe_dump(rules, sort_keys=False))
    tests = yaml.safe_load(RULE_TESTS.read_text())
    for group in tests["tests"]:
        if any(c["alertname"] == "PhysgapNicDown" for c in group.get("alert_rule_test", [])):
            group["input_series"].append({
                "series": 'physgap_nic_info{job="physgap", instance="nas:9829", interface="enp1s0", '
                          'kind="ethernet", operstate="down", pci_address="0000:03:00.0", bond_master=""}',
                "values": "1x20",
            })
    test_file = tmp_path / RULE_TESTS.name
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = _run([promtool, "test", "rules", test_file.name], tmp_path)
    output = result.stdout + result.stderr
    assert (result.returncode == 0) is fires, output
    if not fires:  # failed for the right reason: the expected alert simply never came
        assert re.search(r"alertname: PhysgapNicDown, time: 8m,.*got:\[\]", output, re.S), output


def _minutes(duration: str) -> float:
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, duration
    return int(match.group(1)) * {"s": 1 / 60, "m": 1, "h": 60}[match.group(2)]


# --- the example scrape config -------------------------------------------------------------------------


def test_scrape_example_is_valid(promtool: str, tmp_path: Path) -> None:
    text = SCRAPE.read_text().replace("/etc/prometheus/physgap-rules.yml", str(RULES))
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    result = _run([promtool, "check", "config", config.name], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    job = yaml.safe_load(text)["scrape_configs"][0]
    # PhysgapExporterDown matches up{job="physgap"}; the example and the rule must agree.
    assert job["job_name"] == "physgap"
    assert all(t.endswith(":9829") for t in job["static_configs"][0]["targets"])


def test_scrape_example_optional_blocks_are_valid(promtool: str, tmp_path: Path) -> None:
    # Uncomment every optional setting (lines "    # key..." inside the job) the way an operator would.
    lines = []
    for line in SCRAPE.read_text().splitlines():
        lines.append(line.replace("    # ", "    ", 1) if line.startswith("    # ") else line)
    text = "\n".join(lines).replace("/etc/prometheus/physgap-rules.yml", str(RULES))
    # promtool checks that referenced files exist: give it stand-ins in the temp directory.
    for path in set(re.findall(r"/etc/prometheus/[\w.-]+", text)):
        (tmp_path / Path(path).name).write_text("stand-in\n")
        text = text.replace(path, str(tmp_path / Path(path).name))
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    job = yaml.safe_load(text)["scrape_configs"][0]
    assert {"relabel_configs", "scheme", "tls_config", "basic_auth"} <= set(job), text
    result = _run([promtool, "check", "config", config.name], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
