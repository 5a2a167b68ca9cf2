"""The exporters' config sections: [prometheus] (HTTP endpoint, web config, textfile) and [mqtt]."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.kit import config as c

DEFAULT_LISTEN = "0.0.0.0:9829"


def parse_listen_address(text: str, *, allow_zero: bool = False) -> tuple[str, int]:
    """'host:port', '[::1]:9829' or ':9829' (all IPv4 interfaces) -> (host, port).

    Port 0 ("any free port") is only for tests: a daemon on a random port is unreachable to Prometheus.
    """
    match = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]|([^\s:\[\]%]*)):(\d{1,5})", text)
    if not match:
        raise ValueError(f"bad listen address {text!r}: expected host:port, [ipv6]:port or :port")
    host = match.group(1) or match.group(2) or "0.0.0.0"  # noqa: S104 - ":port" means every interface
    port = int(match.group(3))
    low = 0 if allow_zero else 1
    if not low <= port <= 65535:
        raise ValueError(f"bad listen address {text!r}: port {port} is outside {low}..65535")
    return host, port


def _listen(value: Any) -> str:
    text = c.string(value)
    parse_listen_address(text)
    return text


@dataclass(frozen=True)
class PrometheusConfig:
    listen: str = DEFAULT_LISTEN
    web_config: Path | None = None
    textfile: Path | None = None


PROMETHEUS = c.Section(
    name="prometheus",
    table=c.Table({"listen": _listen, "web_config": c.optional_path, "textfile": c.optional_path}),
    build=c.by_field_names(PrometheusConfig),
)


@dataclass(frozen=True)
class MqttConfig:
    host: str = ""  # empty: MQTT off
    port: int = 1883
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    username: str = ""
    password_file: Path | None = field(default=None)  # read with collectors.kit.secrets, never logged
    base_topic: str = "physgap"
    discovery_prefix: str = "homeassistant"
    client_id: str = ""  # empty: physgap_<host>
    protocol: str = "3.1.1"
    interval: float = 60.0  # states are re-published at least this often

    @property
    def enabled(self) -> bool:
        return bool(self.host)


def _topic(value: Any) -> str:
    text = c.nonempty_string(value)
    if any(ch in text for ch in "+#\0") or text.startswith("/") or text.endswith("/"):
        raise ValueError(f"{text!r} is not a topic prefix (no +, #, NUL, leading or trailing /)")
    return text


def _mqtt_cross(v: c.Values) -> Iterable[c.Issue]:
    tls = v.get("tls", False)
    for key in ("ca_file", "cert_file", "key_file"):
        if v.get(key, None) and not tls:
            yield c.Issue(key, f"set, but tls = false: the {key.removesuffix('_file')} file would be ignored")
    if bool(v.get("cert_file", None)) != bool(v.get("key_file", None)):
        yield c.Issue("key_file" if v.get("cert_file", None) else "cert_file",
                      "a client certificate needs both cert_file and key_file")
    if v.get("password_file", None) and not v.get("username", ""):
        yield c.Issue("password_file", "set without a username: the broker would never see it")


MQTT = c.Section(
    name="mqtt",
    table=c.Table({
        "host": c.string,
        "port": c.port,
        "tls": c.boolean,
        "ca_file": c.optional_path,
        "cert_file": c.optional_path,
        "key_file": c.optional_path,
        "username": c.string,
        "password_file": c.optional_path,
        "base_topic": _topic,
        "discovery_prefix": _topic,
        "client_id": c.nonempty_string,
        "protocol": c.enum("3.1.1", "5"),
        # How often states are re-published, one broker message per object each time: the shared collector
        # interval bounds (1 s .. 1 d), so a typo cannot turn the publisher into a flood or a silence.
        "interval": c.interval,
    }),
    build=c.by_field_names(MqttConfig),
    cross=_mqtt_cross,
)

SECTIONS = (PROMETHEUS, MQTT)
