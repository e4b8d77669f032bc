"""Pruning a device's snapshot chain: keep the newest N snapshots, drop the rest.

The kept snapshots are re-written as new commits (same tree, message and time) whose oldest one
has no parent; the ref is moved with compare-and-swap.  Dropped snapshots become unreachable
(unless a tag names them: tags are never pruned) and git's gc removes their objects.
Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sotsync.snapshot.model import IDENTITY
from sotsync.snapshot.store import SNAPSHOT_PREFIX, ObjectStore, SnapshotError


@dataclass(frozen=True)
class PruneResult:
    """What a prune kept (new commit ids, newest first) and dropped (old ids, newest first)."""

    ref: str
    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    head: str | None


def prune_snapshots(store: ObjectStore, device: str, keep: int) -> PruneResult:
    """Keep the newest *keep* snapshots of *device*; raise when the ref moved meanwhile."""
    if keep < 1:
        raise SnapshotError("--keep-last must be at least 1", hint="pass --keep-last 1 or more")
    ref = SNAPSHOT_PREFIX + device
    head = store.ref(ref)
    if head is None:
        raise SnapshotError(
            f"no snapshots of device {device!r} ({ref} does not exist)",
            hint="list snapshots with `sotsync snapshot list --all`",
        )
    chain = list(store.history(head))
    if len(chain) <= keep:
        return PruneResult(ref, tuple(c.id for c in chain), (), head)
    kept, dropped = chain[:keep], chain[keep:]
    parent: str | None = None
    new_ids = []
    for commit in reversed(kept):
        parent = store.add_commit(commit.tree, parent, commit.message, IDENTITY, commit.time)
        new_ids.append(parent)
    assert parent is not None
    if not store.swap_ref(ref, head, parent, f"sotsync snapshot prune --keep-last {keep}"):
        raise SnapshotError(
            f"{ref} moved while pruning; nothing was changed",
            hint="run `sotsync snapshot prune` again",
        )
    return PruneResult(ref, tuple(reversed(new_ids)), tuple(c.id for c in dropped), parent)
