"""The status page at `/`: the assessment table, then every kind of object the catalog describes.

Server-rendered HTML with one inline style sheet, no script and no external asset; a meta refresh keeps it
current. Everything is read from the View through the catalog: column headers are the fields' display
names (their help text as the tooltip), values are formatted from the fields' base units, and cells are
coloured from the fields' Home Assistant hints (a `problem` that is set, a `connectivity` that is lost). A
new catalog field or kind appears here without touching this file.

Every string that comes from a device or the configuration (model names, serials, evidence, errors) is
HTML-escaped, and the Content-Security-Policy forbids scripts on top of that.

Caching: the page is built once per View version, like /metrics. The cells that depend on the clock (the
age of each collector's last success, the age of SMART data, how old the View is) are left as slots in the
cached page and filled at each request: a stuck collector does not produce new Views, and that is exactly
when its growing age must show.
"""

from __future__ import annotations

import html
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from collectors.model.severity import DISPLAY, SEVERITIES, rank
from collectors.model.snapshot import CollectorStatus, Gap, View
from daemon import __version__
from daemon.gaps.units import duration_text as duration
from exporters.catalog import CATALOG, COLLECTORS, GAPS, Field, Kind
from exporters.encoding import GZIP_HEADERS, gzip_member, wants_gzip
from exporters.report import severity_cell
from exporters.status_page_css import CONTENT_SECURITY_POLICY, CSS

REFRESH_SECONDS = 30

# Sections in the order an operator reads them (the issue's: drives, arrays, UPSes, links, slots), each link's
# switch side after the links, then out-of-band management and compute hosts. A kind the catalog gains later
# is appended after these without a change here.
SECTION_ORDER = ("drive", "array", "ups", "nic", "switch", "switch_port", "slot", "pcie_link", "oob", "oob_local",
                 "compute", "host")
# Not sections of their own: the build is in the header, gaps have the assessment's columns, collectors go last
# with their errors.
_SPECIAL = {"build", GAPS.name, COLLECTORS.name}

Clock = Callable[[float], str]
Part = str | Clock

_OK, _UNKNOWN, _WARN, _BAD = 0, 1, 2, 3
_CELL_CLASS = {_OK: "", _UNKNOWN: "unknown", _WARN: "warn", _BAD: "bad"}
_ROW_CLASS = {_OK: "", _UNKNOWN: "row-unknown", _WARN: "row-warn", _BAD: "row-bad"}
NO_VALUE = "—"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------------------------------------------------
# Values, from the catalog's base units


def _number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


def _bits(bytes_per_second: float) -> str:
    # Links are spoken of in bits (a "10G" port); the catalog's base unit is bytes per second.
    bits = bytes_per_second * 8
    if bits >= 1e9:
        return f"{_number(bits / 1e9)} Gbit/s"
    return f"{_number(bits / 1e6)} Mbit/s"


def _timestamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(seconds))


def _is_timestamp(field: Field[Any]) -> bool:
    return field.ha is not None and field.ha.device_class == "timestamp"


def format_value(field: Field[Any], value: float) -> str:
    """One value of `field` in words and units; timestamps are shown as ages by the caller."""
    unit = field.unit
    if not math.isfinite(value):
        return _number(value)  # a source's absurd value is shown as it is; the page never fails on it
    if unit == "boolean":
        return "yes" if value else "no"
    if unit == "state":
        number = int(value)
        return field.states[number] if 0 <= number < len(field.states) else _number(value)
    if unit == "ratio":
        return f"{_number(value * 100, 3)} %"
    if unit == "seconds":
        return duration(value)
    if unit == "bytes/s":
        return _bits(value)
    if unit == "count":
        return f"{value:,.0f}" if value.is_integer() else _number(value)
    if unit == "lanes":
        return f"x{_number(value)}"
    suffix = {"celsius": " °C", "volts": " V", "GT/s": " GT/s"}.get(unit, "")
    return _number(value) + suffix


