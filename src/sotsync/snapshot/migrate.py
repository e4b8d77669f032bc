"""Building a database on either engine from a snapshot: the cross-engine half of `migrate`.

``restore`` puts a snapshot back into the engine it came from, byte for byte.  This module maps
each column to a *logical* type (integer, text, real, numeric, boolean, blob, timestamp,
timestamptz, date, time, json, uuid), creates the tables on the target engine with the mapped
types (primary keys, NOT NULL, simple literal defaults and UNIQUE constraints kept; an integer
primary key that auto-increments becomes an identity column / ``AUTOINCREMENT``), converts every
value, recreates the indexes that the source schema gives (plain column indexes; others and
triggers are reported as skipped), resets sequences, and verifies per table the row count and an
order-independent checksum of the rows normalised per logical type (so a PostgreSQL TIMESTAMP and
its ISO text in SQLite compare equal).

SQLite targets are built in a scratch file next to the target and moved over it with
``os.replace``; PostgreSQL targets in one transaction.  Any failure leaves the target untouched.
No configuration, no lock, no printing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sotsync.progress import NO_PROGRESS, Progress
from sotsync.snapshot.encode import canonical_json
from sotsync.snapshot.restore import (
    StoredTable,
    remove_scratch,
    stored_rows,
    stored_tables,
    swap_in,
)
from sotsync.snapshot.store import ObjectStore, SnapshotError

if TYPE_CHECKING:
    from sotsync.db import Backend

# Autopack keeps its times as text in SQLite (two formats mixed); they are timestamps.
AUTOPACK_TABLES = ("runs", "tiers", "phases")
AUTOPACK_TIMES = ("created_at", "updated_at", "started_at", "completed_at")

_PG_TYPES = {
    "integer": "BIGINT",
    "text": "TEXT",
    "real": "DOUBLE PRECISION",
    "numeric": "NUMERIC",
    "boolean": "BOOLEAN",
    "blob": "BYTEA",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
    "date": "DATE",
    "time": "TIME",
    "json": "JSONB",
    "uuid": "UUID",
}
_SQLITE_TYPES = {
    "integer": "INTEGER",
    "text": "TEXT",
    "real": "REAL",
    "numeric": "NUMERIC",
    "boolean": "BOOLEAN",
    "blob": "BLOB",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
    "date": "DATE",
    "time": "TIME",
    "json": "JSON",
    "uuid": "TEXT",
}
_PG_LOGICAL = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "text": "text",
    "character varying": "text",
    "character": "text",
    "citext": "text",
    "name": "text",
    "real": "real",
    "double precision": "real",
    "numeric": "numeric",
    "boolean": "boolean",
    "bytea": "blob",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "date": "date",
    "time without time zone": "time",
    "json": "json",
    "jsonb": "json",
    "uuid": "uuid",
}
_INDEX = re.compile(
    r"CREATE\s+(UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(\w+)\"?\s+ON\s+\"?(\w+)\"?\s*"
    r"\(([^()]*)\)\s*;?\s*",
    re.I,
)
_PG_INDEX = re.compile(
    r"CREATE\s+(UNIQUE\s+)?INDEX\s+\"?(\w+)\"?\s+ON\s+(?:ONLY\s+)?\"?\w+\"?\s+"
    r"USING\s+btree\s*\(([^()]*)\)\s*",
    re.I,
)
_PG_FOREIGN_KEY = re.compile(r"FOREIGN KEY \(([^()]*)\) REFERENCES (\"?\w+\"?)\(([^()]*)\)", re.I)
_INDEX_COLUMN = re.compile(r"\"?(\w+)\"?(?:\s+(ASC|DESC))?", re.I)
_UNIQUE = re.compile(r"UNIQUE\s*\(([^()]*)\)", re.I)
_LITERAL = re.compile(r"-?\d+(\.\d+)?|'(?:[^']|'')*'")


@dataclass(frozen=True)
class Column:
    name: str
    logical: str
    notnull: bool
    auto: bool  # an auto-incrementing integer primary key
    default: str | None  # a literal, in SQL


@dataclass(frozen=True)
class Plan:
    """One table as the target will have it."""

    table: StoredTable
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    uniques: tuple[tuple[str, ...], ...]
    indexes: tuple[tuple[str, bool, tuple[str, ...]], ...]  # name, unique, "col [DESC]" parts
    # (columns, parent table, parent columns); resolved and checked by plan_snapshot
    foreign_keys: tuple[tuple[tuple[str, ...], str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class TableResult:
    name: str
    rows: int
    checksum: str
    indexes: int


@dataclass(frozen=True)
class MigrateOutcome:
    source_engine: str
    tables: tuple[TableResult, ...]
    skipped: tuple[str, ...]  # indexes, triggers and constraints not carried over

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------- type mapping


def sqlite_logical(declared: str, table: str = "", column: str = "") -> str:
    """The logical type of a SQLite column declared as *declared* (SQLite's affinity rules,
    refined by the common type names and the Autopack schema)."""
    if table in AUTOPACK_TABLES and column in AUTOPACK_TIMES:
        return "timestamp"
    d = declared.upper()
    if "INT" in d:
        return "integer"
    if "BOOL" in d:
        return "boolean"
    if "TIMESTAMPTZ" in d:
        return "timestamptz"
    if "DATETIME" in d or "TIMESTAMP" in d:
        return "timestamp"
    if d.startswith("DATE"):
        return "date"
    if d.startswith("TIME"):
        return "time"
    if "JSON" in d:
        return "json"
    if "UUID" in d:
        return "uuid"
    if any(word in d for word in ("CHAR", "CLOB", "TEXT")) or not d:
        return "text"
    if "BLOB" in d or "BYTEA" in d:
        return "blob"
    if any(word in d for word in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def _literal(default: Any, engine: str) -> str | None:
    if default is None:
        return None
    text = re.sub(r"::[\w ]+$", "", str(default).strip())
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return text if _LITERAL.fullmatch(text) else None


def plan_table(table: StoredTable, engine: str, skipped: list[str]) -> Plan:
    schema = table.schema
    key = tuple(schema.get("primary_key") or ())
    columns = []
    for column in schema["columns"]:
        name = str(column["name"])
        if engine == "sqlite":
            declared = str(column.get("type") or "")
            logical = sqlite_logical(declared, table.name, name)
            auto = key == (name,) and declared.upper() == "INTEGER"
        else:
            kind = str(column["type"])
            if kind not in _PG_LOGICAL:
                raise SnapshotError(
                    f"column {table.name}.{name} has the type {kind}, which migrate cannot map",
                    hint="change the column to a common type first, or report this",
                )
            logical = _PG_LOGICAL[kind]
            auto = key == (name,) and "nextval(" in str(column.get("default") or "")
        default = None if auto else _literal(column.get("default"), engine)
        notnull = bool(column.get("notnull")) or name in key
        columns.append(Column(name, logical, notnull, auto and logical == "integer", default))
    uniques: list[tuple[str, ...]] = []
    indexes: list[tuple[str, bool, tuple[str, ...]]] = []
    if engine == "sqlite":
        for found in _UNIQUE.finditer(str(schema.get("sql") or "")):
            uniques.append(tuple(c.strip().strip('"') for c in found.group(1).split(",")))
        for extra in schema.get("indexes", []):
            index = _INDEX.fullmatch(str(extra.get("sql") or ""))
            parts: list[str] = []
            if index is not None and extra.get("type") == "index":
                parts = _index_columns(index.group(4))
            if parts and index is not None:
                indexes.append((index.group(2), bool(index.group(1)), tuple(parts)))
            else:
                skipped.append(f"{extra.get('type')} {extra.get('name')} on {table.name}")
    else:
        # Format 2 PostgreSQL snapshots record their indexes (unique constraints included).
        for extra in schema.get("indexes", []):
            index = _PG_INDEX.fullmatch(str(extra.get("sql") or ""))
            parts = _index_columns(index.group(3)) if index is not None else []
            if parts and index is not None:
                indexes.append((index.group(2), bool(index.group(1)), tuple(parts)))
            else:
                skipped.append(f"index {extra.get('name')} on {table.name}")
    keys: list[tuple[tuple[str, ...], str, tuple[str, ...]]] = []
    for fk in schema.get("foreign_keys", []):  # format 2 snapshots record them
        if engine == "sqlite":
            keys.append((tuple(fk["columns"]), str(fk["table"]), tuple(fk["references"])))
            continue
        match = _PG_FOREIGN_KEY.fullmatch(str(fk.get("sql") or ""))
        if match is None:
            skipped.append(f"foreign key {fk.get('name')} on {table.name}")
            continue
        child, parent, parent_cols = (match.group(i) for i in (1, 2, 3))
        keys.append((_names(child), parent.strip('"'), _names(parent_cols)))
    return Plan(table, tuple(columns), key, tuple(uniques), tuple(indexes), tuple(keys))


def _names(text: str) -> tuple[str, ...]:
    return tuple(c.strip().strip('"') for c in text.split(","))


def _resolve_foreign_keys(plans: list[Plan], skipped: list[str]) -> list[Plan]:
    """Plans whose foreign keys name a migrated table's key or unique columns (a missing
    parent column list means its primary key); others are reported as skipped."""

    by_name = {p.table.name: p for p in plans}
    resolved = []
    for plan in plans:
        kept = []
        for columns, parent, referenced in plan.foreign_keys:
            target = by_name.get(parent)
            cols = referenced or (target.key if target is not None else ())
            if target is None or cols not in (target.key, *target.uniques):
                skipped.append(f"foreign key ({', '.join(columns)}) on {plan.table.name}")
                continue
            kept.append((columns, parent, cols))
        resolved.append(dataclasses.replace(plan, foreign_keys=tuple(kept)))
    return resolved


def _foreign_key_sql(columns: tuple[str, ...], parent: str, referenced: tuple[str, ...]) -> str:
    return (
        f"FOREIGN KEY ({', '.join(_ident(c) for c in columns)}) REFERENCES {_ident(parent)} "
        f"({', '.join(_ident(c) for c in referenced)})"
    )


def _create_sql(plan: Plan, engine: str) -> list[str]:
    parts = []
    names = _PG_TYPES if engine == "postgresql" else _SQLITE_TYPES
    inline_key = False
    for column in plan.columns:
        text = f"{_ident(column.name)} {names[column.logical]}"
        if column.auto and engine == "postgresql":
            text += " GENERATED BY DEFAULT AS IDENTITY"
        if column.auto and engine == "sqlite":
            text += " PRIMARY KEY AUTOINCREMENT"
            inline_key = True
        elif column.notnull:
            text += " NOT NULL"
        if column.default is not None:
            text += f" DEFAULT {column.default}"
        parts.append(text)
    if plan.key and not inline_key:
        parts.append("PRIMARY KEY (" + ", ".join(_ident(k) for k in plan.key) + ")")
    for columns in plan.uniques:
        parts.append("UNIQUE (" + ", ".join(_ident(c) for c in columns) + ")")
    if engine == "sqlite":  # PostgreSQL gets them once every table is filled
        parts += [_foreign_key_sql(*fk) for fk in plan.foreign_keys]
    statements = [f"CREATE TABLE {_ident(plan.table.name)} ({', '.join(parts)})"]
    for name, unique, cols in plan.indexes:
        statements.append(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX {_ident(name)} "
            f"ON {_ident(plan.table.name)} ({', '.join(cols)})"
        )
    return statements


# --------------------------------------------------------------------------- values


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value.strip())
    raise ValueError(f"not a timestamp: {value!r}")


def _boolean(value: Any) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "t", "true", "y", "yes"):
            return True
        if low in ("0", "f", "false", "n", "no"):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    return bool(value)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def normalise(value: Any, logical: str) -> Any:
    """The engine-independent form of *value* (for the checksum)."""
    if value is None:
        return None
    if logical == "integer":
        return int(value)
    if logical == "real":
        return repr(float(value))
    if logical == "numeric":
        return str(decimal.Decimal(str(value)).normalize())
    if logical == "boolean":
        return _boolean(value)
    if logical == "blob":
        return bytes(value).hex() if not isinstance(value, str) else value.encode().hex()
    if logical == "timestamp":
        return _datetime(value).replace(tzinfo=None).isoformat()
    if logical == "timestamptz":
        moment = _datetime(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat()
    if logical == "date":
        return value.isoformat() if isinstance(value, dt.date) else dt.date.fromisoformat(value)
    if logical == "time":
        return value.isoformat() if isinstance(value, dt.time) else dt.time.fromisoformat(value)
    if logical == "json":
        return json.dumps(_json(value), sort_keys=True, separators=(",", ":"))
    if logical == "uuid":
        return str(uuid.UUID(str(value)))
    return str(value)


def _to_postgres(logical: str) -> Callable[[Any], Any]:
    from psycopg.types.json import Jsonb

    convert: dict[str, Callable[[Any], Any]] = {
        "integer": int,
        "real": float,
        "numeric": lambda v: decimal.Decimal(str(v)),
        "boolean": _boolean,
        "blob": lambda v: v.encode() if isinstance(v, str) else bytes(v),
        "timestamp": _datetime,
        "timestamptz": _datetime,
        "date": lambda v: v if isinstance(v, dt.date) else dt.date.fromisoformat(v),
        "time": lambda v: v if isinstance(v, dt.time) else dt.time.fromisoformat(v),
        "json": lambda v: Jsonb(_json(v)),
        "uuid": lambda v: uuid.UUID(str(v)),
        "text": lambda v: v if isinstance(v, str) else _text(v),
    }
    return convert[logical]


def _to_sqlite(logical: str) -> Callable[[Any], Any]:
    convert: dict[str, Callable[[Any], Any]] = {
        "integer": int,
        "real": float,
        "numeric": lambda v: str(v) if isinstance(v, decimal.Decimal) else v,
        "boolean": lambda v: int(_boolean(v)),
        "blob": lambda v: v.encode() if isinstance(v, str) else bytes(v),
        "timestamp": lambda v: _datetime(v).isoformat(),
        "timestamptz": lambda v: _datetime(v).isoformat(),
        "date": lambda v: v.isoformat() if isinstance(v, dt.date) else str(v),
        "time": lambda v: v.isoformat() if isinstance(v, dt.time) else str(v),
        "json": lambda v: json.dumps(_json(v), ensure_ascii=False, separators=(",", ":")),
        "uuid": str,
        "text": lambda v: v if isinstance(v, str) else _text(v),
    }
    return convert[logical]


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError("binary data in a text column")
    return str(value)


class _Checksum:
    """Order-independent: the sum of the rows' sha256 values, modulo 2**256."""

    def __init__(self) -> None:
        self.total = 0
        self.rows = 0

    def add(self, row: Sequence[Any], logicals: Sequence[str]) -> None:
        values = [normalise(v, k) for v, k in zip(row, logicals, strict=True)]
        digest = hashlib.sha256(canonical_json(values)).digest()
        self.total = (self.total + int.from_bytes(digest, "big")) % (1 << 256)
        self.rows += 1

    def hexdigest(self) -> str:
        return f"{self.total:064x}"


