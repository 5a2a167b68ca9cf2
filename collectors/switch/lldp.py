"""LLDP neighbours of this host, from `lldpcli -f json show neighbors` (lldpd), as plain records.

lldpcli's "json" format changes shape with the number of things it prints (lldpd tests/integration and
src/client/json_writer.c): one interface is `"interface": {"eth0": {...}}`, several are
`"interface": [{"eth0": {...}}, {"eth1": {...}}]`; a chassis with a SysName is keyed by it
(`"chassis": {"sw1": {"id": ...}}`), one without is the bare object (`"chassis": {"id": ...}`); a field
given twice (two management addresses) becomes a list. No neighbours at all: `{"lldp": {}}`. The parser
accepts every one of these shapes and ignores anything else it does not recognise: a neighbour it cannot
read is simply not a neighbour.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from collectors.kit.command import run_program
from collectors.kit.context import Cancelled, CollectorError, RunContext

# `lldpcli -f json show neighbors` of a host with a few NICs is a few KB; a switch-sized neighbour table
# (hundreds of ports) stays far below this.
MAX_OUTPUT = 1024 * 1024
ARGS = ("-f", "json", "show", "neighbors")
# lldpcli answers from lldpd's memory in milliseconds; a hung one must not eat the switches' SNMP time.
BUDGET = 3.0


@dataclass(frozen=True)
class Neighbor:
    """The LLDP neighbour heard on one local interface."""

    interface: str  # this host's interface
    chassis_name: str  # SysName, "" when not sent
    chassis_id: str  # e.g. "mac 74:83:c2:11:22:33"
    mgmt_ips: tuple[str, ...]
    port_id_type: str  # "ifname", "local", "mac", "ifalias", ...
    port_id: str
    port_descr: str


class LldpUnavailable(CollectorError):
    """lldpcli could not be run or lldpd did not answer; the message says which."""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _named(value: Any) -> Iterator[tuple[str, Any]]:
    """(name, body) pairs from `{"name": body}` or `[{"name": body}, ...]`."""
    for item in _as_list(value):
        if isinstance(item, dict):
            for name, body in item.items():
                if isinstance(name, str) and isinstance(body, dict):
                    yield name, body


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = value.get("value", "")
    return value.strip() if isinstance(value, str) else ""


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(text for item in _as_list(value) if (text := _text(item)))


def _id(value: Any) -> tuple[str, str]:
    if isinstance(value, list):
        value = value[0] if value else {}
    if isinstance(value, dict):
        return _text(value.get("type", "")), _text(value.get("value", ""))
    return "", _text(value)


def _chassis(value: Any) -> tuple[str, dict[str, Any]]:
    """The chassis name and body: keyed by SysName, or bare (it then holds "id" itself)."""
    if isinstance(value, list):
        value = value[0] if value else {}
    if not isinstance(value, dict):
        return "", {}
    if "id" in value or "descr" in value or "mgmt-ip" in value:
        return _text(value.get("name", "")), value
    for name, body in value.items():
        if isinstance(body, dict):
            return name, body
    return "", {}


def parse_neighbors(text: str | bytes) -> tuple[Neighbor, ...]:
    """Every neighbour `lldpcli -f json show neighbors` printed; ValueError when it is not such a document."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"lldpcli printed no JSON ({exc})") from None
    lldp = document.get("lldp") if isinstance(document, dict) else None
    if isinstance(lldp, list):  # -f json0 wraps everything in lists
        lldp = lldp[0] if lldp else {}
    if not isinstance(lldp, dict):
        raise ValueError("lldpcli's JSON has no \"lldp\" object")
    neighbors = []
    for interface, body in _interfaces(lldp.get("interface", [])):
        name, chassis = _chassis(body.get("chassis", {}))
        port = body.get("port", {})
        if isinstance(port, list):
            port = port[0] if port else {}
        if not isinstance(port, dict):
            port = {}
        chassis_type, chassis_value = _id(chassis.get("id", {}))
        port_type, port_value = _id(port.get("id", {}))
        neighbors.append(Neighbor(
            interface=interface,
            chassis_name=name,
            chassis_id=f"{chassis_type} {chassis_value}".strip(),
            mgmt_ips=_texts(chassis.get("mgmt-ip", [])),
            port_id_type=port_type,
            port_id=port_value,
            port_descr=_text(port.get("descr", "")),
        ))
    return tuple(neighbors)


def _interfaces(value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for item in _as_list(value):
        if isinstance(item, dict) and isinstance(item.get("name"), str):  # json0: {"name": "eth0", ...}
            yield item["name"], item
        else:
            yield from _named(item)


def read_neighbors(program: str, ctx: RunContext) -> tuple[Neighbor, ...]:
    """Ask lldpd through `program`; LldpUnavailable when it is not installed, lldpd does not run, or the
    answer is not lldpcli's JSON."""
    try:
        result = run_program([program, *ARGS], ctx.sub(BUDGET), max_stdout=MAX_OUTPUT)
    except Cancelled:
        if ctx.cancel.is_set():
            raise  # the daemon is stopping: not an LLDP problem
        raise LldpUnavailable(f"{program}: no answer within {BUDGET:g}s") from None
    except CollectorError as exc:  # not found, not executable, flooding
        raise LldpUnavailable(str(exc)) from None
    if result.returncode != 0:
        last = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        raise LldpUnavailable(f"{program}: {last[0][:200]}")
    try:
        return parse_neighbors(result.stdout)
    except ValueError as exc:
        raise LldpUnavailable(f"{program}: {exc}") from None