def severity_of(field: Field[Any], value: float) -> int:
    """How a value looks to an operator, from the field's Home Assistant hint: red for a problem the
    hardware reports (or a low battery), amber for a lost connection. The gap table above gives the verdict;
    an unused port without link is worth a look, not an alarm."""
    device_class = field.ha.device_class if field.ha is not None else None
    if device_class == "problem" and value > 0:
        # A multi-valued state (drive health: 1 warning, 2 failing) has a middle ground; a flag has not.
        return _WARN if field.unit == "state" and value < len(field.states) - 1 else _BAD
    if device_class == "connectivity" and value == 0:
        return _WARN
    if device_class == "battery" and field.ha is not None and field.ha.component == "binary_sensor" and value:
        return _BAD  # Home Assistant's battery binary_sensor: on means low
    return _OK


# ---------------------------------------------------------------------------------------------------------
# Tables of catalog objects


@dataclass(frozen=True)
class Cell:
    text: Part
    severity: int = _OK
    numeric: bool = False
    title: str = ""


@dataclass(frozen=True)
class Column:
    header: str
    help: str
    cell: Callable[[Any], Cell]


def _label_header(label: str, kind: Kind[Any] | None = None) -> str:
    words = label.replace("_", " ")
    # The kind's own title spells its key better when they are the same word ("ups" -> "UPS").
    if kind is not None and kind.title.lower() == words.lower():
        return kind.title
    return words.capitalize()


def _age_cell(since: float | None) -> Cell:
    if since is None:
        return Cell(NO_VALUE, _UNKNOWN)
    return Cell(lambda now: _e(f"{duration(now - since)} ago"), numeric=True, title=_timestamp(since))


def _field_columns(kind: Kind[Any], field: Field[Any], objects: Sequence[Any], taken: set[str], at: float,
                   ) -> list[Column]:
    """The columns one field contributes: its labels beyond the kind's key (an identity's model and serial, a
    slot's designation), then its value unless it is an identity. `at` is any time: it only decides whether a
    clock field has a value at all."""
    columns: list[Column] = []
    if field.clock_dependent:
        def aged(reading: Any, field: Field[Any] = field) -> Cell:
            if field.read(reading, at) is None:
                return Cell(NO_VALUE, _UNKNOWN)
            return Cell(lambda now: _e(_clock_value(field, reading, now)), numeric=True)
        present = any(field.read(o, at) is not None for o in objects)
        return [Column(field.name, field.help, aged)] if present else []
    # Each object's samples are read once here; the cells below look them up.
    samples = {id(o): kind.samples(field, o) for o in objects}
    if not any(samples.values()):
        return []
    if field.samples is not None:
        def flags(reading: Any) -> Cell:
            found = samples[id(reading)]
            if not found:
                return Cell(NO_VALUE, _UNKNOWN)
            return Cell(" ".join(_e(s.labels[-1]) for s in found if s.value) or NO_VALUE)
        return [Column(field.name, field.help, flags)]
    for position, label in enumerate(field.labels[len(kind.key_labels):], start=len(kind.key_labels)):
        if label in taken or not any(s and s[0].labels[position] for s in samples.values()):
            continue
        taken.add(label)

        def label_cell(reading: Any, position: int = position) -> Cell:
            found = samples[id(reading)]
            return Cell(_e(found[0].labels[position]) if found and found[0].labels[position] else NO_VALUE)
        columns.append(Column(_label_header(label), field.help, label_cell))
    if field.metric_type != "info":
        def value_cell(reading: Any) -> Cell:
            if field.ha_unknown is not None and field.ha_unknown(reading):
                return Cell("unknown", _UNKNOWN)
            found = samples[id(reading)]
            if not found:
                return Cell(NO_VALUE, _UNKNOWN)
            value = found[0].value
            if not math.isfinite(value):
                # Shown as the source said it, but marked unknown, never painted "ok": /metrics drops such
                # a value and MQTT sends null.
                return Cell(_e(format_value(field, value)), _UNKNOWN, numeric=True)
            if _is_timestamp(field):
                return _age_cell(value)
            return Cell(_e(format_value(field, value)), severity_of(field, value), numeric=True)
        columns.append(Column(field.name, field.help, value_cell))
    return columns


