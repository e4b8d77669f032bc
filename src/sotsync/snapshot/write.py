"""Writing a snapshot: objects first, the manifest next, the ref last with compare-and-swap.

Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sotsync.progress import NO_PROGRESS, Progress
from sotsync.snapshot.encode import (
    FORMAT_VERSION,
    canonical_json,
    chunk_batches,
    sha256_hex,
)
from sotsync.snapshot.history import read_snapshot
from sotsync.snapshot.model import CAS_ATTEMPTS, IDENTITY, MANIFEST, SnapshotInfo, SnapshotMeta
from sotsync.snapshot.source import (
    SlowPath,
    SourceTable,
    encoded_batches,
    integrity_check,
    postgres_tables,
    read_transaction,
    sqlite_tables,
    with_row_count,
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
    db: Backend, store: ObjectStore, table: SourceTable, progress: Progress
) -> tuple[dict[str, Any], dict[str, bytes]]:
    base = f"tables/{table_dir(table.name)}"
    schema_bytes = canonical_json(table.schema)
    try:
        return _table_objects(db, store, table, base, schema_bytes, progress, fast=True)
    except SlowPath:
        # A BLOB where the declared types promised none: the objects written so far stay
        # unreferenced in the pack; the table is read again by the Python encoder.
        return _table_objects(db, store, table, base, schema_bytes, progress, fast=False)


def _table_objects(
    db: Backend,
    store: ObjectStore,
    table: SourceTable,
    base: str,
    schema_bytes: bytes,
    progress: Progress,
    fast: bool,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    files: dict[str, bytes] = {f"{base}/schema.json": store.add_blob(schema_bytes).encode("ascii")}
    content = hashlib.sha256()
    rows = chunks = group = in_group = 0
    progress.stage(f"snapshot {table.name}", table.rows)
    for chunk in chunk_batches(encoded_batches(db, table, fast)):
        oid = store.add_blob(chunk.data)
        files[f"{base}/chunks/{group:06d}/{in_group:06d}.jsonl"] = oid.encode("ascii")
        content.update(chunk.data)
        rows += chunk.rows
        chunks += 1
        in_group += 1
        if chunk.closes_group:
            group += 1
            in_group = 0
        progress.advance(chunk.rows)
    progress.done()
    entry = {
        "path": base,
        "rows": rows,
        "columns": list(table.columns),
        "primary_key": list(table.key),
        "schema_sha256": sha256_hex(schema_bytes),
        "content_sha256": content.hexdigest(),
        "chunks": chunks,
        "groups": group + (1 if in_group else 0),
    }
    return entry, files


def _remember_parent(store: ObjectStore, ref: str) -> None:
    """Mark the objects of *ref*'s snapshot as present, so that unchanged chunks cost no lookup.

    A ref points only to complete snapshots; a tree that cannot be read is simply not used.
    """
    head = store.ref(ref)
    if head is None:
        return
    try:
        pending = [store.commit(head).tree]
        while pending:
            tree = pending.pop()
            store.known.add(tree)
            for mode, oid in store.tree(tree).values():
                if mode == 0o040000:
                    pending.append(oid)
                else:
                    store.known.add(oid)
    except SnapshotError:
        store.known.clear()


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
    progress: Progress = NO_PROGRESS,
) -> SnapshotInfo:
    """Snapshot *db* and *ledgers* into *store* and move the device's ref; return the commit.

    *progress* gets one stage per table, advanced by the rows written.
    """
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
    ref = SNAPSHOT_PREFIX + meta.device
    _remember_parent(store, ref)
    with read_transaction(db):
        sources = sqlite_tables(db) if db.engine == "sqlite" else postgres_tables(db)
        if progress is not NO_PROGRESS:
            sources = [with_row_count(db, t) for t in sources]
        for table in sources:
            tables[table.name], table_files = _write_table(db, store, table, progress)
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
    store.flush()
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
