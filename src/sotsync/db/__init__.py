"""Databases behind one small protocol: SQLite (stdlib) and PostgreSQL (psycopg 3).

``connect`` turns a URL into a ``Backend``; everything above speaks SQL with ``?`` placeholders
and quoted identifiers from ``quote``.  Every failure to reach or read a database becomes a
``DatabaseError`` with the URL redacted; nothing here prints.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sotsync.errors import DatabaseError

Row = tuple[Any, ...]
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SQLITE = ("sqlite:///",)
_POSTGRES = ("postgresql://", "postgres://", "postgresql+psycopg://")


class Backend(Protocol):
    """An open database connection; one ``transaction()`` per sotsync operation."""

    engine: str
    url: str
    writes: int

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def iterate(
        self, sql: str, params: Sequence[Any] = (), size: int = 10_000
    ) -> Iterator[Row]: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def tables(self) -> set[str]: ...

    def columns(self, table: str) -> list[str]: ...

    def close(self) -> None: ...


class Nesting:
    """``transaction()`` for backends: the outermost block is the real transaction.

    API functions compose (``reconcile --fix`` syncs inside its own work), so an inner
    ``transaction()`` joins the open one instead of failing or committing early.
    """

    _depth = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self._outermost():
                yield
        finally:
            self._depth = 0

    def _outermost(self) -> AbstractContextManager[None]:
        raise NotImplementedError


@dataclass(frozen=True)
class Target:
    """A parsed database URL: the engine and what its driver needs."""

    engine: str
    url: str
    redacted: str
    path: Path | None


def quote(name: str) -> str:
    """A validated, double-quoted SQL identifier; configured names never reach SQL unchecked."""
    if not _IDENT.fullmatch(name):
        raise DatabaseError(
            f"invalid SQL identifier {name!r} in the configuration",
            hint="table and column names may use letters, digits and _ only",
        )
    return f'"{name}"'


def parse_url(url: str, root: Path) -> Target:
    """Recognise the URL forms of SPEC §1; a relative SQLite path is relative to ``root``."""
    from sotsync.config import redact_url

    redacted = redact_url(url)
    if url.startswith(_SQLITE):
        rest = url[len("sqlite:///") :]
        if not rest:
            raise DatabaseError(
                f"no file in database URL {redacted}",
                hint="use sqlite:///relative.db or sqlite:////absolute.db",
            )
        path = Path(rest) if rest.startswith("/") else root / rest
        return Target("sqlite", url, redacted, path)
    if url.startswith(_POSTGRES):
        rest = url.split("://", 1)[1]
        return Target("postgresql", "postgresql://" + rest, redacted, None)
    raise DatabaseError(
        f"unsupported database URL {redacted}",
        hint="use sqlite:///path.db or postgresql://user@host/db",
    )


def connect(url: str, root: Path, create: bool = False) -> Backend:
    """Open the database at ``url``; a missing SQLite file is an error unless ``create``."""
    target = parse_url(url, root)
    if target.engine == "sqlite":
        from sotsync.db.sqlite import SqliteBackend

        return SqliteBackend.open(target, create)
    from sotsync.db.postgres import PostgresBackend

    return PostgresBackend.open(target)
