"""Snapshots in git refs (SPEC §4): determinism, dedup, consistency, verify, races, secrets."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import GitRepo, Result
from sotsync import api
from sotsync.config import Config, find_workspace, load_config
from sotsync.db import connect
from sotsync.snapshot import ObjectStore, SnapshotMeta, write_snapshot

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from genruns import create_autopack_schema, generate_runs  # noqa: E402

LEDGER = "# Build History\n\n| Date | ID | Title |\n|---|---|---|\n"


@pytest.fixture
def repo(make_repo: Callable[..., GitRepo], monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    monkeypatch.setenv("SOTSYNC_DEVICE", "laptop")
    return make_repo(files={"docs/BUILD_HISTORY.md": LEDGER})


def _config(repo: GitRepo) -> Config:
    return load_config(find_workspace(repo.path))


def _counter_db(path: Path, rows: int) -> str:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, f REAL, b BLOB)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        ((i, f"value {i}", i / 3, bytes([i % 256])) for i in range(rows)),
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def _store(repo: GitRepo) -> ObjectStore:
    return ObjectStore(repo.path / ".git")


def _chunk_rows(repo: GitRepo, commit: str, table: str) -> list[list[object]]:
    return [row for oid in _chunk_ids(repo, commit, table) for row in _blob_rows(repo, oid)]


def _chunk_ids(repo: GitRepo, commit: str, table: str) -> list[str]:
    """The table's chunk blob ids in order, read from the tree: chunks/<group>/<chunk>."""
    store = _store(repo)
    try:
        entry = store.path(store.commit(commit).tree, f"tables/{table}/chunks")
        assert entry is not None
        found = []
        for _group, (mode, group) in sorted(store.tree(entry[1]).items()):
            assert mode == 0o040000
            found += [oid for _name, (_mode, oid) in sorted(store.tree(group).items())]
        return found
    finally:
        store.close()


def _blob_rows(repo: GitRepo, oid: str) -> list[list[object]]:
    store = _store(repo)
    try:
        return [json.loads(line) for line in store.raw(oid, "blob").splitlines()]
    finally:
        store.close()


def loose_object(repo: Path, oid: str) -> Path:
    """The loose file of object *oid*, after unpacking every pack of *repo*.

    Snapshots are written as packs; a test that corrupts or removes one object needs that
    object in its own file, as ``git unpack-objects`` leaves it.
    """
    pack_dir = repo / ".git" / "objects" / "pack"
    for pack in sorted(pack_dir.glob("*.pack")):
        moved = pack.with_suffix(".unpacking")
        pack.rename(moved)
        pack.with_suffix(".idx").unlink()
        with moved.open("rb") as data:
            subprocess.run(["git", "unpack-objects", "-q"], stdin=data, cwd=repo, check=True)
        moved.unlink()
    return repo / ".git" / "objects" / oid[:2] / oid[2:]


# --------------------------------------------------------------------------- determinism, dedup


def test_unchanged_data_gives_the_same_tree(repo: GitRepo, db_url: str) -> None:
    db = connect(db_url, repo.path, create=True)
    create_autopack_schema(db)
    generate_runs(db, 60, seed=3)
    db.close()
    config = _config(repo)
    first = api.snapshot_create(config, db_url, message="first")
    second = api.snapshot_create(config, db_url, message="second")
    assert second.tree == first.tree
    assert second.parent == first.commit
    assert second.new_objects == 1  # the commit only
    assert first.manifest["tables"]["runs"]["rows"] == 60
    assert first.manifest["ledgers"][0]["path"] == "docs/BUILD_HISTORY.md"
    assert first.trailers["Device"] == "laptop"
    assert api.snapshot_verify(config, all_snapshots=True).ok


def _groups(repo: GitRepo, commit: str, table: str) -> dict[str, str]:
    store = _store(repo)
    try:
        entry = store.path(store.commit(commit).tree, f"tables/{table}/chunks")
        assert entry is not None
        return {name: oid for name, (_mode, oid) in store.tree(entry[1]).items()}
    finally:
        store.close()


