"""`sotsync migrate` (SPEC §4): SQLite → PostgreSQL → SQLite through the snapshot format."""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import GitRepo, Result
from sotsync import api
from sotsync.config import find_workspace, load_config
from sotsync.db import connect
from sotsync.snapshot.migrate import normalise, sqlite_logical

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from genruns import create_autopack_schema, generate_runs  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "autopack"
AUTOPACK_QUERY = (
    "SELECT r.state, count(*), sum(t.tier_index) FROM runs r JOIN tiers t ON t.run_id = r.id "
    "JOIN phases p ON p.tier_id = t.id WHERE p.state = 'FAILED' GROUP BY r.state ORDER BY r.state"
)


@pytest.fixture
def repo(make_repo: Callable[..., GitRepo], monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    monkeypatch.setenv("SOTSYNC_DEVICE", "laptop")
    return make_repo(files={"docs/BUILD_HISTORY.md": (CORPUS / "BUILD_HISTORY.md").read_bytes()})


def _logicals(url: str, root: Path) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """Per table: columns, logical types (from the SQLite source's names), primary key."""
    db = connect(url, root)
    try:
        found = {}
        for (name,) in db.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ):
            info = db.query(f'PRAGMA table_info("{name}")')
            key = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
            types = [sqlite_logical(r[2], name, r[1]) for r in info]
            found[name] = ([r[1] for r in info], types, key or [r[1] for r in info])
        return found
    finally:
        db.close()


