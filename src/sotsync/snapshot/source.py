"""Reading the database for a snapshot: which tables, in which order, inside one read
transaction, and the integrity check.

Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sotsync.snapshot.model import SKIPPED_TABLES, TEXT_TYPES

if TYPE_CHECKING:
    from sotsync.db import Backend


# --------------------------------------------------------------------------- reading the database


@dataclass(frozen=True)
class SourceTable:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    schema: Mapping[str, Any]
    select: str


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_tables(db: Backend) -> list[SourceTable]:
    found = []
    rows = db.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
    for name, sql in rows:
        if name.startswith(SKIPPED_TABLES):
            continue
        info = db.query(f"PRAGMA table_info({_ident(name)})")
        columns = tuple(r[1] for r in info)
        key = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        extras = db.query(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? "
            "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name",
            (name,),
        )
        schema = {
            "engine": "sqlite",
            "table": name,
            "sql": sql,
            "columns": [
                {"name": r[1], "type": r[2], "notnull": bool(r[3]), "default": r[4], "pk": r[5]}
                for r in info
            ],
            "primary_key": list(key),
            "indexes": [{"type": t, "name": n, "sql": s} for t, n, s in extras],
        }
        order = ", ".join(_ident(c) for c in (key or columns))
        cols = ", ".join(_ident(c) for c in columns)
        select = f"SELECT {cols} FROM {_ident(name)} ORDER BY {order}"
        found.append(SourceTable(name, columns, key, schema, select))
    return found


def postgres_tables(db: Backend) -> list[SourceTable]:
    found = []
    names = db.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    for (name,) in names:
        info = db.query(
            "SELECT column_name, data_type, udt_name, is_nullable, column_default, "
            "character_maximum_length, numeric_precision, numeric_scale "
            "FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position",
            (name,),
        )
        key = tuple(
            r[0]
            for r in db.query(
                "SELECT k.column_name FROM information_schema.table_constraints c "
                "JOIN information_schema.key_column_usage k ON k.constraint_name = "
                "c.constraint_name AND k.table_schema = c.table_schema "
                "AND k.table_name = c.table_name WHERE c.constraint_type = 'PRIMARY KEY' "
                "AND c.table_schema = current_schema() AND c.table_name = ? "
                "ORDER BY k.ordinal_position",
                (name,),
            )
        )
        types = {r[0]: r[1] for r in info}
        columns = tuple(r[0] for r in info)
        schema = {
            "engine": "postgresql",
            "table": name,
            "columns": [
                {
                    "name": r[0],
                    "type": r[1],
                    "udt": r[2],
                    "notnull": r[3] == "NO",
                    "default": r[4],
                    "length": r[5],
                    "precision": r[6],
                    "scale": r[7],
                }
                for r in info
            ],
            "primary_key": list(key),
        }
        # Byte order ("C") for text, whatever the database's collation: the same rows must give
        # the same order on every server.  Without a key, rows are ordered by their text form.
        if key:
            order = ", ".join(
                _ident(c) + (' COLLATE "C"' if types[c] in TEXT_TYPES else "") for c in key
            )
        else:
            order = ", ".join(f'{_ident(c)}::text COLLATE "C"' for c in columns)
        cols = ", ".join(_ident(c) for c in columns)
        select = f"SELECT {cols} FROM {_ident(name)} ORDER BY {order}"
        found.append(SourceTable(name, columns, key, schema, select))
    return found


@contextmanager
def read_transaction(db: Backend) -> Iterator[None]:
    """One read-only transaction; every query inside sees the same committed state."""
    if db.engine == "sqlite":
        # Deferred: the read snapshot starts at the first SELECT and holds no write lock, so a
        # WAL-mode writer goes on while we read.
        db.execute("BEGIN")
    else:
        db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        yield
    finally:
        db.execute("ROLLBACK")


def integrity_check(db: Backend) -> str:
    if db.engine != "sqlite":
        return "not checked (postgresql)"
    rows = db.query("PRAGMA quick_check")
    return "; ".join(str(r[0]) for r in rows) or "ok"
