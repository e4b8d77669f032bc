"""The backup verbs: `backup`, `backup list|verify|prune`, `restore` (SPEC §5).

Part of the api layer: it resolves the destination, the database URL and the ledgers, takes the
workspace lock for every write, finishes a restore that was interrupted before doing anything
else, and hands values to ``sotsync.backup``.  It never prints, exits or reads argv.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sotsync import __version__, gitrepo
from sotsync.backup.archive import extract_archive, is_archive, write_archive
from sotsync.backup.database import (
    copy_pg_dump,
    copy_snapshot,
    copy_sqlite,
    restore_pg_dump,
    restore_pg_snapshot,
)
from sotsync.backup.full import LedgerCopy, Source, remove_partials, write_full
from sotsync.backup.incremental import replay, write_incremental
from sotsync.backup.manifest import (
    MANIFEST,
    BackupError,
    BackupInfo,
    chain_of,
    read_backup,
    scan_backups,
    verify_backup,
)
from sotsync.backup.prune import BackupPruneResult, prune
from sotsync.backup.restore import (
    Plan,
    execute,
    journal_path,
    plan_restore,
    read_journal,
    roll_back,
    roll_forward,
)
from sotsync.config import Config, load_config, resolve_database_url
from sotsync.errors import ConfigError, SotsyncError
from sotsync.locking import lock_dir, workspace_lock
from sotsync.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from sotsync.db import Target
    from sotsync.reconcile import Report

__all__ = [
    "BackupInfo",
    "BackupListing",
    "BackupPruneResult",
    "BackupRestoreResult",
    "BackupResult",
    "BackupVerifyResult",
    "backup",
    "backup_dir",
    "backup_list",
    "backup_prune",
    "backup_verify",
    "restore",
]

EXTRACT_PREFIX = "restore-extract-"
CONFIG_DIR = "config"
CONFIG_FILE = ".sotsync.toml"


# --------------------------------------------------------------------------- where and what


def backup_dir(config: Config, dest: Path | None = None) -> Path:
    """``--dest``, else ``backup_dir`` from the configuration, else inside the git directory.

    The default, ``<git common dir>/sotsync/backups``, can never be committed by accident.
    """
    ws = config.workspace
    if dest is not None:
        return dest if dest.is_absolute() else Path.cwd() / dest
    configured = config.settings.get("backup_dir")
    if configured is not None:
        if not isinstance(configured, str) or not configured.strip():
            raise ConfigError(
                f"{config.source_name}: backup_dir must be a non-empty string (a directory)"
            )
        path = Path(configured).expanduser()
        return path if path.is_absolute() else ws.root / path
    return lock_dir(ws) / "backups"


def _ledgers(config: Config) -> tuple[LedgerCopy, ...]:
    from sotsync.ledger.parse import parse_ledger

    found = []
    for spec in config.ledgers:
        path = config.workspace.root / spec.path
        if not path.is_file():
            continue
        data = path.read_bytes()
        entries = distinct = None
        if b"\0" not in data[:8000]:
            ledger = parse_ledger(data, spec.path, spec.prefix)
            entries = len(ledger.entries)
            distinct = len({e.id for e in ledger.entries})
        found.append(LedgerCopy(spec.name, spec.path, data, entries, distinct))
    return tuple(found)


def _config_files(config: Config, exclude: Path) -> tuple[str, ...]:
    """``config/**`` (regular files only) and ``.sotsync.toml``, workspace-relative."""
    root = config.workspace.root
    found = []
    folder = root / CONFIG_DIR
    if folder.is_dir() and not folder.is_symlink():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink() and exclude not in path.parents:
                found.append(path.relative_to(root).as_posix())
    if (root / CONFIG_FILE).is_file():
        found.append(CONFIG_FILE)
    ledgers = {spec.path for spec in config.ledgers}
    return tuple(p for p in found if p not in ledgers)


def _source(config: Config, include_env: bool, label: str | None = None) -> Source:
    env_path = config.workspace.root / ".env"
    env = env_path.read_bytes() if env_path.is_file() else None
    return Source(
        config.workspace.root,
        _ledgers(config),
        _config_files(config, backup_dir(config)),
        env,
        include_env,
        gitrepo.head_commit(config.workspace),
        __version__,
        label,
    )


def _target(config: Config, url: str | None) -> tuple[str, Target]:
    from sotsync.db import parse_url

    resolved, _how = resolve_database_url(url, config)
    return resolved, parse_url(resolved, config.workspace.root)


def _database_copier(
    config: Config, url: str | None, allow_missing: bool
) -> Callable[[Path], dict[str, Any] | None]:
    """How the database is copied: the method is chosen before anything is written.

    The copier runs in a worker thread while the ledgers are read.
    """
    from sotsync.db import connect

    resolved, target = _target(config, url)
    if target.engine == "sqlite":
        assert target.path is not None
        path = target.path
        if not path.is_file():
            if allow_missing:
                return lambda staging: None
            raise BackupError(
                f"database file not found: {path} ({target.redacted}); nothing backed up",
                hint="check DATABASE_URL, or create the database with `sotsync db init`",
            )
        return lambda staging: copy_sqlite(path, staging, target.redacted)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is not None:
        return lambda staging: copy_pg_dump(pg_dump, target, staging)

    def snapshot(staging: Path) -> dict[str, Any]:
        db = connect(resolved, config.workspace.root)
        try:
            head = gitrepo.head_commit(config.workspace)
            return copy_snapshot(db, staging, __version__, head)
        finally:
            db.close()

    return snapshot


# --------------------------------------------------------------------------- backup


@dataclass(frozen=True)
class BackupResult:
    """A backup just written, its archive, and what the operator should know about it."""

    info: BackupInfo
    archive: Path | None
    warnings: tuple[str, ...]
    recovered: str | None = None


def backup(
    config: Config,
    url: str | None = None,
    dest: Path | None = None,
    archive: bool = False,
    include_env: bool = False,
    incremental: bool = False,
    progress: Progress = NO_PROGRESS,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackupResult:
    """A full backup (or, with *incremental*, a ledger patch since the previous backup)."""
    if incremental and include_env:
        raise BackupError(
            "--include-env applies to full backups; an incremental backup holds only the ledgers",
            hint="drop --include-env, or take a full backup",
        )
    ws = config.workspace
    target_dir = backup_dir(config, dest)
    with workspace_lock(ws, "sotsync backup"):
        recovered = _recover(config, url)
        remove_partials(target_dir)
        backups, _unreadable = scan_backups(target_dir)
        sequence = max((b.sequence for b in backups), default=0) + 1
        if incremental:
            source = _source(config, include_env)
            if not backups:
                raise BackupError(
                    f"no backup in {target_dir} to take an incremental backup against",
                    hint="take a full backup first: `sotsync backup`",
                )
            # The chain's ledger copies and patches are checked against their recorded
            # states while they are replayed; the database copy plays no part here.
            chain = chain_of(backups[-1], backups)
            info = write_incremental(target_dir, source, chain, sequence, now(), progress)
        else:
            copier = _database_copier(config, url, allow_missing=False)
            info = write_full(
                target_dir,
                lambda: _source(config, include_env),
                include_env,
                copier,
                sequence,
                now(),
                progress,
            )
        made = None
        if archive:
            progress.stage("backup: archive", None)
            made = write_archive(target_dir, chain_of(info, [*backups, info]))
            progress.done()
    return BackupResult(info, made, tuple(_warnings(config, info)), recovered)


def _warnings(config: Config, info: BackupInfo) -> list[str]:
    found = []
    env = info.manifest.get("env")
    if env == "masked":
        found.append(
            f".env is not in the backup: only its keys, values masked, are in "
            f"{info.path / 'env.masked'}; with --include-env its secrets would be copied to "
            f"{info.path / 'files' / '.env'}"
        )
    elif env == "included":
        found.append(
            f"{info.path / 'files' / '.env'} holds the secrets of .env: keep this backup private"
        )
    if _committable(config, info.path.parent):
        found.append(
            f"the backups in {info.path.parent} are inside the work tree and not ignored by "
            "git: add the directory to .gitignore, or set backup_dir outside the work tree"
        )
    return found


def _committable(config: Config, dest: Path) -> bool:
    """Whether *dest* lies in the work tree where ``git add -A`` would pick it up."""
    ws = config.workspace
    if ws.git_root is None or ws.git_dir is None:
        return False
    resolved = dest.resolve()
    git_root = ws.git_root.resolve()
    if git_root not in resolved.parents:
        return False
    if ws.git_common_dir is not None and ws.git_common_dir.resolve() in (
        resolved,
        *resolved.parents,
    ):
        return False
    proc = subprocess.run(
        ["git", "check-ignore", "-q", str(resolved)],
        cwd=git_root,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 1


# --------------------------------------------------------------------------- list, verify, prune


@dataclass(frozen=True)
class BackupListing:
    dest: Path
    backups: tuple[BackupInfo, ...]
    problems: tuple[str, ...]
    recovered: str | None = None


def backup_list(config: Config, dest: Path | None = None, url: str | None = None) -> BackupListing:
    """The backups in the destination, oldest first, and the unreadable ones as problems."""
    recovered = _recover_locked(config, url)
    target = backup_dir(config, dest)
    backups, problems = scan_backups(target)
    return BackupListing(target, tuple(backups), tuple(problems), recovered)


@dataclass(frozen=True)
class BackupVerifyResult:
    checked: tuple[str, ...]
    problems: tuple[str, ...]
    recovered: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def backup_verify(
    config: Config, path: Path | None = None, dest: Path | None = None, url: str | None = None
) -> BackupVerifyResult:
    """Checksums of every file and the chain of every incremental (one backup, or all)."""
    recovered = _recover_locked(config, url)
    with contextlib.ExitStack() as stack:
        if path is not None and is_archive(path):
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sotsync-")))
            extract_archive(path, scratch / "archive")
            backups, problems = scan_backups(scratch / "archive")
            chosen = backups
        elif path is not None and path.is_dir() and not (path / MANIFEST).exists():
            backups, problems = scan_backups(path)  # a destination: every backup in it
            if not backups and not problems:
                read_backup(path)  # raises: names what is missing
            chosen = backups
        elif path is not None:
            target = read_backup(path)
            backups, problems = scan_backups(path.parent)
            chosen = [target]
        else:
            backups, problems = scan_backups(backup_dir(config, dest))
            chosen = backups
        checked: list[str] = []
        for info in chosen:
            try:
                chain = chain_of(info, backups)
            except BackupError as exc:
                problems.append(exc.message)
                chain = [info]
            for step in chain:
                if step.name not in checked:
                    checked.append(step.name)
                    problems += verify_backup(step)
    return BackupVerifyResult(tuple(checked), tuple(dict.fromkeys(problems)), recovered)


def backup_prune(
    config: Config,
    keep_last: int,
    keep_daily: int = 0,
    dest: Path | None = None,
    dry_run: bool = False,
    url: str | None = None,
) -> BackupPruneResult:
    """Remove old backups, never the base of a kept incremental."""
    if keep_last < 1:
        raise BackupError(
            f"--keep-last must be at least 1 (got {keep_last})",
            hint="prune keeps the newest N backups; pass --keep-last 1 or more",
        )
    target = backup_dir(config, dest)
    with workspace_lock(config.workspace, "sotsync backup prune"):
        _recover(config, url)
        if not dry_run:
            remove_partials(target)
        backups, _problems = scan_backups(target)
        return prune(backups, keep_last, max(keep_daily, 0), dry_run)


# --------------------------------------------------------------------------- restore


@dataclass(frozen=True)
class BackupRestoreResult:
    plan: Plan
    restored: bool
    safety: BackupInfo | None = None
    reconcile: Report | None = None
    reconcile_error: str | None = None
    recovered: str | None = None
    notes: tuple[str, ...] = field(default=())


def restore(
    config: Config,
    path: Path,
    url: str | None = None,
    dry_run: bool = False,
    progress: Progress = NO_PROGRESS,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackupRestoreResult:
    """Verify the chain up to *path*, take a safety backup, restore everything or nothing."""
    ws = config.workspace
    if not path.exists():
        raise BackupError(
            f"backup not found: {path}",
            hint="give a backup directory or archive; `sotsync backup list` shows them",
        )
    resolved, target = _target(config, url)
    with workspace_lock(ws, "sotsync restore"):
        recovered = _recover(config, url)
        with _opened(config, path) as (chosen, backups, cleanup):
            chain = tuple(chain_of(chosen, backups))
            progress.stage("restore: verify", len(chain))
            for step in chain:
                problems = verify_backup(step)
                if problems:
                    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                    raise BackupError(
                        f"backup {step.name} fails verification, nothing restored: "
                        f"{problems[0]}{more}",
                        hint="restore from an intact copy of the backup, or an earlier backup",
                    )
                progress.advance(1)
            ledgers = replay(chain)
            plan = plan_restore(chain, ledgers, ws.root, target)
            _check_tools(plan)
            if dry_run:
                return BackupRestoreResult(plan, False, recovered=recovered)
            writes_env = any(rel == ".env" for rel in plan.files)
            label = f"safety backup before restoring {chosen.name}"
            copier = _database_copier(config, url, allow_missing=True)
            safety_dir = backup_dir(config)
            remove_partials(safety_dir)
            existing, _ = scan_backups(safety_dir)
            sequence = max((b.sequence for b in existing), default=0) + 1
            safety = write_full(
                safety_dir,
                lambda: _source(config, writes_env, label),
                writes_env,
                copier,
                sequence,
                now(),
                progress,
            )
            journal = journal_path(lock_dir(ws))
            execute(
                plan,
                ws.root,
                journal,
                target.path if target.engine == "sqlite" else None,
                _database_restorer(config, resolved),
                cleanup,
                progress,
            )
    report, error = _reconcile(config, url)
    return BackupRestoreResult(plan, True, safety, report, error, recovered)


@contextlib.contextmanager
def _opened(
    config: Config, path: Path
) -> Iterator[tuple[BackupInfo, list[BackupInfo], tuple[Path, ...]]]:
    """(the backup *path* names, the backups beside it, scratch to remove once restored)."""
    if not is_archive(path):
        if not path.is_dir():
            raise BackupError(
                f"{path} is neither a backup directory nor a .tar.gz archive",
                hint="give a directory written by `sotsync backup`, or its archive",
            )
        chosen = read_backup(path)
        backups, _problems = scan_backups(path.parent)
        if chosen.name not in {b.name for b in backups}:
            backups.append(chosen)
        yield chosen, backups, ()
        return
    scratch = lock_dir(config.workspace) / f"{EXTRACT_PREFIX}{secrets.token_hex(4)}"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    try:
        extract_archive(path, scratch)
        backups, problems = scan_backups(scratch)
        if problems:
            raise BackupError(f"{path}: {problems[0]}")
        stem = path.name.removesuffix(".tar.gz").removesuffix(".tgz")
        named = [b for b in backups if b.name == stem] or backups[-1:]
        if not named:
            raise BackupError(f"{path}: the archive holds no sotsync backup")
        yield named[0], backups, (scratch,)
    finally:
        journal = read_journal(journal_path(lock_dir(config.workspace)))
        if journal is None or str(scratch) not in journal.get("cleanup", []):
            shutil.rmtree(scratch, ignore_errors=True)


def _check_tools(plan: Plan) -> None:
    database = plan.database
    needs_tool = database is not None and database.get("method") == "pg_dump"
    if needs_tool and shutil.which("pg_restore") is None:
        raise BackupError(
            f"{plan.chain[0].path} holds a pg_dump archive and pg_restore is not installed; "
            "nothing restored",
            hint="install the PostgreSQL client tools (pg_restore) and run the restore again",
        )


def _database_restorer(config: Config, resolved: str) -> Callable[[Mapping[str, Any]], None]:
    """Restores a PostgreSQL backup; an SQLite database is a staged file like the others."""
    from sotsync.db import connect, parse_url

    def run(entry: Mapping[str, Any]) -> None:
        target = parse_url(resolved, config.workspace.root)
        if entry.get("target", target.redacted) != target.redacted:
            raise BackupError(
                f"an interrupted restore targeted {entry['target']}, not {target.redacted}",
                hint=f"run the command again with --database-url for {entry['target']}",
            )
        source = Path(str(entry["source"])) / str(entry["path"])
        if entry["method"] == "pg_dump":
            tool = shutil.which("pg_restore")
            if tool is None:
                raise BackupError("pg_restore is not installed; the database was not restored")
            restore_pg_dump(tool, target, source)
            return
        db = connect(resolved, config.workspace.root)
        try:
            restore_pg_snapshot(source, str(entry["commit"]), db)
        finally:
            db.close()

    return run


def _reconcile(config: Config, url: str | None) -> tuple[Report | None, str | None]:
    """The reconcile report of the restored workspace; why not, when it cannot be made."""
    from sotsync.api.database import reconcile

    try:
        return reconcile(load_config(config.workspace), url).report, None
    except SotsyncError as exc:
        return None, exc.message


def _recover(config: Config, url: str | None) -> str | None:
    """Finish (or undo) a restore that was killed; the caller holds the workspace lock."""
    directory = lock_dir(config.workspace)
    journal = journal_path(directory)
    record = read_journal(journal)
    if record is None:
        if directory.is_dir():
            for leftover in directory.glob(f"{EXTRACT_PREFIX}*"):
                shutil.rmtree(leftover, ignore_errors=True)
        return None
    if record["state"] == "staging":
        roll_back(journal, record)
        return f"an interrupted restore of {record['backup']} was undone (it had changed nothing)"
    resolved, _target_url = _target(config, url)
    roll_forward(journal, record, _database_restorer(config, resolved))
    return f"an interrupted restore of {record['backup']} was completed"


def _recover_locked(config: Config, url: str | None) -> str | None:
    """For the read-only verbs: take the lock only when there is a journal to finish."""
    if not journal_path(lock_dir(config.workspace)).exists():
        return None
    with workspace_lock(config.workspace, "sotsync backup (finishing a restore)"):
        return _recover(config, url)
