"""NicCollector over sysfs trees shaped after real machines (mostly the MS-01 of the assessment).

The interfaces in these trees do not exist in the test kernel, so the ethtool ioctl is replaced by
`no_ioctl` (it would answer None for them anyway, but on a developer's MS-01 it would answer for the
real NICs). Where a capability is needed, `replay_x710` answers with the X710 capture from the corpus,
encoded in the kernel's own GLINKSETTINGS byte layout and decoded by the production parser.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.model.readings import LinkReading
from collectors.nic.collector import NicCollector
from collectors.nic.config import NicsConfig, speed_table
from collectors.nic.ethtool import ETHTOOL_GLINKSETTINGS, LinkSettings, parse_link_settings
from collectors.nic.linkmodes import NWORDS, bitmap_from_modes
from tests.net_tree import (
    I226_LM,
    I226_V,
    MS01_PCI,
    REFUSED,
    X710_PORT0,
    X710_PORT1,
    Iface,
    build_net_tree,
    ms01_ifaces,
    ms01_tree,
)

PHYSICAL_MS01 = [I226_V, I226_LM, X710_PORT0, X710_PORT1]


def no_ioctl(name: str) -> LinkSettings | None:
    return None


def kernel_answer(speed: int, duplex: int, port: int, supported: list[str], advertised: list[str]) -> bytes:
    """A GLINKSETTINGS answer laid out as the kernel writes it (header, then the three masks)."""
    header = struct.pack(
        "=IIBBBBBBBbBBBB7I", ETHTOOL_GLINKSETTINGS, speed, duplex, port, 0, 0, 0, 0, 0, NWORDS,
        0, 0, 0, 0, *([0] * 7),
    )
    masks = bitmap_from_modes(supported) + bitmap_from_modes(advertised) + [0] * NWORDS
    return header + struct.pack(f"={3 * NWORDS}I", *masks)


# ethtool_x710_sfp_at_1g_example.txt: ports [ FIBRE ], supported and advertised 1000baseX + 10000baseSR,
# Speed 1000Mb/s, Duplex Full, Port FIBRE (3).
X710_AT_1G = parse_link_settings(
    kernel_answer(
        1000, 1, 3, ["FIBRE", "1000baseX/Full", "10000baseSR/Full"], ["1000baseX/Full", "10000baseSR/Full"]
    )
)


def replay_x710(name: str) -> LinkSettings | None:
    return X710_AT_1G if name in (X710_PORT0, X710_PORT1) else None


def ctx() -> RunContext:
    return RunContext(deadline=time.monotonic() + 30, state_dir=Path("/nonexistent"))


def by_name(readings: object) -> dict[str, LinkReading]:
    assert isinstance(readings, list | tuple)
    result = {}
    for reading in readings:
        assert isinstance(reading, LinkReading)
        result[reading.interface] = reading
    return result


def collect(
    root: Path, config: NicsConfig | None = None, link_settings: Callable[[str], LinkSettings | None] = no_ioctl
) -> dict[str, LinkReading]:
    """One run of the collector as the daemon builds it from a [nics] section (defaults when None)."""
    collector = NicCollector(config or NicsConfig(), root, link_settings=link_settings)
    return by_name(collector.collect(ctx()))


def test_ms01_reports_its_four_nics_and_nothing_virtual(tmp_path: Path) -> None:
    readings = collect(ms01_tree(tmp_path))
    assert sorted(readings) == sorted(PHYSICAL_MS01)
    assert {name: r.pci_address for name, r in readings.items()} == MS01_PCI
    assert all(r.physical and r.kind == "ethernet" for r in readings.values())


def test_virtual_interfaces_only_on_request_and_never_loopback(tmp_path: Path) -> None:
    readings = collect(ms01_tree(tmp_path), NicsConfig(include_virtual=True))
    assert sorted(readings) == sorted([*PHYSICAL_MS01, "vmbr0", "tap100i0"])
    assert readings["vmbr0"].kind == "virtual"
    assert not readings["vmbr0"].physical
    assert readings["vmbr0"].pci_address is None


def test_link_up_at_1g_on_the_i226(tmp_path: Path) -> None:
    nic = collect(ms01_tree(tmp_path))[I226_V]
    assert (nic.operstate, nic.admin_up, nic.carrier) == ("up", True, True)
    assert nic.speed_mbps == 1000
    assert nic.full_duplex is True
    assert nic.carrier_changes == 3
    assert nic.max_speed_mbps is None  # no ioctl answer: capability unknown, not guessed


def test_empty_sfp_cage_has_no_speed(tmp_path: Path) -> None:
    nic = collect(ms01_tree(tmp_path))[X710_PORT1]
    assert (nic.operstate, nic.admin_up, nic.carrier) == ("down", True, False)
    assert nic.speed_mbps is None  # sysfs says -1
    assert nic.full_duplex is None


def test_admin_down_port_refuses_carrier_and_speed(tmp_path: Path) -> None:
    nic = collect(ms01_tree(tmp_path))[I226_LM]
    assert nic.admin_up is False
    assert nic.carrier is None
    assert nic.speed_mbps is None
    assert nic.full_duplex is None
    assert nic.operstate == "down"


def test_x710_at_1g_reports_1g_of_10g_from_supported_modes(tmp_path: Path) -> None:
    readings = collect(ms01_tree(tmp_path, sfp0_speed="1000"), link_settings=replay_x710)
    nic = readings[X710_PORT0]
    assert nic.speed_mbps == 1000
    assert nic.max_speed_mbps == 10000
    assert nic.supported_modes == ("FIBRE", "1000baseX/Full", "10000baseSR/Full")
    # The other port has no carrier but the NIC can still do 10G: a faster port is down.
    assert readings[X710_PORT1].max_speed_mbps == 10000
    assert readings[X710_PORT1].speed_mbps is None


def test_capability_is_supported_not_advertised(tmp_path: Path) -> None:
    # An operator limited the advertisement to 1G (`ethtool -s ... advertise`); the NIC can still do 10G.
    limited = parse_link_settings(
        kernel_answer(1000, 1, 3, ["1000baseX/Full", "10000baseSR/Full"], ["1000baseX/Full"])
    )
    assert limited is not None
    assert limited.advertised == ("1000baseX/Full",)
    readings = collect(ms01_tree(tmp_path, sfp0_speed="1000"), link_settings=lambda name: limited)
    assert readings[X710_PORT0].max_speed_mbps == 10000


def test_ioctl_errors_cost_only_the_capability(tmp_path: Path) -> None:
    def failing(name: str) -> LinkSettings | None:
        raise OSError(5, "Input/output error")

    nic = collect(ms01_tree(tmp_path), link_settings=failing)[I226_V]
    assert nic.speed_mbps == 1000
    assert nic.max_speed_mbps is None


def test_expected_speed_from_config(tmp_path: Path) -> None:
    expected = speed_table({X710_PORT0: "10G", I226_V: "2.5G"})  # [nics] expected, as the loader checks it
    readings = collect(ms01_tree(tmp_path), NicsConfig(expected_mbps=expected))
    assert readings[X710_PORT0].expected_speed_mbps == 10000
    assert readings[I226_V].expected_speed_mbps == 2500
    assert readings[X710_PORT1].expected_speed_mbps is None


def test_an_expected_interface_that_is_gone_reads_as_a_link_down(tmp_path: Path) -> None:
    # The 10G card's driver did not load: its expectation must not vanish with it.
    expected = speed_table({"enp1s0f0": "10G", I226_V: "2.5G", "vmbr0": "1G"})
    readings = collect(ms01_tree(tmp_path), NicsConfig(expected_mbps=expected))
    gone = readings["enp1s0f0"]
    assert (gone.operstate, gone.carrier, gone.speed_mbps, gone.expected_speed_mbps) == ("absent", None, None, 10000)
    assert not gone.up
    assert "vmbr0" not in readings  # present, only left out as virtual: not "absent"
    assert readings[I226_V].operstate == "up"


def test_include_and_exclude_globs_exclude_wins(tmp_path: Path) -> None:
    root = ms01_tree(tmp_path)
    assert sorted(collect(root, NicsConfig(include=("enp2s0*",)))) == [X710_PORT0, X710_PORT1]
    assert sorted(collect(root, NicsConfig(include=("enp*",), exclude=("enp8*",)))) == [X710_PORT0, X710_PORT1]
    assert sorted(collect(root, NicsConfig(include=("enp87s0",), exclude=("enp87s0",)))) == []
    # include selects among what is eligible; it does not turn a virtual interface into a NIC
    assert sorted(collect(root, NicsConfig(include=("vmbr*",)))) == []


def test_speed_is_trusted_only_with_carrier_and_operstate_up(tmp_path: Path) -> None:
    root = build_net_tree(
        tmp_path,
        [
            # veth-like: peer down, carrier 0, but the driver still says 10000
            Iface("enp1s0", 2, pci="0000:01:00.0", operstate="lowerlayerdown", carrier="0", speed="10000"),
            # 802.1X not yet authorised: carrier up, operstate dormant
            Iface("enp3s0", 3, pci="0000:03:00.0", operstate="dormant", carrier="1", speed="1000"),
            Iface("enp4s0", 4, pci="0000:04:00.0", speed="2500", duplex="half"),
        ],
    )
    readings = collect(root)
    assert readings["enp1s0"].speed_mbps is None
    assert readings["enp1s0"].carrier is False
    assert readings["enp3s0"].speed_mbps is None
    assert readings["enp3s0"].carrier is True
    assert readings["enp4s0"].speed_mbps == 2500
    assert readings["enp4s0"].full_duplex is False


def test_unexpected_values_become_unknown_and_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = build_net_tree(
        tmp_path,
        [
            Iface("enp1s0", 2, pci="0000:01:00.0", speed="fast", carrier_changes="many"),
            Iface("enp2s0", 3, pci="0000:02:00.0", operstate="sideways", flags="0xZZ", carrier="maybe"),
            Iface("enp3s0", 4, pci="0000:03:00.0", flags="garbage"),  # admin state from the readable carrier
        ],
    )
    with caplog.at_level(logging.DEBUG, logger="collectors.nic.collector"):
        readings = collect(root)
    assert readings["enp1s0"].speed_mbps is None
    assert readings["enp1s0"].carrier is True
    assert readings["enp1s0"].carrier_changes is None
    assert readings["enp2s0"].operstate == "unknown"
    assert readings["enp2s0"].carrier is None
    assert readings["enp2s0"].admin_up is False
    assert readings["enp3s0"].admin_up is True
    assert readings["enp3s0"].speed_mbps == 1000
    assert "unexpected speed value 'fast'" in caplog.text


@pytest.mark.parametrize("speed", ["-1", "4294967295", "65535", "0", "2000000", "9" * 30])
def test_sentinel_speed_on_an_up_link_is_unknown_not_down(tmp_path: Path, speed: str) -> None:
    """SPEED_UNKNOWN as -1 or as u32, the legacy 16-bit 65535, and anything faster than any Ethernet: the link
    is up (carrier, operstate) but its speed is unknown, never 5.37e14 bytes/s."""
    root = build_net_tree(tmp_path, [Iface(I226_V, 4, pci=MS01_PCI[I226_V], speed=speed)])
    nic = collect(root, NicsConfig(expected_mbps={I226_V: 2500}))[I226_V]
    assert nic.up and nic.carrier is True
    assert nic.speed_mbps is None
    assert nic.speed_bytes_per_second is None
    assert nic.expected_speed_mbps == 2500


def test_plausible_speeds_are_kept(tmp_path: Path) -> None:
    ifaces = [Iface(f"enp{index}s0", index + 2, pci=f"0000:0{index}:00.0", speed=speed)
              for index, speed in enumerate(("10", "2500", "800000"))]
    readings = collect(build_net_tree(tmp_path, ifaces))
    assert [readings[f"enp{index}s0"].speed_mbps for index in range(3)] == [10, 2500, 800000]


def test_absurd_counters_and_flags_are_unknown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A carrier_changes of 400 digits (or past the kernel's 32 bits, or negative) is no count; flags past 32
    bits are no flags: unknown, and the rest of the interface is still read."""
    root = build_net_tree(tmp_path, [
        Iface("enp1s0", 2, pci="0000:01:00.0", carrier_changes="9" * 400),
        Iface("enp2s0", 3, pci="0000:02:00.0", carrier_changes="4294967296"),
        Iface("enp3s0", 4, pci="0000:03:00.0", carrier_changes="-3", flags="0x1" + "0" * 40),
        Iface("enp4s0", 5, pci="0000:04:00.0", carrier_changes="4294967295"),
    ])
    with caplog.at_level(logging.DEBUG, logger="collectors.nic.collector"):
        readings = collect(root)
    assert [readings[f"enp{index}s0"].carrier_changes for index in range(1, 5)] == [None, None, None, 4294967295]
    assert readings["enp1s0"].speed_mbps == 1000 and readings["enp1s0"].up
    assert readings["enp3s0"].admin_up is True  # flags unknown: the readable carrier says admin-up
    assert "unexpected carrier_changes value" in caplog.text


