"""Which Home Assistant entities a View holds: every catalog field with a Home Assistant entity, for every
object of its kind. Pure: the discovery and state renderers both walk this, so they cannot disagree."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from collectors.model.readings import DriveReading
from collectors.model.snapshot import Gap, View
from exporters import catalog
from exporters.catalog import Field, Kind
from exporters.mqtt.topics import field_id, safe_id
from exporters.report import evidence_text


@dataclass(frozen=True)
class Object:
    """One object of one kind (a drive, a gap, ...) and the collector that reported it.

    `owner` None: the object follows from the configuration (a gap, a collector), not from a reading.
    """

    kind: Kind[Any]
    reading: Any
    object_id: str
    owner: str | None

    @property
    def fields(self) -> tuple[Field[Any], ...]:
        return self.kind.ha_fields



def kinds() -> tuple[Kind[Any], ...]:
    """The catalog's kinds that become Home Assistant entities, in catalog order."""
    return tuple(kind for kind in catalog.CATALOG if kind.ha_fields)


def objects(view: View) -> tuple[Object, ...]:
    # Readings are the collectors' own objects: identity says which collector reported which.
    owner_of = {id(reading): name for name, status in view.snapshot.collectors.items()
                for reading in status.readings}
    found: list[Object] = []
    for kind in kinds():
        for reading in kind.objects(view):
            found.append(Object(kind, reading, safe_id(*kind.key(reading)), owner_of.get(id(reading))))
    return tuple(found)


def _gap_attributes(gap: Gap) -> dict[str, Any]:
    # The same evidence text as `physgap report`: what was found, or why the rule could not decide.
    return {"id": gap.id, "title": gap.title, "risk": gap.risk, "severity": gap.severity, "status": gap.status,
            "evidence": evidence_text(gap)}


def _drive_attributes(drive: DriveReading) -> dict[str, Any]:
    health = drive.health
    in_range = health is not None and 0 <= health < len(catalog.DRIVE_VERDICTS)
    verdict = catalog.DRIVE_VERDICTS[health] if in_range and health is not None else "unknown"
    # A drive that could not be read now has no findings but a reason ("smartctl killed after 27 s").
    evidence = "; ".join(drive.evidence) or drive.reason
    return {"verdict": verdict, "state": drive.state, "evidence": evidence, "model": drive.model,
            "serial": drive.serial, "device": drive.device}


# Entities whose state alone does not say enough: Home Assistant shows these attributes next to the
# problem sensor, so a user sees *why* a gap is open or a drive is judged failing without opening Grafana.
ATTRIBUTES: Mapping[str, Callable[[Any], dict[str, Any]]] = {
    "physgap_gap_open": _gap_attributes,
    "physgap_drive_health": _drive_attributes,
}
ATTRIBUTES_KEY = "attributes"


def attributes_of(obj: Object) -> dict[str, Any] | None:
    for field in obj.fields:
        render = ATTRIBUTES.get(field.metric)
        if render is not None:
            return render(obj.reading)
    return None


def key_of(field: Field[Any]) -> str:
    return field_id(field.name)