def _clock_value(field: Field[Any], reading: Any, now: float) -> str:
    value = field.read(reading, now)
    return NO_VALUE if value is None else format_value(field, value)


def columns(kind: Kind[Any], objects: Sequence[Any], at: float) -> list[Column]:
    """The kind's key, then every field that has a value for at least one object (an HDD-only host shows no
    NVMe wear column), in catalog order."""
    taken = set(kind.key_labels)

    def key_cell(position: int) -> Callable[[Any], Cell]:
        return lambda reading: Cell(_e(kind.key(reading)[position]))

    result = [Column(_label_header(label, kind), "", key_cell(i)) for i, label in enumerate(kind.key_labels)]
    for field in kind.fields:
        result.extend(_field_columns(kind, field, objects, taken, at))
    return result


def _td(label: str, cell: Cell) -> list[Part]:
    # "none" lets a phone's card leave out what has no value; a wide table keeps the dash to hold the column.
    classes = " ".join(c for c in (_CELL_CLASS[cell.severity], "num" if cell.numeric else "",
                                   "none" if cell.text == NO_VALUE else "") if c)
    attrs = f' data-label="{label}"'
    if classes:
        attrs += f' class="{classes}"'
    if cell.title:
        attrs += f' title="{_e(cell.title)}"'
    if isinstance(cell.text, str):
        return [f"<td{attrs}>{cell.text}</td>"]
    return [f"<td{attrs}>", cell.text, "</td>"]


def table(cols: Sequence[Column], rows: Iterable[Sequence[Cell]], row_status: Sequence[int] | None = None,
          ) -> list[Part]:
    parts: list[Part] = ['<div class="scroll"><table><thead><tr>']
    parts += [f'<th scope="col" title="{_e(c.help)}">{_e(c.header)}</th>' if c.help else
              f'<th scope="col">{_e(c.header)}</th>' for c in cols]
    parts.append("</tr></thead><tbody>")
    labels = [_e(c.header) for c in cols]
    for index, cells in enumerate(rows):
        status = max([c.severity for c in cells if c.severity != _UNKNOWN] or [_OK])
        if row_status is not None:
            status = max(status, row_status[index])
        css = _ROW_CLASS[status]
        parts.append(f'<tr class="{css}">' if css else "<tr>")
        for label, cell in zip(labels, cells, strict=True):
            parts += _td(label, cell)
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return parts


def kind_section(kind: Kind[Any], view: View) -> list[Part]:
    """One catalog kind as a table; rows with a problem first (128 healthy drives must not hide the failing
    one), otherwise in catalog order."""
    objects = kind.objects(view)
    parts: list[Part] = [f'<section id="{_e(kind.name)}"><h2>{_e(kind.title)}</h2>']
    if not objects:
        parts.append('<p class="empty">None reported.</p></section>')
        return parts
    cols = columns(kind, objects, view.snapshot.taken_at)
    rows = [[column.cell(o) for column in cols] for o in objects]
    worst = [max([c.severity for c in row if c.severity != _UNKNOWN] or [_OK]) for row in rows]
    order = sorted(range(len(rows)), key=lambda i: -worst[i])
    parts += table(cols, [rows[i] for i in order])
    parts.append("</section>")
    return parts


