"""The snapshot verbs: `snapshot create|list|show|verify|restore|diff` (SPEC §4).

Part of the api layer: it resolves the device, the database URL and the ledgers, takes the
workspace lock for ``create`` and ``restore``, and hands values to ``sotsync.snapshot``.  It never
prints, exits or reads argv, and it never reads ``.env`` into a snapshot (only the URL resolution
reads it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sotsync import __version__, gitrepo
from sotsync.api.database import open_database
from sotsync.config import Config, resolve_device
from sotsync.errors import SotsyncError, WorkspaceError
from sotsync.locking import workspace_lock
from sotsync.progress import NO_PROGRESS, Progress
from sotsync.snapshot import (
    SNAPSHOT_PREFIX,
    TAG_PREFIX,
    ObjectStore,
    SnapshotError,
    SnapshotInfo,
    SnapshotMeta,
    list_snapshots,
    read_snapshot,
    resolve_ref,
    verify_snapshot,
    write_snapshot,
)
from sotsync.snapshot.diff import TableDiff, diff_snapshots
from sotsync.snapshot.migrate import TableResult
from sotsync.snapshot.prune import PruneResult
from sotsync.snapshot.sync import RefUpdate

__all__ = [
    "MigrateResult",
    "PruneResult",
    "RefUpdate",
    "RestorePlan",
    "RestoreResult",
    "SnapshotInfo",
    "TableDiff",
    "TableResult",
    "VerifyResult",
    "migrate",
    "snapshot_create",
    "snapshot_diff",
    "snapshot_list",
    "snapshot_prune",
    "snapshot_pull",
    "snapshot_push",
    "snapshot_restore",
    "snapshot_show",
    "snapshot_verify",
]


@dataclass(frozen=True)
class VerifyResult:
    """Which snapshot commits were checked and what is wrong with them (empty: all good)."""

    checked: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@contextmanager
def _store(config: Config) -> Iterator[ObjectStore]:
    git_dir = config.workspace.git_common_dir
    if git_dir is None:
        raise WorkspaceError(f"snapshots need a git repository; {config.workspace.root} is none")
    store = ObjectStore(git_dir)
    try:
        yield store
    finally:
        store.close()


def _ledgers(config: Config) -> list[tuple[str, bytes]]:
    # Every configured ledger that exists; none at all is fine (a database-only snapshot).
    found = []
    for spec in config.ledgers:
        path = config.workspace.root / spec.path
        if path.is_file():
            found.append((spec.path, path.read_bytes()))
    return found


def snapshot_create(
    config: Config,
    url: str | None = None,
    device: str | None = None,
    message: str | None = None,
    tag: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> SnapshotInfo:
    """Snapshot the database and the ledgers onto ``refs/sotsync/snapshots/<device>``.

    *progress* sees one stage per table, advanced by rows.
    """
    name = resolve_device(device, config)  # a bad device name fails before anything opens
    ws = config.workspace
    with _store(config) as store:
        db = open_database(config, url)
        try:
            with workspace_lock(ws, "sotsync snapshot create"):
                meta = _meta(config, name, db.url, message)
                return write_snapshot(db, store, _ledgers(config), meta, tag, progress)
        finally:
            db.close()


def snapshot_list(
    config: Config, device: str | None = None, all_devices: bool = False
) -> list[SnapshotInfo]:
    """Snapshots of one device (default: this one) or of every device, newest first."""
    with _store(config) as store:
        if all_devices:
            return list_snapshots(store, None)
        return list_snapshots(store, resolve_device(device, config))


def snapshot_show(config: Config, ref: str) -> SnapshotInfo:
    """The snapshot that *ref* names (``refs/...``, a device, ``tag:NAME`` or a commit id)."""
    with _store(config) as store:
        name, commit = resolve_ref(store, ref)
        return read_snapshot(store, commit, name)


def snapshot_verify(
    config: Config,
    ref: str | None = None,
    all_snapshots: bool = False,
    device: str | None = None,
    deep: bool = False,
) -> VerifyResult:
    """Check objects and hashes of one snapshot (default: this device's latest) or of all.

    *deep* also restores each (SQLite) snapshot into a scratch database and checks it there.
    """
    with _store(config) as store:
        if all_snapshots:
            heads = [
                *store.refs_under(SNAPSHOT_PREFIX).values(),
                *store.refs_under(TAG_PREFIX).values(),
            ]
        else:
            spec = ref if ref is not None else resolve_device(device, config)
            heads = [resolve_ref(store, spec)[1]]
        checked: list[str] = []
        problems: list[str] = []
        verified: set[str] = set()  # tables already read, shared by snapshots of the same data
        for head in heads:
            commits = _ancestry(store, head, problems) if all_snapshots else [head]
            for commit in commits:
                if commit not in checked:
                    checked.append(commit)
                    found = verify_snapshot(store, commit, verified=verified)
                    problems += found
                    if deep and not found:
                        problems += _deep_verify(store, commit)
        return VerifyResult(tuple(checked), tuple(dict.fromkeys(problems)))


def _deep_verify(store: ObjectStore, commit: str) -> list[str]:
    """Rebuild *commit* in a scratch SQLite file and check it there.

    A SQLite snapshot is restored (integrity check, rows, content and schema hashes compared
    with the manifest); a PostgreSQL one is built the way ``migrate`` builds it (every value
    decoded and converted, row counts and checksums compared, integrity check), since this
    check needs no PostgreSQL server.
    """
    import tempfile
    from pathlib import Path

    from sotsync.snapshot.migrate import migrate_sqlite
    from sotsync.snapshot.restore import restore_sqlite

    engine = str(read_snapshot(store, commit).manifest.get("engine"))
    with tempfile.TemporaryDirectory(prefix="sotsync-deep-verify-") as scratch:
        try:
            if engine == "sqlite":
                restore_sqlite(store, commit, Path(scratch) / "deep.db", Path(scratch))
            else:
                migrate_sqlite(store, commit, Path(scratch) / "deep.db", Path(scratch))
        except SotsyncError as exc:
            return [f"{commit[:12]}: deep verify: {exc.message}"]
    return []


def _ancestry(store: ObjectStore, head: str, problems: list[str]) -> list[str]:
    """*head* and its first-parent ancestors; a history that breaks is reported, not raised."""
    found = [head]
    try:
        for commit in store.history(head):
            if commit.id not in found:
                found.append(commit.id)
    except SotsyncError as exc:
        problems.append(f"{head[:12]}: history: {exc.message}")
    return found


# --------------------------------------------------------------------------- restore and diff


@dataclass(frozen=True)
class RestorePlan:
    """What ``snapshot restore`` does (or, with ``--dry-run``, would do)."""

    commit: str
    ref: str
    engine: str
    target: str  # redacted URL
    tables: tuple[tuple[str, int], ...]
    existing: tuple[str, ...]  # user tables in the target now

    @property
    def rows(self) -> int:
        return sum(rows for _name, rows in self.tables)

    @property
    def safety_snapshot(self) -> bool:
        return bool(self.existing)


@dataclass(frozen=True)
class RestoreResult:
    plan: RestorePlan
    restored: bool
    rows: int = 0
    safety: SnapshotInfo | None = None


def snapshot_restore(
    config: Config,
    ref: str,
    url: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    device: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> RestoreResult:
    """Verify snapshot *ref* and restore its tables into *url* (default: the workspace database).

    A target with tables needs *force*, and gets a safety snapshot first.
    """
    from sotsync.config import resolve_database_url
    from sotsync.db import connect, parse_url
    from sotsync.snapshot.restore import check_engine, restore_postgres, restore_sqlite, user_tables

    resolved, _source = resolve_database_url(url, config)
    ws = config.workspace
    target = parse_url(resolved, ws.root)
    with _store(config) as store:
        name, commit = resolve_ref(store, ref)
        # The chunks are read once, by the restore itself, which checks each against its id
        # and the table's content hash before anything replaces the target.
        _refuse(ref, commit, verify_snapshot(store, commit, contents=False))
        info = read_snapshot(store, commit, name)
        engine = str(info.manifest.get("engine"))
        check_engine(engine, target.engine)
        tables = tuple(
            (t, int(e.get("rows", 0))) for t, e in sorted(info.manifest.get("tables", {}).items())
        )
        exists = target.path is None or target.path.exists()
        db = connect(resolved, ws.root) if exists else None
        try:
            existing = tuple(user_tables(db)) if db is not None else ()
            plan = RestorePlan(commit, ref, engine, target.redacted, tables, existing)
            if dry_run:
                return RestoreResult(plan, restored=False)
            if existing and not force:
                raise SnapshotError(
                    f"the target {target.redacted} is not empty ({len(existing)} table(s)); "
                    "nothing restored",
                    hint="pass --force to replace it (a safety snapshot of it is taken first)",
                )
            with workspace_lock(ws, "sotsync snapshot restore"):
                safety = None
                if db is not None and existing:
                    meta = _meta(config, device, db.url, f"safety snapshot before restore of {ref}")
                    safety = write_snapshot(db, store, _ledgers(config), meta, progress=progress)
                try:
                    if target.engine == "sqlite":
                        assert target.path is not None
                        if db is not None:
                            db.close()
                            db = None
                        rows = restore_sqlite(store, commit, target.path, ws.root, progress)
                    else:
                        assert db is not None
                        rows = restore_postgres(store, commit, db, progress)
                except SnapshotError as exc:
                    if exc.message.startswith(("missing ", "corrupted ")):
                        _refuse(ref, commit, [f"{commit[:12]}: {exc.message}"])
                    raise
            return RestoreResult(plan, restored=True, rows=rows, safety=safety)
        finally:
            if db is not None:
                db.close()


def _refuse(ref: str, commit: str, problems: list[str]) -> None:
    if problems:
        raise SnapshotError(
            f"snapshot {ref} ({commit[:12]}) failed verification, nothing restored: "
            + "; ".join(problems),
            hint="run `sotsync snapshot verify --all` and restore another snapshot",
        )


def snapshot_diff(config: Config, old: str, new: str) -> list[TableDiff]:
    """Rows added, removed and changed per table from snapshot *old* to snapshot *new*."""
    with _store(config) as store:
        return diff_snapshots(store, resolve_ref(store, old)[1], resolve_ref(store, new)[1])


# --------------------------------------------------------------------------- prune, push, pull


def snapshot_prune(config: Config, keep: int, device: str | None = None) -> PruneResult:
    """Keep the newest *keep* snapshots of a device's chain (default: this device)."""
    from sotsync.snapshot.prune import prune_snapshots

    name = resolve_device(device, config)
    with _store(config) as store, workspace_lock(config.workspace, "sotsync snapshot prune"):
        return prune_snapshots(store, name, keep)


def _git_workspace(config: Config, remote: str) -> None:
    ws = config.workspace
    if ws.git_root is None:
        raise WorkspaceError(f"push and pull need a git repository; {ws.root} is none")
    if remote not in gitrepo.remotes(ws):
        raise WorkspaceError(
            f"no git remote named {remote!r}", hint="add one with `git remote add NAME URL`"
        )


def snapshot_push(
    config: Config, remote: str = "origin", branch_fallback: bool = False, device: str | None = None
) -> list[RefUpdate]:
    """Push this device's snapshot ref and every tag to *remote* (never forced)."""
    from sotsync.snapshot import sync

    _git_workspace(config, remote)
    name = resolve_device(device, config)
    return sync.push(config.workspace, remote, name, branch_fallback)


def snapshot_pull(
    config: Config, remote: str = "origin", branch_fallback: bool = False, device: str | None = None
) -> list[RefUpdate]:
    """Fetch every device's snapshot ref, the tags and the id reservations from *remote*."""
    from sotsync.snapshot import sync

    _git_workspace(config, remote)
    name = resolve_device(device, config)
    with workspace_lock(config.workspace, "sotsync pull"):
        return sync.pull(config.workspace, remote, name, branch_fallback)


# --------------------------------------------------------------------------- migrate


@dataclass(frozen=True)
class MigrateResult:
    """What ``migrate`` did: the snapshot it went through and the verified tables."""

    snapshot: SnapshotInfo
    source: str  # redacted URLs
    target: str
    source_engine: str
    target_engine: str
    tables: tuple[TableResult, ...]
    skipped: tuple[str, ...]

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def migrate(
    config: Config,
    to: str,
    source: str | None = None,
    force: bool = False,
    device: str | None = None,
    progress: Progress = NO_PROGRESS,
) -> MigrateResult:
    """Copy the database at *source* (default: the workspace's) into *to*, on either engine.

    Goes through a normal snapshot of the source (recorded on this device), builds the target
    from it with the types mapped, and verifies row counts and checksums per table.  A target
    with tables needs *force*.
    """
    from sotsync.config import resolve_database_url
    from sotsync.db import connect, parse_url
    from sotsync.snapshot.migrate import migrate_postgres, migrate_sqlite
    from sotsync.snapshot.restore import user_tables

    ws = config.workspace
    resolved, _how = resolve_database_url(source, config)
    origin = parse_url(resolved, ws.root)
    target = parse_url(to, ws.root)
    same = (origin.path is not None and target.path is not None and origin.path == target.path) or (
        origin.path is None and origin.url == target.url
    )
    if same:
        raise SnapshotError(
            f"the target {target.redacted} is the source database; nothing migrated",
            hint="pass another database with --to",
        )
    exists = target.path is None or target.path.exists()
    with _store(config) as store:
        db = connect(to, ws.root) if exists else None
        try:
            existing = tuple(user_tables(db)) if db is not None else ()
            if existing and not force:
                raise SnapshotError(
                    f"the target {target.redacted} is not empty ({len(existing)} table(s)); "
                    "nothing migrated",
                    hint="pass --force to replace its tables",
                )
            src = open_database(config, resolved)
            try:
                with workspace_lock(ws, "sotsync migrate"):
                    meta = _meta(config, device, src.url, f"migrate to {target.redacted}")
                    info = write_snapshot(src, store, _ledgers(config), meta, progress=progress)
                    if target.engine == "sqlite":
                        assert target.path is not None
                        if db is not None:
                            db.close()
                            db = None
                        outcome = migrate_sqlite(store, info.commit, target.path, ws.root, progress)
                    else:
                        assert db is not None
                        outcome = migrate_postgres(store, info.commit, db, existing, progress)
            finally:
                src.close()
        finally:
            if db is not None:
                db.close()
    return MigrateResult(
        info,
        origin.redacted,
        target.redacted,
        outcome.source_engine,
        target.engine,
        outcome.tables,
        outcome.skipped,
    )


def _meta(config: Config, device: str | None, url: str, message: str | None) -> SnapshotMeta:
    """What a snapshot's commit records besides the data: device, version, URL, workspace HEAD."""
    return SnapshotMeta(
        resolve_device(device, config),
        __version__,
        url,
        gitrepo.head_commit(config.workspace),
        message,
    )
