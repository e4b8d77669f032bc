"""The report page: one self-contained HTML document from the report data.

The page loads nothing: styles are inline, charts are inline SVG, there is no script, and a
Content-Security-Policy forbids every fetch, so it opens the same from a laptop, a CI artifact
or an air-gapped server.  Every figure carries ``data-figure="name"``, so tests (and scripts)
read exactly what a person sees.  Pure: data in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from sotsync.report.svg import bar_chart, timeline

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;
max-width:960px;padding:0 1rem;color:#1d2430;background:#fff}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d8dde6}
.meta{color:#5b6575}.ok{color:#1a7f37}.bad{color:#b42318}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;text-align:left;
border-bottom:1px solid #eceff4}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,monospace}.bars rect{fill:#3b6fd8}.timeline circle{fill:#d2691e}
.base{stroke:#9aa4b2}.axis,.device{font:11px system-ui,sans-serif;fill:#5b6575}
.device{fill:#1d2430}.empty{color:#5b6575;font-style:italic}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _figure(name: str, value: object, tag: str = "td", cls: str = "n") -> str:
    return f'<{tag} class="{cls}" data-figure="{escape(name)}">{escape(str(value))}</{tag}>'


def render_html(data: Mapping[str, Any]) -> str:
    """The whole page for the data gathered by ``sotsync.api.reporting``."""
    title = f"sotsync report: {data['workspace_name']}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">generated {escape(data["generated"])} · workspace '
        f"<code>{escape(data['workspace'])}</code> · database "
        f"<code>{escape(data['database']['url'] or '-')}</code></p>",
        _reconcile(data["reconcile"], data["database"]),
        _ledgers(data["ledgers"]),
        _weeks(data["ledgers"]),
        _snapshots(data["snapshots"]),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _reconcile(rec: Mapping[str, Any], database: Mapping[str, Any]) -> str:
    clean = bool(rec["clean"])
    verdict = (
        '<span class="ok">ledgers, mirror and runs agree</span>'
        if clean
        else '<span class="bad">drift remains</span>'
    )
    parts = [
        "<h2>Reconcile</h2>",
        f'<p>{verdict} · clean: <span data-figure="reconcile.clean">{str(clean).lower()}</span> · '
        f'<span data-figure="reconcile.runs_checked">{rec["runs_checked"]}</span> run(s) '
        "checked</p>",
    ]
    if database.get("problem"):
        parts.append(
            f'<p class="bad">database not checked: {escape(database["problem"])} '
            "(offline reconcile: ledgers only)</p>"
        )
    rows = "".join(
        f"<tr><td>{escape(label)}</td>{_figure(f'reconcile.{name}', rec['counts'].get(name, 0))}"
        "</tr>"
        for name, label in rec["categories"].items()
    )
    parts.append(f"<table><tr><th>category</th><th>count</th></tr>{rows}</table>")
    items = rec["items"]
    if items:
        lines = "".join(
            f"<tr><td><code>{escape(i['sign'])}</code></td><td>{escape(i['category'])}</td>"
            f"<td><code>{escape(i['key'])}</code></td><td>{escape(i['detail'] or '')}</td></tr>"
            for i in items
        )
        more = rec["total_items"] - len(items)
        tail = f'<p class="meta">… and {more} more (see `sotsync reconcile`)</p>' if more else ""
        parts.append(
            "<details><summary>report lines</summary><table>"
            f"<tr><th></th><th>category</th><th>key</th><th>detail</th></tr>{lines}</table>"
            f"{tail}</details>"
        )
    return "\n".join(parts)


def _ledgers(ledgers: Sequence[Mapping[str, Any]]) -> str:
    head = (
        "<tr><th>ledger</th><th>entries</th><th>distinct ids</th><th>INDEX rows</th>"
        "<th>errors</th><th>warnings</th><th>info</th><th>codes</th></tr>"
    )
    rows = []
    for ledger in ledgers:
        name = ledger["name"]
        counts = ledger["counts"]
        findings = ledger["findings"]
        codes = ", ".join(f"{c} ×{n}" for c, n in sorted(ledger["codes"].items())) or "-"
        rows.append(
            f"<tr><td><b>{escape(name)}</b><br><code>{escape(ledger['path'])}</code></td>"
            + _figure(f"ledger.{name}.entries", counts["entries"])
            + _figure(f"ledger.{name}.distinct_ids", counts["distinct_ids"])
            + _figure(f"ledger.{name}.index_rows", counts["index_rows"])
            + _figure(f"ledger.{name}.errors", findings["error"])
            + _figure(f"ledger.{name}.warnings", findings["warning"])
            + _figure(f"ledger.{name}.info", findings["info"])
            + f"<td><code>{escape(codes)}</code></td></tr>"
        )
    return "<h2>Findings per ledger</h2>\n<table>" + head + "".join(rows) + "</table>"


def _weeks(ledgers: Sequence[Mapping[str, Any]]) -> str:
    parts = ["<h2>Entries per week</h2>"]
    for ledger in ledgers:
        name = ledger["name"]
        weeks = [(w, int(n)) for w, n in ledger["weeks"]]
        dated = sum(n for _w, n in weeks)
        parts.append(
            f"<h3>{escape(name)}</h3><p class='meta'>"
            f'<span data-figure="ledger.{escape(name)}.dated">{dated}</span> dated entries over '
            f'<span data-figure="ledger.{escape(name)}.weeks">{len(weeks)}</span> week(s), '
            f'<span data-figure="ledger.{escape(name)}.undated">{ledger["undated"]}</span> '
            "without a date</p>"
        )
        parts.append(bar_chart(weeks, f"entries per week in {name}"))
    return "\n".join(parts)


def _snapshots(snaps: Mapping[str, Any]) -> str:
    parts = ["<h2>Snapshots per device</h2>"]
    if snaps.get("problem"):
        parts.append(f'<p class="empty">{escape(snaps["problem"])}</p>')
        return "\n".join(parts)
    devices = []
    rows = []
    for device in snaps["devices"]:
        name = device["device"]
        shots = device["snapshots"]
        devices.append(
            (
                name,
                [
                    (
                        datetime.strptime(s["time"], "%Y-%m-%dT%H:%M:%SZ"),
                        f"{s['time']} {s['commit'][:12]} {s['rows']} rows {s['subject']}",
                    )
                    for s in shots
                ],
            )
        )
        newest = shots[0]["time"] if shots else "-"
        rows.append(
            f"<tr><td>{escape(name)}</td>{_figure(f'snapshots.{name}.count', len(shots))}"
            f"<td>{escape(newest)}</td></tr>"
        )
    parts.append(timeline(devices))
    if rows:
        parts.append(
            "<table><tr><th>device</th><th>snapshots</th><th>newest</th></tr>"
            + "".join(rows)
            + "</table>"
        )
    return "\n".join(parts)