# --------------------------------------------------------------------------- building


def plan_snapshot(store: ObjectStore, commit: str) -> tuple[str, list[Plan], list[str]]:
    """(source engine, table plans, skipped items) for building snapshot *commit* elsewhere."""
    engine, tables = stored_tables(store, commit)
    skipped: list[str] = []
    plans = []
    for table in tables:
        if table.name.startswith("sqlite_"):
            continue  # SQLite's own (sqlite_sequence is rebuilt by the inserts)
        if str(table.schema.get("sql", "")).upper().startswith("CREATE VIRTUAL TABLE"):
            raise SnapshotError(f"table {table.name} is a virtual table; migrating it is refused")
        plans.append(plan_table(table, engine, skipped))
    return engine, _resolve_foreign_keys(plans, skipped), skipped


def _fill(
    store: ObjectStore, db: Backend, plans: list[Plan], progress: Progress
) -> dict[str, _Checksum]:
    sums: dict[str, _Checksum] = {}
    for plan in plans:
        progress.stage(f"migrate {plan.table.name}", int(plan.table.entry.get("rows", 0)))
        for statement in _create_sql(plan, db.engine)[:1]:
            db.execute(statement)
        order = [c.name for c in plan.columns]
        positions = [order.index(c) for c in plan.table.entry["columns"]]
        columns = [plan.columns[i] for i in positions]
        logicals = [c.logical for c in columns]
        maker = _to_postgres if db.engine == "postgresql" else _to_sqlite
        converters = [maker(k) for k in logicals]
        names = ", ".join(_ident(c.name) for c in columns)
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {_ident(plan.table.name)} ({names}) VALUES ({marks})"
        check = sums[plan.table.name] = _Checksum()
        wraps: list[Callable[[Any], Any] | None] = [None] * len(columns)
        for batch in stored_rows(store, plan.table, wraps):
            converted = []
            for row in batch:
                check.add(row, logicals)
                try:
                    converted.append(
                        tuple(
                            None if v is None else f(v)
                            for v, f in zip(row, converters, strict=True)
                        )
                    )
                except (ValueError, TypeError, decimal.InvalidOperation) as exc:
                    raise SnapshotError(
                        f"table {plan.table.name}: a value does not convert to the target "
                        f"type: {exc}; nothing was migrated"
                    ) from None
            db.executemany(sql, converted)
            progress.advance(len(converted))
        progress.done()
        for statement in _create_sql(plan, db.engine)[1:]:
            db.execute(statement)
        if db.engine == "postgresql":
            for column in plan.columns:
                if column.auto:
                    col, name = _ident(column.name), _ident(plan.table.name)
                    db.query(
                        f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX({col}), 1), "
                        f"MAX({col}) IS NOT NULL) FROM {name}",
                        (name, column.name),
                    )
    return sums


