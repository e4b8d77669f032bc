"""A throwaway PostgreSQL database on the local test server, for tests that need a real one.

``fresh_database()`` creates ``sotsync_t_<random>`` on the server named by
``SOTSYNC_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth),
yields its URL and drops it afterwards (``WITH (FORCE)``, so a connection left open by the test
does not keep it alive).  When the server cannot be reached, or psycopg is not installed, the
test is skipped with the reason, unless the environment says ``CI=true``: there it fails, so a
broken CI service never turns the PostgreSQL half of the suite silently green.

    from pg import fresh_database

    def test_something() -> None:
        with fresh_database() as url:
            db = connect(url, Path.cwd())
            ...
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pytest

SERVER_URL = os.environ.get("SOTSYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONNECT_TIMEOUT_S = 3


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


def _admin() -> Any:
    """An autocommit connection to the server's maintenance database (or skip/fail)."""
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'sotsync[dev]')")
    try:
        return psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _unavailable(f"cannot connect to {SERVER_URL}: {first}")


def _database_url(name: str) -> str:
    base, _, _ = SERVER_URL.rpartition("/")
    query = SERVER_URL.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create an empty database, yield its URL, drop it on the way out."""
    name = f"sotsync_t_{secrets.token_hex(6)}"
    admin = _admin()
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _database_url(name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
