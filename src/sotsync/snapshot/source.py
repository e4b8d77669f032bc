"""Reading the database for a snapshot: which tables, in which order, inside one read
transaction, and the integrity check.

Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sotsync.errors import DatabaseError
from sotsync.snapshot.encode import Batch, encode_line, row_batches
from sotsync.snapshot.model import SKIPPED_TABLES, TEXT_TYPES

if TYPE_CHECKING:
    from sotsync.db import Backend


# --------------------------------------------------------------------------- reading the database


@dataclass(frozen=True)
class SourceTable:
    """One table to read: its columns, key, schema, and the query giving its rows in key order.

    ``fast`` (None when it does not apply) gives per row the key text, the row text written by
    the database itself (SQLite's ``json_array``, PostgreSQL's ``to_json`` and ``to_char``;
    NULL for a row holding a value whose text only ``encode_line`` writes right), and the
    parameters of ``refetch``, which fetches such a row (SQLite: by rowid; PostgreSQL: by key).
    """

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    schema: Mapping[str, Any]
    select: str
    fast: str | None = None
    refetch: str | None = None
    rows: int | None = None  # an estimate for progress, when cheap to know


def _sqlite_foreign_keys(db: Backend, table: str) -> list[dict[str, Any]]:
    """The table's foreign keys (format 2): columns, parent table, parent columns ([] for the
    parent's primary key), in ``PRAGMA foreign_key_list`` order."""
    found: dict[int, dict[str, Any]] = {}
    for row in db.query(f"PRAGMA foreign_key_list({_ident(table)})"):
        ident, _seq, parent, child, referenced = row[0], row[1], row[2], row[3], row[4]
        entry = found.setdefault(ident, {"columns": [], "table": parent, "references": []})
        entry["columns"].append(child)
        if referenced is not None:
            entry["references"].append(referenced)
    return [found[k] for k in sorted(found)]


