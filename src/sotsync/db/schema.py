"""sotsync's own tables and their versioned migrations.

Version 1 is Autopack's ``sot_entries`` as it exists in the wild; version 2 adds what sotsync
needs (``occurrence``, ``entry_date``, ``source_commit``, ``deleted_at``, unique per occurrence)
and ``sot_links``.  An existing Autopack table is upgraded in place, in one transaction, without
losing a row: SQLite cannot drop a constraint, so there the table is rebuilt and copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sotsync.db import Backend
from sotsync.errors import DatabaseError

CURRENT = 2
VERSION_TABLE = "sot_schema_version"
ENTRIES = "sot_entries"
LINKS = "sot_links"
ENTRY_COLUMNS = (
    "project_id",
    "file_type",
    "entry_id",
    "title",
    "content",
    "metadata",
    "created_at",
    "updated_at",
    "content_hash",
    "occurrence",
    "entry_date",
    "source_commit",
    "deleted_at",
)
_AUTOPACK_COLUMNS = {
    "id",
    "project_id",
    "file_type",
    "entry_id",
    "title",
    "content",
    "metadata",
    "created_at",
    "updated_at",
    "content_hash",
}


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands: its version (0 = none, 1 = Autopack's table) and what is there."""

    version: int
    current: int
    tables: tuple[str, ...]
    entries: int | None

    @property
    def up_to_date(self) -> bool:
        return self.version == self.current


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _id_column(db: Backend) -> str:
    if db.engine == "postgresql":
        return "id BIGSERIAL PRIMARY KEY"
    return "id INTEGER PRIMARY KEY AUTOINCREMENT"


def _entries_ddl(db: Backend, name: str = ENTRIES) -> str:
    return (
        f"CREATE TABLE {name} ({_id_column(db)}, project_id TEXT NOT NULL, "
        "file_type TEXT NOT NULL, entry_id TEXT NOT NULL, title TEXT, content TEXT NOT NULL, "
        "metadata TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, "
        "content_hash TEXT NOT NULL, occurrence INTEGER NOT NULL DEFAULT 1, entry_date TEXT, "
        "source_commit TEXT, deleted_at TEXT, "
        f"CONSTRAINT {name}_key UNIQUE (project_id, file_type, entry_id, occurrence))"
    )


def _links_ddl() -> str:
    return (
        f"CREATE TABLE {LINKS} (project_id TEXT NOT NULL, file_type TEXT NOT NULL, "
        "entry_id TEXT NOT NULL, occurrence INTEGER NOT NULL DEFAULT 1, run_id TEXT NOT NULL, "
        "created_at TEXT NOT NULL, "
        "PRIMARY KEY (project_id, file_type, entry_id, occurrence, run_id))"
    )


def status(db: Backend) -> SchemaStatus:
    """The schema version found in ``db`` (read-only)."""
    tables = db.tables()
    version = 0
    if VERSION_TABLE in tables:
        rows = db.query(f"SELECT max(version) FROM {VERSION_TABLE}")
        version = int(rows[0][0] or 0)
    elif ENTRIES in tables:
        version = 1
    entries = None
    if ENTRIES in tables:
        entries = int(db.query(f"SELECT count(*) FROM {ENTRIES}")[0][0])
    owned = tuple(sorted(t for t in tables if t in (VERSION_TABLE, ENTRIES, LINKS)))
    return SchemaStatus(version, CURRENT, owned, entries)


def upgrade(db: Backend) -> tuple[int, int]:
    """Bring ``db`` to the current version in one transaction; returns (before, after)."""
    with db.transaction():
        before = status(db).version
        if before > CURRENT:
            raise DatabaseError(
                f"database schema version {before} is newer than this sotsync ({CURRENT})",
                hint="upgrade sotsync",
            )
        if before == 0:
            db.execute(_entries_ddl(db))
        elif before == 1:
            _upgrade_autopack_table(db)
        if before < 2:
            if LINKS not in db.tables():
                db.execute(_links_ddl())
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
                "(version INTEGER NOT NULL, applied_at TEXT NOT NULL)"
            )
            db.execute(
                f"INSERT INTO {VERSION_TABLE} (version, applied_at) VALUES (?, ?)",
                (CURRENT, _now()),
            )
    return before, CURRENT


def require_current(db: Backend) -> None:
    """Refuse to work on a database whose sotsync tables are missing or old."""
    found = status(db)
    if found.version == 0:
        raise DatabaseError(
            f"{db.url} has no sotsync tables", hint="create them with `sotsync db init`"
        )
    if found.version < CURRENT:
        raise DatabaseError(
            f"{db.url} has sotsync schema version {found.version}, this sotsync needs {CURRENT}",
            hint="upgrade it in place with `sotsync db upgrade` (no row is lost)",
        )


def _upgrade_autopack_table(db: Backend) -> None:
    columns = set(db.columns(ENTRIES))
    missing = _AUTOPACK_COLUMNS - columns - {"id"}
    if missing:
        raise DatabaseError(
            f"{ENTRIES} in {db.url} is not an Autopack table "
            f"(missing {', '.join(sorted(missing))})",
            hint="rename that table or point DATABASE_URL at the right database",
        )
    if db.engine == "postgresql":
        _upgrade_postgres(db, columns)
    else:
        _rebuild_sqlite(db, columns)


def _upgrade_postgres(db: Backend, columns: set[str]) -> None:
    for name, ddl in (
        ("occurrence", "INTEGER NOT NULL DEFAULT 1"),
        ("entry_date", "TEXT"),
        ("source_commit", "TEXT"),
        ("deleted_at", "TEXT"),
    ):
        if name not in columns:
            db.execute(f"ALTER TABLE {ENTRIES} ADD COLUMN {name} {ddl}")
    # Drop the old uniqueness on (project_id, file_type, entry_id), whatever it is called.
    rows = db.query(
        "SELECT c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "WHERE t.relname = ? AND c.contype = 'u' "
        "AND t.relnamespace = current_schema()::regnamespace",
        (ENTRIES,),
    )
    for (name,) in rows:
        db.execute(f'ALTER TABLE {ENTRIES} DROP CONSTRAINT "{name}"')
    db.execute(
        f"ALTER TABLE {ENTRIES} ADD CONSTRAINT {ENTRIES}_key "
        "UNIQUE (project_id, file_type, entry_id, occurrence)"
    )


def _rebuild_sqlite(db: Backend, columns: set[str]) -> None:
    db.execute(_entries_ddl(db, "sot_entries_upgrade"))
    kept = [c for c in ("id", *ENTRY_COLUMNS) if c in columns]
    names = ", ".join(kept)
    db.execute(f"INSERT INTO sot_entries_upgrade ({names}) SELECT {names} FROM {ENTRIES}")
    before = db.query(f"SELECT count(*) FROM {ENTRIES}")[0][0]
    after = db.query("SELECT count(*) FROM sot_entries_upgrade")[0][0]
    if before != after:
        raise DatabaseError(f"upgrade of {ENTRIES} copied {after} of {before} rows; rolled back")
    db.execute(f"DROP TABLE {ENTRIES}")
    db.execute(f"ALTER TABLE sot_entries_upgrade RENAME TO {ENTRIES}")
