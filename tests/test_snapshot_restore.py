"""Snapshot restore and diff (SPEC §4): round trips, refusals, safety snapshots, row diffs."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import GitRepo, Result
from sotsync import api
from sotsync.config import Config, find_workspace, load_config
from sotsync.db import connect
from sotsync.snapshot.source import postgres_tables, sqlite_tables
from test_snapshot import loose_object

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from genruns import create_autopack_schema, generate_runs  # noqa: E402

LEDGER = "# Build History\n\n| Date | ID | Title |\n|---|---|---|\n"
# An Autopack-style question: failed phases per run state, through the foreign keys.
AUTOPACK_QUERY = (
    "SELECT r.state, count(*) FROM runs r JOIN tiers t ON t.run_id = r.id "
    "JOIN phases p ON p.tier_id = t.id WHERE p.state = 'FAILED' GROUP BY r.state ORDER BY r.state"
)


@pytest.fixture
def repo(make_repo: Callable[..., GitRepo], monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    monkeypatch.setenv("SOTSYNC_DEVICE", "laptop")
    return make_repo(files={"docs/BUILD_HISTORY.md": LEDGER})


def _config(repo: GitRepo) -> Config:
    return load_config(find_workspace(repo.path))


def _autopack(url: str, root: Path, runs: int = 80) -> None:
    db = connect(url, root, create=True)
    try:
        create_autopack_schema(db)
        generate_runs(db, runs, seed=7)
    finally:
        db.close()


def _dump(url: str, root: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, ordered by primary key (the snapshot's own order)."""
    db = connect(url, root)
    try:
        tables = sqlite_tables(db) if db.engine == "sqlite" else postgres_tables(db)
        return {t.name: db.query(t.select) for t in tables}
    finally:
        db.close()


def _counter_db(path: Path, rows: int = 600) -> str:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, f REAL, b BLOB)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        ((i, f"value {i}", i / 3, bytes([i % 256])) for i in range(rows)),
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