def test_missing_attributes_on_older_kernels(tmp_path: Path) -> None:
    root = build_net_tree(tmp_path, [Iface("eth0", 2, pci="0000:00:19.0", carrier_changes=None)])
    assert collect(root)["eth0"].carrier_changes is None
    assert collect(root)["eth0"].speed_mbps == 1000


def test_interface_that_vanished_after_listing_is_dropped(tmp_path: Path) -> None:
    root = ms01_tree(tmp_path)
    # What the listing sees when the device is unregistered between scandir() and the reads: the
    # class/net entry still there, its target gone.
    target = (root / "class" / "net" / I226_V).resolve()
    for child in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        child.rmdir() if child.is_dir() and not child.is_symlink() else child.unlink()
    target.rmdir()
    readings = collect(root)
    assert sorted(readings) == sorted([I226_LM, X710_PORT0, X710_PORT1])


def test_dying_interface_is_dropped_not_reported_as_admin_down(tmp_path: Path) -> None:
    # A device being unregistered answers EINVAL for every attribute, ifindex included; reported, it
    # would look like an admin-down NIC and open a false alert.
    ifaces = ms01_ifaces()
    ifaces.append(Iface("enp5s0", 9, pci="0000:05:00.0", speed=REFUSED, carrier=REFUSED, duplex=REFUSED,
                        extra={}))
    root = build_net_tree(tmp_path, ifaces)
    ifindex = (root / "class" / "net" / "enp5s0" / "ifindex").resolve()
    ifindex.unlink()
    ifindex.mkdir()
    assert "enp5s0" not in collect(root)
    assert sorted(collect(root)) == sorted(PHYSICAL_MS01)


