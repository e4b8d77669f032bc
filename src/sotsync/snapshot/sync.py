"""Moving snapshot refs between repositories: ``push`` and ``pull`` of ``refs/sotsync/*``.

Part of the snapshot package: it works through the git binary (``sotsync.gitrepo``), so that
remotes, credentials and transports are git's own.  Nothing is ever forced: a push that is not a
fast-forward is rejected by the remote and reported; a pull moves this device's own ref only by
fast-forward and reports a diverged one.  Another device's ref follows the remote (that device
is its only writer, and may have pruned its chain).  Tags are created, fast-forwarded or reported.
With the branch fallback (hosts that refuse custom refs) the remote side is
``refs/heads/sotsync/...`` instead of ``refs/sotsync/...``; the local side never changes.
No configuration, no lock, no printing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sotsync import gitrepo
from sotsync.snapshot.store import SNAPSHOT_PREFIX, TAG_PREFIX

if TYPE_CHECKING:
    from sotsync.config import Workspace

RESERVATIONS = "+refs/sotsync/ids/*:refs/sotsync/ids/*"
_LOCAL = "refs/sotsync/"
_FALLBACK = "refs/heads/sotsync/"


@dataclass(frozen=True)
class RefUpdate:
    """One ref moved (or not) by a push or pull; ``status`` says what happened."""

    ref: str  # the local ref name
    status: str  # new, updated, up to date, rejected, diverged, ahead, rewritten
    old: str | None = None
    new: str | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("rejected", "diverged")


def remote_name(local: str, branch_fallback: bool) -> str:
    """The remote ref that carries local ref *local*."""
    return _FALLBACK + local[len(_LOCAL) :] if branch_fallback else local


def _local_name(remote: str, branch_fallback: bool) -> str | None:
    prefix = _FALLBACK if branch_fallback else _LOCAL
    if not remote.startswith(prefix):
        return None
    local = _LOCAL + remote[len(prefix) :]
    return local if local.startswith((SNAPSHOT_PREFIX, TAG_PREFIX)) else None


def push(ws: Workspace, remote: str, device: str, branch_fallback: bool) -> list[RefUpdate]:
    """Push this device's snapshot ref and every tag to *remote*, never forced."""
    local = [SNAPSHOT_PREFIX + device] if gitrepo.resolve_ref(ws, SNAPSHOT_PREFIX + device) else []
    tags = gitrepo.remote_refs(ws, ".", TAG_PREFIX + "*")
    local += sorted(tags)
    if not local:
        return []
    by_remote = {remote_name(ref, branch_fallback): ref for ref in local}
    specs = [f"{ref}:{remote_name(ref, branch_fallback)}" for ref in local]
    updates = []
    for target, flag, summary in gitrepo.push_refs(ws, remote, specs):
        ref = by_remote.get(target, target)
        status = {"*": "new", " ": "updated", "=": "up to date", "!": "rejected"}.get(flag, summary)
        new = gitrepo.resolve_ref(ws, ref)
        updates.append(RefUpdate(ref, status, None, new, summary if flag == "!" else ""))
    return updates


def pull(ws: Workspace, remote: str, device: str, branch_fallback: bool) -> list[RefUpdate]:
    """Fetch every snapshot ref and tag of *remote*, and the id reservations."""
    pattern = (_FALLBACK if branch_fallback else _LOCAL) + "*"
    found = {
        local: oid
        for name, oid in gitrepo.remote_refs(ws, remote, pattern).items()
        if (local := _local_name(name, branch_fallback)) is not None
    }
    gitrepo.fetch_objects(
        ws, remote, [remote_name(ref, branch_fallback) for ref in sorted(found)] + [RESERVATIONS]
    )
    own = SNAPSHOT_PREFIX + device
    updates = []
    for ref, theirs in sorted(found.items()):
        ours = gitrepo.resolve_ref(ws, ref)
        if ours == theirs:
            updates.append(RefUpdate(ref, "up to date", ours, theirs))
        elif ours is None:
            gitrepo.update_ref(ws, ref, theirs, None)
            updates.append(RefUpdate(ref, "new", None, theirs))
        elif gitrepo.is_ancestor(ws, ours, theirs):
            gitrepo.update_ref(ws, ref, theirs, ours)
            updates.append(RefUpdate(ref, "updated", ours, theirs))
        elif gitrepo.is_ancestor(ws, theirs, ours):
            updates.append(RefUpdate(ref, "ahead", ours, theirs, "the local ref is newer; push it"))
        elif ref.startswith(SNAPSHOT_PREFIX) and ref != own:
            gitrepo.update_ref(ws, ref, theirs, ours)
            updates.append(RefUpdate(ref, "rewritten", ours, theirs, "its device rewrote it"))
        else:
            updates.append(
                RefUpdate(ref, "diverged", ours, theirs, "kept the local ref, not overwritten")
            )
    return updates
