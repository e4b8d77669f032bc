"""Restoring a snapshot into a database: decode the rows, rebuild into a scratch, check, swap in.

This module owns turning a stored snapshot back into tables.  SQLite is rebuilt in a temporary
file next to the target (the stored ``CREATE`` statements, rows in one transaction, triggers and
indexes last so that no trigger fires on restored rows), checked (``PRAGMA integrity_check``,
row counts and content, schema hashes re-computed exactly as ``write`` computes them) and moved
over the target with ``os.replace``.  PostgreSQL is restored in one transaction on the target:
the snapshot's tables are dropped and re-created from the stored column list, filled, checked
the same way and their sequences reset; any failure rolls everything back.  A snapshot is
restored only into its own engine: moving across engines is ``sotsync migrate``'s job.

It does not verify the snapshot, decide whether the target may be overwritten or take the safety
snapshot: the api layer does that first.  No configuration, no lock, no printing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import hashlib
import json
import os
import re
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sotsync import fsio
from sotsync.progress import NO_PROGRESS, Progress
from sotsync.snapshot.encode import READABLE_FORMATS, canonical_json, sha256_hex
from sotsync.snapshot.history import manifest_of
from sotsync.snapshot.layout import chunk_ids
from sotsync.snapshot.source import (
    SlowPath,
    SourceTable,
    encoded_batches,
    postgres_tables,
    sqlite_tables,
)
from sotsync.snapshot.store import ObjectStore, SnapshotError
from sotsync.snapshot.write import table_dir

if TYPE_CHECKING:
    from sotsync.db import Backend

SEQUENCE_TABLE = "sqlite_sequence"  # created by SQLite itself, filled from the snapshot last
_NEXTVAL = re.compile(r"nextval\('(.+)'::regclass\)")
_MIGRATE_HINT = "move data across engines with `sotsync migrate --to URL`"


@dataclass(frozen=True)
class StoredTable:
    """One table of a snapshot: its manifest entry, its schema.json and its chunk blob ids."""

    name: str
    entry: Mapping[str, Any]
    schema: Mapping[str, Any]
    blobs: tuple[str, ...]  # in manifest order


# --------------------------------------------------------------------------- reading


def stored_tables(store: ObjectStore, commit: str) -> tuple[str, list[StoredTable]]:
    """(engine, tables) of snapshot *commit*, read from its manifest and tree."""
    tree = store.commit(commit).tree
    manifest = manifest_of(store, tree)
    if manifest.get("format") not in READABLE_FORMATS:
        raise SnapshotError(
            f"snapshot {commit[:12]} has format {manifest.get('format')!r}, which this sotsync "
            f"does not read (it reads {', '.join(map(str, READABLE_FORMATS))})",
            hint="upgrade sotsync",
        )
    found = []
    for name, entry in sorted(manifest.get("tables", {}).items()):
        base = entry.get("path", f"tables/{table_dir(name)}")
        schema_entry = store.path(tree, f"{base}/schema.json")
        if schema_entry is None:
            raise SnapshotError(f"missing blob {base}/schema.json (not in the tree)")
        schema = json.loads(store.raw(schema_entry[1], "blob"))
        blobs = tuple(chunk_ids(store, tree, base, entry))
        found.append(StoredTable(name, entry, schema, blobs))
    return str(manifest.get("engine")), found


def parse_chunk(data: bytes) -> list[list[Any]]:
    """The encoded rows (JSON arrays, not yet decoded) of one chunk's bytes.

    One ``json.loads`` for the whole chunk: a raw newline only ever ends a row (JSON escapes
    the ones inside strings), so the lines joined by commas are one JSON array of rows.
    """
    body = data.rstrip(b"\n").replace(b"\n", b",")
    rows: list[list[Any]] = json.loads(b"[" + body + b"]")
    return rows


def chunk_lines(store: ObjectStore, oid: str) -> list[list[Any]]:
    """The encoded rows (JSON arrays, not yet decoded) of one chunk blob."""
    return parse_chunk(store.raw(oid, "blob"))


def decode_value(value: Any, wrap_json: Callable[[Any], Any] | None = None) -> Any:
    """The database value that ``encode.encode_value`` turned into *value*."""
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "$json":
        return wrap_json(inner) if wrap_json is not None else inner
    decoders: dict[str, Callable[[Any], Any]] = {
        "$float": float,
        "$bytes": base64.b64decode,
        "$datetime": dt.datetime.fromisoformat,
        "$date": dt.date.fromisoformat,
        "$time": dt.time.fromisoformat,
        "$decimal": decimal.Decimal,
        "$uuid": uuid.UUID,
        "$interval": lambda s: dt.timedelta(seconds=s),
    }
    if tag not in decoders:
        raise SnapshotError(f"unknown value tag {tag!r} in a snapshot chunk")
    return decoders[tag](inner)


def stored_rows(
    store: ObjectStore, table: StoredTable, wraps: list[Callable[[Any], Any] | None]
) -> Iterator[list[Any]]:
    """The decoded rows of *table*, one list per chunk (rows are lists or tuples)."""
    for oid in table.blobs:
        data = store.raw(oid, "blob")
        rows: list[Any] = parse_chunk(data)
        # Only a tagged value ({"$bytes": ...}) needs decoding, and only an object starts with
        # '{"' outside a string (inside one, the quote is escaped).
        if b'{"' in data or any(wraps):
            rows = [
                tuple(decode_value(v, w) for v, w in zip(row, wraps, strict=True)) for row in rows
            ]
        yield rows


# --------------------------------------------------------------------------- checks


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_engine(engine: str, target_engine: str) -> None:
    if engine != target_engine:
        raise SnapshotError(
            f"the snapshot is of a {engine} database; restoring it into {target_engine} "
            "is not supported",
            hint=_MIGRATE_HINT,
        )


def _insert_sql(table: StoredTable) -> str:
    columns = list(table.entry["columns"])
    names = ", ".join(_ident(c) for c in columns)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {_ident(table.name)} ({names}) VALUES ({marks})"


def _compare(
    db: Backend,
    sources: list[SourceTable],
    tables: list[StoredTable],
    progress: Progress = NO_PROGRESS,
) -> None:
    """Re-compute rows, content and schema hashes as ``write`` does; raise on any difference."""
    by_name = {s.name: s for s in sources}
    for table in tables:
        source = by_name.get(table.name)
        if source is None:
            raise SnapshotError(f"restore check failed: table {table.name} was not created")
        schema = dict(source.schema)
        for added in ("indexes", "foreign_keys"):  # what format 1 did not record
            if added not in table.schema:
                schema.pop(added, None)
        if sha256_hex(canonical_json(schema)) != table.entry.get("schema_sha256"):
            raise SnapshotError(f"restore check failed: schema of table {table.name} differs")
        try:
            rows, digest = _content(db, source, fast=True)
        except SlowPath:
            rows, digest = _content(db, source, fast=False)
        if rows != table.entry.get("rows"):
            raise SnapshotError(
                f"restore check failed: table {table.name} has {rows} row(s), "
                f"the manifest says {table.entry.get('rows')}"
            )
        if digest != table.entry.get("content_sha256"):
            raise SnapshotError(f"restore check failed: content of table {table.name} differs")
        progress.advance(1)


def _content(db: Backend, source: SourceTable, fast: bool) -> tuple[int, str]:
    """(rows, content sha256) of a table as a snapshot would store it (chunking aside: the
    content hash covers the rows in order, wherever the chunk boundaries fall)."""
    content = hashlib.sha256()
    rows = 0
    for _keys, lines in encoded_batches(db, source, fast):
        content.update(("\n".join(lines) + "\n").encode("utf-8"))
        rows += len(lines)
    return rows, content.hexdigest()


def user_tables(db: Backend) -> list[str]:
    """Tables of the target that a restore would replace (SQLite internals left out)."""
    return sorted(t for t in db.tables() if not t.startswith("sqlite_"))


# --------------------------------------------------------------------------- SQLite


def restore_sqlite(
    store: ObjectStore, commit: str, path: Path, root: Path, progress: Progress = NO_PROGRESS
) -> int:
    """Rebuild snapshot *commit* into a scratch file beside *path*, check it, swap it in.

    Returns the number of rows restored.  *path* is untouched unless everything checked out.
    """
    from sotsync.db import connect

    engine, tables = stored_tables(store, commit)
    check_engine(engine, "sqlite")
    for table in tables:
        if str(table.schema.get("sql", "")).upper().startswith("CREATE VIRTUAL TABLE"):
            raise SnapshotError(
                f"table {table.name} is a virtual table; restoring those is not supported"
            )
    _remove_leftovers(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.restore-", suffix=".db")
    os.close(fd)
    scratch_path = Path(name)
    try:
        scratch = connect(f"sqlite:///{scratch_path}", root, create=True)
        try:
            # The scratch file is fsynced once and swapped in whole at the end, or deleted: a
            # journal and per-commit syncs would protect nothing.
            scratch.execute("PRAGMA journal_mode = OFF")
            scratch.execute("PRAGMA synchronous = OFF")
            scratch.execute("PRAGMA cache_size = -262144")
            total = _fill_sqlite(store, scratch, tables, progress)
            progress.stage("check restored tables", len(tables))
            # quick_check: page and B-tree structure and constraints; the comparison below
            # reads every row again, and the indexes were just built by SQLite itself.
            problems = [str(r[0]) for r in scratch.query("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise SnapshotError(f"restore check failed: integrity check: {'; '.join(problems)}")
            _compare(scratch, sqlite_tables(scratch), tables, progress)
            progress.done()
            scratch.execute("PRAGMA journal_mode = DELETE")
            if journal_mode(path) == "wal":
                scratch.query("PRAGMA journal_mode = WAL")
        finally:
            scratch.close()
        swap_in(scratch_path, path)
    finally:
        remove_scratch(scratch_path)
    return total


def swap_in(scratch_path: Path, path: Path) -> None:
    """Make a finished scratch SQLite file the database at ``path``, durably and atomically.

    The target keeps its mode bits; its WAL is checkpointed away first so that no stale
    ``-wal`` file is replayed onto the new database.
    """
    fsio.fsync_file(scratch_path)
    if path.exists():
        scratch_path.chmod(path.stat().st_mode & 0o7777)
        leave_wal(path)
    os.replace(scratch_path, path)
    fsio.fsync_directory(path.parent)


def remove_scratch(scratch_path: Path) -> None:
    """Remove a scratch database and its side files (after a swap only the side files remain)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{scratch_path}{suffix}").unlink(missing_ok=True)


