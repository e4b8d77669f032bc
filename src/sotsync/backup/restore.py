"""Restoring a backup chain into a workspace, all or nothing, through a journal.

Every file the restore writes (ledgers, ``config/`` files, ``.env``, and the SQLite database) is
first staged next to its target as ``.<name>.sotsync-restore`` and fsynced; the SQLite copy is
integrity-checked there.  Then the journal (``<git dir>/sotsync/restore-journal.json``) is
written atomically with the list of replacements: that write is the commit point.  After it,
PostgreSQL is restored in one transaction (``pg_restore --single-transaction`` or the snapshot
restore) and each staged file is moved over its target with ``os.replace``; the journal is
removed last.  A process killed before the commit point leaves only staged files, which the next
run removes (the old state); killed after it, the next run finishes the replacements and, for
PostgreSQL, re-runs the (idempotent) database restore (the new state).

This module does not verify the backup, take the safety backup or the lock: the api layer does.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sotsync import fsio
from sotsync.backup.database import SQLITE_COPY
from sotsync.backup.full import FILES_DIR
from sotsync.backup.manifest import BackupError, BackupInfo, safe_relpath
from sotsync.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from sotsync.db import Target

JOURNAL = "restore-journal.json"
STAGED = ".sotsync-restore"


@dataclass(frozen=True)
class Plan:
    """What a restore writes: files by workspace path, and the database step."""

    chain: tuple[BackupInfo, ...]
    files: Mapping[str, bytes | Path]  # new content, or the backup file holding it
    unchanged: tuple[str, ...]
    database: Mapping[str, Any] | None  # the full backup's database entry
    target: str  # redacted URL of the database restored into

    @property
    def backup(self) -> BackupInfo:
        return self.chain[-1]


def plan_restore(
    chain: tuple[BackupInfo, ...], ledgers: Mapping[str, bytes], root: Path, target: Target
) -> Plan:
    """Compare the chain's final state with the workspace; only differing files are written."""
    full = chain[0]
    wanted: dict[str, bytes | Path] = dict(ledgers)
    prefix = FILES_DIR + "/"
    for rel in full.manifest["files"]:
        if rel.startswith(prefix):
            wanted[safe_relpath(rel[len(prefix) :])] = full.path / rel
    files: dict[str, bytes | Path] = {}
    unchanged = []
    for rel, content in sorted(wanted.items()):
        data = content if isinstance(content, bytes) else content.read_bytes()
        current = root / rel
        if current.is_file() and not current.is_symlink() and current.read_bytes() == data:
            unchanged.append(rel)
        else:
            files[rel] = content
    database = full.manifest.get("database")
    if database and database.get("engine") != target.engine:
        raise BackupError(
            f"{full.path} holds a {database.get('engine')} database; the workspace database "
            f"{target.redacted} is {target.engine}, nothing restored",
            hint="pass --database-url with a database of the backup's engine "
            "(then `sotsync migrate` to move it)",
        )
    return Plan(chain, files, tuple(unchanged), database or None, target.redacted)


def journal_path(lock_dir: Path) -> Path:
    return lock_dir / JOURNAL


def staged_path(target: Path) -> Path:
    return target.parent / f".{target.name}{STAGED}"


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with open(fd, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def _mode_of(target: Path, default: int) -> int:
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return default


def _save(path: Path, journal: Mapping[str, Any]) -> None:
    fsio.atomic_write_bytes(path, json.dumps(journal, indent=1, sort_keys=True).encode() + b"\n")


def execute(
    plan: Plan,
    root: Path,
    journal: Path,
    sqlite_target: Path | None,
    restore_database: Callable[[Mapping[str, Any]], None],
    cleanup: tuple[Path, ...] = (),
    progress: Progress = NO_PROGRESS,
) -> None:
    """Stage, commit the journal, restore the database, replace the files, drop the journal."""
    steps: list[dict[str, Any]] = []
    for rel in plan.files:
        target = root / rel
        steps.append({"target": str(target), "staged": str(staged_path(target))})
    database = None
    if plan.database is not None:
        database = dict(
            plan.database, source=str(plan.chain[0].path), target=plan.target, done=False
        )
        if sqlite_target is not None:
            steps.append({"target": str(sqlite_target), "staged": str(staged_path(sqlite_target))})
    record: dict[str, Any] = {
        "state": "staging",
        "backup": str(plan.backup.path),
        "files": steps,
        "database": database,
        "cleanup": [str(p) for p in cleanup],
        "target": plan.target,
    }
    _save(journal, record)
    progress.stage("restore: staging", len(plan.files) + 1)
    for rel, content in plan.files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else content.read_bytes()
        private = rel == ".env" or rel.endswith("/.env")
        _write(staged_path(target), data, _mode_of(target, 0o600 if private else 0o644))
        progress.advance(1)
    if database is not None and sqlite_target is not None:
        _stage_sqlite(plan.chain[0].path / SQLITE_COPY, sqlite_target)
    progress.advance(1)
    for step in steps:
        fsio.fsync_directory(Path(step["staged"]).parent)
    record["state"] = "commit"
    _save(journal, record)  # the commit point
    roll_forward(journal, record, restore_database)
    progress.done()


def _stage_sqlite(copy: Path, target: Path) -> None:
    staged = staged_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(copy, staged)
    wal = False
    if target.exists():
        from sotsync.snapshot.restore import journal_mode, leave_wal

        conn = sqlite3.connect(target, timeout=5)
        try:  # a first read rolls back a hot journal, which must not survive the swap
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise BackupError(
                f"cannot read the current database {target}: {exc}; nothing changed",
                hint="stop the processes using the database and run the restore again",
            ) from None
        finally:
            conn.close()
        wal = journal_mode(target) == "wal"
        leave_wal(target)
    conn = sqlite3.connect(staged)
    try:
        problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(
                f"{copy}: the database copy fails its integrity check: {'; '.join(problems)}"
            )
        if wal:
            conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as exc:
        raise BackupError(f"{copy}: not a usable SQLite database: {exc}") from None
    finally:
        conn.close()
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{staged}{suffix}").unlink(missing_ok=True)
    fsio.fsync_file(staged)


def read_journal(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BackupError(
            f"{path}: the journal of an interrupted restore is unreadable: {exc}",
            hint="inspect the workspace, then delete the journal by hand",
        ) from None
    if not isinstance(data, dict) or data.get("state") not in ("staging", "commit"):
        raise BackupError(f"{path}: not a restore journal this sotsync reads")
    return data


def roll_back(journal: Path, record: Mapping[str, Any]) -> None:
    """Before the commit point: remove what was staged; the workspace keeps its old state."""
    for step in record.get("files", []):
        Path(step["staged"]).unlink(missing_ok=True)
    _finish(journal, record)


def roll_forward(
    journal: Path,
    record: dict[str, Any],
    restore_database: Callable[[Mapping[str, Any]], None],
) -> None:
    """After the commit point: restore the database, move every staged file into place."""
    database = record.get("database")
    if database is not None and database.get("engine") == "postgresql" and not database["done"]:
        restore_database(database)
        database["done"] = True
        _save(journal, record)
    for step in record.get("files", []):
        staged, target = Path(step["staged"]), Path(step["target"])
        if staged.exists():  # gone: moved into place before an interruption
            os.replace(staged, target)
            fsio.fsync_directory(target.parent)
    _finish(journal, record)


def _finish(journal: Path, record: Mapping[str, Any]) -> None:
    journal.unlink(missing_ok=True)
    fsio.fsync_directory(journal.parent)
    for leftover in record.get("cleanup", []):
        shutil.rmtree(leftover, ignore_errors=True)
