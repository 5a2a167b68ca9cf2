"""Proxmox VE cluster membership: `/etc/pve/.members`, the status file pmxcfs renders from corosync.

Its format is fixed by pmxcfs' `cfs_create_memberlist_msg()` (proxmox/pve-cluster src/pmxcfs/status.c): a
standalone node (or one whose cluster info is not loaded yet) prints only `{"nodename": ..., "version": N}`;
a clustered one adds `"cluster": {"name", "version", "nodes", "quorate": 0|1}` and `"nodelist": {"<name>":
{"id", "online": 0|1[, "ip"]}}` (no `ip` when pmxcfs has none; node order is hash order).

`parse_members` is pure and raises MembersError with the problem in words for anything else: a standalone
node is a fact ("not clustered"), a garbled file is not, and must never read as "0 of 0 nodes online".
`read_members` is the edge: it opens without blocking, refuses what is not a regular file (a FIFO would
hang the read) and caps the size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.kit.files import NotRegularFile, ReadFailed, TooLarge, read_regular

# A 16-node cluster's file is under 2 KiB; pmxcfs itself refuses clusters far below what this cap allows.
MAX_MEMBERS_BYTES = 64 * 1024
# A node name is a host name (at most 253 characters); anything longer is not one.
_MAX_NAME = 253


class MembersError(ValueError):
    """The file is present but says nothing trustworthy; the message is the reason an operator reads."""


@dataclass(frozen=True)
class PveNode:
    name: str
    node_id: int | None
    online: bool | None  # None: the flag was neither 0 nor 1
    ip: str  # "" when pmxcfs has no address for the node


@dataclass(frozen=True)
class PveCluster:
    name: str
    config_version: int | None
    expected_nodes: int | None  # the cluster's own node count (corosync.conf), next to the list's length
    quorate: bool | None


@dataclass(frozen=True)
class Members:
    nodename: str  # this node
    cluster: PveCluster | None  # None: standalone (not clustered, or cluster info not loaded yet)
    nodes: tuple[PveNode, ...]  # sorted by name; empty when standalone


def parse_members(data: bytes) -> Members:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MembersError("not UTF-8 text") from None
    if not text.strip():
        raise MembersError("empty")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise MembersError(f"not valid JSON ({_json_problem(exc)})") from None
    except RecursionError:
        raise MembersError("not valid JSON (nested too deeply)") from None
    if not isinstance(document, dict):
        raise MembersError(f"expected a JSON object, got {_kind(document)}")
    nodename = _name(document.get("nodename"), "nodename")
    if "cluster" not in document and "nodelist" not in document:
        return Members(nodename=nodename, cluster=None, nodes=())
    return Members(nodename=nodename, cluster=_cluster(document.get("cluster")),
                   nodes=_nodes(document.get("nodelist")))


def _cluster(value: Any) -> PveCluster:
    if not isinstance(value, dict):
        raise MembersError(f'"nodelist" without a "cluster" object (got {_kind(value)})')
    return PveCluster(name=_name(value.get("name"), "cluster name"), config_version=_int(value.get("version")),
                      expected_nodes=_int(value.get("nodes")), quorate=_flag(value.get("quorate")))


def _nodes(value: Any) -> tuple[PveNode, ...]:
    if not isinstance(value, dict):
        raise MembersError(f'"cluster" without a "nodelist" object (got {_kind(value)})')
    if not value:
        raise MembersError("the cluster's node list is empty")
    nodes = []
    for name, entry in value.items():
        _name(name, "node name")
        if not isinstance(entry, dict):
            raise MembersError(f"node {name!r}: expected an object, got {_kind(entry)}")
        ip = entry.get("ip", "")
        nodes.append(PveNode(name=name, node_id=_int(entry.get("id")), online=_flag(entry.get("online")),
                             ip=ip if isinstance(ip, str) and len(ip) <= _MAX_NAME else ""))
    return tuple(sorted(nodes, key=lambda node: node.name))


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MembersError(f"no {what}" if value is None else f"{what} is not a name ({_kind(value)})")
    if len(value) > _MAX_NAME or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise MembersError(f"{what} {value[:40]!r} is not a host name")
    return value


def _flag(value: Any) -> bool | None:
    # pmxcfs prints 0 or 1; JSON true/false would mean the same. Anything else is not a measurement.
    if value in (0, 1) and isinstance(value, (int, bool)):
        return bool(value)
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _json_problem(exc: ValueError) -> str:
    # "Expecting ',' delimiter: line 3 column 5 (char 41)"; a cut-off file ends in the middle of a value.
    message = str(exc)
    return message if len(message) <= 100 else message[:100] + "..."


def read_members(path: Path, max_bytes: int = MAX_MEMBERS_BYTES) -> bytes | None:
    """The file's bytes, or None when it does not exist (this is not a Proxmox node). MembersError when it
    exists but cannot be read whole: not a regular file, unreadable, larger than `max_bytes`."""
    try:
        # Never blocks: a FIFO would otherwise wait for a writer, forever.
        return read_regular(path, max_bytes)
    except NotRegularFile as exc:
        raise MembersError(f"not a regular file ({_file_type(exc)})") from None
    except TooLarge:
        raise MembersError(f"larger than {max_bytes // 1024} KiB: not a cluster membership file") from None
    except ReadFailed as exc:
        raise MembersError(f"cannot read: {exc.strerror or exc}") from None
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        raise MembersError("permission denied (on Proxmox VE it is readable by root and group www-data)") from None
    except OSError as exc:
        raise MembersError(f"cannot open: {exc.strerror or exc}") from None


def _file_type(exc: NotRegularFile) -> str:
    # Character and block devices are one thing to an operator here.
    if exc.is_device:
        return "a device"
    kind = str(exc)
    return "not a file" if kind == "not a regular file" else kind
