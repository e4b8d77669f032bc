"""The database mirror of the ledgers (``sot_entries``): what it should hold, how to get there.

The ledgers are the truth.  ``desired_rows`` and ``plan_sync`` are pure; ``read_mirror`` and
``apply_sync`` are the only functions that touch the database, and ``apply_sync`` runs the whole
plan in one transaction with batched statements.  Rows are keyed by (file type, id, occurrence),
so sub-ids and repeated ids never overwrite each other; an entry that leaves a ledger is
tombstoned (``deleted_at``), never deleted, and comes back if the entry does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sotsync.config import LedgerSpec
from sotsync.db import Backend
from sotsync.db.schema import ENTRIES
from sotsync.ledger.parse import Ledger

Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class MirrorRow:
    """One entry occurrence as the mirror stores it."""

    file_type: str
    entry_id: str
    occurrence: int
    title: str
    content: str
    metadata: str
    content_hash: str
    entry_date: str | None

    @property
    def key(self) -> Key:
        return (self.file_type, self.entry_id, self.occurrence)


@dataclass(frozen=True, slots=True)
class Stored:
    """What the mirror holds for a key: enough to decide insert, update or tombstone."""

    content_hash: str
    deleted: bool


@dataclass(frozen=True)
class SyncPlan:
    """Rows to insert and update, keys to tombstone; empty when the mirror is in sync."""

    inserts: tuple[MirrorRow, ...]
    updates: tuple[MirrorRow, ...]
    tombstones: tuple[Key, ...]

    @property
    def empty(self) -> bool:
        return not (self.inserts or self.updates or self.tombstones)


def desired_rows(ledger: Ledger, spec: LedgerSpec) -> list[MirrorRow]:
    """Every entry occurrence of ``ledger`` as a mirror row."""
    rows = []
    for entry in ledger.entries:
        content = "".join(ledger.lines[entry.line : entry.end]).replace("\r\n", "\n")
        metadata = json.dumps(
            {
                "heading": entry.heading,
                "level": entry.level,
                "generated": entry.generated,
                "ledger": spec.name,
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        rows.append(
            MirrorRow(
                spec.file_type,
                entry.id,
                entry.occurrence,
                entry.title,
                content,
                metadata,
                entry.content_hash,
                entry.date,
            )
        )
    return rows


def read_mirror(db: Backend, project_id: str, file_types: Iterable[str]) -> dict[Key, Stored]:
    """The mirror's rows for these ledgers, tombstones included."""
    types = sorted(set(file_types))
    if not types:
        return {}
    marks = ", ".join("?" for _ in types)
    rows = db.query(
        f"SELECT file_type, entry_id, occurrence, content_hash, deleted_at FROM {ENTRIES} "
        f"WHERE project_id = ? AND file_type IN ({marks})",
        (project_id, *types),
    )
    return {(r[0], r[1], int(r[2])): Stored(r[3], r[4] is not None) for r in rows}


def plan_sync(desired: Iterable[MirrorRow], stored: Mapping[Key, Stored]) -> SyncPlan:
    """Inserts for new keys, updates for changed or revived ones, tombstones for vanished ones."""
    inserts: list[MirrorRow] = []
    updates: list[MirrorRow] = []
    seen: set[Key] = set()
    for row in desired:
        seen.add(row.key)
        have = stored.get(row.key)
        if have is None:
            inserts.append(row)
        elif have.deleted or have.content_hash != row.content_hash:
            updates.append(row)
    tombstones = sorted(k for k, v in stored.items() if k not in seen and not v.deleted)
    return SyncPlan(tuple(inserts), tuple(updates), tuple(tombstones))


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def apply_sync(
    db: Backend, project_id: str, plan: SyncPlan, source_commit: str | None, now: str
) -> None:
    """Write ``plan`` in one transaction, batched; nothing is written for an empty plan."""
    if plan.empty:
        return
    with db.transaction():
        db.executemany(
            f"INSERT INTO {ENTRIES} (project_id, file_type, entry_id, occurrence, title, content, "
            "metadata, content_hash, entry_date, source_commit, created_at, updated_at, "
            "deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [
                (
                    project_id,
                    r.file_type,
                    r.entry_id,
                    r.occurrence,
                    r.title,
                    r.content,
                    r.metadata,
                    r.content_hash,
                    r.entry_date,
                    source_commit,
                    now,
                    now,
                )
                for r in plan.inserts
            ],
        )
        db.executemany(
            f"UPDATE {ENTRIES} SET title = ?, content = ?, metadata = ?, content_hash = ?, "
            "entry_date = ?, source_commit = ?, updated_at = ?, deleted_at = NULL "
            "WHERE project_id = ? AND file_type = ? AND entry_id = ? AND occurrence = ?",
            [
                (
                    r.title,
                    r.content,
                    r.metadata,
                    r.content_hash,
                    r.entry_date,
                    source_commit,
                    now,
                    project_id,
                    r.file_type,
                    r.entry_id,
                    r.occurrence,
                )
                for r in plan.updates
            ],
        )
        db.executemany(
            f"UPDATE {ENTRIES} SET deleted_at = ?, updated_at = ? "
            "WHERE project_id = ? AND file_type = ? AND entry_id = ? AND occurrence = ?",
            [(now, now, project_id, *key) for key in plan.tombstones],
        )