@contextmanager
def _other_database(engine: str, tmp_path: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
    else:
        from pg import fresh_database

        with fresh_database() as url:
            yield url


# --------------------------------------------------------------------------- round trips


def test_sqlite_round_trip_gives_identical_rows_and_a_working_schema(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    source = f"sqlite:///{tmp_path / 'autopack.db'}"
    _autopack(source, tmp_path)
    base = ("--repo", repo.path, "--database-url", source, "snapshot")
    assert sot(*base, "create", "-m", "nightly")[0] == 0
    target = tmp_path / "restored.db"
    code, out, err = sot(*base, "restore", "laptop", "--to", f"sqlite:///{target}")
    assert code == 0, err
    assert out.startswith("restored snapshot ")
    assert ": 4 table(s), " in out and out.endswith(" row(s), verified\n")
    assert _dump(f"sqlite:///{target}", tmp_path) == _dump(source, tmp_path)
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        original = sqlite3.connect(tmp_path / "autopack.db")
        assert (
            conn.execute(AUTOPACK_QUERY).fetchall() == original.execute(AUTOPACK_QUERY).fetchall()
        )
        indexes = "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name"
        assert conn.execute(indexes).fetchall() == original.execute(indexes).fetchall()
        original.close()
        # AUTOINCREMENT goes on from the restored sqlite_sequence.
        top = conn.execute("SELECT max(id) FROM tiers").fetchone()[0]
        conn.execute("INSERT INTO tiers (tier_id, run_id, tier_index) VALUES ('x', 'y', 0)")
        assert conn.execute("SELECT max(id) FROM tiers").fetchone()[0] == top + 1
    finally:
        conn.close()
    assert not list(tmp_path.glob(".restored.db.restore-*"))  # no scratch left behind


def test_restore_into_the_same_engine(repo: GitRepo, tmp_path: Path, db_url: str) -> None:
    engine = "sqlite" if db_url.startswith("sqlite") else "postgres"
    _autopack(db_url, repo.path, runs=40)
    config = _config(repo)
    api.snapshot_create(config, db_url)
    with _other_database(engine, tmp_path) as target:
        result = api.snapshot_restore(config, "laptop", target)
        assert result.restored and result.safety is None
        assert _dump(target, repo.path) == _dump(db_url, repo.path)
        db = connect(target, repo.path)
        try:
            assert db.query(AUTOPACK_QUERY) == [tuple(r) for r in _query(db_url, repo.path)]
            # Sequences are reset: a row without an id gets the next one.
            top = db.query("SELECT max(id) FROM phases")[0][0]
            run = db.query("SELECT min(id) FROM runs")[0][0]
            db.execute(
                "INSERT INTO phases (phase_id, run_id, phase_index) VALUES ('p', ?, 0)", (run,)
            )
            assert db.query("SELECT max(id) FROM phases")[0][0] == top + 1
            # The secondary indexes and foreign keys come back on both engines.
            if engine == "postgres":
                found = db.query("SELECT indexname FROM pg_indexes WHERE tablename = 'phases'")
                keys = db.query(
                    "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                    "AND conrelid = 'phases'::regclass"
                )
            else:
                found = db.query("SELECT name FROM sqlite_master WHERE tbl_name = 'phases'")
                keys = db.query("SELECT count(*) FROM pragma_foreign_key_list('phases')")
            assert {"ix_phases_run_id", "ix_phases_tier_id"} <= {r[0] for r in found}
            assert keys == [(2,)]
        finally:
            db.close()
        # Restoring again over the now non-empty target needs --force.
        forced = api.snapshot_restore(config, "laptop", target, force=True)
        assert forced.safety is not None
        assert _dump(target, repo.path) == _dump(db_url, repo.path)


def _query(url: str, root: Path) -> list[tuple[Any, ...]]:
    db = connect(url, root)
    try:
        return db.query(AUTOPACK_QUERY)
    finally:
        db.close()


def test_cross_engine_restore_is_refused(
    repo: GitRepo, tmp_path: Path, db_url: str, sot: Callable[..., Result]
) -> None:
    _autopack(db_url, repo.path, runs=5)
    assert sot("--repo", repo.path, "--database-url", db_url, "snapshot", "create")[0] == 0
    if db_url.startswith("sqlite"):
        other = "postgresql://nobody@127.0.0.1:1/never"  # refused before connecting
        words = "the snapshot is of a sqlite database; restoring it into postgresql"
    else:
        other = f"sqlite:///{tmp_path / 'x.db'}"
        words = "the snapshot is of a postgresql database; restoring it into sqlite"
    code, out, err = sot("--repo", repo.path, "snapshot", "restore", "laptop", "--to", other)
    assert (code, out) == (3, "")
    assert err == (
        f"sotsync: error: {words} is not supported\n"
        "hint: move data across engines with `sotsync migrate --to URL`\n"
    )
    assert not (tmp_path / "x.db").exists()


# --------------------------------------------------------------------------- refusals, safety


def test_a_non_empty_target_needs_force_and_gets_a_safety_snapshot(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _counter_db(tmp_path / "t.db")
    base = ("--repo", repo.path, "--database-url", url, "snapshot")
    assert sot(*base, "create", "-m", "good")[0] == 0
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("DELETE FROM t WHERE id > 10")
    conn.commit()
    conn.close()
    code, out, err = sot(*base, "restore", "laptop")
    assert (code, out) == (3, "")
    assert err == (
        f"sotsync: error: the target {url} is not empty (1 table(s)); nothing restored\n"
        "hint: pass --force to replace it (a safety snapshot of it is taken first)\n"
    )
    assert len(api.snapshot_list(_config(repo))) == 1
    code, out, err = sot(*base, "restore", "laptop", "--force")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("safety snapshot ")
    assert lines[0].endswith(" on refs/sotsync/snapshots/laptop")
    code, out, _err = sot(*base, "list")
    assert [line.split("rows  ")[1] for line in out.splitlines()] == [
        "safety snapshot before restore of laptop",
        "good",
    ]
    assert [r.rows for r in api.snapshot_list(_config(repo))] == [11, 600]
    assert sqlite3.connect(tmp_path / "t.db").execute("SELECT count(*) FROM t").fetchone() == (600,)


def test_dry_run_prints_the_plan_and_writes_nothing(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _counter_db(tmp_path / "t.db")
    base = ("--repo", repo.path, "--database-url", url, "snapshot")
    assert sot(*base, "create")[0] == 0
    fresh = tmp_path / "fresh.db"
    code, out, _err = sot(*base, "restore", "laptop", "--dry-run", "--to", f"sqlite:///{fresh}")
    assert code == 0
    assert out.splitlines()[1:] == [
        "  table t: 600 row(s)",
        "the target is empty: no safety snapshot needed",
    ]
    assert not fresh.exists()
    before = (tmp_path / "t.db").read_bytes()
    code, out, _err = sot(*base, "restore", "laptop", "--dry-run")
    assert code == 0
    assert out.startswith("would restore snapshot ")
    assert f"(sqlite) into {url}:\n" in out
    assert out.endswith(
        "the target has 1 table(s): --force is needed, and a safety snapshot of it would be "
        "taken first\n"
    )
    assert (tmp_path / "t.db").read_bytes() == before
    assert len(api.snapshot_list(_config(repo))) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == ["t.db"]


def test_a_tampered_snapshot_is_refused(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _counter_db(tmp_path / "t.db")
    assert sot("--repo", repo.path, "--database-url", url, "snapshot", "create")[0] == 0
    chunk = repo.git(
        "rev-parse", "refs/sotsync/snapshots/laptop:tables/t/chunks/000000/000001.jsonl"
    )
    loose = loose_object(repo.path, chunk)
    loose.chmod(0o644)
    loose.write_bytes(b"garbage")
    target = tmp_path / "restored.db"
    code, out, err = sot(
        "--repo", repo.path, "snapshot", "restore", "laptop", "--to", f"sqlite:///{target}"
    )
    assert (code, out) == (3, "")
    assert err.startswith("sotsync: error: snapshot laptop (")
    assert "failed verification, nothing restored: " in err
    assert f"corrupted blob {chunk} " in err
    assert not target.exists()


def test_restore_over_a_wal_database_keeps_wal_and_leaves_no_stale_log(
    repo: GitRepo, tmp_path: Path
) -> None:
    path = tmp_path / "t.db"
    url = _counter_db(path, 300)
    config = _config(repo)
    api.snapshot_create(config, url)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    conn.execute("UPDATE t SET v = 'later'")
    conn.commit()
    conn.close()
    api.snapshot_restore(config, "laptop", url, force=True)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT count(*) FROM t WHERE v = 'later'").fetchone() == (0,)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


# --------------------------------------------------------------------------- diff


def test_diff_reports_exactly_the_added_removed_and_changed_rows(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _counter_db(tmp_path / "t.db", 3000)
    base = ("--repo", repo.path, "--database-url", url, "snapshot")
    assert sot(*base, "create", "--tag", "before")[0] == 0
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.executemany("UPDATE t SET v = 'changed' WHERE id = ?", [(5,), (2500,)])
    conn.execute("DELETE FROM t WHERE id = 1234")
    conn.execute("INSERT INTO t VALUES (99999, 'new', 1.5, NULL)")
    conn.execute("CREATE TABLE extra (k TEXT PRIMARY KEY)")
    conn.execute("INSERT INTO extra VALUES ('a'), ('b')")
    conn.commit()
    conn.close()
    assert sot(*base, "create", "--tag", "after")[0] == 0
    code, out, _err = sot(*base, "diff", "tag:before", "tag:after", "--format", "json")
    assert code == 0
    tables = json.loads(out)["tables"]
    assert tables["t"] == {
        "status": "changed",
        "schema_changed": False,
        "added": 1,
        "removed": 1,
        "changed": 2,
        "added_keys": [[99999]],
        "removed_keys": [[1234]],
        "changed_keys": [[5], [2500]],
    }
    assert (tables["extra"]["status"], tables["extra"]["added"]) == ("added", 2)
    code, out, _err = sot(*base, "diff", "tag:before", "tag:after")
    assert out == (
        "extra: 2 added, 0 removed, 0 changed (new table)\n"
        "t: 1 added, 1 removed, 2 changed\n"
        "  + [99999]\n"
        "  - [1234]\n"
        "  ~ [5]\n"
        "  ~ [2500]\n"
    )
    assert sot(*base, "diff", "tag:after", "laptop")[1] == "no differences\n"
    code, out, _err = sot(*base, "diff", "tag:after", "tag:before", "--format", "json")
    back = json.loads(out)["tables"]["t"]
    assert (back["added_keys"], back["removed_keys"]) == ([[1234]], [[99999]])


def test_a_failed_check_leaves_the_target_untouched(
    repo: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sotsync.snapshot import restore
    from sotsync.snapshot.store import SnapshotError

    url = _counter_db(tmp_path / "t.db")
    config = _config(repo)
    api.snapshot_create(config, url)
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("DELETE FROM t")
    conn.commit()
    conn.close()
    before = (tmp_path / "t.db").read_bytes()

    def fail(*_args: object) -> None:
        raise SnapshotError("restore check failed: simulated")

    monkeypatch.setattr(restore, "_compare", fail)
    with pytest.raises(SnapshotError, match="simulated"):
        api.snapshot_restore(config, "laptop", url, force=True)
    assert (tmp_path / "t.db").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if "t.db" in p.name) == ["t.db"]


def test_scratch_files_of_a_killed_restore_are_removed_by_the_next(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _counter_db(tmp_path / "t.db")
    base = ("--repo", repo.path, "--database-url", url, "snapshot")
    assert sot(*base, "create")[0] == 0
    fresh = tmp_path / "fresh.db"
    leftovers = [
        tmp_path / ".fresh.db.restore-k1ll3d.db",
        tmp_path / ".fresh.db.restore-x.db-journal",
    ]
    for path in leftovers:
        path.write_bytes(b"half a database")
    code, _out, err = sot(*base, "restore", "laptop", "--to", f"sqlite:///{fresh}")
    assert code == 0, err
    assert not any(path.exists() for path in leftovers)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".fresh")) == []