def _affinity(declared: str) -> str:
    """SQLite's column affinity for a declared type (section 3.1 of its datatype rules)."""
    d = declared.upper()
    if "INT" in d:
        return "integer"
    if any(word in d for word in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in d or not d:
        return "blob"
    if any(word in d for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def _fast_queries(
    name: str, sql: str, info: list[Any], order: str, key: tuple[str, ...]
) -> tuple[str | None, str | None]:
    """The ``fast`` and ``refetch`` queries of a SQLite table, or (None, None).

    They apply to ordinary rowid tables whose declared types make REAL and BLOB values rare:
    a REAL is found per row (the sum of the non-TEXT-affinity columns is then not an integer)
    and written by Python; a BLOB makes ``json_array`` fail and the table is read again the
    slow way.  A TEXT-affinity column cannot hold a REAL (SQLite converts it to text).
    """
    names = {str(r[1]).lower() for r in info}
    upper = sql.upper()
    if (
        not upper.startswith("CREATE TABLE")
        or "WITHOUT ROWID" in upper.replace("\n", " ")
        or names & {"rowid", "_rowid_", "oid"}
    ):
        return None, None
    kinds = [_affinity(str(r[2] or "")) for r in info]
    if "real" in kinds or any("BLOB" in str(r[2] or "").upper() for r in info):
        return None, None
    cols = ", ".join(_ident(r[1]) for r in info)
    numeric = [_ident(r[1]) for r, k in zip(info, kinds, strict=True) if k != "text"]
    plain = (
        "typeof(" + " + ".join(f"coalesce({c}, 0)" for c in numeric) + ") = 'integer'"
        if numeric
        else "1"
    )
    key_cols = ", ".join(_ident(c) for c in key) if key else cols
    fast = (
        f"SELECT json_array({key_cols}), CASE WHEN {plain} THEN json_array({cols}) END, rowid "
        f"FROM {_ident(name)} ORDER BY {order}"
    )
    return fast, f"SELECT {cols} FROM {_ident(name)} WHERE rowid = ?"


class SlowPath(Exception):
    """The fast query met a value it cannot encode (a BLOB): read the table again, slowly."""


def encoded_batches(db: Backend, table: SourceTable, fast: bool = True) -> Iterator[Batch]:
    """The rows of *table* in key order, encoded, in batches (``encode.chunk_batches`` input).

    Raises ``SlowPath`` (before or after some batches) when the fast query cannot go on; the
    caller starts again with ``fast=False``.
    """
    positions = [table.columns.index(c) for c in table.key]
    if db.engine == "postgresql":
        if fast and table.fast is not None and table.refetch is not None:
            rows = _server_side(db, table.fast)
            yield from _refetched(db, rows, table.refetch, 4096, keyed=True)
        else:
            yield from row_batches(_server_side(db, table.select), positions)
        return
    if not fast or table.fast is None or table.refetch is None:
        yield from row_batches(db.iterate(table.select), positions)
        return
    conn = getattr(db, "conn", None)
    if conn is None:  # not a stdlib sqlite3 connection
        yield from row_batches(db.iterate(table.select), positions)
        return
    import sqlite3

    try:
        cursor = conn.execute(table.fast)
        batches = iter(lambda: cursor.fetchmany(4096), [])
        yield from _refetched(db, batches, table.refetch, 0, keyed=bool(table.key))
    except sqlite3.Error as exc:
        if "BLOB" in str(exc):
            raise SlowPath(str(exc)) from None
        raise DatabaseError(f"SQLite SELECT failed on {db.url}: {exc}") from None


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
            "foreign_keys": _sqlite_foreign_keys(db, name),
        }
        order = ", ".join(_ident(c) for c in (key or columns))
        cols = ", ".join(_ident(c) for c in columns)
        select = f"SELECT {cols} FROM {_ident(name)} ORDER BY {order}"
        fast, refetch = _fast_queries(name, str(sql or ""), info, order, key)
        found.append(SourceTable(name, columns, key, schema, select, fast, refetch))
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
            "foreign_keys": [
                {"name": n, "sql": str(d)}
                for n, d in db.query(
                    "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                    "JOIN pg_class t ON t.oid = c.conrelid "
                    "JOIN pg_namespace s ON s.oid = t.relnamespace "
                    "WHERE c.contype = 'f' AND s.nspname = current_schema() AND t.relname = ? "
                    "ORDER BY c.conname",
                    (name,),
                )
            ],
            # Secondary and unique indexes (format 2), so that restore and migrate rebuild them.
            "indexes": [
                {"name": n, "sql": _local_index(str(d)), "unique": bool(u)}
                for n, d, u in db.query(
                    "SELECT i.relname, pg_get_indexdef(ix.indexrelid), ix.indisunique "
                    "FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid "
                    "JOIN pg_class t ON t.oid = ix.indrelid "
                    "JOIN pg_namespace s ON s.oid = t.relnamespace "
                    "WHERE s.nspname = current_schema() AND t.relname = ? "
                    "AND NOT ix.indisprimary ORDER BY i.relname",
                    (name,),
                )
            ],
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
        fast, by_key = _pg_fast_queries(name, types, columns, key, order)
        found.append(SourceTable(name, columns, key, schema, select, fast, by_key))
    return found


# Column types whose JSON text PostgreSQL writes exactly as ``encode_line`` does.
_PG_TEXT = ("text", "character varying")
_PG_INTEGER = ("smallint", "integer", "bigint")
_PG_TIMESTAMP = "timestamp without time zone"


def _pg_value(column: str, kind: str) -> str:
    """SQL giving the JSON text ``encode_line`` writes for *column*'s value."""
    c = _ident(column)
    if kind in _PG_INTEGER:
        return f"coalesce({c}::text, 'null')"
    if kind == _PG_TIMESTAMP:
        # datetime.isoformat(): seconds always, microseconds only when not zero.
        return (
            f"CASE WHEN {c} IS NULL THEN 'null' ELSE "
            f"""'{{"$datetime":"' || to_char({c}, 'YYYY-MM-DD"T"HH24:MI:SS') || """
            f"CASE WHEN date_part('microseconds', {c})::bigint % 1000000 <> 0 "
            f"""THEN to_char({c}, '.US') ELSE '' END || '"}}' END"""
        )
    return f"coalesce(to_json({c})::text, 'null')"  # text, varchar, boolean


def _pg_fast_queries(
    name: str,
    types: Mapping[str, str],
    columns: tuple[str, ...],
    key: tuple[str, ...],
    order: str,
) -> tuple[str | None, str | None]:
    """The ``fast`` and ``refetch`` (here: by key) queries of a PostgreSQL table, or None.

    They apply to keyed tables of text, integer, boolean and timestamp columns: the server
    writes each row's JSON text, which spares the client the decoding and encoding of every
    value.  A timestamp outside Python's years 1-9999 gives no text (NULL), and that row is
    fetched and encoded the usual way, which reports it.
    """
    allowed = (*_PG_TEXT, *_PG_INTEGER, "boolean", _PG_TIMESTAMP)
    if not key or any(types[c] not in allowed for c in columns):
        return None, None
    line = " || ',' || ".join(_pg_value(c, types[c]) for c in columns)
    key_text = " || ',' || ".join(_pg_value(c, types[c]) for c in key)
    ranges = [
        f"({_ident(c)} IS NULL OR ({_ident(c)} >= '0001-01-01' AND {_ident(c)} < '10000-01-01'))"
        for c in columns
        if types[c] == _PG_TIMESTAMP
    ]
    row = f"'[' || {line} || ']'"
    if ranges:
        row = f"CASE WHEN {' AND '.join(ranges)} THEN {row} END"
    raw_key = ", ".join(_ident(c) for c in key)
    fast = f"SELECT '[' || {key_text} || ']', {row}, {raw_key} FROM {_ident(name)} ORDER BY {order}"
    where = " AND ".join(f"{_ident(c)} = ?" for c in key)
    cols = ", ".join(_ident(c) for c in columns)
    return fast, f"SELECT {cols} FROM {_ident(name)} WHERE {where}"


def _refetched(
    db: Backend, rows: Iterable[Any], refetch: str, size: int, keyed: bool
) -> Iterator[Batch]:
    """Batches from a fast query's rows (key text, row text or NULL, refetch parameters...):
    a row the database could not write is fetched again and written by ``encode_line`` (and
    is its own key in a table without a primary key).  *rows* yields single rows, or lists of
    rows when *size* is 0."""
    keys: list[str] = []
    lines: list[str] = []
    for item in rows:
        for row in item if size == 0 else (item,):
            line = row[1]
            if line is None:
                (values,) = db.query(refetch, tuple(row[2:]))
                line = encode_line(values)
                keys.append(row[0] if keyed else line)
            else:
                keys.append(row[0])
            lines.append(line)
        if len(lines) >= size:
            yield keys, lines
            keys, lines = [], []
    if lines:
        yield keys, lines


def _server_side(db: Backend, sql: str) -> Iterator[tuple[Any, ...]]:
    """The rows of *sql* through a server-side cursor, so that a large table is never held in
    memory whole (inside ``read_transaction``'s transaction, which the cursor needs)."""
    conn = getattr(db, "conn", None)
    if conn is None:
        yield from db.iterate(sql)
        return
    import psycopg

    try:
        with conn.cursor(name="sotsync_snapshot") as cursor:
            cursor.itersize = 4096
            cursor.execute(sql)
            while batch := cursor.fetchmany(4096):
                yield from batch
    except psycopg.Error as exc:
        raise DatabaseError(f"PostgreSQL SELECT failed on {db.url}: {exc}") from None


def with_row_count(db: Backend, table: SourceTable) -> SourceTable:
    """*table* with its row count (for a progress bar's total), inside the read transaction."""
    (count,) = db.query(f"SELECT count(*) FROM {_ident(table.name)}")[0]
    return dataclasses.replace(table, rows=int(count))


_SCHEMA_PREFIX = re.compile(r" ON (ONLY )?(?:\"(?:[^\"]|\"\")+\"|[^ .\"]+)\.")


def _local_index(sql: str) -> str:
    """An index definition without the schema of its table, so that it builds in any schema."""
    return _SCHEMA_PREFIX.sub(lambda m: " ON " + (m.group(1) or ""), sql, count=1)


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