def test_bond_of_physical_members(tmp_path: Path) -> None:
    ifaces = ms01_ifaces(sfp0_speed="10000")
    ifaces[1] = Iface(X710_PORT1, 3, pci=MS01_PCI[X710_PORT1], root_port="0000:00:06.2", speed="10000",
                      master="bond0")
    ifaces[0] = Iface(X710_PORT0, 2, pci=MS01_PCI[X710_PORT0], root_port="0000:00:06.2", speed="10000",
                      master="bond0")
    ifaces.append(Iface("bond0", 10, speed="20000", bond_slaves=(X710_PORT0, X710_PORT1)))
    readings = collect(build_net_tree(tmp_path, ifaces), link_settings=replay_x710)
    bond = readings["bond0"]
    assert (bond.kind, bond.physical) == ("bond", True)
    assert bond.bond_members == (X710_PORT0, X710_PORT1)
    assert bond.speed_mbps == 20000
    assert bond.pci_address is None
    assert readings[X710_PORT0].bond_master == "bond0"
    assert readings[X710_PORT1].bond_master == "bond0"
    assert readings[X710_PORT0].kind == "ethernet"
    assert readings[I226_V].bond_master is None


def test_bond_member_found_through_its_master_link(tmp_path: Path) -> None:
    # `bonding/slaves` not (yet) listing the member: the member's own master link still names the bond.
    ifaces = [
        Iface("eno1", 2, pci="0000:00:1f.6", master="bond0"),
        Iface("bond0", 3, bond_slaves=()),
    ]
    root = build_net_tree(tmp_path, ifaces)
    (root / "devices" / "virtual" / "net" / "bond0" / "bonding").mkdir()
    (root / "devices" / "virtual" / "net" / "bond0" / "bonding" / "slaves").write_text("\n")
    assert collect(root)["eno1"].bond_master == "bond0"


