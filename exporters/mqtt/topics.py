"""Topic names and the ids inside them: pure functions of the settings and an object's key.

An id lands in an MQTT topic, a Home Assistant unique_id and an entity id, so it keeps to what all three
accept ([a-z0-9_-]) and must be the same on every start: Home Assistant ties history and the user's
customisations to it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from exporters.mqtt.settings import MqttSettings

_UNSAFE = re.compile(r"[^a-z0-9_-]+")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_SAFE = re.compile(r"[a-z0-9_-]+")
MAX_ID_CHARS = 64
HASH_CHARS = 6


def safe_id(*parts: str) -> str:
    """A topic- and Home-Assistant-safe id for an object keyed by `parts`.

    An id that is already safe is kept as it is (`md0`, `wwn-0x5000c500a1b2c3d4`). Anything else is
    lowercased, every run of other characters becomes `_`, and a short hash of the original is appended:
    without it `Tank` and `tank`, or `a.b` and `a:b`, would share one topic and one entity.
    """
    raw = parts[0] if len(parts) == 1 else "\0".join(parts)
    if len(parts) == 1 and _SAFE.fullmatch(raw) and len(raw) <= MAX_ID_CHARS:
        return raw
    readable = _UNSAFE.sub("_", "_".join(parts).lower()).strip("_")[:MAX_ID_CHARS]
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    return f"{readable}_{digest}" if readable else digest


@functools.cache  # a few dozen catalog names, looked up for every field of every object each publish cycle
def field_id(name: str) -> str:
    """The key of a field inside a state document, from the catalog's display name: `Battery charge` ->
    `battery_charge`. Also the last part of the entity's unique_id. Only [a-z0-9_]: templates read it as
    `value_json.<key>`, where `power-on_time` would be a subtraction."""
    return _NOT_WORD.sub("_", name.lower()).strip("_")


@dataclass(frozen=True)
class Topics:
    base: str  # physgap/<host>: `~` in discovery documents
    node_id: str  # physgap_<host>: the discovery node and the Home Assistant device identifier
    discovery_prefix: str

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def homeassistant_status(self) -> str:
        """Home Assistant's birth and last will: `online` after it (re)started and wants discovery again."""
        return f"{self.discovery_prefix}/status"

    @property
    def discovery_filter(self) -> str:
        """Every discovery config this host may own, to find retained ones left from an earlier run."""
        return f"{self.discovery_prefix}/+/{self.node_id}/+/config"

    def state(self, kind: str, object_id: str) -> str:
        return f"{self.base}/{kind}/{object_id}"

    def relative_state(self, kind: str, object_id: str) -> str:
        """The state topic written against `~`."""
        return f"~/{kind}/{object_id}"

    def entity_id(self, kind: str, object_id: str, field: str) -> str:
        return f"{kind}_{object_id}_{field}"

    def unique_id(self, kind: str, object_id: str, field: str) -> str:
        # The node id is part of it: unique_id is global in Home Assistant, and two hosts both have a gap P1.
        return f"{self.node_id}_{self.entity_id(kind, object_id, field)}"

    def discovery(self, component: str, kind: str, object_id: str, field: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{self.entity_id(kind, object_id, field)}/config"

    def owns_discovery(self, topic: str) -> bool:
        parts = topic.split("/")
        prefix = self.discovery_prefix.split("/")
        return (len(parts) == len(prefix) + 4 and parts[:len(prefix)] == prefix
                and parts[len(prefix) + 1] == self.node_id and parts[-1] == "config")


def topics_of(settings: MqttSettings) -> Topics:
    host_id = safe_id(settings.host)
    return Topics(base=f"{settings.config.base_topic}/{host_id}", node_id=f"physgap_{host_id}",
                  discovery_prefix=settings.config.discovery_prefix)


def client_id_of(settings: MqttSettings) -> str:
    """The configured client id, else one per host: stable, so the broker can tell a reconnect from a rival."""
    return settings.config.client_id or f"physgap_{safe_id(settings.host)}"
