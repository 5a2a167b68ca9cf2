"""State documents: one JSON object per catalog object, its Home Assistant states keyed by field.

Values are the Home Assistant states the catalog computes (`Field.ha_state`): "ON"/"OFF", numbers already in
the entity's unit (%, Mbit/s), ISO 8601 times, and null for unknown (Home Assistant's templates render it as
"None", which it reads as unknown: nothing reads healthy that was not measured). Pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from collectors.model.snapshot import View
from exporters.mqtt.entities import ATTRIBUTES_KEY, Object, attributes_of, key_of, objects
from exporters.mqtt.topics import Topics


@dataclass(frozen=True)
class State:
    topic: str
    payload: bytes
    # The document without its clock-dependent values (a drive's reading age): what "changed" compares,
    # else every new View would re-send every drive for an age that grew by a few seconds.
    stable: bytes
    owner: str | None


def _encode(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _value(value: str | float | None) -> str | float | None:
    # JSON has no NaN or infinity; Home Assistant could not plot them either: unknown.
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def state_document(obj: Object, now: float) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for field in obj.fields:
        document[key_of(field)] = _value(field.ha_state(obj.reading, now))
    attributes = attributes_of(obj)
    if attributes is not None:
        document[ATTRIBUTES_KEY] = attributes
    return document


def render_state(obj: Object, topics: Topics, now: float) -> State:
    document = state_document(obj, now)
    payload = _encode(document)
    clock = {key_of(field) for field in obj.kind.clock_fields if field.ha is not None}
    # The same document less its clock keys: each field's state is computed once per cycle.
    stable = _encode({k: v for k, v in document.items() if k not in clock}) if clock else payload
    return State(topics.state(obj.kind.name, obj.object_id), payload, stable, obj.owner)


def render_states(objs: Iterable[Object], topics: Topics, now: float) -> dict[str, State]:
    """The state documents of these objects (`entities.objects(view)`), by topic."""
    states = (render_state(obj, topics, now) for obj in objs)
    return {state.topic: state for state in states}


def state_documents(view: View, topics: Topics, now: float) -> dict[str, State]:
    return render_states(objects(view), topics, now)
