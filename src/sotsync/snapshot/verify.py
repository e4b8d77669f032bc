"""Verifying a snapshot: every object present, every chunk and the manifest's hashes matching.

Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sotsync.snapshot.encode import READABLE_FORMATS, canonical_json, sha256_hex
from sotsync.snapshot.history import manifest_of
from sotsync.snapshot.layout import table_chunks
from sotsync.snapshot.model import MANIFEST
from sotsync.snapshot.store import (
    ObjectStore,
    SnapshotError,
)
from sotsync.snapshot.write import table_dir

# --------------------------------------------------------------------------- verifying


def verify_snapshot(
    store: ObjectStore, commit: str, contents: bool = True, verified: set[str] | None = None
) -> list[str]:
    """What is wrong with snapshot *commit*: missing or corrupted objects, manifest mismatches.

    Without *contents*, the chunks' bytes are not read (only the trees that list them): for a
    caller that reads and checks every chunk next anyway, as restore does, so that a large
    snapshot is not decompressed and hashed twice.  *verified* (shared across calls) remembers
    tables whose chunks were read and found right: a later snapshot with the same chunk tree
    and manifest entry (unchanged data) is not read again, since its bytes are the same ones.
    """
    short = commit[:12]
    try:
        stored = store.commit(commit)
        manifest = manifest_of(store, stored.tree)
        top = store.tree(stored.tree)
    except SnapshotError as exc:
        return [f"{short}: {exc.message}"]
    problems: list[str] = []
    if manifest.get("format") not in READABLE_FORMATS:
        problems.append(f"{short}: unknown snapshot format {manifest.get('format')!r}")
        return problems
    for name, table in sorted(manifest.get("tables", {}).items()):
        found = _verify_table(store, stored.tree, name, table, contents, verified)
        problems += [f"{short}: {p}" for p in found]
    for ledger in manifest.get("ledgers", []):
        path = f"ledgers/{ledger['path']}"
        problems += [
            f"{short}: {p}" for p in _verify_file(store, stored.tree, path, ledger["sha256"])
        ]
    expected = {"tables", MANIFEST} | ({"ledgers"} if manifest.get("ledgers") else set())
    if not manifest.get("tables"):
        expected.discard("tables")
    for extra in sorted(set(top) - expected):
        problems.append(f"{short}: manifest mismatch: {extra} is not in {MANIFEST}")
    return problems


def _verify_file(store: ObjectStore, tree: str, path: str, sha256: str) -> list[str]:
    try:
        entry = store.path(tree, path)
        if entry is None:
            return [f"missing blob {path} (not in the tree)"]
        data = store.raw(entry[1], "blob")
    except SnapshotError as exc:
        return [f"{exc.message} ({path})"]
    if sha256_hex(data) != sha256:
        return [f"manifest mismatch: sha256 of {path} differs from {MANIFEST}"]
    return []


def _verify_table(
    store: ObjectStore,
    tree: str,
    name: str,
    table: Mapping[str, Any],
    contents: bool,
    verified: set[str] | None,
) -> list[str]:
    base = table.get("path", f"tables/{table_dir(name)}")
    problems = []
    try:
        entry = store.path(tree, f"{base}/schema.json")
        schema = store.raw(entry[1], "blob") if entry else None
    except SnapshotError as exc:
        return [f"{exc.message} ({base}/schema.json)"]
    if schema is None:
        problems.append(f"missing blob {base}/schema.json (not in the tree)")
    elif sha256_hex(schema) != table.get("schema_sha256"):
        problems.append(f"manifest mismatch: schema sha256 of table {name}")
    try:
        chunks = table_chunks(store, tree, base, table, problems)
    except SnapshotError as exc:
        return [*problems, f"{exc.message} ({base}/chunks)"]
    if not contents:
        return problems
    listed = store.path(tree, f"{base}/chunks")
    seen = f"{listed[1] if listed else '-'} {sha256_hex(canonical_json(dict(table)))}"
    if verified is not None and not problems and seen in verified:
        return problems
    content = hashlib.sha256()
    rows = 0
    complete = not any(p.startswith("missing blob") for p in problems)
    for chunk in chunks:
        try:
            data = store.raw(chunk.oid, "blob")
        except SnapshotError as exc:
            problems.append(f"{exc.message} ({chunk.path})")
            complete = False
            continue
        if chunk.sha256 is not None and sha256_hex(data) != chunk.sha256:
            problems.append(f"manifest mismatch: sha256 of {chunk.path}")
        count = data.count(b"\n")
        if chunk.rows is not None and count != chunk.rows:
            problems.append(f"manifest mismatch: row count of {chunk.path}")
        content.update(data)
        rows += count
    if complete and content.hexdigest() != table.get("content_sha256"):
        problems.append(f"manifest mismatch: content sha256 of table {name}")
    if complete and rows != table.get("rows"):
        problems.append(f"manifest mismatch: row count of table {name}")
    if verified is not None and not problems:
        verified.add(seen)
    return problems
