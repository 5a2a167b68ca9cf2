"""Collectors register themselves: each source package declares its config section, its collectors and
their default interval and timeout, in its own `__init__.py`. Adding a source touches no central list;
the daemon discovers the packages below `collectors/` (node_exporter's registry, as Python packages).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import collectors
from collectors.kit.config import Section
from collectors.kit.context import Collector

C = TypeVar("C")

# Packages below collectors/ that are shared pieces, not sources.
_NOT_SOURCES = frozenset({"model", "kit"})


@dataclass(frozen=True)
class Environment:
    """What every source may need from [daemon]: where the host's filesystems are."""

    sysfs: Path
    procfs: Path


@dataclass(frozen=True)
class Planned:
    """One collector a section asks for, with its schedule. interval None = [daemon].interval."""

    collector: Collector
    interval: float | None
    timeout: float


@dataclass(frozen=True)
class Source(Generic[C]):
    """A registered source: its section, and the collectors its typed config asks for."""

    section: Section[C]
    plan: Callable[[C, Environment], Sequence[Planned]]


_SOURCES: dict[str, Source[Any]] = {}


def register(source: Source[C]) -> Source[C]:
    name = source.section.name
    if name in _SOURCES and _SOURCES[name] is not source:
        raise RuntimeError(f"two sources register the config section [{name}]")
    _SOURCES[name] = source
    return source


def sources() -> tuple[Source[Any], ...]:
    """Every source package, imported once, in name order (which is also the collectors' order)."""
    for module in pkgutil.iter_modules(collectors.__path__):
        if module.ispkg and module.name not in _NOT_SOURCES:
            importlib.import_module(f"collectors.{module.name}")
    return tuple(_SOURCES[name] for name in sorted(_SOURCES))
