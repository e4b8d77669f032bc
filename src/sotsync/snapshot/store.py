"""Snapshots as git objects and refs: dulwich's object layer, and packs written here.

This module owns writing blobs, trees and commits into the repository's object store and moving
``refs/sotsync/snapshots/<device>`` and ``refs/sotsync/tags/<name>`` with compare-and-swap; and
reading them back (objects checked against their ids).  Blobs and trees are written as one pack
(version 2, with its index) per snapshot, by ``_PackWriter``: dulwich would write one loose file,
with its own fsync, per object, which for a large database costs more than the rest of the
snapshot.  Commits and refs go through dulwich; reading is dulwich's.  It never touches the work
tree, the index or HEAD, and it knows nothing about databases: it stores the bytes it is given.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import re
import struct
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union, cast

from sotsync import fsio
from sotsync.errors import GitError, SotsyncError

T = TypeVar("T")

if TYPE_CHECKING:
    from dulwich.objects import ObjectID
    from dulwich.refs import Ref
    from dulwich.repo import Repo

SNAPSHOT_PREFIX = "refs/sotsync/snapshots/"
TAG_PREFIX = "refs/sotsync/tags/"
_HEX40 = re.compile(r"[0-9a-f]{40}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_FILE_MODE = 0o100644
_TREE_MODE = 0o040000
# Level 1: most of level 6's size at a third of its time (a snapshot writes the whole database).
PACK_COMPRESSION = 1
_TYPES = {"commit": 1, "tree": 2, "blob": 3}
_PACK_QUEUE = 64  # objects being compressed ahead of the writer

# A tree under construction: name → blob id, or a nested tree.
TreeSpec = dict[str, Union[bytes, "TreeSpec"]]


class SnapshotError(SotsyncError):
    """A snapshot cannot be written, found or read (exit 3)."""


@dataclass(frozen=True)
class StoredCommit:
    """A snapshot commit as read back: ids, parents, time and message."""

    id: str
    tree: str
    parents: tuple[str, ...]
    time: int
    message: str


def _oid(text: str) -> ObjectID:
    return cast("ObjectID", text.encode("ascii"))


def _ref(name: str) -> Ref:
    return cast("Ref", name.encode("utf-8"))


def valid_name(name: str) -> bool:
    """Whether *name* may be a device or tag ref component."""
    return bool(_NAME.fullmatch(name)) and not name.endswith(".lock") and ".." not in name


class ObjectStore:
    """An open repository; counts the objects it had to write (the rest already existed).

    Blobs and trees are collected into one pack file per snapshot (``flush`` lands it): one
    file and one fsync instead of one per object, which for a large database is most of the
    time a snapshot takes.  Commits are written as loose objects, after the pack is landed.
    """

    def __init__(self, git_dir: Path) -> None:
        from dulwich.repo import Repo

        try:
            self.repo: Repo = Repo(str(git_dir))
        except Exception as exc:  # dulwich raises NotGitRepository and OSErrors
            raise GitError(f"cannot open the git repository at {git_dir}: {exc}") from None
        # Snapshot objects must reach the disk before the ref that names them (SPEC §10).
        self.repo.object_store.fsync_object_files = True
        self.new_objects = 0
        self.new_bytes = 0
        self.known: set[str] = set()  # ids known to exist (e.g. the parent snapshot's objects)
        self._pack: _PackWriter | None = None
        self._packs: list[Any] | None = None

    def close(self) -> None:
        if self._pack is not None:
            self._pack.abort()
            self._pack = None
        self.repo.close()

    # ------------------------------------------------------------------ writing

    def _add(self, obj: object) -> str:
        from dulwich.objects import ShaFile

        assert isinstance(obj, ShaFile)
        store = self.repo.object_store
        oid = obj.id
        if oid not in store:
            self._write(lambda: store.add_object(obj), _loose_path(store.path, oid) + ".lock")
            self.new_objects += 1
            self.new_bytes += len(obj.as_raw_string())
        return oid.decode("ascii")

    def _exists(self, oid: str) -> bool:
        """Whether *oid* is stored already (without dulwich's rescan of the pack directory on
        every miss, which a first snapshot of a large database would pay thousands of times)."""
        store = self.repo.object_store
        key = _oid(oid)
        if os.path.exists(_loose_path(store.path, key)):
            return True
        if self._packs is None:
            self._packs = list(store.packs)
        return any(key in pack for pack in self._packs)

    def add_raw(self, kind: str, data: bytes) -> str:
        """Store an object of *kind* with content *data* (into the pending pack); its id."""
        header = f"{kind} {len(data)}\0".encode("ascii")
        oid = hashlib.sha1(header + data).hexdigest()
        if oid in self.known:
            return oid
        pending = self._pack is not None and oid in self._pack.ids
        if not pending and not self._exists(oid):
            if self._pack is None:
                self._pack = _PackWriter(Path(os.fspath(self.repo.object_store.pack_dir)))
            self._pack.add(oid, _TYPES[kind], data)
            self.new_objects += 1
            self.new_bytes += len(data)
        self.known.add(oid)
        return oid

    def add_blob(self, data: bytes) -> str:
        return self.add_raw("blob", data)

    def add_tree(self, spec: TreeSpec) -> str:
        """Write *spec* (nested dicts of names → blob ids) bottom-up; return the root tree id."""
        from dulwich.objects import Tree

        tree = Tree()
        for name, value in spec.items():
            if isinstance(value, dict):
                tree.add(name.encode("utf-8"), _TREE_MODE, _oid(self.add_tree(value)))
            else:
                tree.add(name.encode("utf-8"), _FILE_MODE, cast("ObjectID", value))
        return self.add_raw("tree", tree.as_raw_string())

    def flush(self) -> None:
        """Land the pending pack (fsynced, then renamed into ``objects/pack``), if any."""
        if self._pack is not None:
            pack, self._pack = self._pack, None
            pack.finish()

    def add_commit(
        self,
        tree: str,
        parent: str | None,
        message: str,
        identity: str,
        when: int | None = None,
    ) -> str:
        from dulwich.objects import Commit

        self.flush()  # a commit never names objects that are not on disk
        commit = Commit()
        commit.tree = _oid(tree)
        commit.parents = [_oid(parent)] if parent else []
        commit.author = commit.committer = identity.encode("utf-8")
        now = int(time.time()) if when is None else when
        commit.author_time = commit.commit_time = now
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = message.encode("utf-8")
        return self._add(commit)

    # ------------------------------------------------------------------ refs

    def ref(self, name: str) -> str | None:
        try:
            value = self.repo.refs[_ref(name)]
        except KeyError:
            return None
        return value.decode("ascii")

    def swap_ref(self, name: str, old: str | None, new: str, why: str) -> bool:
        """Compare-and-swap *name* from *old* (None: must not exist) to *new*."""
        refs = self.repo.refs
        message = why.encode("utf-8")
        # A repository opened from a git directory has disk refs: <git dir>/<ref name>.
        lock = os.path.join(self.repo.controldir(), *name.split("/")) + ".lock"
        if old is None:
            return bool(
                self._write(lambda: refs.add_if_new(_ref(name), _oid(new), message=message), lock)
            )
        return bool(
            self._write(
                lambda: refs.set_if_equals(_ref(name), _oid(old), _oid(new), message=message), lock
            )
        )

    @staticmethod
    def _write(action: Callable[[], T], lock: str) -> T:
        """Run a dulwich write; clear a lock file left by a killed sotsync process, once.

        Every caller holds the workspace lock, and only sotsync writes loose objects and
        ``refs/sotsync/snapshots|tags`` through ``.lock`` files (git itself fetches into packs
        and, with sotsync's refspecs, into ``refs/sotsync/remotes/``).  So a lock found here
        belongs to a process that died between creating and renaming it: without this, every
        later snapshot of the same data or device would fail until someone deleted it by hand.
        """
        from dulwich.file import FileLocked

        try:
            return action()
        except FileLocked:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)
            return action()

    def refs_under(self, prefix: str) -> dict[str, str]:
        """Full ref name → commit id, for every ref under *prefix* (e.g. ``refs/sotsync/``)."""
        found = self.repo.refs.as_dict(_ref(prefix.rstrip("/")))
        base = prefix.rstrip("/") + "/"
        return {base + k.decode("utf-8"): v.decode("ascii") for k, v in sorted(found.items())}

    # ------------------------------------------------------------------ reading

    def has(self, oid: str) -> bool:
        return _oid(oid) in self.repo.object_store

    def raw(self, oid: str, kind: str) -> bytes:
        """The content of object *oid*, checked: present, of *kind*, and hashing to *oid*.

        Raises SnapshotError saying ``missing`` or ``corrupted``.
        """
        key = _oid(oid)
        store = self.repo.object_store
        try:
            # Even the membership test parses a loose object, so it can find the corruption.
            if key not in store:
                raise SnapshotError(f"missing {kind} {oid}")
            type_num, data = store.get_raw(key)
        except SnapshotError:
            raise
        except Exception as exc:  # zlib.error, ObjectFormatException, OSError, ...
            raise SnapshotError(f"corrupted {kind} {oid} ({type(exc).__name__})") from None
        names = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}
        actual = names.get(type_num, str(type_num))
        header = f"{actual} {len(data)}\0".encode("ascii")
        if hashlib.sha1(header + data).hexdigest() != oid:
            raise SnapshotError(f"corrupted {kind} {oid} (content does not match its id)")
        if actual != kind:
            raise SnapshotError(f"corrupted {kind} {oid} (it is a {actual})")
        return data

    def tree(self, oid: str) -> dict[str, tuple[int, str]]:
        """Entries of tree *oid*: name → (mode, id)."""
        from dulwich.objects import Tree

        tree = cast(Tree, Tree.from_raw_string(Tree.type_num, self.raw(oid, "tree")))
        return {e.path.decode("utf-8"): (e.mode, e.sha.decode("ascii")) for e in tree.items()}

    def commit(self, oid: str) -> StoredCommit:
        from dulwich.objects import Commit

        parsed = cast(Commit, Commit.from_raw_string(Commit.type_num, self.raw(oid, "commit")))
        return StoredCommit(
            oid,
            parsed.tree.decode("ascii"),
            tuple(p.decode("ascii") for p in parsed.parents),
            parsed.commit_time,
            parsed.message.decode("utf-8", "replace"),
        )

    def path(self, tree: str, path: str) -> tuple[int, str] | None:
        """(mode, id) of *path* (``a/b/c``) inside *tree*, or None."""
        parts = path.split("/")
        current = tree
        for i, part in enumerate(parts):
            entry = self.tree(current).get(part)
            if entry is None:
                return None
            if i == len(parts) - 1:
                return entry
            current = entry[1]
        return None

    def history(self, head: str) -> Iterator[StoredCommit]:
        """*head* and its first-parent ancestors, newest first."""
        current: str | None = head
        while current is not None:
            commit = self.commit(current)
            yield commit
            current = commit.parents[0] if commit.parents else None


def _loose_path(objects: str | os.PathLike[str], oid: bytes) -> str:
    hexid = oid.decode("ascii")
    return os.path.join(os.fspath(objects), hexid[:2], hexid[2:])


def is_commit_id(text: str) -> bool:
    return bool(_HEX40.fullmatch(text))


def nested(files: Mapping[str, bytes]) -> TreeSpec:
    """A TreeSpec from ``path → blob id`` (paths with ``/``)."""
    root: TreeSpec = {}
    for path, oid in files.items():
        node = root
        *dirs, leaf = path.split("/")
        for part in dirs:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        node[leaf] = oid
    return root


class _PackWriter:
    """One pack file (version 2) and its index, written beside the repository's packs.

    Objects are compressed and appended to a temporary file as they come; ``finish`` writes the
    object count and the trailing checksum, fsyncs, writes the index, and renames both into
    place, the pack first: git ignores a pack without its index, so a process killed at any
    point leaves at most an unused temporary file, never a pack that names missing data.
    """

    def __init__(self, pack_dir: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        pack_dir.mkdir(parents=True, exist_ok=True)
        self.dir = pack_dir
        fd, name = tempfile.mkstemp(dir=pack_dir, prefix="tmp_sotsync_", suffix=".pack")
        self.path = Path(name)
        self.file = os.fdopen(fd, "w+b")
        self.file.write(b"PACK" + struct.pack(">II", 2, 0))
        self.ids: set[str] = set()
        self.entries: list[tuple[bytes, int, int]] = []  # binary id, crc32, offset
        # zlib releases the GIL: compressing on other threads overlaps with reading the
        # database (SQLite releases it too), which is most of a snapshot's time.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sotsync-pack")
        self._queue: collections.deque[tuple[bytes, Future[bytes]]] = collections.deque()

    def add(self, oid: str, type_num: int, data: bytes) -> None:
        size = len(data)
        header = bytearray([(type_num << 4) | (size & 0x0F)])
        size >>= 4
        while size:
            header[-1] |= 0x80
            header.append(size & 0x7F)
            size >>= 7
        self.ids.add(oid)
        work = self._pool.submit(_record, bytes(header), data)
        self._queue.append((bytes.fromhex(oid), work))
        if len(self._queue) > _PACK_QUEUE:
            self._write_one()

    def _write_one(self) -> None:
        oid, work = self._queue.popleft()
        record = work.result()
        self.entries.append((oid, zlib.crc32(record), self.file.tell()))
        self.file.write(record)

    def finish(self) -> None:
        while self._queue:
            self._write_one()
        self._pool.shutdown()
        f = self.file
        f.seek(8)
        f.write(struct.pack(">I", len(self.entries)))
        f.flush()
        f.seek(0)
        digest = hashlib.sha1()
        while block := f.read(1 << 20):
            digest.update(block)
        checksum = digest.digest()
        f.seek(0, os.SEEK_END)
        f.write(checksum)
        f.flush()
        os.fsync(f.fileno())
        f.close()
        base = self.dir / f"pack-{checksum.hex()}"
        index = _pack_index(sorted(self.entries), checksum)
        fd, name = tempfile.mkstemp(dir=self.dir, prefix="tmp_sotsync_", suffix=".idx")
        with os.fdopen(fd, "wb") as out:
            out.write(index)
            out.flush()
            os.fsync(out.fileno())
        for path in (self.path, Path(name)):
            path.chmod(0o444)
        os.replace(self.path, f"{base}.pack")
        os.replace(name, f"{base}.idx")
        fsio.fsync_directory(self.dir)

    def abort(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        self.file.close()
        self.path.unlink(missing_ok=True)


def _record(header: bytes, data: bytes) -> bytes:
    return header + zlib.compress(data, PACK_COMPRESSION)


def _pack_index(entries: list[tuple[bytes, int, int]], checksum: bytes) -> bytes:
    """A version 2 pack index of *entries* (sorted by id)."""
    fanout = [0] * 256
    for oid, _crc, _offset in entries:
        fanout[oid[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    small: list[int] = []
    large: list[int] = []
    for _, _crc, offset in entries:
        if offset < 0x80000000:
            small.append(offset)
        else:
            small.append(0x80000000 | len(large))
            large.append(offset)
    body = b"".join(
        [
            b"\377tOc" + struct.pack(">I", 2),
            struct.pack(">256I", *fanout),
            b"".join(e[0] for e in entries),
            struct.pack(f">{len(entries)}I", *(e[1] for e in entries)),
            struct.pack(f">{len(small)}I", *small),
            struct.pack(f">{len(large)}Q", *large),
            checksum,
        ]
    )
    return body + hashlib.sha1(body).digest()