def _fill_sqlite(
    store: ObjectStore, db: Backend, tables: list[StoredTable], progress: Progress
) -> int:
    total = 0
    with db.transaction():
        for table in tables:
            if table.name != SEQUENCE_TABLE:
                db.execute(str(table.schema["sql"]))
        # Rows before triggers and indexes: no trigger fires on restored rows, indexes build once.
        ordered = sorted(tables, key=lambda t: t.name == SEQUENCE_TABLE)
        for table in ordered:
            if table.name == SEQUENCE_TABLE:
                if SEQUENCE_TABLE not in db.tables():
                    raise SnapshotError("the snapshot has sqlite_sequence but no AUTOINCREMENT")
                db.execute(f"DELETE FROM {SEQUENCE_TABLE}")  # the inserts above filled it
            sql = _insert_sql(table)
            wraps: list[Callable[[Any], Any] | None] = [None] * len(table.entry["columns"])
            progress.stage(f"restore {table.name}", int(table.entry.get("rows", 0)))
            for batch in stored_rows(store, table, wraps):
                _insert(db, sql, batch)
                total += len(batch)
                progress.advance(len(batch))
            progress.done()
        for table in tables:
            for extra in sorted(table.schema.get("indexes", []), key=lambda e: e["type"]):
                db.execute(str(extra["sql"]))
    return total


