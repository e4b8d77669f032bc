"""Writing a snapshot: objects first, the manifest next, the ref last with compare-and-swap.

Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sotsync.snapshot.encode import (
    FORMAT_VERSION,
    canonical_json,
    chunk_rows,
    sha256_hex,
)
from sotsync.snapshot.history import read_snapshot
from sotsync.snapshot.model import CAS_ATTEMPTS, IDENTITY, MANIFEST, SnapshotInfo, SnapshotMeta
from sotsync.snapshot.source import (
    SourceTable,
    integrity_check,
    postgres_tables,
    read_transaction,
    sqlite_tables,
)
from sotsync.snapshot.store import (
    SNAPSHOT_PREFIX,
    TAG_PREFIX,
    ObjectStore,
    SnapshotError,
    nested,
    valid_name,
)

if TYPE_CHECKING:
    from sotsync.db import Backend


# --------------------------------------------------------------------------- writing


def table_dir(name: str) -> str:
    """A tree-safe directory name for table *name* (``/``, ``%`` and a leading ``.`` escaped)."""
    quoted = urllib.parse.quote(name, safe="")
    return "%2E" + quoted[1:] if quoted.startswith(".") else quoted


def _write_table(
    db: Backend, store: ObjectStore, table: SourceTable
) -> tuple[dict[str, Any], dict[str, bytes]]:
    files: dict[str, bytes] = {}
    base = f"tables/{table_dir(table.name)}"
    schema_bytes = canonical_json(table.schema)
    files[f"{base}/schema.json"] = store.add_blob(schema_bytes).encode("ascii")
    positions = [table.columns.index(c) for c in table.key]
    content = hashlib.sha256()
    chunks = []
    rows = 0
    for i, chunk in enumerate(chunk_rows(db.iterate(table.select), positions)):
        name = f"{i:06d}.jsonl"
        files[f"{base}/chunks/{name}"] = store.add_blob(chunk.data).encode("ascii")
        content.update(chunk.data)
        chunks.append({"name": name, "rows": chunk.rows, "sha256": chunk.sha256})
        rows += chunk.rows
    entry = {
        "path": base,
        "rows": rows,
        "columns": list(table.columns),
        "primary_key": list(table.key),
        "schema_sha256": sha256_hex(schema_bytes),
        "content_sha256": content.hexdigest(),
        "chunks": chunks,
    }
    return entry, files


def _message(meta: SnapshotMeta) -> str:
    subject = (meta.message or "").strip() or f"snapshot of {meta.device}"
    trailers = (
        f"Device: {meta.device}\n"
        f"Sotsync-Version: {meta.version}\n"
        f"Database: {meta.database}\n"
        f"Workspace-Head: {meta.workspace_head or 'none'}\n"
    )
    return f"{subject}\n\n{trailers}"


def write_snapshot(
    db: Backend,
    store: ObjectStore,
    ledgers: Sequence[tuple[str, bytes]],
    meta: SnapshotMeta,
    tag: str | None = None,
) -> SnapshotInfo:
    """Snapshot *db* and *ledgers* into *store* and move the device's ref; return the commit."""
    if not valid_name(meta.device):
        raise SnapshotError(f"invalid device name {meta.device!r} for a snapshot ref")
    tag_ref = None
    if tag is not None:
        if not valid_name(tag):
            raise SnapshotError(
                f"invalid tag name {tag!r}",
                hint="use letters, digits, '.', '_' and '-', starting with a letter or digit",
            )
        tag_ref = TAG_PREFIX + tag
        if store.ref(tag_ref) is not None:
            raise SnapshotError(
                f"tag {tag!r} already exists ({tag_ref})", hint="choose another tag name"
            )
    files: dict[str, bytes] = {}
    tables: dict[str, Any] = {}
    with read_transaction(db):
        sources = sqlite_tables(db) if db.engine == "sqlite" else postgres_tables(db)
        for table in sources:
            tables[table.name], table_files = _write_table(db, store, table)
            files.update(table_files)
        integrity = integrity_check(db)
    ledger_entries = []
    for path, data in sorted(ledgers):
        files[f"ledgers/{path}"] = store.add_blob(data).encode("ascii")
        ledger_entries.append({"path": path, "sha256": sha256_hex(data), "size": len(data)})
    manifest = {
        "format": FORMAT_VERSION,
        "engine": db.engine,
        "integrity_check": integrity,
        "tables": tables,
        "ledgers": ledger_entries,
    }
    files[MANIFEST] = store.add_blob(canonical_json(manifest)).encode("ascii")
    tree = store.add_tree(nested(files))
    ref = SNAPSHOT_PREFIX + meta.device
    message = _message(meta)
    for _attempt in range(CAS_ATTEMPTS):
        parent = store.ref(ref)
        commit = store.add_commit(tree, parent, message, IDENTITY)
        if store.swap_ref(ref, parent, commit, "sotsync snapshot create"):
            break
    else:
        raise SnapshotError(
            f"{ref} kept moving under {CAS_ATTEMPTS} attempts; the snapshot's objects are "
            "written but not recorded",
            hint="run `sotsync snapshot create` again",
        )
    if tag_ref is not None and not store.swap_ref(tag_ref, None, commit, "sotsync snapshot tag"):
        raise SnapshotError(
            f"snapshot {commit} is recorded on {ref}, but tag {tag!r} was created meanwhile",
            hint="tag it under another name with `sotsync snapshot create --tag`",
        )
    info = read_snapshot(store, commit, ref)
    return SnapshotInfo(
        info.commit,
        info.tree,
        ref,
        info.parent,
        info.time,
        info.subject,
        info.trailers,
        info.manifest,
        store.new_objects,
        store.new_bytes,
        tag,
    )
