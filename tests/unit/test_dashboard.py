"""deploy/grafana: the dashboard imports anywhere (no ${DS_...} inputs, every query through the data source
variable), serves one host or a fleet (every selector filtered by the Job and Host variables), names only
metrics the catalog exports, and every query is valid PromQL that returns data for the fixture world.

The queries are checked by the real promtool in two ways: `promtool check rules` on a rule file holding each
query as a recording rule (syntax), and `promtool test rules` evaluating each query over the golden fixture
world's exposition (tests/golden/metrics.prom) scraped from two hosts (semantics: joins match, the gap state
reads what `physgap report` says, the Host variable selects one host or both).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporters import catalog
from tests.conftest import require_binary

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "physgap-physical-layer.json"
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "physgap.yml"
GOLDEN_METRICS = REPO / "tests" / "golden" / "metrics.prom"
GOLDEN_REPORT = REPO / "tests" / "golden" / "report.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
HOSTS = ("pve1:9829", "nas.lan:9829")
METRIC = re.compile(r"\bphysgap_[a-z0-9_]+\b")
SEVERITY_NUMBER = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


def load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", ())


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target, annotation and variable query."""
    for panel in panels(dashboard):
        for target in panel.get("targets", ()):
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            yield f"annotation {annotation['name']!r}", annotation["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            found = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert found, f"variable {variable['name']}: {query}"
            yield f"variable {variable['name']}", found.group(1)


def substituted(expr: str, host: str = ".+") -> str:
    """The query as Grafana sends it: variables replaced the way its Prometheus data source formats them."""
    text = (expr.replace("$__rate_interval", "5m").replace("$job", ".+").replace("$host", host))
    assert "$" not in text, f"a variable the test does not know: {expr}"
    return text


def test_the_dashboard_needs_no_import_inputs_and_provisioning_finds_it() -> None:
    text = DASHBOARD.read_text()
    dashboard = load()
    assert "__inputs" not in dashboard and "${DS_" not in text and "__requires" not in dashboard
    # A fixed uid keeps links and provisioning stable; no numeric id, which belongs to one Grafana's database.
    assert dashboard["uid"] == "physgap-physical-layer" and dashboard.get("id") is None
    provider = yaml.safe_load(PROVISIONING.read_text())
    assert provider["apiVersion"] == 1
    assert [p["type"] for p in provider["providers"]] == ["file"]
    assert provider["providers"][0]["options"]["path"]


def test_variables_choose_the_data_source_then_job_then_hosts() -> None:
    variables = {v["name"]: v for v in load()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name, label in (("job", "job"), ("host", "instance")):
        variable = variables[name]
        assert variable["type"] == "query" and variable["datasource"] == DATASOURCE
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".+"
        assert variable["query"].startswith("label_values(physgap_") and variable["query"].endswith(f", {label})")
    # Hosts are narrowed by the chosen job: a fleet under several jobs still lists only its own hosts.
    assert '{job=~"$job"}' in variables["host"]["query"]


def test_panel_ids_are_unique_and_the_grid_has_no_overlap() -> None:
    every = list(panels(load()))
    ids = [p["id"] for p in every]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    boxes = [(p["title"], p["gridPos"]) for p in every]
    for title, box in boxes:
        assert box["x"] >= 0 and box["w"] > 0 and box["x"] + box["w"] <= 24, title
    for index, (title, a) in enumerate(boxes):
        for other, b in boxes[index + 1:]:
            overlap = (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                       and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
            assert not overlap, f"{title!r} overlaps {other!r}"


def test_the_gap_table_comes_first() -> None:
    first = next(p for p in load()["panels"] if p["type"] != "row")
    assert first["title"] == "Gaps per host" and first["gridPos"]["y"] == 1
    assert "physgap_gap_open" in first["targets"][0]["expr"]


def test_every_query_goes_through_the_data_source_variable() -> None:
    dashboard = load()
    for panel in panels(dashboard):
        if panel["type"] in ("row", "text"):
            assert "targets" not in panel, panel["title"]
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, (panel["title"], target["refId"])
    for annotation in dashboard["annotations"]["list"]:
        if not annotation.get("builtIn"):
            assert annotation["datasource"] == DATASOURCE


def test_every_selector_is_narrowed_to_the_chosen_job_and_hosts() -> None:
    """A query that forgot the Host filter would show the whole fleet in a one-host view."""
    for where, expr in queries(load()):
        if where.startswith("variable"):
            continue
        selectors = re.findall(r"\b(?:physgap_[a-z0-9_]+|up|ALERTS)\{([^}]*)\}", expr)
        names = re.findall(r"\b(?:physgap_[a-z0-9_]+|up|ALERTS)\b", expr)
        assert len(selectors) == len(names), f"{where}: a selector without labels in {expr}"
        for labels in selectors:
            assert 'job=~"$job"' in labels and 'instance=~"$host"' in labels, f"{where}: {expr}"


def test_every_metric_the_dashboard_names_is_in_the_catalog() -> None:
    named = {name for _, expr in queries(load()) for name in METRIC.findall(expr)}
    missing = set()
    for name in named:
        try:
            catalog.find(name)
        except KeyError:
            missing.add(name)
    assert missing == set()
    # The other way round: a kind the catalog gains (out-of-band, compute hosts) fails here until it has a panel.
    shown = {catalog.find(name)[0].name for name in named}
    assert shown == {kind.name for kind in catalog.CATALOG}


def test_column_overrides_name_columns_the_table_has() -> None:
    for panel in panels(load()):
        organize = [t for t in panel.get("transformations", ()) if t["id"] == "organize"]
        if panel["type"] != "table" or not organize:
            continue
        columns = set(organize[0]["options"]["renameByName"].values())
        for override in panel["fieldConfig"]["overrides"]:
            if override["matcher"]["id"] == "byName":
                assert override["matcher"]["options"] in columns, (panel["title"], override["matcher"]["options"])


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool")


def test_promtool_parses_every_query(promtool: str, tmp_path: Path) -> None:
    rules = [{"record": f"dashboard:query_{i}:expr", "expr": substituted(expr)}
             for i, (_, expr) in enumerate(queries(load()))]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def _value(value: float) -> str:
    # promtool's series notation reads "a+bxn": a plain decimal keeps an exponent's "+" out of it.
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def _series(name: str, labels: dict[str, str]) -> str:
    # A JSON string is a valid PromQL string literal: the same escapes for quotes and backslashes.
    pairs = ", ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in sorted(labels.items()))
    return f"{name}{{{pairs}}}"


def fixture_fleet() -> tuple[list[dict[str, str]], set[str]]:
    """The golden world's exposition as scraped from two hosts: promtool input series, and the metric names."""
    text = GOLDEN_METRICS.read_text().replace("<volatile>", "0")
    inputs, names = [], set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.add(sample.name)
            for host in HOSTS:
                labels = {**sample.labels, "instance": host, "job": "physgap"}
                inputs.append({"series": _series(sample.name, labels), "values": f"{_value(sample.value)}+0x10"})
    for host in HOSTS:
        inputs.append({"series": _series("up", {"instance": host, "job": "physgap"}), "values": "1+0x10"})
    return inputs, names


def gap_state_expectations(host_regex: str, hosts: tuple[str, ...]) -> dict[str, Any]:
    """What the gap table must show: the golden report's status and severity, as the dashboard's numbers."""
    report = json.loads(GOLDEN_REPORT.read_text())
    samples = []
    for gap in report["gaps"]:
        number = {"unknown": -1, "not applicable": -2, "resolved": 0}.get(gap["status"])
        if number is None:
            number = SEVERITY_NUMBER[gap["severity"]]
        for host in hosts:
            labels = {"gap": gap["id"], "instance": host, "job": "physgap", "severity": gap["severity"],
                      "title": gap["title"]}
            samples.append({"labels": _series("", labels), "value": number})
    gap_query = next(expr for where, expr in queries(load()) if "Gaps per host" in where)
    return {"expr": substituted(gap_query, host_regex), "eval_time": "5m", "exp_samples": samples}


def test_every_query_returns_data_for_the_fixture_world_and_the_gap_table_reads_as_the_report(
        promtool: str, tmp_path: Path) -> None:
    inputs, present = fixture_fleet()
    cases = []
    for where, expr in queries(load()):
        if where.startswith("annotation"):
            continue  # ALERTS: no rule fires in a promtool test without rules
        if not set(METRIC.findall(expr)) <= present:
            continue  # e.g. sync progress: no array is resyncing in the fixture world
        cases.append({"expr": f"absent({substituted(expr)})", "eval_time": "5m", "exp_samples": []})
    assert len(cases) > 30
    # Grafana sends one chosen host as itself and several as an escaped alternation.
    cases.append(gap_state_expectations(HOSTS[0], HOSTS[:1]))
    cases.append(gap_state_expectations("(pve1:9829|nas\\\\.lan:9829)", HOSTS))
    (tmp_path / "empty-rules.yml").write_text("groups: []\n")
    test_file = tmp_path / "dashboard.test.yml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": ["empty-rules.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": inputs, "promql_expr_test": cases}]}, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", test_file.name], cwd=tmp_path, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
