"""Database snapshots in git refs (SPEC §4): write, list, show and verify.

This package owns the snapshot: one consistent read of every table (one read transaction: a
deferred ``BEGIN`` on its own SQLite connection, so a WAL writer goes on; ``REPEATABLE READ READ
ONLY`` on PostgreSQL), encoded by ``encode`` and stored by ``store`` as a commit on
``refs/sotsync/snapshots/<device>``.  The tree holds only data (``MANIFEST.json``,
``tables/<name>/schema.json``, ``tables/<name>/chunks/<nnnnnn>.jsonl``, ``ledgers/<path>``), so
unchanged data gives the same tree id; time, device, version, redacted URL and workspace HEAD live
in the commit.  Objects are written first, the manifest next, the ref last (compare-and-swap,
re-parented and retried when another writer moved it).  It does not resolve configuration, take
the workspace lock or read ``.env``: the api layer does that and passes values in.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sotsync.snapshot.encode import (
    FORMAT_VERSION,
    canonical_json,
    chunk_rows,
    sha256_hex,
)
from sotsync.snapshot.store import (
    SNAPSHOT_PREFIX,
    TAG_PREFIX,
    ObjectStore,
    SnapshotError,
    StoredCommit,
    is_commit_id,
    nested,
    valid_name,
)

if TYPE_CHECKING:
    from sotsync.db import Backend

__all__ = [
    "MANIFEST",
    "SNAPSHOT_PREFIX",
    "TAG_PREFIX",
    "ObjectStore",
    "SnapshotError",
    "SnapshotInfo",
    "SnapshotMeta",
    "list_snapshots",
    "read_snapshot",
    "resolve_ref",
    "verify_snapshot",
    "write_snapshot",
]

MANIFEST = "MANIFEST.json"
CAS_ATTEMPTS = 5
IDENTITY = "sotsync <sotsync@localhost>"
_SKIPPED_TABLES = ("sqlite_stat",)  # planner statistics: derived, rebuilt by ANALYZE
_TEXT_TYPES = ("text", "character varying", "character", "citext")
_TRAILERS = ("Device", "Sotsync-Version", "Database", "Workspace-Head")


@dataclass(frozen=True)
class SnapshotMeta:
    """What a snapshot's commit records besides its data."""

    device: str
    version: str
    database: str  # already redacted
    workspace_head: str | None
    message: str | None = None


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot commit, its trailers and manifest; counts of new objects for a fresh one."""

    commit: str
    tree: str
    ref: str | None
    parent: str | None
    time: str
    subject: str
    trailers: Mapping[str, str] = field(hash=False)
    manifest: Mapping[str, Any] = field(hash=False)
    new_objects: int = 0
    new_bytes: int = 0
    tag: str | None = None

    @property
    def device(self) -> str | None:
        return self.trailers.get("Device")

    @property
    def rows(self) -> int:
        return sum(int(t.get("rows", 0)) for t in self.manifest.get("tables", {}).values())


# --------------------------------------------------------------------------- reading the database


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    schema: Mapping[str, Any]
    select: str


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_tables(db: Backend) -> list[_Table]:
    found = []
    rows = db.query("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
    for name, sql in rows:
        if name.startswith(_SKIPPED_TABLES):
            continue
        info = db.query(f"PRAGMA table_info({_ident(name)})")
        columns = tuple(r[1] for r in info)
        key = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        extras = db.query(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? "
            "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name",
            (name,),
        )
        schema = {
            "engine": "sqlite",
            "table": name,
            "sql": sql,
            "columns": [
                {"name": r[1], "type": r[2], "notnull": bool(r[3]), "default": r[4], "pk": r[5]}
                for r in info
            ],
            "primary_key": list(key),
            "indexes": [{"type": t, "name": n, "sql": s} for t, n, s in extras],
        }
        order = ", ".join(_ident(c) for c in (key or columns))
        cols = ", ".join(_ident(c) for c in columns)
        select = f"SELECT {cols} FROM {_ident(name)} ORDER BY {order}"
        found.append(_Table(name, columns, key, schema, select))
    return found


def _postgres_tables(db: Backend) -> list[_Table]:
    found = []
    names = db.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    for (name,) in names:
        info = db.query(
            "SELECT column_name, data_type, udt_name, is_nullable, column_default, "
            "character_maximum_length, numeric_precision, numeric_scale "
            "FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position",
            (name,),
        )
        key = tuple(
            r[0]
            for r in db.query(
                "SELECT k.column_name FROM information_schema.table_constraints c "
                "JOIN information_schema.key_column_usage k ON k.constraint_name = "
                "c.constraint_name AND k.table_schema = c.table_schema "
                "AND k.table_name = c.table_name WHERE c.constraint_type = 'PRIMARY KEY' "
                "AND c.table_schema = current_schema() AND c.table_name = ? "
                "ORDER BY k.ordinal_position",
                (name,),
            )
        )
        types = {r[0]: r[1] for r in info}
        columns = tuple(r[0] for r in info)
        schema = {
            "engine": "postgresql",
            "table": name,
            "columns": [
                {
                    "name": r[0],
                    "type": r[1],
                    "udt": r[2],
                    "notnull": r[3] == "NO",
                    "default": r[4],
                    "length": r[5],
                    "precision": r[6],
                    "scale": r[7],
                }
                for r in info
            ],
            "primary_key": list(key),
        }
        # Byte order ("C") for text, whatever the database's collation: the same rows must give
        # the same order on every server.  Without a key, rows are ordered by their text form.
        if key:
            order = ", ".join(
                _ident(c) + (' COLLATE "C"' if types[c] in _TEXT_TYPES else "") for c in key
            )
        else:
            order = ", ".join(f'{_ident(c)}::text COLLATE "C"' for c in columns)
        cols = ", ".join(_ident(c) for c in columns)
        select = f"SELECT {cols} FROM {_ident(name)} ORDER BY {order}"
        found.append(_Table(name, columns, key, schema, select))
    return found


@contextmanager
def _read_transaction(db: Backend) -> Iterator[None]:
    """One read-only transaction; every query inside sees the same committed state."""
    if db.engine == "sqlite":
        # Deferred: the read snapshot starts at the first SELECT and holds no write lock, so a
        # WAL-mode writer goes on while we read.
        db.execute("BEGIN")
    else:
        db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        yield
    finally:
        db.execute("ROLLBACK")


def _integrity(db: Backend) -> str:
    if db.engine != "sqlite":
        return "not checked (postgresql)"
    rows = db.query("PRAGMA quick_check")
    return "; ".join(str(r[0]) for r in rows) or "ok"


# --------------------------------------------------------------------------- writing


def _table_dir(name: str) -> str:
    """A tree-safe directory name for table *name* (``/``, ``%`` and a leading ``.`` escaped)."""
    quoted = urllib.parse.quote(name, safe="")
    return "%2E" + quoted[1:] if quoted.startswith(".") else quoted


def _write_table(
    db: Backend, store: ObjectStore, table: _Table
) -> tuple[dict[str, Any], dict[str, bytes]]:
    files: dict[str, bytes] = {}
    base = f"tables/{_table_dir(table.name)}"
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
    with _read_transaction(db):
        sources = _sqlite_tables(db) if db.engine == "sqlite" else _postgres_tables(db)
        for table in sources:
            tables[table.name], table_files = _write_table(db, store, table)
            files.update(table_files)
        integrity = _integrity(db)
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
        if sep and key in _TRAILERS:
            found[key] = value
    return subject, found


def _manifest(store: ObjectStore, tree: str) -> dict[str, Any]:
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
    manifest = _manifest(store, commit.tree)
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


# --------------------------------------------------------------------------- verifying


def verify_snapshot(store: ObjectStore, commit: str) -> list[str]:
    """What is wrong with snapshot *commit*: missing or corrupted objects, manifest mismatches."""
    short = commit[:12]
    try:
        stored = store.commit(commit)
        manifest = _manifest(store, stored.tree)
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
    base = table.get("path", f"tables/{_table_dir(name)}")
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
