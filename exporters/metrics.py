"""View (snapshot + gaps) -> Prometheus metric families, by walking the catalog.

Names, help, labels and values live in exporters.catalog; this file only turns them into prometheus_client
families. Families are built fresh on each call, as prometheus_client custom collectors should, so label sets
never go stale between scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from collectors.model.snapshot import View
from exporters.catalog import CATALOG, Field, Kind


def metric_families(view: View) -> Iterator[Metric]:
    """Every family: what `once`, the textfile and tests render."""
    yield from static_families(view)
    yield from clock_families(view, time.time())


def static_families(view: View) -> Iterator[Metric]:
    """Families that depend on the View alone, so a renderer may cache them per View version."""
    for kind in CATALOG:
        objects = kind.objects(view)
        for field in kind.static_fields:
            yield _without_duplicates(_family(kind, field, objects, None))


def clock_families(view: View, now: float) -> Iterator[Metric]:
    """Families that change with the clock alone (ages), rendered fresh on every scrape."""
    for kind in CATALOG:
        if not kind.clock_fields:
            continue
        # The View's order, not the catalog's sorted one: ages have always been listed so, and scrapers and the
        # golden file see the exposition byte for byte.
        readings = tuple(kind.source(view))
        for field in kind.clock_fields:
            yield _without_duplicates(_family(kind, field, readings, now))


def _family(kind: Kind[Any], field: Field[Any], readings: Iterable[Any], now: float | None) -> Metric:
    family: GaugeMetricFamily | CounterMetricFamily
    if field.metric_type == "counter":
        # CounterMetricFamily takes the name without _total and adds it to the samples itself.
        family = CounterMetricFamily(field.metric, field.help, labels=list(field.labels))
    else:
        # info fields too: the classic text format has no info type and writes them as gauges anyway.
        family = GaugeMetricFamily(field.metric, field.help, labels=list(field.labels))
    for reading in readings:
        for sample in kind.samples(field, reading, now):
            family.add_metric(list(sample.labels), sample.value)
    return family


def _without_duplicates(family: Metric) -> Metric:
    """Drop repeated label sets (two config entries naming the same UPS, an md array and a ZFS pool of the
    same name): Prometheus would keep an arbitrary one of them, so keep the first, deterministically."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    unique = []
    for sample in family.samples:
        key = (sample.name, tuple(sorted(sample.labels.items())))
        if key not in seen:
            seen.add(key)
            unique.append(sample)
    family.samples = unique
    return family
