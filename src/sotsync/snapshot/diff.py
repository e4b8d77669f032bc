"""Comparing two snapshots table by table: rows added, removed and changed, by primary key.

Only chunks whose blob ids differ between the two snapshots are read: a blob present in both
holds the same rows in both, and since a key lives in exactly one chunk of a table, its rows can
neither be added, removed nor changed.  Rows are compared in their encoded form (no decoding to
database values is needed).  A table without a primary key is keyed by its whole row, so its
rows are only ever added or removed.

Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sotsync.snapshot.restore import StoredTable, chunk_lines, stored_tables
from sotsync.snapshot.store import ObjectStore


@dataclass(frozen=True)
class TableDiff:
    """What changed in one table; keys are JSON texts of the primary-key values."""

    name: str
    status: str  # "added", "removed", "changed" or "same"
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    schema_changed: bool = False
    rows_added: int = 0
    rows_removed: int = 0

    @property
    def counts(self) -> tuple[int, int, int]:
        return (
            len(self.added) or self.rows_added,
            len(self.removed) or self.rows_removed,
            len(self.changed),
        )


def _keyed(store: ObjectStore, table: StoredTable, blobs: set[str]) -> dict[str, str]:
    """key → whole row (both JSON texts) for the rows in *blobs* of *table*."""
    columns = list(table.entry["columns"])
    positions = [columns.index(c) for c in table.entry.get("primary_key", [])]
    found: dict[str, str] = {}
    seen: Counter[str] = Counter()
    for oid in table.blobs:
        if oid not in blobs:
            continue
        for row in chunk_lines(store, oid):
            line = json.dumps(dict(zip(columns, row, strict=True)), sort_keys=True)
            if positions:
                key = json.dumps([row[i] for i in positions])
            else:  # the row is its own key; a repeated row gets a counter to stay distinct
                seen[line] += 1
                key = json.dumps([*row, seen[line]]) if seen[line] > 1 else json.dumps(row)
            found[key] = line
    return found


def _table_diff(store: ObjectStore, old: StoredTable, new: StoredTable) -> TableDiff:
    schema_changed = old.entry.get("schema_sha256") != new.entry.get("schema_sha256")
    if old.entry.get("content_sha256") == new.entry.get("content_sha256") and not schema_changed:
        return TableDiff(old.name, "same", (), (), ())
    shared = set(old.blobs) & set(new.blobs)
    before = _keyed(store, old, set(old.blobs) - shared)
    after = _keyed(store, new, set(new.blobs) - shared)
    added = tuple(k for k in after if k not in before)
    removed = tuple(k for k in before if k not in after)
    changed = tuple(k for k in after if k in before and before[k] != after[k])
    return TableDiff(old.name, "changed", added, removed, changed, schema_changed)


def diff_snapshots(store: ObjectStore, old: str, new: str) -> list[TableDiff]:
    """Per table (union of both snapshots, by name) what changed from commit *old* to *new*."""
    _engine, old_tables = stored_tables(store, old)
    _engine, new_tables = stored_tables(store, new)
    before = {t.name: t for t in old_tables}
    after = {t.name: t for t in new_tables}
    found = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            rows = int(after[name].entry.get("rows", 0))
            found.append(TableDiff(name, "added", (), (), (), rows_added=rows))
        elif name not in after:
            rows = int(before[name].entry.get("rows", 0))
            found.append(TableDiff(name, "removed", (), (), (), rows_removed=rows))
        else:
            found.append(_table_diff(store, before[name], after[name]))
    return found


def diff_json(diffs: list[TableDiff]) -> dict[str, Any]:
    """The ``--format json`` document of a diff."""
    return {
        "version": 1,
        "tables": {
            d.name: {
                "status": d.status,
                "schema_changed": d.schema_changed,
                "added": d.counts[0],
                "removed": d.counts[1],
                "changed": d.counts[2],
                "added_keys": [json.loads(k) for k in d.added],
                "removed_keys": [json.loads(k) for k in d.removed],
                "changed_keys": [json.loads(k) for k in d.changed],
            }
            for d in diffs
        },
    }
