"""PostgreSQL through psycopg 3: the same protocol as SQLite, ``?`` placeholders translated.

Connection failures (closed port, unknown host, wrong password, missing database) become one-line
``DatabaseError``s with the URL redacted; psycopg is imported only when PostgreSQL is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sotsync.db import Nesting, Row, Target
from sotsync.errors import DatabaseError

CONNECT_TIMEOUT_S = 5


def _sql(sql: str) -> str:
    """``?`` placeholders (sotsync's SQL never holds a literal ``?`` or ``%``) → psycopg's."""
    return sql.replace("?", "%s")


class PostgresBackend(Nesting):
    """One connection; statements outside ``transaction`` run in autocommit mode."""

    engine = "postgresql"

    def __init__(self, conn: Any, target: Target) -> None:
        self.conn = conn
        self.url = target.redacted
        self.writes = 0

    @classmethod
    def open(cls, target: Target) -> PostgresBackend:
        try:
            import psycopg
        except ImportError:
            raise DatabaseError(
                f"PostgreSQL support is not installed ({target.redacted})",
                hint="pip install 'sotsync[postgres]'",
            ) from None
        try:
            conn = psycopg.connect(target.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseError(
                f"cannot connect to {target.redacted}: {first}",
                hint="check that the server runs, and the URL's host, port, user and password",
            ) from None
        return cls(conn, target)

    def _fail(self, exc: Exception, sql: str) -> DatabaseError:
        word = sql.split(None, 1)[0].upper() if sql.strip() else "SQL"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DatabaseError(f"PostgreSQL {word} failed on {self.url}: {first}")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        import psycopg

        try:
            with self.conn.cursor() as cur:
                cur.execute(_sql(sql), tuple(params))
                return [tuple(r) for r in cur.fetchall()]
        except psycopg.Error as exc:
            raise self._fail(exc, sql) from None

    def iterate(self, sql: str, params: Sequence[Any] = (), size: int = 10_000) -> Iterator[Row]:
        import psycopg

        try:
            with self.conn.cursor() as cur:
                cur.execute(_sql(sql), tuple(params))
                while batch := cur.fetchmany(size):
                    yield from (tuple(r) for r in batch)
        except psycopg.Error as exc:
            raise self._fail(exc, sql) from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        import psycopg

        try:
            with self.conn.cursor() as cur:
                cur.execute(_sql(sql), tuple(params))
                count = cur.rowcount
        except psycopg.Error as exc:
            raise self._fail(exc, sql) from None
        self.writes += 1
        return int(count)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        import psycopg

        batch = [tuple(r) for r in rows]
        if not batch:
            return 0
        try:
            with self.conn.cursor() as cur:
                cur.executemany(_sql(sql), batch)
                count = cur.rowcount
        except psycopg.Error as exc:
            raise self._fail(exc, sql) from None
        self.writes += len(batch)
        return int(count)

    @contextmanager
    def _outermost(self) -> Iterator[None]:
        import psycopg

        try:
            with self.conn.transaction():
                yield
        except psycopg.Error as exc:
            raise self._fail(exc, "COMMIT") from None

    def tables(self) -> set[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {r[0] for r in rows}

    def columns(self, table: str) -> list[str]:
        rows = self.query(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [r[0] for r in rows]

    def close(self) -> None:
        self.conn.close()