def test_bond_of_virtual_members_is_virtual(tmp_path: Path) -> None:
    ifaces = [
        Iface("veth0", 2, master="bond1"),
        Iface("bond1", 3, bond_slaves=("veth0",)),
    ]
    root = build_net_tree(tmp_path, ifaces)
    assert collect(root) == {}
    bond = collect(root, NicsConfig(include_virtual=True))["bond1"]
    assert (bond.kind, bond.physical) == ("bond", False)


def test_pci_address_of_virtio_and_usb_nics(tmp_path: Path) -> None:
    root = build_net_tree(
        tmp_path,
        [
            Iface("eth0", 2, pci="0000:00:03.0", virtio=True),  # a VM's virtio_net, as on this test host
            Iface("enx00e04c680001", 3, pci="0000:00:14.0", usb=True),  # USB NIC below the xHCI
        ],
    )
    readings = collect(root)
    assert readings["eth0"].pci_address == "0000:00:03.0"
    assert readings["enx00e04c680001"].physical is True
    assert readings["enx00e04c680001"].pci_address is None


def test_unreadable_class_net_is_a_collector_error(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="cannot list network interfaces"):
        NicCollector(NicsConfig(), tmp_path, link_settings=no_ioctl).collect(ctx())
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "net").write_text("not a directory")
    with pytest.raises(CollectorError, match="cannot list network interfaces"):
        NicCollector(NicsConfig(), tmp_path, link_settings=no_ioctl).collect(ctx())


def test_deadline_stops_the_run(tmp_path: Path) -> None:
    root = ms01_tree(tmp_path)
    expired = RunContext(deadline=time.monotonic() - 1, state_dir=tmp_path)
    with pytest.raises(Cancelled):
        NicCollector(NicsConfig(), root, link_settings=no_ioctl).collect(expired)
    cancelled = ctx()
    cancelled.cancel.set()
    with pytest.raises(Cancelled):
        NicCollector(NicsConfig(), root, link_settings=no_ioctl).collect(cancelled)


def test_readings_are_frozen(tmp_path: Path) -> None:
    nic = collect(ms01_tree(tmp_path))[I226_V]
    with pytest.raises(AttributeError):
        nic.speed_mbps = 10000  # type: ignore[misc]
    assert X710_AT_1G is not None
    with pytest.raises(AttributeError):
        X710_AT_1G.speed_mbps = 10000  # type: ignore[misc]
