"""`status`: one read-only page of what is set up and what has drifted.

Part of the api layer: it never prints, exits or reads argv.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sotsync import gitrepo
from sotsync.api.common import load_ledger
from sotsync.api.database import _sync, open_database
from sotsync.api.gitsetup import MERGE_DRIVER, hooks_status
from sotsync.api.ledgers import _reserved_ids
from sotsync.config import Config
from sotsync.errors import SotsyncError
from sotsync.ledger.lint import lint_ledger

# --------------------------------------------------------------------------- status


def status(config: Config, url: str | None = None) -> dict[str, Any]:
    """What a person needs at a glance: ledgers, database, hooks, merge driver, ids, lock.

    Read-only and tolerant: a part that cannot be read (an unreachable database, no git) is
    reported as such instead of failing the whole command.
    """
    from sotsync.locking import is_stale, read_holder

    ws = config.workspace
    doc: dict[str, Any] = {"version": 1, "workspace": str(ws.root)}
    ledgers = []
    for spec in config.ledgers:
        entry: dict[str, Any] = {"name": spec.name, "path": spec.path}
        try:
            found = lint_ledger(load_ledger(ws, spec), None, spec.order == "newest-first")
            by = Counter(f.severity for f in found)
            entry.update({"errors": by["error"], "warnings": by["warning"], "info": by["info"]})
        except SotsyncError as exc:
            entry["problem"] = exc.message
        ledgers.append(entry)
    doc["ledgers"] = ledgers
    doc["database"] = _database_status(config, url)
    git = ws.git_root is not None
    doc["hooks"] = [{"name": h.name, "state": h.state} for h in hooks_status(config)] if git else []
    driver = gitrepo.config_get(ws, f"merge.{MERGE_DRIVER}.driver") if git else None
    merge = gitrepo.attribute(ws, [s.path for s in config.ledgers], "merge") if git else {}
    doc["merge_driver"] = {
        "configured": driver is not None,
        "ledgers_marked": sorted(p for p, v in merge.items() if v == MERGE_DRIVER),
    }
    doc["reservations"] = {s.prefix: sorted(_reserved_ids(ws, s)) for s in config.ledgers}
    holder = read_holder(ws)
    doc["lock"] = (
        None
        if holder is None
        else {
            "holder": holder.describe(),
            "stale": is_stale(holder),
        }
    )
    return doc


def _database_status(config: Config, url: str | None) -> dict[str, Any]:

    try:
        db = open_database(config, url)
    except SotsyncError as exc:
        return {"reachable": False, "problem": exc.message}
    try:
        from sotsync.db.schema import status as schema_status

        found = schema_status(db)
        doc: dict[str, Any] = {
            "reachable": True,
            "url": db.url,
            "schema_version": found.version,
            "current": found.current,
        }
        if found.up_to_date:
            plan = _sync(config, db, dry_run=True).plan
            doc["mirror"] = {
                "missing": len(plan.inserts),
                "changed": len(plan.updates),
                "gone": len(plan.tombstones),
            }
        return doc
    except SotsyncError as exc:
        return {"reachable": True, "url": db.url, "problem": exc.message}
    finally:
        db.close()