def _verify(db: Backend, plans: list[Plan], sums: Mapping[str, _Checksum]) -> list[TableResult]:
    results = []
    for plan in plans:
        expected = sums[plan.table.name]
        if expected.rows != int(plan.table.entry.get("rows", -1)):
            raise SnapshotError(
                f"migrate check failed: table {plan.table.name} gave {expected.rows} row(s), "
                f"the snapshot says {plan.table.entry.get('rows')}"
            )
        logicals = [c.logical for c in plan.columns]
        names = ", ".join(_ident(c.name) for c in plan.columns)
        found = _Checksum()
        for row in db.iterate(f"SELECT {names} FROM {_ident(plan.table.name)}"):
            found.add(row, logicals)
        if found.rows != expected.rows:
            raise SnapshotError(
                f"migrate check failed: table {plan.table.name} has {found.rows} row(s) in the "
                f"target, {expected.rows} in the source"
            )
        if found.hexdigest() != expected.hexdigest():
            raise SnapshotError(f"migrate check failed: content of table {plan.table.name} differs")
        results.append(TableResult(plan.table.name, found.rows, found.hexdigest(), 0))
    return [
        TableResult(r.name, r.rows, r.checksum, len(p.indexes))
        for r, p in zip(results, plans, strict=True)
    ]


