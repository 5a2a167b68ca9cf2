"""The status page's style sheet: inline, so the page needs no second request and no external asset.

Severity colours follow the gap report's words; an unknown gap is hatched grey and a resolved one green, so
"not measured" can never be mistaken for "fine" at a glance. Below 720 px every table turns into one card
per row (each cell labelled from its column header, cells without a value left out), so a phone never scrolls
sideways.
"""

from __future__ import annotations

import base64
import hashlib

CSS = """
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#5b6470;--bg:#fff;--card:#f6f7f9;--line:#d8dce1;
--critical:#a4161a;--high:#e0541b;--medium:#f0a202;--low:#f7dc4a;--info:#8fb8ed;--ok:#2f9e44;
--unknown:#8a8f98}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--muted:#a2a9b3;--bg:#15181c;--card:#1e2227;
--line:#343a42}}
*{box-sizing:border-box}
body{margin:0;padding:1rem;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
h1{font-size:1.4rem;margin:0 0 .25rem}
h1 .host{font-weight:400}
h2{font-size:1.15rem;margin:1.75rem 0 .5rem}
a{color:inherit}
.meta,.empty,.note{color:var(--muted);margin:.25rem 0}
nav{margin:.5rem 0 0;display:flex;flex-wrap:wrap;gap:.25rem .9rem}
.summary{margin:.75rem 0 0;display:flex;flex-wrap:wrap;gap:.4rem}
.pill{padding:.1rem .55rem;border-radius:1rem;font-weight:600;border:1px solid var(--line)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.35rem .55rem;border-bottom:1px solid var(--line);
overflow-wrap:break-word}
th{background:var(--card);font-weight:600;white-space:nowrap}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
td.bad{background:var(--critical);color:#fff;font-weight:600}
td.warn{background:var(--medium);color:#000;font-weight:600}
td.unknown,tr.row-unknown td:first-child{color:var(--muted);font-style:italic}
tr.row-bad td:first-child{box-shadow:inset 5px 0 var(--critical)}
tr.row-warn td:first-child{box-shadow:inset 5px 0 var(--medium)}
ul.evidence{margin:0;padding-left:1.1rem}
.reason{margin:0;font-style:italic}
#gaps td:first-child{font-weight:700;box-shadow:inset 6px 0 var(--c,var(--line))}
#gaps td.severity{font-weight:700;white-space:nowrap}
#gaps td.severity,.pill{background:var(--c,transparent);color:var(--t,inherit)}
.sev-critical{--c:var(--critical);--t:#fff}
.sev-high{--c:var(--high);--t:#fff}
.sev-medium{--c:var(--medium);--t:#000}
.sev-low{--c:var(--low);--t:#000}
.sev-info{--c:var(--info);--t:#000}
.status-resolved{--c:var(--ok);--t:#fff}
.status-unknown{--c:var(--unknown);--t:#000}
.status-not-applicable{--c:var(--line);--t:var(--muted)}
#gaps tr.status-unknown td.severity,.pill.status-unknown{
background:repeating-linear-gradient(135deg,#d5d8dd 0 6px,#b9bec6 6px 12px);outline:2px dashed #6b7079;
outline-offset:-2px}
tr.status-unknown td.severity::before{content:"? "}
@media (max-width:720px){
body{padding:.6rem;font-size:15px}
table,thead,tbody,tr,th,td{display:block}
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
tr{margin:0 0 .8rem;border:1px solid var(--line);border-radius:8px;overflow:hidden}
td{display:grid;grid-template-columns:minmax(7.5em,38%) 1fr;gap:.6rem;overflow-wrap:anywhere}
td.none{display:none}
td::before{content:attr(data-label);font-weight:600;color:var(--muted);font-style:normal}
td.bad::before,td.warn::before,td.severity::before{color:inherit}
tr.status-unknown td.severity::before{content:attr(data-label)}
td.num{white-space:normal}
#gaps td:first-child{box-shadow:inset 0 6px var(--c,var(--line))}
tr.row-bad td:first-child{box-shadow:inset 0 5px var(--critical)}
tr.row-warn td:first-child{box-shadow:inset 0 5px var(--medium)}
}
"""


def _source_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


# The Content-Security-Policy allows exactly this style element and nothing else (no script at all): should
# escaping ever miss a device string, the browser still runs nothing and loads nothing.
CONTENT_SECURITY_POLICY = (f"default-src 'none'; style-src '{_source_hash(CSS)}'; img-src data:; "
                           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