def collectors_section(view: View) -> list[Part]:
    """Collectors through the catalog, plus what the metrics cannot carry: the last error in words."""
    statuses = COLLECTORS.objects(view)
    cols = columns(COLLECTORS, statuses, view.snapshot.taken_at)
    cols.append(Column("Last error", "Why the last run failed, as the collector reported it.",
                       lambda s: Cell(_e(s.error) if s.error else NO_VALUE)))

    def status_of(status: CollectorStatus) -> int:
        return _UNKNOWN if status.success is None else _OK if status.success else _BAD

    parts: list[Part] = ['<section id="collector"><h2>Collectors</h2>',
                         '<p class="note">Each collector polls on its own interval; every value above is as old '
                         "as its collector's last success.</p>"]
    parts += table(cols, [[c.cell(s) for c in cols] for s in statuses], [status_of(s) for s in statuses])
    parts.append("</section>")
    return parts


# ---------------------------------------------------------------------------------------------------------
# The assessment table


def gap_class(gap: Gap) -> str:
    """Open gaps are coloured by severity; the others by status, so unknown never looks like resolved."""
    if gap.status == "open":
        return f"sev-{gap.severity}"
    return "status-" + re.sub(r"[^a-z0-9]+", "-", gap.status.lower()).strip("-")


def gaps_section(view: View) -> list[Part]:
    rows: list[Part] = []
    headers = ("#", "Gap", "Risk", "Severity", "Status", "Evidence")
    for gap in view.gaps:
        said = gap.explanation
        if not said:
            evidence = NO_VALUE
        elif gap.evaluated and gap.applicable:  # evidence lines; else the one reason
            evidence = '<ul class="evidence">' + "".join(f"<li>{_e(e)}</li>" for e in said) + "</ul>"
        else:
            evidence = f'<p class="reason">{_e(said[0])}</p>'
        cells = (_e(gap.id), _e(gap.title), _e(gap.risk), _e(severity_cell(gap)), _e(gap.status), evidence)
        classes = ("", "", "", ' class="severity"', "", "")
        rows.append(f'<tr class="{_e(gap_class(gap))}">' + "".join(
            f'<td data-label="{h}"{c}>{text}</td>' for h, c, text in zip(headers, classes, cells, strict=True))
            + "</tr>")
    if not rows:
        return ['<section id="gaps"><h2>Gaps</h2><p class="empty">No gap rules are enabled.</p></section>']
    head = "".join(f'<th scope="col">{h}</th>' for h in headers)
    return ['<section id="gaps"><h2>Gaps</h2><div class="scroll"><table><thead><tr>', head,
            "</tr></thead><tbody>", *rows, "</tbody></table></div></section>"]


def summary(view: View) -> list[tuple[str, str]]:
    """(css class, words) per group of gaps, worst first: "1 critical", "2 unknown", "3 resolved"."""
    counts: dict[str, int] = {}
    for gap in view.gaps:
        key = gap_class(gap)
        counts[key] = counts.get(key, 0) + 1
    open_keys = [f"sev-{s}" for s in reversed(SEVERITIES)]
    ordered = [k for k in open_keys if k in counts] + sorted(k for k in counts if k not in open_keys)
    words = []
    for key in ordered:
        if key.startswith("sev-"):
            name = key.removeprefix("sev-")
            words.append((key, f"{counts[key]} {DISPLAY.get(name, name).lower()} open"))
        else:
            words.append((key, f"{counts[key]} {key.removeprefix('status-').replace('-', ' ')}"))
    return words


def _title(view: View) -> str:
    worst = [g for g in view.gaps if g.status == "open"]
    worst.sort(key=lambda g: -rank(g.severity))
    state = f"{len(worst)} open, worst {DISPLAY.get(worst[0].severity, worst[0].severity)}" if worst else "no open gap"
    return f"{view.snapshot.host} · {state} · physgap"


# ---------------------------------------------------------------------------------------------------------
# The page