def migrate_postgres(
    store: ObjectStore,
    commit: str,
    db: Backend,
    replace: Iterable[str] = (),
    progress: Progress = NO_PROGRESS,
) -> MigrateOutcome:
    """Build snapshot *commit* into PostgreSQL *db* in one transaction, dropping *replace*."""
    engine, plans, skipped = plan_snapshot(store, commit)
    with db.transaction():
        for name in sorted({*replace, *(p.table.name for p in plans)}):
            db.execute(f"DROP TABLE IF EXISTS {_ident(name)} CASCADE")
        sums = _fill(store, db, plans, progress)
        for plan in plans:
            for fk in plan.foreign_keys:
                _add_foreign_key(db, plan.table.name, fk, skipped)
        results = _verify(db, plans, sums)
    return MigrateOutcome(engine, tuple(results), tuple(skipped))


def _add_foreign_key(
    db: Backend,
    table: str,
    fk: tuple[tuple[str, ...], str, tuple[str, ...]],
    skipped: list[str],
) -> None:
    """Add a foreign key on PostgreSQL, or skip it (reported) when existing rows break it:
    SQLite does not enforce foreign keys unless asked to, so its data may."""
    from sotsync.errors import DatabaseError

    db.execute("SAVEPOINT sotsync_fk")
    try:
        db.execute(f"ALTER TABLE {_ident(table)} ADD {_foreign_key_sql(*fk)}")
    except DatabaseError:
        db.execute("ROLLBACK TO SAVEPOINT sotsync_fk")
        skipped.append(f"foreign key ({', '.join(fk[0])}) on {table} (existing rows break it)")
    db.execute("RELEASE SAVEPOINT sotsync_fk")


