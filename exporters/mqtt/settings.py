"""What the MQTT exporter is built with: the [mqtt] section plus the two facts from elsewhere it needs."""

from __future__ import annotations

import contextlib
import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path

from exporters.http import format_address
from exporters.sections import MqttConfig, parse_listen_address
from exporters.webconfig import WebConfigError, load_web_config

# Home Assistant marks an entity unavailable when no state arrived for expire_after seconds. States are
# re-sent every interval, so three intervals tolerate two lost refreshes before a healthy entity greys out.
EXPIRE_INTERVALS = 3


@dataclass(frozen=True)
class MqttSettings:
    config: MqttConfig
    host: str  # [daemon].host: the device name in Home Assistant and part of every topic
    configuration_url: str | None = None  # the status page, linked from the Home Assistant device

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @property
    def expire_after(self) -> int:
        return max(1, math.ceil(EXPIRE_INTERVALS * self.config.interval))


def status_page_url(listen: str, host: str, *, https: bool = False) -> str | None:
    """The status page's address as another machine (Home Assistant) would open it, for `configuration_url`.

    A wildcard listener is reached through the host's name; a specific address is used as it is. A
    loopback-only listener is unreachable from anywhere else, so no link is better than a dead one.
    """
    try:
        address, port = parse_listen_address(listen)
    except ValueError:
        return None
    scheme = "https" if https else "http"
    if address in ("0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        address = host
    else:
        with contextlib.suppress(ValueError):  # a name given in listen is used as it is
            if ipaddress.ip_address(address.split("%", 1)[0]).is_loopback:
                return None
    return f"{scheme}://{format_address(address, port)}/"


def mqtt_settings(config: MqttConfig, host: str, listen: str, web_config: Path | None) -> MqttSettings:
    """The settings the daemon runs with and `physgap discovery` prints: the same link to the status page,
    https when the web config turns TLS on."""
    https = False
    if web_config is not None:
        with contextlib.suppress(WebConfigError):  # the HTTP exporter reports a bad web config itself
            https = load_web_config(web_config).tls_enabled
    return MqttSettings(config, host, status_page_url(listen, host, https=https))
