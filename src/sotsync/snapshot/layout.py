"""Where a table's chunks live in a snapshot's tree, for every readable format version.

Format 1 lists each chunk (name, rows, sha256) in the manifest and keeps them in one flat tree,
``tables/<t>/chunks/<nnnnnn>.jsonl``.  Format 2 keeps only counts in the manifest and the chunks
in groups, ``tables/<t>/chunks/<gggggg>/<nnnnnn>.jsonl``: the tree itself gives the order
(zero-padded names sort as numbers), and git's object ids check each chunk's bytes.
Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sotsync.snapshot.store import ObjectStore, SnapshotError

_TREE_MODE = 0o040000


@dataclass(frozen=True)
class ChunkRef:
    """One chunk of a table: its path in the tree, blob id, and (format 1) expected sha256/rows."""

    path: str
    oid: str
    sha256: str | None = None
    rows: int | None = None


def table_chunks(
    store: ObjectStore, tree: str, base: str, entry: Mapping[str, Any], problems: list[str]
) -> list[ChunkRef]:
    """The chunks of the table at *base*, in order.  What is missing or unexpected goes into
    *problems* (``missing blob ...``, ``manifest mismatch: ...``); reading errors raise."""
    listed = store.path(tree, f"{base}/chunks")
    present = store.tree(listed[1]) if listed else {}
    if isinstance(entry.get("chunks"), list):  # format 1
        found = []
        for extra in sorted(set(present) - {c["name"] for c in entry["chunks"]}):
            problems.append(f"manifest mismatch: {base}/chunks/{extra} is not in MANIFEST.json")
        for chunk in entry["chunks"]:
            path = f"{base}/chunks/{chunk['name']}"
            if chunk["name"] not in present:
                problems.append(f"missing blob {path} (not in the tree)")
                continue
            found.append(ChunkRef(path, present[chunk["name"]][1], chunk["sha256"], chunk["rows"]))
        return found
    found = []
    for group, (mode, oid) in sorted(present.items()):
        if mode != _TREE_MODE:
            problems.append(f"manifest mismatch: {base}/chunks/{group} is not a chunk group")
            continue
        for name, (_mode, blob) in sorted(store.tree(oid).items()):
            found.append(ChunkRef(f"{base}/chunks/{group}/{name}", blob))
    expected = int(entry.get("chunks", 0))
    if len(found) != expected:
        problems.append(
            f"manifest mismatch: {base} has {len(found)} chunk(s), MANIFEST.json says {expected}"
        )
    return found


def chunk_ids(store: ObjectStore, tree: str, base: str, entry: Mapping[str, Any]) -> list[str]:
    """The blob ids of the table's chunks in order; raises SnapshotError on the first problem."""
    problems: list[str] = []
    found = table_chunks(store, tree, base, entry, problems)
    if problems:
        raise SnapshotError(problems[0])
    return [c.oid for c in found]
