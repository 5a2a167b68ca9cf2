"""Home Assistant MQTT discovery documents: one retained config per entity. Pure functions.

Everything Home Assistant is told comes from the catalog (display name, component, device_class, unit,
state_class, entity_category); this module only arranges it the way MQTT discovery wants it
(home-assistant.io, integrations/mqtt: "MQTT Discovery"). One device per host carries all entities.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from collectors.model.snapshot import View
from daemon import __version__
from exporters.catalog import Field
from exporters.mqtt.entities import ATTRIBUTES, ATTRIBUTES_KEY, Object, key_of, objects
from exporters.mqtt.settings import MqttSettings
from exporters.mqtt.topics import Topics, topics_of

ONLINE = "online"
OFFLINE = "offline"
ORIGIN = {"name": "physgap", "sw_version": __version__}


@dataclass(frozen=True)
class Discovery:
    topic: str
    payload: bytes  # the JSON config; an empty payload deletes the entity
    owner: str | None  # the collector that reported the object, None for gaps and collectors


def device(settings: MqttSettings, topics: Topics) -> dict[str, Any]:
    block: dict[str, Any] = {"identifiers": [topics.node_id], "name": settings.host, "manufacturer": "physgap",
                             "model": "physgap", "sw_version": __version__}
    if settings.configuration_url:
        block["configuration_url"] = settings.configuration_url
    return block


def entity_name(obj: Object, field: Field[Any]) -> str:
    # Every drive has a "Temperature": the object's kind and key make the name unique on the device.
    return " ".join((obj.kind.name.replace("_", " "), *obj.kind.key(obj.reading), field.name))


def config_document(obj: Object, field: Field[Any], settings: MqttSettings, topics: Topics,
                    device_block: dict[str, Any]) -> dict[str, Any]:
    ha = field.ha
    if ha is None:
        raise ValueError(f"{field.metric} has no Home Assistant entity")
    key = key_of(field)
    state_topic = topics.relative_state(obj.kind.name, obj.object_id)
    document: dict[str, Any] = {
        "~": topics.base,
        "name": entity_name(obj, field),
        "unique_id": topics.unique_id(obj.kind.name, obj.object_id, key),
        "state_topic": state_topic,
        # A null value renders as "None", which Home Assistant takes as unknown.
        "value_template": f"{{{{ value_json.{key} }}}}",
    }
    for name in ("device_class", "unit_of_measurement", "state_class", "entity_category"):
        value = getattr(ha, name)
        if value is not None:
            document[name] = value
    document["expire_after"] = settings.expire_after
    document["availability_topic"] = "~/availability"
    document["payload_available"] = ONLINE
    document["payload_not_available"] = OFFLINE
    if field.metric in ATTRIBUTES:
        document["json_attributes_topic"] = state_topic
        document["json_attributes_template"] = f"{{{{ value_json.{ATTRIBUTES_KEY} | tojson }}}}"
    document["device"] = device_block
    document["origin"] = ORIGIN
    return document


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def config_topics(obj: Object, settings: MqttSettings) -> tuple[str, ...]:
    """The discovery topics of one object's entities, without rendering their documents."""
    topics = topics_of(settings)
    return tuple(topics.discovery(field.ha.component, obj.kind.name, obj.object_id, key_of(field))
                 for field in obj.fields if field.ha is not None)


def render_discovery(objs: Iterable[Object], settings: MqttSettings) -> dict[str, Discovery]:
    """The discovery configs of these objects (`entities.objects(view)`), by topic."""
    topics = topics_of(settings)
    device_block = device(settings, topics)
    found: dict[str, Discovery] = {}
    for obj in objs:
        for field in obj.fields:
            assert field.ha is not None  # noqa: S101 - obj.fields holds only fields with an entity
            topic = topics.discovery(field.ha.component, obj.kind.name, obj.object_id, key_of(field))
            found[topic] = Discovery(topic, _encode(config_document(obj, field, settings, topics, device_block)),
                                     obj.owner)
    return found


def discovery_documents(view: View, settings: MqttSettings) -> list[tuple[str, dict[str, Any]]]:
    """Every discovery config physgap would publish for `view`, as (topic, document), in catalog order.

    For `physgap discovery`; the documents are exactly the ones the exporter publishes (retained, QoS 1).
    """
    return [(d.topic, json.loads(d.payload)) for d in render_discovery(objects(view), settings).values()]


def discovery_json(view: View, settings: MqttSettings) -> str:
    """`physgap discovery`'s output: a JSON array of {"topic", "retain", "qos", "payload"}."""
    documents = [{"topic": topic, "retain": True, "qos": 1, "payload": document}
                 for topic, document in discovery_documents(view, settings)]
    return json.dumps(documents, ensure_ascii=False, indent=2) + "\n"
