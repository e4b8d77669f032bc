"""Verifying a snapshot: every object present, every chunk and the manifest's hashes matching.

Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sotsync.snapshot.encode import (
    FORMAT_VERSION,
    sha256_hex,
)
from sotsync.snapshot.history import manifest_of
from sotsync.snapshot.model import MANIFEST
from sotsync.snapshot.store import (
    ObjectStore,
    SnapshotError,
)
from sotsync.snapshot.write import table_dir

# --------------------------------------------------------------------------- verifying


def verify_snapshot(store: ObjectStore, commit: str) -> list[str]:
    """What is wrong with snapshot *commit*: missing or corrupted objects, manifest mismatches."""
    short = commit[:12]
    try:
        stored = store.commit(commit)
        manifest = manifest_of(store, stored.tree)
        top = store.tree(stored.tree)
    except SnapshotError as exc:
        return [f"{short}: {exc.message}"]
    problems: list[str] = []
    if manifest.get("format") != FORMAT_VERSION:
        problems.append(f"{short}: unknown snapshot format {manifest.get('format')!r}")
        return problems
    for name, table in sorted(manifest.get("tables", {}).items()):
        problems += [f"{short}: {p}" for p in _verify_table(store, stored.tree, name, table)]
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


def _verify_table(store: ObjectStore, tree: str, name: str, table: Mapping[str, Any]) -> list[str]:
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
    chunks = table.get("chunks", [])
    try:
        listed = store.path(tree, f"{base}/chunks")
        present = store.tree(listed[1]) if listed else {}
    except SnapshotError as exc:
        return [*problems, f"{exc.message} ({base}/chunks)"]
    for extra in sorted(set(present) - {c["name"] for c in chunks}):
        problems.append(f"manifest mismatch: {base}/chunks/{extra} is not in {MANIFEST}")
    content = hashlib.sha256()
    rows = 0
    complete = True
    for chunk in chunks:
        path = f"{base}/chunks/{chunk['name']}"
        if chunk["name"] not in present:
            problems.append(f"missing blob {path} (not in the tree)")
            complete = False
            continue
        try:
            data = store.raw(present[chunk["name"]][1], "blob")
        except SnapshotError as exc:
            problems.append(f"{exc.message} ({path})")
            complete = False
            continue
        if sha256_hex(data) != chunk["sha256"]:
            problems.append(f"manifest mismatch: sha256 of {path}")
        if data.count(b"\n") != chunk["rows"]:
            problems.append(f"manifest mismatch: row count of {path}")
        content.update(data)
        rows += chunk["rows"]
    if complete and content.hexdigest() != table.get("content_sha256"):
        problems.append(f"manifest mismatch: content sha256 of table {name}")
    if complete and rows != table.get("rows"):
        problems.append(f"manifest mismatch: row count of table {name}")
    return problems
