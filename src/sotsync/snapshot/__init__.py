"""Database snapshots in git refs (SPEC §4): write, list, show and verify.

This package owns the snapshot: one consistent read of every table (one read transaction: a
deferred ``BEGIN`` on its own SQLite connection, so a WAL writer goes on; ``REPEATABLE READ READ
ONLY`` on PostgreSQL), encoded by ``encode`` and stored by ``store`` as a commit on
``refs/sotsync/snapshots/<device>``.  The tree holds only data (``MANIFEST.json``,
``tables/<name>/schema.json``, ``tables/<name>/chunks/<group>/<chunk>.jsonl``,
``ledgers/<path>``), so unchanged data gives the same tree id; time, device, version, redacted
URL and workspace HEAD live in the commit.  Objects are written first (one pack per snapshot),
the manifest with them, the commit next and the ref last (compare-and-swap, re-parented and
retried when another writer moved it).  ``layout`` reads both format versions' trees.  It does
not resolve configuration, take the workspace lock or read ``.env``: the api layer does that and
passes values in.
"""

from sotsync.snapshot.history import list_snapshots, read_snapshot, resolve_ref
from sotsync.snapshot.model import MANIFEST, SnapshotInfo, SnapshotMeta
from sotsync.snapshot.store import SNAPSHOT_PREFIX, TAG_PREFIX, ObjectStore, SnapshotError
from sotsync.snapshot.verify import verify_snapshot
from sotsync.snapshot.write import write_snapshot

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
