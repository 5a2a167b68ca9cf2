"""Proxmox VE's /etc/pve/.members through the parser and the file reader: clustered and standalone files
shaped after pmxcfs' own output (status.c cfs_create_memberlist_msg, byte layout as in the corpus's
standalone captures), and what a broken pmxcfs or a wrong path can leave there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collectors.hosts.members import (
    MAX_MEMBERS_BYTES,
    Members,
    MembersError,
    PveCluster,
    PveNode,
    parse_members,
    read_members,
)

# (name, id, online, ip or None): pmxcfs leaves "ip" out when it has no address for the node.
Node = tuple[str, int, int, str | None]

LAB = (("pve1", 1, 1, "10.0.10.11"), ("pve2", 2, 0, "10.0.10.12"), ("pve3", 3, 0, None))


def standalone(nodename: str = "proxmox") -> bytes:
    """What a node without a corosync node list prints (byte for byte the corpus's layout)."""
    return f'{{\n"nodename": "{nodename}",\n"version": 0\n}}\n'.encode()


def clustered(nodes: tuple[Node, ...] = LAB, nodename: str = "pve1", cluster: str = "lab", quorate: int = 1,
              count: int | None = None) -> bytes:
    """What pmxcfs prints for a node of a cluster: cluster object, then the node list in hash order."""
    entries = []
    for name, node_id, online, ip in nodes:
        extra = f', "ip": "{ip}"' if ip is not None else ""
        entries.append(f'  "{name}": {{ "id": {node_id}, "online": {online}{extra}}}')
    return (f'{{\n"nodename": "{nodename}",\n"version": 11,\n'
            f'"cluster": {{ "name": "{cluster}", "version": 3, "nodes": {len(nodes) if count is None else count}, '
            f'"quorate": {quorate} }},\n'
            '"nodelist": {\n' + ",\n".join(entries) + "\n  }\n}\n").encode()


def test_standalone_node_is_not_a_cluster() -> None:
    assert parse_members(standalone("nodex")) == Members(nodename="nodex", cluster=None, nodes=())


def test_three_nodes_one_online_keep_their_flags_and_addresses() -> None:
    members = parse_members(clustered())
    assert members.nodename == "pve1"
    assert members.cluster == PveCluster(name="lab", config_version=3, expected_nodes=3, quorate=True)
    assert members.nodes == (PveNode("pve1", 1, True, "10.0.10.11"), PveNode("pve2", 2, False, "10.0.10.12"),
                             PveNode("pve3", 3, False, ""))


def test_node_order_is_by_name_not_hash_order() -> None:
    shuffled = (LAB[2], LAB[0], LAB[1])
    assert [n.name for n in parse_members(clustered(shuffled)).nodes] == ["pve1", "pve2", "pve3"]


def test_a_flag_that_is_neither_0_nor_1_is_not_a_measurement() -> None:
    text = clustered().replace(b'"online": 0', b'"online": 7', 1).replace(b'"quorate": 1', b'"quorate": "yes"')
    members = parse_members(text)
    assert [n.online for n in members.nodes] == [True, None, False]
    assert members.cluster is not None and members.cluster.quorate is None


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (b"\xff\xfe{}", "not UTF-8 text"),
    (b"garbage", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object, got an array"),
    (b'{"version": 0}', "no nodename"),
    (b'{"nodename": 5}', "nodename is not a name (a number)"),
    (b'{"nodename": "pve 1"}', "nodename 'pve 1' is not a host name"),
    (b'{"nodename": "pve1", "nodelist": {"pve1": {"id": 1, "online": 1}}}', '"nodelist" without a "cluster"'),
    (b'{"nodename": "pve1", "cluster": {"name": "lab"}}', '"cluster" without a "nodelist"'),
    (b'{"nodename": "pve1", "cluster": {"name": "lab"}, "nodelist": {}}', "node list is empty"),
    (b'{"nodename": "pve1", "cluster": {"name": "lab"}, "nodelist": {"pve1": 1}}', "node 'pve1': expected"),
    (b'{"nodename": "pve1", "cluster": {}, "nodelist": {"a": {}}}', "no cluster name"),
    (b"[" * 100_000, "not valid JSON"),
])
def test_garbage_is_an_error_with_a_reason(data: bytes, problem: str) -> None:
    with pytest.raises(MembersError) as info:
        parse_members(data)
    assert problem in str(info.value)


def test_a_truncated_file_is_an_error_never_fewer_nodes() -> None:
    whole = clustered()
    cut = whole[:whole.index(b'"pve2"') + 10]  # pmxcfs replaced mid-read, a copy cut short
    with pytest.raises(MembersError, match="not valid JSON"):
        parse_members(cut)


# --- the file itself ---------------------------------------------------------------------------------------


def test_absent_file_or_directory_means_not_a_proxmox_node(tmp_path: Path) -> None:
    assert read_members(tmp_path / "pve" / ".members") is None
    (tmp_path / "file").write_text("x")
    assert read_members(tmp_path / "file" / ".members") is None  # a path component that is a file


def test_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / ".members"
    path.write_bytes(clustered())
    assert read_members(path) == clustered()


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / ".members"
    os.mkfifo(path)
    with pytest.raises(MembersError, match=r"not a regular file \(a FIFO\)"):
        read_members(path)


def test_a_directory_or_device_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MembersError, match=r"not a regular file \(a directory\)"):
        read_members(tmp_path)
    link = tmp_path / "zero"
    link.symlink_to("/dev/zero")  # endless: the cap must never be reached by reading it
    with pytest.raises(MembersError, match=r"not a regular file \(a device\)"):
        read_members(link)


def test_a_huge_file_is_capped(tmp_path: Path) -> None:
    path = tmp_path / ".members"
    path.write_bytes(clustered() + b" " * MAX_MEMBERS_BYTES)
    with pytest.raises(MembersError, match="larger than 64 KiB"):
        read_members(path)
    path.write_bytes(b" " * (MAX_MEMBERS_BYTES - 1) + b"\n")  # exactly at the cap: read, then judged by content
    assert read_members(path) == b" " * (MAX_MEMBERS_BYTES - 1) + b"\n"