def _rows(
    url: str, root: Path, layout: dict[str, tuple[list[str], list[str], list[str]]]
) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, normalised per logical type, ordered by primary key."""
    db = connect(url, root)
    try:
        result = {}
        for name, (columns, types, key) in layout.items():
            cols = ", ".join(f'"{c}"' for c in columns)
            rows = [
                tuple(normalise(v, k) for v, k in zip(row, types, strict=True))
                for row in db.query(f'SELECT {cols} FROM "{name}"')
            ]
            positions = [columns.index(k) for k in key]
            result[name] = sorted(rows, key=lambda r: tuple(str(r[i]) for i in positions))
        return result
    finally:
        db.close()


def _query(url: str, root: Path) -> list[tuple[Any, ...]]:
    db = connect(url, root)
    try:
        return [
            tuple(int(v) if isinstance(v, int) else v for v in r) for r in db.query(AUTOPACK_QUERY)
        ]
    finally:
        db.close()


def _source(repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]) -> str:
    url = f"sqlite:///{tmp_path / 'autopack.db'}"
    db = connect(url, tmp_path, create=True)
    try:
        create_autopack_schema(db)
        generate_runs(db, 300, seed=11)
    finally:
        db.close()
    base = ("--repo", repo.path, "--database-url", url)
    assert sot(*base, "db", "init")[0] == 0
    code, _out, err = sot(*base, "sync")
    assert code == 0, err
    return url


def test_the_mapping_reads_the_real_autopack_time_formats() -> None:
    assert normalise("2025-12-23T14:09:08.724807", "timestamp") == normalise(
        dt.datetime(2025, 12, 23, 14, 9, 8, 724807), "timestamp"
    )
    assert normalise("2025-12-23 14:00:59.556514", "timestamp") == "2025-12-23T14:00:59.556514"
    assert [sqlite_logical(t) for t in ("INTEGER", "VARCHAR(20)", "DOUBLE", "BLOB")] == [
        "integer",
        "text",
        "real",
        "blob",
    ]
    assert [sqlite_logical(t) for t in ("DECIMAL(10,2)", "BOOLEAN", "DATETIME", "DATE")] == [
        "numeric",
        "boolean",
        "timestamp",
        "date",
    ]
    assert sqlite_logical("JSON") == "json"
    assert sqlite_logical("TEXT", "runs", "created_at") == "timestamp"


@pytest.mark.postgres
def test_sqlite_to_postgresql_and_back(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    from pg import fresh_database

    source = _source(repo, tmp_path, sot)
    layout = _logicals(source, tmp_path)
    assert {"runs", "tiers", "phases"} <= set(layout) and len(layout) > 3
    expected = _rows(source, tmp_path, layout)
    assert len(expected["runs"]) == 300 and expected["phases"]
    assert len(expected["sot_entries"]) == 108  # sotsync's own tables, after db init + sync
    with fresh_database() as pg_url:
        code, out, err = sot(
            "--repo", repo.path, "--database-url", source, "migrate", "--to", pg_url
        )
        assert code == 0, err
        assert out.startswith("snapshot ") and " on refs/sotsync/snapshots/laptop\n" in out
        assert "  table runs: 300 row(s), 0 index(es), checksum " in out
        assert "  table phases: " in out and "2 index(es)" in out
        assert out.rstrip().endswith(" row(s), verified")
        config = load_config(find_workspace(repo.path))
        snapshots = api.snapshot_list(config)
        assert snapshots[0].subject.startswith("migrate to postgresql://")
        assert api.snapshot_verify(config).ok
        assert _rows(pg_url, tmp_path, layout) == expected
        assert _query(pg_url, tmp_path) == _query(source, tmp_path)
        db = connect(pg_url, tmp_path)
        try:
            kinds = dict(
                db.query(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'runs'"
                )
            )
            assert kinds["created_at"] == "timestamp without time zone"
            # Autopack's foreign keys (tiers and phases → runs, phases → tiers) came along.
            keys = db.query(
                "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' ORDER BY 1, 2"
            )
            assert keys == [
                ("phases", "FOREIGN KEY (run_id) REFERENCES runs(id)"),
                ("phases", "FOREIGN KEY (tier_id) REFERENCES tiers(id)"),
                ("tiers", "FOREIGN KEY (run_id) REFERENCES runs(id)"),
            ]
            assert kinds["token_budget"] == "bigint"
            top = db.query("SELECT max(id) FROM phases")[0][0]
            run = db.query("SELECT min(id) FROM runs")[0][0]
            db.execute(
                "INSERT INTO phases (phase_id, run_id, phase_index) VALUES ('p', ?, 0)", (run,)
            )
            assert db.query("SELECT max(id) FROM phases")[0][0] == top + 1
            db.execute("DELETE FROM phases WHERE phase_id = 'p' AND run_id = ?", (run,))
        finally:
            db.close()

        back = tmp_path / "back.db"
        code, out, err = sot(
            "--repo", repo.path, "migrate", "--from", pg_url, "--to", f"sqlite:///{back}"
        )
        assert code == 0, err
        assert "(postgresql) to sqlite:///" in out
        # The PostgreSQL snapshot recorded the indexes, so they come back; and it can be
        # deep-verified (rebuilt in a scratch SQLite file) like a SQLite one.
        assert "  table phases: " in out and "2 index(es)" in out
        assert "not carried over" not in out
        deep = api.snapshot_verify(config, deep=True)
        assert deep.ok, deep.problems
    assert _rows(f"sqlite:///{back}", tmp_path, layout) == expected
    conn = sqlite3.connect(back)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        phases = {r[1] for r in conn.execute("PRAGMA index_list('phases')")}
        parents = {(r[2], r[3]) for r in conn.execute("PRAGMA foreign_key_list('phases')")}
        assert parents == {("runs", "run_id"), ("tiers", "tier_id")}
        assert {"ix_phases_run_id", "ix_phases_tier_id"} <= phases
        assert [r for r in conn.execute("PRAGMA index_list('sot_entries')") if r[2]]
        original = sqlite3.connect(tmp_path / "autopack.db")
        assert (
            conn.execute(AUTOPACK_QUERY).fetchall() == original.execute(AUTOPACK_QUERY).fetchall()
        )
        original.close()
        top = conn.execute("SELECT max(id) FROM tiers").fetchone()[0]
        conn.execute("INSERT INTO tiers (tier_id, run_id, tier_index) VALUES ('x', 'y', 0)")
        assert conn.execute("SELECT max(id) FROM tiers").fetchone()[0] == top + 1
    finally:
        conn.close()
    assert not list(tmp_path.glob(".back.db.migrate-*"))


def test_sqlite_to_sqlite_and_a_non_empty_target_needs_force(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    source = _source(repo, tmp_path, sot)
    layout = _logicals(source, tmp_path)
    target = tmp_path / "copy.db"
    conn = sqlite3.connect(target)
    conn.execute("CREATE TABLE keep (k INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = target.read_bytes()
    config = load_config(find_workspace(repo.path))
    count = len(api.snapshot_list(config))
    base = ("--repo", repo.path, "--database-url", source, "migrate", "--to", f"sqlite:///{target}")
    code, out, err = sot(*base)
    assert (code, out) == (3, "")
    assert "is not empty (1 table(s)); nothing migrated" in err
    assert "hint: pass --force" in err
    assert target.read_bytes() == before
    assert len(api.snapshot_list(config)) == count
    code, out, err = sot(*base, "--force")
    assert code == 0, err
    assert _rows(f"sqlite:///{target}", tmp_path, layout) == _rows(source, tmp_path, layout)
    assert len(api.snapshot_list(config)) == count + 1
    code, _out, err = sot("--repo", repo.path, "migrate", "--from", source, "--to", source)
    assert code == 3 and "is the source database" in err


@pytest.mark.postgres
def test_a_non_empty_postgresql_target_needs_force(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    from pg import fresh_database

    source = _source(repo, tmp_path, sot)
    with fresh_database() as pg_url:
        db = connect(pg_url, tmp_path)
        try:
            db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY)")
            db.execute("INSERT INTO runs VALUES ('kept')")
        finally:
            db.close()
        base = ("--repo", repo.path, "--database-url", source, "migrate", "--to", pg_url)
        code, out, err = sot(*base)
        assert (code, out) == (3, "")
        assert "nothing migrated" in err
        db = connect(pg_url, tmp_path)
        try:
            assert db.query("SELECT id FROM runs") == [("kept",)]
            assert db.tables() == {"runs"}
        finally:
            db.close()
        assert sot(*base, "--force")[0] == 0
        db = connect(pg_url, tmp_path)
        try:
            assert db.query("SELECT count(*) FROM runs") == [(300,)]
        finally:
            db.close()
