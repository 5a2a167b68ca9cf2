"""The switch side of P3 and its metrics: evidence that names both ends of a cable, a silent switch that makes its
side unknown (never resolving anything), and physgap_switch_* series that only say what was measured."""

from __future__ import annotations

from types import MappingProxyType

from collectors.model.readings import AnyReading, LinkReading, SwitchPortReading, SwitchReading
from collectors.model.snapshot import CollectorStatus, Gap, Snapshot, View
from exporters.prometheus import render
from tests import gap_fixtures
from tests.faults.harness import series, value

NIC = "enp2s0f0np0"


def link(name: str, speed: int | None, max_speed: int | None, carrier: bool = True) -> LinkReading:
    return LinkReading(
        interface=name, physical=True, kind="ethernet", operstate="up" if carrier else "down", admin_up=True,
        carrier=carrier, speed_mbps=speed if carrier else None, full_duplex=True if carrier else None,
        max_speed_mbps=max_speed, supported_modes=(), expected_speed_mbps=None, carrier_changes=1)


def port(name: str, speed: int | None, status: str = "up", interface: str = "", index: int = 1,
         switch: str = "usw-16") -> SwitchPortReading:
    return SwitchPortReading(switch=switch, if_index=index, port=name, alias="", oper_status=status,
                             speed_mbps=speed, interface=interface, mapped_by="config" if interface else "")


def up(switch: str = "usw-16", links: tuple[tuple[str, str], ...] = ((NIC, "te1"),),
       unmatched: tuple[str, ...] = ()) -> SwitchReading:
    return SwitchReading(switch=switch, up=True, reason="", sys_name=switch, links=links, unmatched=unmatched)


def silent(switch: str = "usw-16", links: tuple[tuple[str, str], ...] = ((NIC, "te1"),)) -> SwitchReading:
    return SwitchReading(switch=switch, up=False, reason="no SNMP answer (request timed out: host down, port "
                         "closed or wrong community)", links=links)


def snapshot(nic: tuple[AnyReading, ...], switch: tuple[AnyReading, ...] | None) -> Snapshot:
    return gap_fixtures.snapshot(nic=nic) if switch is None else gap_fixtures.snapshot(nic=nic, switch=switch)


def p3(snap: Snapshot) -> Gap:
    return gap_fixtures.gap(snap, "P3")


def test_a_10g_nic_on_a_1g_port_names_both_ends() -> None:
    gap = p3(snapshot((link(NIC, 1000, 10_000),), (up(), port("te1", 1000, interface=NIC), port("te2", 10_000))))
    assert (gap.status, gap.severity) == ("open", "low")
    assert gap.evidence == (f"{NIC} 1G of 10G; switch usw-16 port te1 at 1G",)


def test_full_speed_on_both_ends_resolves_with_both_named() -> None:
    gap = p3(snapshot((link(NIC, 10_000, 10_000), link("enp87s0", 2500, 2500)),
                      (up(), port("te1", 10_000, interface=NIC))))
    assert gap.status == "resolved"
    assert gap.evidence == (f"{NIC} 10G of 10G; switch usw-16 port te1 at 10G", "enp87s0 2.5G of 2.5G")


def test_a_silent_switch_leaves_its_side_unknown_and_decides_nothing() -> None:
    slow = p3(snapshot((link(NIC, 1000, 10_000),), (silent(),)))
    assert slow.status == "open"  # the NIC side alone opened it
    assert slow.evidence == (f"{NIC} 1G of 10G; switch usw-16 side unknown (no SNMP answer)",)
    fast = p3(snapshot((link(NIC, 10_000, 10_000),), (silent(),)))
    assert fast.status == "resolved"  # decided by the NIC's own measurement, not by the silent switch
    assert fast.evidence == (f"{NIC} 10G of 10G; switch usw-16 side unknown (no SNMP answer)",)
    # Without a measured NIC the switch proves nothing either way: still unknown.
    assert p3(snapshot((link(NIC, 1000, None),), (silent(),))).status == "unknown"
    assert p3(snapshot((link(NIC, 1000, None),), (up(), port("te1", 1000, interface=NIC)))).status == "unknown"


def test_a_missing_port_a_down_port_and_an_unknown_speed_are_said_as_such() -> None:
    missing = p3(snapshot((link(NIC, 1000, 10_000),), (up(links=((NIC, "te9"),), unmatched=(NIC,)),)))
    assert missing.evidence == (f"{NIC} 1G of 10G; switch usw-16 has no port te9",)
    down = p3(snapshot((link(NIC, 1000, 10_000),), (up(), port("te1", None, status="down", interface=NIC))))
    assert down.evidence == (f"{NIC} 1G of 10G; switch usw-16 port te1 down",)
    unknown = p3(snapshot((link(NIC, 1000, 10_000),), (up(), port("te1", None, interface=NIC))))
    assert unknown.evidence == (f"{NIC} 1G of 10G; switch usw-16 port te1 up, speed unknown",)


def test_unmapped_nics_and_hosts_without_switches_read_as_before() -> None:
    nics = (link(NIC, 1000, 10_000), link("enp87s0", 2500, 2500))
    expected = (f"{NIC} 1G of 10G",)
    assert p3(snapshot(nics, None)).evidence == expected
    assert p3(snapshot(nics, (up(links=()), port("te1", 1000)))).evidence == expected


def view(*readings: AnyReading) -> View:
    status = CollectorStatus("switch", True, readings=readings)
    return View(Snapshot("pve1", 0.0, MappingProxyType({"switch": status})), ())


def test_metrics_of_an_answering_and_a_silent_switch() -> None:
    text = render(view(up(), port("te1", 1000, interface=NIC, index=2), port("te2", None, status="down", index=3),
                       silent("nas-switch", links=()))).decode()
    assert value(text, "physgap_switch_up", switch="usw-16") == 1
    assert value(text, "physgap_switch_up", switch="nas-switch") == 0  # configured, silent: 0, not absent
    assert value(text, "physgap_switch_port_speed_bytes", switch="usw-16", port="te1") == 125_000_000
    assert value(text, "physgap_switch_port_up", switch="usw-16", port="te2") == 0
    assert value(text, "physgap_switch_port_speed_bytes", switch="usw-16", port="te2") is None  # down: no speed
    assert value(text, "physgap_switch_port_info", switch="usw-16", port="te1", if_index="2", alias="",
                 interface=NIC, mapped_by="config") == 1
    # A silent switch's ports are unknown: no series at all, rather than "down".
    assert all(dict(labels)["switch"] == "usw-16" for labels in series(text, "physgap_switch_port_up"))
