"""The database part of a backup: copying it consistently and restoring it.

SQLite is copied (``copy_sqlite``) as one committed state: in rollback-journal mode as the
file's bytes under a read transaction, hashed while written; in WAL mode with the online backup
API in one step.  PostgreSQL is copied with ``pg_dump -Fc`` and restored with ``pg_restore
--single-transaction``; without ``pg_dump`` the snapshot format is written into a bare
repository inside the backup and restored by the snapshot package (its functions, not a copy of
them).  Passwords reach the client tools through ``PGPASSWORD``, never their command lines.
An SQLite restore is a staged file swap and lives in ``restore``.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sotsync.backup.manifest import BackupError

if TYPE_CHECKING:
    from sotsync.db import Backend, Target

SQLITE_COPY = "database/database.sqlite"
PG_DUMP = "database/database.pgdump"
SNAPSHOT_REPO = "database/snapshot.git"
SNAPSHOT_DEVICE = "backup"
_COPY_CHUNK = 1 << 20


def copy_sqlite(source: Path, staging: Path, redacted: str) -> dict[str, Any]:
    """A consistent copy of an SQLite database, one committed state.

    WAL mode: the online backup API in one step (one read transaction; writers go on).
    Rollback-journal mode: the file's bytes, copied while this connection holds a read
    transaction, read, hashed and written in one pass.  SQLite's SHARED lock keeps every
    writer out of the file until the copy ends (a one-step backup holds the same lock), and a
    hot journal is rolled back by that first read, so the bytes are one committed state.
    """
    target = staging / SQLITE_COPY
    target.parent.mkdir(parents=True, exist_ok=True)
    if not source.is_file():
        raise BackupError(
            f"database file not found: {source} ({redacted})",
            hint="check DATABASE_URL, or create the database with `sotsync db init`",
        )
    entry = {"engine": "sqlite", "method": "sqlite-backup", "path": SQLITE_COPY, "url": redacted}
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(source, timeout=30, isolation_level=None)
        if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            dst = sqlite3.connect(target)
            try:
                # One fsync of the finished copy (by the caller) instead of SQLite's own.
                dst.execute("PRAGMA synchronous = OFF")
                dst.execute("PRAGMA journal_mode = OFF")
                conn.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")
            finally:
                dst.close()
            return entry
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        raw = source.open("rb")
        try:
            entry["sha256"] = _copy_hashing(raw, target)
        finally:
            # The transaction ends before this descriptor closes: closing any descriptor of
            # the file drops the process's POSIX locks, SQLite's SHARED lock included.
            conn.close()
            conn = None
            raw.close()
        entry["method"] = "sqlite-file-copy-under-read-lock"
        return entry
    except sqlite3.Error as exc:
        raise BackupError(
            f"cannot back up the SQLite database {source}: {exc}",
            hint="check that the file is a readable SQLite database (`sotsync doctor`)",
        ) from None
    finally:
        if conn is not None:
            conn.close()


def _copy_hashing(raw: io.BufferedReader, target: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(_COPY_CHUNK)
    view = memoryview(buffer)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with open(fd, "wb", buffering=0) as out:
        while count := raw.readinto(view):
            digest.update(view[:count])
            out.write(view[:count])
    return digest.hexdigest()


def pg_environment(target: Target) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, environment with ``PGPASSWORD``): no secret in argv."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(target.url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None}), env


def run_tool(args: Sequence[str], env: Mapping[str, str], what: str) -> None:
    try:
        proc = subprocess.run(list(args), capture_output=True, env=dict(env), check=False)
    except OSError as exc:
        raise BackupError(f"cannot run {args[0]}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BackupError(
            f"{what} failed: " + (lines[0] if lines else f"exit status {proc.returncode}"),
            hint=f"check that {args[0]} matches the server's major version and can connect",
        )


def copy_pg_dump(pg_dump: str, target: Target, staging: Path) -> dict[str, Any]:
    out = staging / PG_DUMP
    out.parent.mkdir(parents=True, exist_ok=True)
    conninfo, env = pg_environment(target)
    run_tool(
        [pg_dump, "-Fc", "--no-password", "-f", str(out), "--dbname", conninfo],
        env,
        f"pg_dump of {target.redacted}",
    )
    return {"engine": "postgresql", "method": "pg_dump", "path": PG_DUMP, "url": target.redacted}


def copy_snapshot(db: Backend, staging: Path, version: str, head: str | None) -> dict[str, Any]:
    """The snapshot format, in a bare repository of its own inside the backup."""
    from dulwich.repo import Repo

    from sotsync.snapshot import ObjectStore, SnapshotMeta, write_snapshot

    repo_dir = staging / SNAPSHOT_REPO
    repo_dir.mkdir(parents=True)
    Repo.init_bare(str(repo_dir)).close()
    store = ObjectStore(repo_dir)
    try:
        meta = SnapshotMeta(SNAPSHOT_DEVICE, version, db.url, head, "backup")
        info = write_snapshot(db, store, [], meta)
    finally:
        store.close()
    return {
        "engine": db.engine,
        "method": "snapshot",
        "path": SNAPSHOT_REPO,
        "commit": info.commit,
        "url": db.url,
        "rows": info.rows,
    }


# --------------------------------------------------------------------------- restoring PostgreSQL


def restore_pg_dump(pg_restore: str, target: Target, dump: Path) -> None:
    """``pg_restore`` in one transaction: the database holds the old or the new data."""
    conninfo, env = pg_environment(target)
    run_tool(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            "--dbname",
            conninfo,
            str(dump),
        ],
        env,
        f"pg_restore into {target.redacted}",
    )


def restore_pg_snapshot(repo: Path, commit: str, db: Backend) -> int:
    """The snapshot-format copy, verified, restored by the snapshot package in one transaction."""
    from sotsync.snapshot import ObjectStore, verify_snapshot
    from sotsync.snapshot.restore import restore_postgres

    store = ObjectStore(repo)
    try:
        problems = verify_snapshot(store, commit)
        if problems:
            raise BackupError(f"{repo}: the database snapshot fails verification: {problems[0]}")
        return restore_postgres(store, commit, db)
    finally:
        store.close()
