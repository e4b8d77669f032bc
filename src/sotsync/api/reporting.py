"""`report --html FILE`: gather the reconcile result, ledger statistics and snapshot timeline,
render them as one self-contained page and write it atomically.

Part of the api layer.  The figures are the same as ``inspect``, ``lint`` and ``reconcile``
give (they come from the same functions).  An unreachable database or a workspace without git
is shown on the page, not raised: the page is most wanted when something is broken.  Never
prints, exits or reads argv.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sotsync import fsio
from sotsync.api.common import _eol_rules, ledger_specs, load_ledger
from sotsync.api.ledgers import describe
from sotsync.config import Config
from sotsync.errors import SotsyncError
from sotsync.ledger.lint import lint_ledger
from sotsync.ledger.parse import Ledger

ITEM_LIMIT = 500  # report lines shown on the page; the counts always cover all of them


def report_data(
    config: Config,
    url: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready values."""
    from sotsync.api.database import reconcile
    from sotsync.reconcile import CATEGORIES

    ws = config.workspace
    database: dict[str, Any] = {"url": None, "problem": None}
    try:
        result = reconcile(config, url)
        database["url"] = _redacted(config, url)
    except SotsyncError as exc:
        database["problem"] = exc.message
        database["url"] = _redacted(config, url)
        result = reconcile(config, url, offline=True)
    report = result.report
    return {
        "version": 1,
        "generated": now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "workspace": str(ws.root),
        "workspace_name": ws.root.name,
        "database": database,
        "reconcile": {
            "clean": report.clean,
            "offline": report.offline,
            "runs_checked": report.runs_checked,
            "counts": dict(report.counts),
            "categories": dict(CATEGORIES),
            "items": [i.as_dict() for i in report.items[:ITEM_LIMIT]],
            "total_items": len(report.items),
        },
        "ledgers": _ledgers(config),
        "snapshots": _snapshots(config),
    }


def report(
    config: Config,
    path: Path,
    url: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """Write the page to ``path`` (temp file, fsync, rename); return the data it shows."""
    from sotsync.report import render_html

    data = report_data(config, url, now)
    target = path if path.is_absolute() else Path.cwd() / path
    if target.is_dir():
        raise SotsyncError(
            f"{path} is a directory", hint="pass a file name, e.g. --html sotsync-report.html"
        )
    if not target.parent.is_dir():
        raise SotsyncError(
            f"cannot write {path}: {target.parent} does not exist",
            hint="create the directory first, or choose another file name",
        )
    fsio.atomic_write_bytes(target, render_html(data).encode("utf-8"), str(path))
    return data


def _redacted(config: Config, url: str | None) -> str:
    from sotsync.config import redact_url, resolve_database_url

    return redact_url(resolve_database_url(url, config)[0])


def _ledgers(config: Config) -> list[dict[str, Any]]:
    specs = ledger_specs(config, ())
    eol = _eol_rules(config.workspace, specs)
    found = []
    for spec in specs:
        ledger = load_ledger(config.workspace, spec)
        findings = lint_ledger(ledger, eol.get(spec.path), spec.order == "newest-first")
        severities = Counter(f.severity for f in findings)
        weeks, undated = _weeks(ledger)
        found.append(
            {
                "name": spec.name,
                "path": spec.path,
                "counts": describe(ledger, spec)["counts"],
                "findings": {s: severities[s] for s in ("error", "warning", "info")},
                "codes": dict(Counter(f.code for f in findings)),
                "weeks": weeks,
                "undated": undated,
            }
        )
    return found


def _weeks(ledger: Ledger) -> tuple[list[tuple[str, int]], int]:
    """Entries per ISO week (Monday), every week from the first to the last, and the undated.

    An entry's date is its heading's, else its INDEX row's.
    """
    row_dates = {r.id: r.date for r in ledger.table_rows if r.id and r.date}
    per_week: Counter[date] = Counter()
    undated = 0
    for entry in ledger.entries:
        day = _day(entry.date) or _day(row_dates.get(entry.id))
        if day is None:
            undated += 1
            continue
        per_week[day - timedelta(days=day.weekday())] += 1
    if not per_week:
        return [], undated
    week, last = min(per_week), max(per_week)
    series = []
    while week <= last:
        series.append((week.isoformat(), per_week[week]))
        week += timedelta(days=7)
    return series, undated


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _snapshots(config: Config) -> dict[str, Any]:
    from sotsync.api.snapshots import _store
    from sotsync.snapshot import list_snapshots

    try:
        with _store(config) as store:
            found = list_snapshots(store, None)
    except SotsyncError as exc:
        return {"devices": [], "problem": exc.message}
    devices: dict[str, list[dict[str, Any]]] = {}
    for info in found:
        name = info.device or (info.ref or "").rsplit("/", 1)[-1] or "unknown"
        devices.setdefault(name, []).append(
            {"commit": info.commit, "time": info.time, "rows": info.rows, "subject": info.subject}
        )
    return {
        "devices": [{"device": d, "snapshots": s} for d, s in sorted(devices.items())],
        "problem": None,
    }
