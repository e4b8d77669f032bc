"""`status`: one read-only page of what is set up and what has drifted.

Part of the api layer: it never prints, exits or reads argv.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from sotsync import gitrepo
from sotsync.api.common import load_ledger
from sotsync.api.database import _sync, open_database
from sotsync.api.gitsetup import (
    MERGE_DRIVER,
    RESERVATION_REFSPEC,
    SNAPSHOT_REFSPEC,
    TAG_REFSPEC,
    hooks_status,
)
from sotsync.api.ledgers import _reserved_ids
from sotsync.config import Config
from sotsync.errors import SotsyncError
from sotsync.ledger.lint import lint_ledger

# --------------------------------------------------------------------------- status


def status(config: Config, url: str | None = None, now: float | None = None) -> dict[str, Any]:
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
    doc["snapshots"] = _snapshot_heads(config, time.time() if now is None else now) if git else []
    doc["refspecs"] = _refspecs(config) if git else []
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


def _snapshot_heads(config: Config, now: float) -> list[dict[str, Any]]:
    """Each device's newest snapshot, here and as last fetched from each remote, with its age.

    Only the head commits are read: a long history costs nothing here.
    """
    from datetime import UTC, datetime

    from sotsync.snapshot.store import SNAPSHOT_PREFIX, ObjectStore

    git_dir = config.workspace.git_common_dir
    if git_dir is None:
        return []
    store = ObjectStore(git_dir)
    try:
        local = store.refs_under(SNAPSHOT_PREFIX).items()
        heads: list[tuple[str | None, str, str]] = [(None, ref, head) for ref, head in local]
        remotes = store.refs_under("refs/sotsync/remotes/")
        for ref, head in remotes.items():
            remote, _, rest = ref.removeprefix("refs/sotsync/remotes/").partition("/")
            if rest.startswith("snapshots/"):
                heads.append((remote, SNAPSHOT_PREFIX + rest.removeprefix("snapshots/"), head))
        found = []
        for where, ref, head in sorted(heads, key=lambda h: (h[1], h[0] or "")):
            commit = store.commit(head)
            found.append(
                {
                    "device": ref.removeprefix(SNAPSHOT_PREFIX),
                    "remote": where,
                    "commit": commit.id,
                    "time": datetime.fromtimestamp(commit.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "age_seconds": max(0, int(now) - commit.time),
                }
            )
        return found
    except SotsyncError:
        return []
    finally:
        store.close()


def _refspecs(config: Config) -> list[dict[str, Any]]:
    """Per remote, which of the fetch refspecs ``sotsync init`` writes are configured."""
    ws = config.workspace
    found = []
    for remote in gitrepo.remotes(ws):
        present = set(gitrepo.config_values(ws, f"remote.{remote}.fetch"))
        wanted = [
            p.format(remote=remote) for p in (RESERVATION_REFSPEC, SNAPSHOT_REFSPEC, TAG_REFSPEC)
        ]
        found.append({"remote": remote, "missing": [r for r in wanted if r not in present]})
    return found