def migrate_sqlite(
    store: ObjectStore, commit: str, path: Path, root: Path, progress: Progress = NO_PROGRESS
) -> MigrateOutcome:
    """Build snapshot *commit* into a scratch SQLite file beside *path*, check, swap it in."""
    from sotsync.db import connect

    engine, plans, skipped = plan_snapshot(store, commit)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.migrate-", suffix=".db")
    os.close(fd)
    scratch_path = Path(name)
    try:
        scratch = connect(f"sqlite:///{scratch_path}", root, create=True)
        try:
            with scratch.transaction():
                sums = _fill(store, scratch, plans, progress)
            problems = [str(r[0]) for r in scratch.query("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise SnapshotError(f"migrate check failed: integrity check: {'; '.join(problems)}")
            results = _verify(scratch, plans, sums)
        finally:
            scratch.close()
        swap_in(scratch_path, path)
    finally:
        remove_scratch(scratch_path)
    return MigrateOutcome(engine, tuple(results), tuple(skipped))


def _index_columns(columns: str) -> list[str]:
    """An index's column list as quoted names with DESC kept; [] when any part is an expression.

    Expressions are engine-specific SQL; such an index is reported, not translated.
    """
    parts = []
    for piece in columns.split(","):
        col = _INDEX_COLUMN.fullmatch(piece.strip())
        if col is None:
            return []
        parts.append(_ident(col.group(1)) + (" DESC" if col.group(2) else ""))
    return parts