def _insert(db: Backend, sql: str, rows: list[Any]) -> None:
    """``executemany`` straight on the stdlib connection when there is one (no row copies)."""
    conn = getattr(db, "conn", None)
    if not isinstance(conn, sqlite3.Connection):
        db.executemany(sql, rows)
        return
    try:
        conn.executemany(sql, rows)
    except sqlite3.Error as exc:
        raise SnapshotError(f"restore failed: inserting rows: {exc}") from None


def journal_mode(path: Path) -> str:
    if not path.exists():
        return "delete"
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    except sqlite3.Error:
        return "delete"
    finally:
        conn.close()


def leave_wal(path: Path) -> None:
    """Fold and remove the target's WAL, so that no stale ``-wal`` file outlives the swap."""
    if journal_mode(path) != "wal":
        return
    conn = sqlite3.connect(path, timeout=2)
    try:
        mode = str(conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]).lower()
    except sqlite3.Error as exc:
        mode = f"error: {exc}"
    finally:
        conn.close()
    if mode != "delete":
        raise SnapshotError(
            f"{path} is in use (WAL mode, other connections open: {mode}); nothing was changed",
            hint="stop the processes using the database and run the restore again",
        )


# --------------------------------------------------------------------------- PostgreSQL


def _pg_type(column: Mapping[str, Any]) -> str:
    kind = str(column["type"])
    udt = str(column.get("udt") or "")
    if kind == "USER-DEFINED":
        raise SnapshotError(
            f"column {column['name']} has the user-defined type {udt}, which a snapshot does "
            "not describe; restoring it is not supported",
            hint="create the type in the target first and report this",
        )
    if kind == "ARRAY":
        return _ident(udt.lstrip("_")) + "[]"
    if kind in ("character varying", "character") and column.get("length"):
        return f"{kind}({int(column['length'])})"
    if kind == "numeric" and column.get("precision") is not None:
        return f"numeric({int(column['precision'])}, {int(column.get('scale') or 0)})"
    return kind


