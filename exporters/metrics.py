"""View (snapshot + gaps) -> Prometheus metric families, by walking the catalog.

Names, help, labels and values live in exporters.catalog; this file only turns them into prometheus_client
families. Families are built fresh on each call, as prometheus_client custom collectors should, so label sets
never go stale between scrapes.

One value that cannot be rendered (an integer too large for a float, NaN, a label that is not text) costs its
own sample, never the scrape: prometheus_client formats every sample at the end, so a single bad one would
otherwise turn every /metrics answer into a 500 and `physgap once` into a traceback.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from collectors.model.snapshot import View
from exporters.catalog import CATALOG, Field, Kind, Sample

log = logging.getLogger(__name__)


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
        for labels, value in _renderable(kind, field, reading, now):
            family.add_metric(labels, value)
    return family


def _renderable(kind: Kind[Any], field: Field[Any], reading: Any, now: float | None) -> list[tuple[list[str], float]]:
    """The samples of one object for one field that the exposition can carry; the others dropped and logged.

    An error while reading the value costs that object's samples of this field only (Kind.samples drops
    them). Non-finite values are dropped too: NaN compares false with every alert threshold, so it would read
    as "fine" where nothing was measured.
    """
    samples: tuple[Sample, ...] = kind.samples(field, reading, now)
    rendered = []
    for sample in samples:
        try:
            value = float(sample.value)
        except (OverflowError, TypeError, ValueError) as exc:
            log.debug("metrics: %s%s dropped: value %.40r cannot be rendered (%s)", field.metric, sample.labels,
                      sample.value, exc)
            continue
        if not math.isfinite(value):
            log.debug("metrics: %s%s dropped: value %r is not a number", field.metric, sample.labels, value)
            continue
        if problem := _label_problem(field, sample.labels):
            log.debug("metrics: %s%.200r dropped: %s", field.metric, sample.labels, problem)
            continue
        rendered.append((list(sample.labels), value))
    return rendered


def _label_problem(field: Field[Any], labels: tuple[str, ...]) -> str:
    if len(labels) != len(field.labels):
        return f"{len(labels)} label values for {len(field.labels)} labels"
    for value in labels:
        if not isinstance(value, str):
            return f"label value {value!r} is not text"
        if value.isascii():
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (undecodable bytes kept by surrogateescape) would fail the whole body's encoding.
            return f"label value {value!r} is not valid Unicode"
    return ""


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
