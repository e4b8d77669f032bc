"""Finding snapshots again: resolving a reference, reading a snapshot's manifest and
trailers, listing a device's snapshots.

Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sotsync.snapshot.model import MANIFEST, TRAILERS, SnapshotInfo
from sotsync.snapshot.store import (
    SNAPSHOT_PREFIX,
    TAG_PREFIX,
    ObjectStore,
    SnapshotError,
    StoredCommit,
    is_commit_id,
    valid_name,
)

# --------------------------------------------------------------------------- reading


def resolve_ref(store: ObjectStore, spec: str) -> tuple[str | None, str]:
    """(ref name or None, commit id) for ``refs/...``, ``tag:NAME``, a commit id or a device."""
    if spec.startswith("refs/"):
        ref = spec
    elif spec.startswith("tag:"):
        ref = TAG_PREFIX + spec[len("tag:") :]
    elif is_commit_id(spec):
        if not store.has(spec):
            raise SnapshotError(f"no snapshot commit {spec} in this repository")
        return None, spec
    else:
        ref = SNAPSHOT_PREFIX + spec
    commit = store.ref(ref) if valid_name(ref.rsplit("/", 1)[-1]) else None
    if commit is None:
        raise SnapshotError(
            f"no snapshot {spec!r} ({ref} does not exist)",
            hint="list snapshots with `sotsync snapshot list --all`",
        )
    return ref, commit


def _trailers(message: str) -> tuple[str, dict[str, str]]:
    subject = message.split("\n", 1)[0]
    found: dict[str, str] = {}
    last = message.rstrip("\n").rsplit("\n\n", 1)[-1]
    for line in last.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key in TRAILERS:
            found[key] = value
    return subject, found


def manifest_of(store: ObjectStore, tree: str) -> dict[str, Any]:
    entry = store.tree(tree).get(MANIFEST)
    if entry is None:
        raise SnapshotError(f"tree {tree} has no {MANIFEST}")
    try:
        value = json.loads(store.raw(entry[1], "blob"))
    except ValueError as exc:
        raise SnapshotError(f"{MANIFEST} ({entry[1]}) is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SnapshotError(f"{MANIFEST} ({entry[1]}) is not a JSON object")
    return value


def _info(store: ObjectStore, commit: StoredCommit, ref: str | None) -> SnapshotInfo:
    subject, trailers = _trailers(commit.message)
    when = datetime.fromtimestamp(commit.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    parent = commit.parents[0] if commit.parents else None
    manifest = manifest_of(store, commit.tree)
    return SnapshotInfo(commit.id, commit.tree, ref, parent, when, subject, trailers, manifest)


def read_snapshot(store: ObjectStore, commit: str, ref: str | None = None) -> SnapshotInfo:
    return _info(store, store.commit(commit), ref)


def list_snapshots(store: ObjectStore, device: str | None) -> list[SnapshotInfo]:
    """Snapshots of *device* (every device when None), newest first per device."""
    if device is not None:
        heads = {SNAPSHOT_PREFIX + device: store.ref(SNAPSHOT_PREFIX + device)}
    else:
        heads = dict(store.refs_under(SNAPSHOT_PREFIX))
    found = []
    for ref, head in sorted(heads.items()):
        if head is None:
            continue
        found += [_info(store, c, ref) for c in store.history(head)]
    return found