def test_ten_changed_rows_write_only_their_chunks(repo: GitRepo, tmp_path: Path) -> None:
    url = _counter_db(tmp_path / "t.db", 20_000)
    config = _config(repo)
    first = api.snapshot_create(config, url)
    table = first.manifest["tables"]["t"]
    assert first.manifest["format"] == 2
    chunks = _chunk_ids(repo, first.commit, "t")
    assert len(chunks) == table["chunks"]
    assert 400 <= len(chunks) <= 900  # content-defined, about 32 rows each
    assert len(_groups(repo, first.commit, "t")) == table["groups"] >= 2
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.executemany("UPDATE t SET v = 'changed' WHERE id = ?", [(i * 1999,) for i in range(10)])
    conn.commit()
    second = api.snapshot_create(config, url)
    after = _chunk_ids(repo, second.commit, "t")
    assert len(after) == len(chunks)
    changed = sum(a != b for a, b in zip(chunks, after, strict=True))
    assert 1 <= changed <= 10
    groups = _groups(repo, first.commit, "t").items() ^ _groups(repo, second.commit, "t").items()
    changed_groups = len(groups) // 2
    assert 1 <= changed_groups <= changed
    # Changed chunks, their group trees, MANIFEST.json, the trees above (chunks, tables/t,
    # tables, root) and the commit: nothing else is written.
    assert second.new_objects == changed + changed_groups + 1 + 4 + 1
    # A delete in the middle changes one chunk and shifts no boundary after it.
    conn.execute("DELETE FROM t WHERE id = 10000")
    conn.commit()
    conn.close()
    third = api.snapshot_create(config, url)
    later = _chunk_ids(repo, third.commit, "t")
    assert sum(c not in set(after) for c in later) == 1


def test_values_round_trip_through_json(repo: GitRepo, tmp_path: Path) -> None:
    url = _counter_db(tmp_path / "t.db", 3)
    info = api.snapshot_create(_config(repo), url)
    assert _chunk_rows(repo, info.commit, "t") == [
        [0, "value 0", 0.0, {"$bytes": "AA=="}],
        [1, "value 1", 1 / 3, {"$bytes": "AQ=="}],
        [2, "value 2", 2 / 3, {"$bytes": "Ag=="}],
    ]


# --------------------------------------------------------------------------- consistency

_WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
while True:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
    n = conn.execute("SELECT n FROM counter WHERE id = 1").fetchone()[0]
    conn.execute("INSERT INTO log (n, pad) VALUES (?, ?)", (n, "x" * 50))
    conn.execute("COMMIT")