def restore_postgres(
    store: ObjectStore, commit: str, db: Backend, progress: Progress = NO_PROGRESS
) -> int:
    """Drop, re-create and fill the snapshot's tables in one transaction on *db*; check them."""
    from psycopg.types.json import Json, Jsonb

    engine, tables = stored_tables(store, commit)
    check_engine(engine, "postgresql")
    ddl = [_pg_table(t) for t in tables]  # refuse unsupported types before touching anything
    total = 0
    with db.transaction():
        for table in tables:
            db.execute(f"DROP TABLE IF EXISTS {_ident(table.name)} CASCADE")
        for sequences, create in ddl:
            for sequence in sequences:
                db.execute(f"CREATE SEQUENCE IF NOT EXISTS {sequence}")
            db.execute(create)
        for table in tables:
            columns = {c["name"]: c for c in table.schema["columns"]}
            wraps: list[Callable[[Any], Any] | None] = []
            for name in table.entry["columns"]:
                kind = columns[name]["type"]
                wraps.append(Jsonb if kind == "jsonb" else Json if kind == "json" else None)
            sql = _insert_sql(table)
            progress.stage(f"restore {table.name}", int(table.entry.get("rows", 0)))
            for batch in stored_rows(store, table, wraps):
                db.executemany(sql, batch)
                total += len(batch)
                progress.advance(len(batch))
            progress.done()
            for index in table.schema.get("indexes", []):
                db.execute(str(index["sql"]))
            for column in table.schema["columns"]:
                found = _NEXTVAL.search(str(column.get("default") or ""))
                if found:
                    col, name = _ident(column["name"]), _ident(table.name)
                    db.execute(f"ALTER SEQUENCE {found.group(1)} OWNED BY {name}.{col}")
                    db.query(
                        f"SELECT setval(?::regclass, COALESCE(MAX({col}), 1), "
                        f"MAX({col}) IS NOT NULL) FROM {name}",
                        (found.group(1),),
                    )
        # Foreign keys last: every table they name exists and is filled.
        for table in tables:
            for key in table.schema.get("foreign_keys", []):
                db.execute(
                    f"ALTER TABLE {_ident(table.name)} ADD CONSTRAINT {_ident(key['name'])} "
                    f"{key['sql']}"
                )
        progress.stage("check restored tables", len(tables))
        _compare(db, postgres_tables(db), tables, progress)
        progress.done()
    return total


def _pg_table(table: StoredTable) -> tuple[list[str], str]:
    sequences = []
    parts = []
    for column in table.schema["columns"]:
        text = f"{_ident(column['name'])} {_pg_type(column)}"
        if column.get("default") is not None:
            text += f" DEFAULT {column['default']}"
            found = _NEXTVAL.search(str(column["default"]))
            if found:
                sequences.append(found.group(1))
        if column.get("notnull"):
            text += " NOT NULL"
        parts.append(text)
    key = table.schema.get("primary_key") or []
    if key:
        parts.append("PRIMARY KEY (" + ", ".join(_ident(k) for k in key) + ")")
    return sequences, f"CREATE TABLE {_ident(table.name)} ({', '.join(parts)})"


def _remove_leftovers(path: Path) -> None:
    """Delete scratch files of earlier restores of ``path`` that were killed before cleaning up.

    The caller holds the workspace lock, so no other restore of this target is running: a
    scratch file here is garbage, never a restore in progress.
    """
    for leftover in path.parent.glob(f".{path.name}.restore-*"):
        with contextlib.suppress(OSError):
            leftover.unlink()
