"""The CLI as an operator uses it: check-config, once (promtool-clean), report --fail-on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import REPO, empty_sysfs, require_binary, run_physgap, write_config


def test_check_config_ok_and_bad(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[daemon]\ninterval = "1m"\n')
    ok = run_physgap("check-config", str(good))
    assert ok.returncode == 0 and f"{good}: OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[daemon]\ninterval = "30x"\n[nics]\nexclude = 3\n')
    result = run_physgap("check-config", str(bad))
    assert result.returncode == 2
    assert f"{bad}:2: daemon.interval: bad duration '30x'" in result.stderr
    assert f"{bad}:4: nics.exclude: expected a list of strings" in result.stderr


def test_check_config_names_line_and_key_for_gap_ids_and_ups_names(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[ups.nut]]\nhost = "127.0.0.1"\nups = "my ups"\n\n[gaps.p5]\nenabled = false\n')
    result = run_physgap("check-config", str(bad))
    assert result.returncode == 2
    assert f"{bad}:5: gaps.p5: no such gap (known: P1, P2, P3, P4, P5, P6)" in result.stderr
    assert f"{bad}:3: ups.nut[0].ups: 'my ups' is not a NUT UPS name" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_every_section_without_a_not_implemented_warning(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nhost = "broker.lan"\n\n[hosts]\ncompute = ["pve2"]\n\n'
                    '[[oob.targets]]\nname = "nas-amt"\nhost = "nas-amt.lan"\n\n'
                    '[[switch]]\nname = "core"\nhost = "switch.lan"\ncommunity = "public"\n')
    result = run_physgap("check-config", str(path))
    assert result.returncode == 0, result.stderr
    # MQTT, compute hosts, out-of-band probes and switches are all built: no section is accepted and ignored.
    assert "not implemented" not in result.stderr


def test_the_shipped_example_config_is_valid() -> None:
    example = REPO / "systemd" / "physgap.toml.example"
    result = run_physgap("check-config", str(example))
    assert result.returncode == 0, result.stderr


def test_usage_errors_exit_2() -> None:
    assert run_physgap("frobnicate").returncode == 2
    assert run_physgap("report", "--fail-on", "catastrophic").returncode == 2


def test_once_output_passes_promtool(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    config = write_config(tmp_path / "c.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", 9829)
    result = run_physgap("once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "physgap_collector_success" in result.stdout
    lint = subprocess.run([promtool, "check", "metrics"], input=result.stdout, capture_output=True, text=True,
                          check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == "" and lint.stderr.strip() == ""


def test_once_json_has_collectors_and_gaps(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", 9829)
    document = json.loads(run_physgap("once", "--config", str(config), "--format", "json").stdout)
    assert document["host"] == "testhost"
    assert set(document["collectors"]) == {"hosts", "nic", "oob_local", "pcie", "smart", "storage", "ups"}
    assert all(c["success"] for c in document["collectors"].values())
    gaps = {g["id"]: g for g in document["gaps"]}
    assert list(gaps) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    # No Proxmox .members and no compute list: P4 cannot apply, and says what would make it apply.
    assert gaps["P4"]["status"] == "not applicable" and "[hosts] compute" in gaps["P4"]["reason"]
    # No [[oob.targets]] and no readable SMBIOS (the test config's dmidecode prints nothing): unknown, not open
    # and not resolved, and the reason says what would decide it.
    assert gaps["P6"]["status"] == "unknown" and "[[oob.targets]]" in gaps["P6"]["reason"]


# --- whole machines: sysfs trees shaped after real captures, through the real CLI -------------------------


def ms01_root(tmp_path: Path) -> Path:
    from tests.net_tree import ms01_tree
    from tests.pcie_tree import ms01

    root = tmp_path / "sys"
    ms01(root)
    ms01_tree(root)
    return root


def test_report_on_the_ms01_names_the_unused_sfp_ports(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", ms01_root(tmp_path), tmp_path / "state", 9829,
                          extra='[nics]\nexpected = { enp2s0f0np0 = "10G" }\n')
    result = run_physgap("report", "--config", str(config))
    assert result.returncode == 0, result.stderr
    p3 = next(line for line in result.stdout.splitlines() if line.startswith("| P3 |"))
    assert "| Low | open |" in p3 and "enp2s0f0np0 down, expected 10G" in p3
    p5 = next(line for line in result.stdout.splitlines() if line.startswith("| P5 |"))
    assert "| Informational | resolved |" in p5  # every MS-01 slot the kernel shows is occupied

    low = run_physgap("report", "--config", str(config), "--fail-on", "low")
    # P1 is open too: this test host has no UPS.
    assert low.returncode == 1 and "2 open gap(s) at low or worse: P1, P3" in low.stderr
    high = run_physgap("report", "--config", str(config), "--fail-on", "high")
    assert high.returncode == 1 and "1 open gap(s) at high or worse: P1" in high.stderr
    assert run_physgap("report", "--config", str(config), "--fail-on", "critical").returncode == 0


def test_report_json_on_the_zimaboard_opens_p5(tmp_path: Path) -> None:
    from tests.pcie_tree import zimaboard_832

    root = tmp_path / "sys"
    zimaboard_832(root)
    (root / "class" / "net").mkdir(parents=True)
    config = write_config(tmp_path / "c.toml", root, tmp_path / "state", 9829)
    result = run_physgap("report", "--config", str(config), "--format", "json", "--fail-on", "info")
    assert result.returncode == 1
    gaps = {g["id"]: g for g in json.loads(result.stdout)["gaps"]}
    assert gaps["P5"]["status"] == "open" and gaps["P5"]["severity_display"] == "Informational"
    assert gaps["P5"]["evidence"] == ["port 0000:00:13.0 (x4, port 0000:00:13.0) empty"]
    assert gaps["P3"]["status"] == "unknown" and gaps["P3"]["reason"] == "no network interface found"


def test_once_on_the_ms01_is_promtool_clean_and_in_base_units(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    config = write_config(tmp_path / "c.toml", ms01_root(tmp_path), tmp_path / "state", 9829)
    result = run_physgap("once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert 'physgap_nic_speed_bytes{interface="enp87s0"} 1.25e+08' in text  # 1000 Mbit/s
    assert 'physgap_pcie_link_speed_gts{address="0000:02:00.0",device="8086:1572"} 8.0' in text
    assert 'physgap_pcie_link_max_speed_gts{address="0000:00:06.2",device="8086:a73d"} 16.0' in text
    assert 'physgap_pcie_link_downgraded{address="0000:58:00.0",device="2646:501b"} 0.0' in text
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")


def test_once_inside_a_network_namespace_sees_real_veth_links(tmp_path: Path) -> None:
    """The real kernel path: sysfs remounted by `ip netns exec`, speeds and the ethtool ioctl live."""
    import uuid

    ip = require_binary("ip")
    namespace = f"physgap-cli-{uuid.uuid4().hex[:8]}"
    subprocess.run([ip, "netns", "add", namespace], check=True)
    try:
        for command in (["link", "add", "pg0", "type", "veth", "peer", "name", "pg1"],
                        ["link", "set", "pg0", "up"], ["link", "set", "pg1", "up"],
                        ["link", "add", "pg2", "type", "veth", "peer", "name", "pg3"],
                        ["link", "set", "pg2", "up"]):
            subprocess.run([ip, "-n", namespace, *command], check=True)
        config = tmp_path / "c.toml"
        config.write_text(f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n[pcie]\ndmidecode = "/bin/true"\n'
                          '[nics]\ninclude = ["pg*"]\ninclude_virtual = true\n'
                          'expected = { pg0 = "25G", pg2 = "10G" }\n')
        result = subprocess.run([ip, "netns", "exec", namespace, *_physgap("report", "--config", str(config),
                                                                          "--format", "json")],
                                cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        p3 = next(g for g in json.loads(result.stdout)["gaps"] if g["id"] == "P3")
        assert p3["status"] == "open"
        assert p3["evidence"] == ["pg0 10G, expected 25G", "pg2 down, expected 10G"]
    finally:
        subprocess.run([ip, "netns", "del", namespace], check=False)


def _physgap(*args: str) -> list[str]:
    from tests.conftest import physgap_argv

    return physgap_argv(*args)


def test_discovery_links_the_status_page_over_https_when_the_web_config_turns_tls_on(tmp_path: Path) -> None:
    """`physgap discovery` prints what the daemon publishes: with TLS on, Home Assistant's device link is
    https, as the running daemon makes it."""
    from tests.pki import make_pki

    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n")
    config = write_config(tmp_path / "c.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", 9829,
                          extra='[mqtt]\nhost = "broker.lan"\n')
    text = config.read_text()
    config.write_text(text.replace('listen = "127.0.0.1:9829"\n', f'listen = ":9829"\nweb_config = "{web}"\n'))
    assert f'web_config = "{web}"' in config.read_text()
    printed = run_physgap("discovery", "--config", str(config))
    assert printed.returncode == 0, printed.stderr
    links = {d["payload"]["device"].get("configuration_url") for d in json.loads(printed.stdout)}
    assert links == {"https://testhost:9829/"}
