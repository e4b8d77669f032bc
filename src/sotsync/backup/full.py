"""Writing a backup directory: staged under a hidden name, published with one rename.

A full backup holds ``database/`` (a consistent copy, made by ``sotsync.backup.database``),
``ledgers/<path>``, ``files/<path>`` (``config/``, ``.sotsync.toml`` and, only when
asked, ``.env``), ``env.masked`` (the ``.env`` keys with their values masked) and the manifest.
Everything is written into ``.<name>.partial-<random>`` in the destination and renamed to
``<name>`` last, so a killed backup never looks like a backup.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sotsync import fsio
from sotsync.backup.manifest import (
    FORMAT,
    NAME,
    PARTIAL,
    BackupInfo,
    file_sha256,
    read_backup,
    safe_relpath,
    state_of,
    write_manifest,
)
from sotsync.progress import NO_PROGRESS, Progress

ENV_MASKED = "env.masked"
FILES_DIR = "files"
LEDGER_DIR = "ledgers"


@dataclass(frozen=True)
class LedgerCopy:
    """A ledger as read under the workspace lock, with its real entry counts."""

    name: str
    path: str
    data: bytes
    entries: int | None  # None: not a readable ledger (binary)
    distinct_ids: int | None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "entries": self.entries,
            "distinct_ids": self.distinct_ids,
            "size": len(self.data),
        }


@dataclass(frozen=True)
class Source:
    """What the api layer hands over to be backed up; paths are workspace-relative."""

    root: Path
    ledgers: tuple[LedgerCopy, ...]
    files: tuple[str, ...]  # config/**, .sotsync.toml
    env: bytes | None  # the workspace .env, when there is one
    include_env: bool
    head: str | None
    version: str
    label: str | None = None


def backup_name(dest: Path, now: datetime, kind: str) -> tuple[str, datetime]:
    """``<UTC stamp>-<kind>``; a second already taken moves the stamp on, keeping names ordered."""
    suffix = "full" if kind == "full" else "incr"
    taken = {p.name[:15] for p in dest.iterdir() if NAME.fullmatch(p.name)} if dest.is_dir() else ()
    while now.strftime("%Y%m%d-%H%M%S") in taken:
        now += timedelta(seconds=1)
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{suffix}", now


def staging_dir(dest: Path, name: str, private: bool) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f".{name}{PARTIAL}{secrets.token_hex(4)}"
    path.mkdir(mode=0o700 if private else 0o777)
    return path


def remove_partials(dest: Path) -> None:
    """Delete what killed backups left; only called under the workspace lock."""
    if dest.is_dir():
        for child in dest.iterdir():
            if child.name.startswith(".") and PARTIAL in child.name:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)


def publish(staging: Path, dest: Path, name: str) -> BackupInfo:
    """Fsync the staged tree and rename it to its final name (the commit point of a backup)."""
    for folder, _dirs, files in os.walk(staging):
        for file_name in files:
            fsio.fsync_file(Path(folder) / file_name)  # cheap for files already synced
        fsio.fsync_directory(Path(folder))
    final = dest / name
    os.rename(staging, final)
    fsio.fsync_directory(dest)
    return read_backup(final)


def base_manifest(
    source: Source, kind: str, sequence: int, name: str, created: datetime
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "sequence": sequence,
        "kind": kind,
        "name": name,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool_version": source.version,
        "head": source.head,
        "label": source.label,
        "ledgers": [ledger.describe() for ledger in source.ledgers],
        "state": state_of({ledger.path: ledger.data for ledger in source.ledgers}),
    }


def write_full(
    dest: Path,
    read_source: Callable[[], Source],
    include_env: bool,
    database: Callable[[Path], dict[str, Any] | None],
    sequence: int,
    now: datetime,
    progress: Progress = NO_PROGRESS,
) -> BackupInfo:
    """Write a full backup into *dest*; *database* copies the database into the staged dir.

    The database is copied and checksummed in a worker thread (SQLite's backup and hashlib
    release the GIL) while this thread reads, counts and copies the ledgers and config files.
    """
    name, created = backup_name(dest, now, "full")
    staging = staging_dir(dest, name, private=include_env)
    try:
        progress.stage("backup: database and ledgers", None)
        with ThreadPoolExecutor(max_workers=1) as pool:
            copied = pool.submit(_copy_database, database, staging)
            try:
                source = read_source()
                _write_files(staging, source)
            finally:
                db_entry, known = copied.result()
        env = "absent"
        if source.env is not None:
            env = "included" if source.include_env else "masked"
        manifest = base_manifest(source, "full", sequence, name, created)
        manifest.update(
            engine=db_entry["engine"] if db_entry else None, database=db_entry, env=env, base=None
        )
        progress.stage("backup: checksums", None)
        write_manifest(staging, manifest, known)
        info = publish(staging, dest, name)
        progress.done()
        return info
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _copy_database(
    database: Callable[[Path], dict[str, Any] | None], staging: Path
) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    entry = database(staging)
    known = {}
    if entry is not None and (staging / entry["path"]).is_file():
        path = staging / entry["path"]
        # Writing the copy back to disk (I/O) and hashing it (CPU) overlap.
        with ThreadPoolExecutor(max_workers=1) as pool:
            synced = pool.submit(fsio.fsync_file, path)
            digest = str(entry.get("sha256") or file_sha256(path))
            synced.result()
        known[entry["path"]] = {"sha256": digest, "size": path.stat().st_size}
    return entry, known


def _write_files(staging: Path, source: Source) -> None:
    for ledger in source.ledgers:
        _put(staging / LEDGER_DIR / safe_relpath(ledger.path), ledger.data)
    for rel in source.files:
        target = staging / FILES_DIR / safe_relpath(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.root / rel, target)
    if source.env is not None:
        if source.include_env:
            _put(staging / FILES_DIR / ".env", source.env, private=True)
        else:
            _put(staging / ENV_MASKED, mask_env(source.env))


def _put(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    with open(fd, "wb") as stream:
        stream.write(data)


_ENV_LINE = re.compile(rb"^(\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=)(.*?)(\r?\n?)$")


def mask_env(data: bytes) -> bytes:
    """The ``.env`` with every value replaced by ``***``: which keys exist, no secret."""
    out = []
    for line in data.splitlines(keepends=True):
        found = _ENV_LINE.match(line)
        if found and found.group(2).strip():
            out.append(found.group(1) + b"***" + found.group(3))
        else:
            out.append(line)
    return b"".join(out)
