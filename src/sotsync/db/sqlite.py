"""SQLite through the standard library, with a busy timeout and clear errors.

A missing file is never created behind the user's back (``create`` is for commands whose job is
to create one), and a file that is not a database is reported as such before anything is read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sotsync.db import Nesting, Row, Target, quote
from sotsync.errors import DatabaseError

BUSY_TIMEOUT_MS = 10_000


class SqliteBackend(Nesting):
    """One connection in autocommit mode; ``transaction`` opens BEGIN IMMEDIATE for writes."""

    engine = "sqlite"

    def __init__(self, conn: sqlite3.Connection, target: Target) -> None:
        self.conn = conn
        self.url = target.redacted
        self.writes = 0

    @classmethod
    def open(cls, target: Target, create: bool) -> SqliteBackend:
        path = target.path
        assert path is not None
        if path.is_dir():
            raise DatabaseError(f"database path {path} is a directory ({target.redacted})")
        if not path.exists() and not create:
            raise DatabaseError(
                f"database file not found: {path} ({target.redacted})",
                hint="check DATABASE_URL, or create the database with `sotsync db init`",
            )
        try:
            conn = sqlite3.connect(
                str(path),
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(
                f"{path} is not a usable SQLite database: {exc} ({target.redacted})",
                hint="restore it from a snapshot or backup, or point DATABASE_URL elsewhere",
            ) from None
        return cls(conn, target)

    def _fail(self, exc: sqlite3.Error, sql: str) -> DatabaseError:
        word = sql.split(None, 1)[0].upper() if sql.strip() else "SQL"
        return DatabaseError(f"SQLite {word} failed on {self.url}: {exc}")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc, sql) from None

    def iterate(self, sql: str, params: Sequence[Any] = (), size: int = 10_000) -> Iterator[Row]:
        try:
            cursor = self.conn.execute(sql, tuple(params))
            while batch := cursor.fetchmany(size):
                yield from batch
        except sqlite3.Error as exc:
            raise self._fail(exc, sql) from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            cursor = self.conn.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise self._fail(exc, sql) from None
        self.writes += 1
        return cursor.rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        batch = [tuple(r) for r in rows]
        if not batch:
            return 0
        try:
            cursor = self.conn.executemany(sql, batch)
        except sqlite3.Error as exc:
            raise self._fail(exc, sql) from None
        self.writes += len(batch)
        return cursor.rowcount

    @contextmanager
    def _outermost(self) -> Iterator[None]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._fail(exc, "BEGIN") from None
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def tables(self) -> set[str]:
        rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r[0] for r in rows}

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self.query(f"PRAGMA table_info({quote(table)})")]

    def close(self) -> None:
        self.conn.close()