"""


def test_snapshot_during_writes_is_one_committed_state(repo: GitRepo, tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
    conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, n INTEGER, pad TEXT)")
    conn.execute("INSERT INTO counter VALUES (1, 0)")
    conn.commit()
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)])
    try:
        deadline = time.monotonic() + 10
        while conn.execute("SELECT n FROM counter").fetchone()[0] < 2000:
            assert time.monotonic() < deadline, "the writer did not start"
            time.sleep(0.05)
        config = _config(repo)
        seen = []
        for _ in range(3):
            info = api.snapshot_create(config, f"sqlite:///{path}")
            counter = _chunk_rows(repo, info.commit, "counter")
            log = _chunk_rows(repo, info.commit, "log")
            n = counter[0][1]
            assert isinstance(n, int)
            assert len(log) == n
            assert [r[1] for r in log] == list(range(1, n + 1))
            seen.append(n)
        assert writer.poll() is None, "the writer must still be running"
        assert seen == sorted(seen) and seen[0] >= 2000
    finally:
        writer.kill()
        writer.wait()
        conn.close()


# --------------------------------------------------------------------------- verify


def _loose(repo: GitRepo, oid: str) -> Path:
    return loose_object(repo.path, oid)


def test_verify_names_a_corrupted_and_a_missing_blob(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _counter_db(tmp_path / "t.db", 600)
    code, _out, err = sot("--repo", repo.path, "--database-url", url, "snapshot", "create")
    assert code == 0, err
    assert sot("--repo", repo.path, "snapshot", "verify")[:2] == (
        0,
        "verified 1 snapshot(s): ok\n",
    )
    path = "tables/t/chunks/000000/000000.jsonl"
    chunk = repo.git("rev-parse", f"refs/sotsync/snapshots/laptop:{path}")
    target = _loose(repo, chunk)
    target.chmod(0o644)
    target.write_bytes(b"not a zlib stream at all")
    code, _out, err = sot("--repo", repo.path, "snapshot", "verify", "laptop")
    assert code == 3
    assert f"corrupted blob {chunk}" in err
    assert f"({path})" in err
    target.unlink()
    code, _out, err = sot("--repo", repo.path, "snapshot", "verify", "--all")
    assert code == 3
    assert f"missing blob {chunk} ({path})" in err


def test_verify_names_a_manifest_mismatch(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _counter_db(tmp_path / "t.db", 600)
    good = api.snapshot_create(_config(repo), url)
    manifest = dict(good.manifest)
    table = dict(manifest["tables"]["t"])
    chunks = table["chunks"]
    table["chunks"] = chunks + 1
    table["content_sha256"] = "1" * 64
    manifest["tables"] = {"t": table}
    store = _store(repo)
    try:
        from sotsync.snapshot.encode import canonical_json

        blob = store.add_blob(canonical_json(manifest))
        root = {name: oid for name, (_mode, oid) in store.tree(good.tree).items()}
        from dulwich.objects import Tree

        tree = Tree()
        for name, oid in root.items():
            mode = 0o100644 if name == "MANIFEST.json" else 0o040000
            value = (blob if name == "MANIFEST.json" else oid).encode()
            tree.add(name.encode(), mode, value)  # type: ignore[arg-type]
        store.repo.object_store.add_object(tree)
        bad = store.add_commit(tree.id.decode(), None, "tampered\n", "x <x@example.com>")
        assert store.swap_ref("refs/sotsync/snapshots/evil", None, bad, "test")
    finally:
        store.close()
    code, _out, err = sot("--repo", repo.path, "snapshot", "verify", "evil")
    assert code == 3
    assert (
        f"manifest mismatch: tables/t has {chunks} chunk(s), MANIFEST.json says {chunks + 1}" in err
    )
    assert "manifest mismatch: content sha256 of table t" in err
    assert sot("--repo", repo.path, "snapshot", "verify", good.commit)[0] == 0


# --------------------------------------------------------------------------- refs and races


class _RacingStore(ObjectStore):
    """Another writer moves the ref just before our first compare-and-swap."""

    def __init__(self, git_dir: Path, other: str) -> None:
        super().__init__(git_dir)
        self.other = other
        self.raced = False

    def swap_ref(self, name: str, old: str | None, new: str, why: str) -> bool:
        if not self.raced and name.startswith("refs/sotsync/snapshots/"):
            self.raced = True
            assert super().swap_ref(name, old, self.other, "the other writer")
        return super().swap_ref(name, old, new, why)


def test_a_lost_race_is_reparented_not_lost(repo: GitRepo, tmp_path: Path) -> None:
    url = _counter_db(tmp_path / "t.db", 10)
    config = _config(repo)
    first = api.snapshot_create(config, url)
    other = api.snapshot_create(config, url, device="other")
    store = _RacingStore(repo.path / ".git", other.commit)
    db = connect(url, tmp_path)
    try:
        info = write_snapshot(db, store, [], SnapshotMeta("laptop", "0", db.url, None, "mine"))
    finally:
        db.close()
        store.close()
    assert info.parent == other.commit
    history = [i.commit for i in api.snapshot_list(config, "laptop")]
    assert history[:2] == [info.commit, other.commit]
    assert first.commit not in history  # the other writer's snapshot replaced it as parent


def test_concurrent_creates_are_both_recorded(repo: GitRepo, tmp_path: Path) -> None:
    url = _counter_db(tmp_path / "t.db", 5000)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "sotsync", "--repo", str(repo.path), "--database-url", url]
    procs = [
        subprocess.Popen([*command, "snapshot", "create", "-m", f"p{i}"], env=env, stderr=-1)
        for i in range(2)
    ]
    codes = [p.wait() for p in procs]
    errors = [p.stderr.read().decode() if p.stderr else "" for p in procs]
    recorded = api.snapshot_list(_config(repo), "laptop")
    if codes == [0, 0]:
        assert len(recorded) == 2
        assert recorded[0].parent == recorded[1].commit
    else:  # one clear error, one snapshot
        assert sorted(codes) == [0, 3], errors
        assert any("sotsync: error:" in e for e in errors)
        assert len(recorded) == 1


def test_tags_are_never_overwritten(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _counter_db(tmp_path / "t.db", 10)
    base = ("--repo", repo.path, "--database-url", url, "snapshot")
    code, out, _err = sot(*base, "create", "-m", "before", "--tag", "pre")
    assert code == 0
    assert "tagged refs/sotsync/tags/pre" in out
    code, _out, err = sot(*base, "create", "--tag", "pre")
    assert code == 3
    assert "sotsync: error: tag 'pre' already exists (refs/sotsync/tags/pre)" in err
    assert len(api.snapshot_list(_config(repo))) == 1  # refused before anything was recorded
    tagged = repo.git("rev-parse", "refs/sotsync/tags/pre")
    for spec in ("tag:pre", "laptop", "refs/sotsync/snapshots/laptop", tagged):
        code, out, _err = sot(*base, "show", spec)
        assert code == 0
        assert out.startswith(f"commit  {tagged}\n")
        assert "Device: laptop\n" in out
        assert "  table t: 10 row(s)" in out
    code, _out, err = sot(*base, "show", "nowhere")
    assert (code, err.splitlines()[0]) == (
        3,
        "sotsync: error: no snapshot 'nowhere' (refs/sotsync/snapshots/nowhere does not exist)",
    )
    code, out, _err = sot(*base, "list", "--all", "--format", "json")
    assert [s["subject"] for s in json.loads(out)["snapshots"]] == ["before"]


# --------------------------------------------------------------------------- secrets


def _all_objects(repo: GitRepo) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=repo.path,
        capture_output=True,
        check=True,
    ).stdout


def test_passwords_and_dotenv_never_enter_the_object_store(
    repo: GitRepo, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "Sekr1t-Pa55"
    repo.write({".env": f"API_TOKEN=dotenv-{secret}\nDATABASE_URL={db_url}\n"})
    if db_url.startswith("postgresql://"):
        user, rest = db_url.split("://", 1)[1].split("@", 1)
        url: str | None = f"postgresql://{user}:{secret}@{rest}"  # trust auth ignores it
    else:
        url = None  # resolved from .env, which is read for the URL and nothing else
    db = connect(db_url, repo.path, create=True)
    create_autopack_schema(db)
    generate_runs(db, 20, seed=1)
    db.close()
    info = api.snapshot_create(_config(repo), url)
    assert "***" in info.trailers["Database"] or url is None
    objects = _all_objects(repo)
    assert secret.encode() not in objects
    assert b"API_TOKEN" not in objects


def test_the_device_option_names_the_ref(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _counter_db(tmp_path / "t.db", 3)
    base = ("--repo", repo.path, "--database-url", url, "--device", "staging-eu.1")
    code, out, _err = sot(*base, "snapshot", "create")
    assert code == 0 and " on refs/sotsync/snapshots/staging-eu.1: " in out
    assert repo.git("for-each-ref", "--format=%(refname)", "refs/sotsync/snapshots") == (
        "refs/sotsync/snapshots/staging-eu.1"
    )
    assert sot(*base, "snapshot", "verify")[0] == 0
    code, out, err = sot(
        "--repo", repo.path, "--database-url", url, "--device", "bad name", "snapshot", "create"
    )
    assert (code, out) == (3, "")
    assert err.startswith("sotsync: error: ")
    assert "bad name" in err


def test_verify_all_reads_shared_data_once_and_still_names_every_broken_snapshot(
    repo: GitRepo, tmp_path: Path
) -> None:
    url = _counter_db(tmp_path / "t.db", 300)
    config = _config(repo)
    first = api.snapshot_create(config, url)
    second = api.snapshot_create(config, url, message="same data")
    assert second.tree == first.tree
    assert api.snapshot_verify(config, all_snapshots=True).checked == (
        second.commit,
        first.commit,
    )
    chunk = _chunk_ids(repo, first.commit, "t")[0]
    target = loose_object(repo.path, chunk)
    target.chmod(0o644)
    target.write_bytes(b"garbage")
    result = api.snapshot_verify(config, all_snapshots=True)
    assert not result.ok
    for commit in (first.commit, second.commit):
        assert any(p.startswith(f"{commit[:12]}: corrupted blob {chunk}") for p in result.problems)