def page_parts(view: View, telemetry_path: str = "/metrics", refresh_seconds: int = REFRESH_SECONDS,
               ) -> tuple[Part, ...]:
    """The whole page for one View, with the clock-dependent cells left as functions of `now`."""
    kinds = [k for k in CATALOG if k.name not in _SPECIAL]
    kinds.sort(key=lambda k: SECTION_ORDER.index(k.name) if k.name in SECTION_ORDER else len(SECTION_ORDER))
    taken_at = view.snapshot.taken_at
    nav = ['<a href="#gaps">Gaps</a>']
    nav += [f'<a href="#{_e(k.name)}">{_e(k.title)} ({len(k.objects(view))})</a>' for k in kinds]
    nav.append('<a href="#collector">Collectors</a>')
    # Relative links: the page may sit behind a reverse proxy under a path prefix.
    metrics_href = _e(telemetry_path.lstrip("/") or ".")
    parts: list[Part] = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(_title(view))}</title><style>{CSS}</style></head><body><header>"
        f'<h1>physgap <span class="host">{_e(view.snapshot.host)}</span></h1>'
        f'<p class="meta" title="{_e(_timestamp(taken_at))}">Physical layer as of ',
        lambda now: _e(f"{duration(now - taken_at)} ago"),
        f" · refreshes every {int(refresh_seconds)} s · physgap {_e(__version__)} · "
        f'<a href="{metrics_href}">Metrics</a> · <a href="api/v1/view">JSON</a></p>',
        '<p class="summary">',
        *[f'<span class="pill {css}">{_e(words)}</span>' for css, words in summary(view)],
        "</p><nav>", " ".join(nav), "</nav></header><main>",
        *gaps_section(view),
    ]
    for kind in kinds:
        parts += kind_section(kind, view)
    parts += collectors_section(view)
    parts.append("</main></body></html>\n")
    return _merged(parts)


def _merged(parts: Iterable[Part]) -> tuple[Part, ...]:
    """Adjacent strings joined, so a request only concatenates a few dozen pieces around the clock slots."""
    merged: list[Part] = []
    run: list[str] = []
    for part in parts:
        if isinstance(part, str):
            run.append(part)
            continue
        if run:
            merged.append("".join(run))
            run = []
        merged.append(part)
    if run:
        merged.append("".join(run))
    return tuple(merged)


def render(view: View, now: float, telemetry_path: str = "/metrics", refresh_seconds: int = REFRESH_SECONDS) -> str:
    """The page as it reads at `now`."""
    return fill(page_parts(view, telemetry_path, refresh_seconds), now)


def fill(parts: Sequence[Part], now: float) -> str:
    return "".join(p if isinstance(p, str) else p(now) for p in parts)


# ---------------------------------------------------------------------------------------------------------
# The route

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class PageCache:
    """The page built once per View version; only the clock slots are filled per request."""

    def __init__(self, current: Callable[[], View], telemetry_path: str = "/metrics",
                 refresh_seconds: int = REFRESH_SECONDS) -> None:
        self._current = current
        self._telemetry_path = telemetry_path
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._version = -1
        self._parts: tuple[Part, ...] = ()

    def body(self, now: float | None = None) -> str:
        view = self._current()
        with self._lock:
            if view.version != self._version:
                self._parts = page_parts(view, self._telemetry_path, self._refresh)
                self._version = view.version
            parts = self._parts
        return fill(parts, time.time() if now is None else now)


def status_page_route(current: Callable[[], View], telemetry_path: str = "/metrics",
                      refresh_seconds: int = REFRESH_SECONDS) -> WSGIApp:
    cache = PageCache(current, telemetry_path, refresh_seconds)

    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = cache.body().encode()
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
                   ("Content-Security-Policy", CONTENT_SECURITY_POLICY), ("X-Content-Type-Options", "nosniff"),
                   ("Referrer-Policy", "no-referrer")]
        if wants_gzip(environ):
            # 128 drives make ~150 kB of table; gzip at level 1 costs about a millisecond and saves 90 %.
            body = gzip_member(body)
            headers += GZIP_HEADERS
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [body]

    return route
