"""The snapshot verbs: `snapshot create|list|show|verify` (SPEC §4).

Part of the api layer: it resolves the device, the database URL and the ledgers, takes the
workspace lock for ``create``, and hands values to ``sotsync.snapshot``.  It never prints, exits or
reads argv, and it never reads ``.env`` into a snapshot (only the URL resolution reads it).
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
from sotsync.snapshot import (
    SNAPSHOT_PREFIX,
    TAG_PREFIX,
    ObjectStore,
    SnapshotInfo,
    SnapshotMeta,
    list_snapshots,
    read_snapshot,
    resolve_ref,
    verify_snapshot,
    write_snapshot,
)

__all__ = [
    "SnapshotInfo",
    "VerifyResult",
    "snapshot_create",
    "snapshot_list",
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
) -> SnapshotInfo:
    """Snapshot the database and the ledgers onto ``refs/sotsync/snapshots/<device>``."""
    name = resolve_device(device, config)
    ws = config.workspace
    with _store(config) as store:
        db = open_database(config, url)
        try:
            with workspace_lock(ws, "sotsync snapshot create"):
                meta = SnapshotMeta(name, __version__, db.url, gitrepo.head_commit(ws), message)
                return write_snapshot(db, store, _ledgers(config), meta, tag)
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
) -> VerifyResult:
    """Check objects and hashes of one snapshot (default: this device's latest) or of all."""
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
        for head in heads:
            commits = _ancestry(store, head, problems) if all_snapshots else [head]
            for commit in commits:
                if commit not in checked:
                    checked.append(commit)
                    problems += verify_snapshot(store, commit)
        return VerifyResult(tuple(checked), tuple(dict.fromkeys(problems)))


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
