"""The snapshot format's bytes (SPEC §4): SQLite's encoder equals Python's, chunking is
content-defined, format 1 snapshots stay readable, and long work reports progress (SPEC §8)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GitRepo, Result
from sotsync import api
from sotsync.config import Config, find_workspace, load_config
from sotsync.db import connect
from sotsync.snapshot import ObjectStore
from sotsync.snapshot.encode import (
    MAX_CHUNK_ROWS,
    Chunk,
    canonical_json,
    chunk_batches,
    encode_line,
    encode_row,
    row_batches,
    sha256_hex,
)
from sotsync.snapshot.source import (
    encoded_batches,
    postgres_tables,
    read_transaction,
    sqlite_tables,
)

LEDGER = "# Build History\n\n| Date | ID | Title |\n|---|---|---|\n"

# What SQLite stores as TEXT: any Unicode scalar value (no lone surrogates), NUL included.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_INT = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_PLAIN = st.one_of(st.none(), _INT, _TEXT)


@pytest.fixture
def repo(make_repo: Callable[..., GitRepo], monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    monkeypatch.setenv("SOTSYNC_DEVICE", "laptop")
    return make_repo(files={"docs/BUILD_HISTORY.md": LEDGER})


def _config(repo: GitRepo) -> Config:
    return load_config(find_workspace(repo.path))


# --------------------------------------------------------------------------- SQLite = Python


@settings(max_examples=300, deadline=None)
@given(st.lists(_PLAIN, min_size=1, max_size=8))
def test_sqlite_json_array_writes_the_bytes_encode_line_writes(row: list[Any]) -> None:
    conn = sqlite3.connect(":memory:")
    try:
        marks = ", ".join("?" for _ in row)
        (text,) = conn.execute(f"SELECT json_array({marks})", row).fetchone()
    finally:
        conn.close()
    assert text == encode_line(row)


def _mixed_db(path: Path) -> str:
    """Declared INTEGER/TEXT columns holding what their affinity allows, REALs and BLOBs too."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, s TEXT, k VARCHAR(9))")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        [
            (1, 5, "plain", "a"),
            (2, 2.5, "a real in an INTEGER column", "b"),
            (3, None, 'tab\there, quote " and é \u2028 \x01', None),
            (4, 2**62, "big", "c"),
            (5, 1e300, "huge real", "d"),
        ],
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def _lines(url: str, root: Path, fast: bool) -> list[str]:
    db = connect(url, root)
    try:
        with read_transaction(db):
            (table,) = sqlite_tables(db)
            return [line for _keys, lines in encoded_batches(db, table, fast) for line in lines]
    finally:
        db.close()


def test_the_fast_sqlite_reader_gives_the_python_encoders_lines(tmp_path: Path) -> None:
    url = _mixed_db(tmp_path / "m.db")
    fast = _lines(url, tmp_path, fast=True)
    assert fast == _lines(url, tmp_path, fast=False)
    assert json.loads(fast[1]) == [2, 2.5, "a real in an INTEGER column", "b"]
    assert fast[4] == '[5,1e+300,"huge real","d"]'


def test_a_blob_where_the_declared_types_promise_none_falls_back(
    repo: GitRepo, tmp_path: Path
) -> None:
    url = _mixed_db(tmp_path / "m.db")
    conn = sqlite3.connect(tmp_path / "m.db")
    conn.execute("INSERT INTO t VALUES (6, 1, ?, 'e')", (b"\x00\xff",))
    conn.commit()
    conn.close()
    info = api.snapshot_create(_config(repo), url)
    assert info.manifest["tables"]["t"]["rows"] == 6
    assert api.snapshot_verify(_config(repo), deep=True).ok


# --------------------------------------------------------------------------- chunking


def _chunks(keys: list[int]) -> list[Chunk]:
    rows = [[k, f"row {k}"] for k in keys]
    return list(chunk_batches(row_batches(rows, [0], size=777)))


def test_chunks_hold_every_row_once_and_cut_by_key() -> None:
    keys = list(range(20_000))
    chunks = _chunks(keys)
    assert b"".join(c.data for c in chunks) == b"".join(encode_row([k, f"row {k}"]) for k in keys)
    assert sum(c.rows for c in chunks) == len(keys)
    assert 400 <= len(chunks) <= 900
    assert max(c.rows for c in chunks) <= MAX_CHUNK_ROWS
    assert chunks[-1].closes_group
    assert 2 <= sum(c.closes_group for c in chunks) <= 40
    # Batches are only a transport: other batch sizes give the same chunks.
    again = list(chunk_batches(row_batches([[k, f"row {k}"] for k in keys], [0], size=1)))
    assert again == chunks


def test_an_insert_changes_one_chunk_and_no_boundary_elsewhere() -> None:
    before = _chunks(list(range(0, 40_000, 2)))
    after = _chunks(sorted([*range(0, 40_000, 2), 20_001]))
    assert len({c.data for c in after} - {c.data for c in before}) == 1
    assert len({c.data for c in before} - {c.data for c in after}) == 1


# --------------------------------------------------------------------------- format 1


def _format1_snapshot(repo: GitRepo, rows: list[list[Any]]) -> str:
    """A snapshot as format 1 wrote it: chunks listed in the manifest, one flat tree."""
    schema = {
        "engine": "sqlite",
        "table": "t",
        "sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
        "columns": [
            {"name": "id", "type": "INTEGER", "notnull": False, "default": None, "pk": 1},
            {"name": "v", "type": "TEXT", "notnull": False, "default": None, "pk": 0},
        ],
        "primary_key": ["id"],
        "indexes": [],
    }
    parts = [b"".join(encode_row(r) for r in rows[:3]), b"".join(encode_row(r) for r in rows[3:])]
    store = ObjectStore(repo.path / ".git")
    try:
        schema_bytes = canonical_json(schema)
        files = {"schema.json": store.add_blob(schema_bytes).encode()}
        chunk_files = {f"{i:06d}.jsonl": store.add_blob(p).encode() for i, p in enumerate(parts)}
        manifest = {
            "format": 1,
            "engine": "sqlite",
            "integrity_check": "ok",
            "tables": {
                "t": {
                    "path": "tables/t",
                    "rows": len(rows),
                    "columns": ["id", "v"],
                    "primary_key": ["id"],
                    "schema_sha256": sha256_hex(schema_bytes),
                    "content_sha256": sha256_hex(b"".join(parts)),
                    "chunks": [
                        {"name": f"{i:06d}.jsonl", "rows": p.count(b"\n"), "sha256": sha256_hex(p)}
                        for i, p in enumerate(parts)
                    ],
                }
            },
            "ledgers": [],
        }
        root = store.add_tree(
            {
                "MANIFEST.json": store.add_blob(canonical_json(manifest)).encode(),
                "tables": {"t": {**files, "chunks": dict(chunk_files)}},
            }
        )
        commit = store.add_commit(root, None, "old\n\nDevice: old\n", "sotsync <s@localhost>")
        assert store.swap_ref("refs/sotsync/snapshots/old", None, commit, "test")
        return commit
    finally:
        store.close()


def test_a_format_1_snapshot_is_verified_restored_and_diffed(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    rows = [[i, f"value {i}"] for i in range(5)]
    _format1_snapshot(repo, rows)
    assert sot("--repo", repo.path, "snapshot", "verify", "--deep", "old")[0] == 0
    target = tmp_path / "restored.db"
    code, out, err = sot(
        "--repo", repo.path, "snapshot", "restore", "old", "--to", f"sqlite:///{target}"
    )
    assert code == 0, err
    assert "5 row(s), verified" in out
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT id, v FROM t ORDER BY id").fetchall() == [tuple(r) for r in rows]
    conn.execute("UPDATE t SET v = 'changed' WHERE id = 4")
    conn.commit()
    conn.close()
    new = api.snapshot_create(_config(repo), f"sqlite:///{target}")
    assert new.manifest["format"] == 2
    (diff,) = api.snapshot_diff(_config(repo), "old", new.commit)
    assert diff.changed == ("[4]",)
    assert (diff.added, diff.removed) == ((), ())


# --------------------------------------------------------------------------- progress


class Recording:
    """A Progress that remembers every call."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, int | None]] = []
        self.advanced: dict[str, int] = {}
        self.open = False

    def stage(self, label: str, total: int | None) -> None:
        self.stages.append((label, total))
        self.advanced[label] = 0
        self.open = True

    def advance(self, units: int) -> None:
        assert self.open
        self.advanced[self.stages[-1][0]] += units

    def done(self) -> None:
        self.open = False


def _two_tables(path: Path) -> str:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("CREATE TABLE b (k TEXT PRIMARY KEY, n REAL)")
    conn.executemany("INSERT INTO a VALUES (?, ?)", ((i, f"a{i}") for i in range(3000)))
    conn.executemany("INSERT INTO b VALUES (?, ?)", ((f"k{i}", i / 7) for i in range(700)))
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def test_create_restore_and_migrate_report_every_row(repo: GitRepo, tmp_path: Path) -> None:
    url = _two_tables(tmp_path / "src.db")
    config = _config(repo)
    seen = Recording()
    api.snapshot_create(config, url, progress=seen)
    assert seen.stages == [("snapshot a", 3000), ("snapshot b", 700)]
    assert seen.advanced == {"snapshot a": 3000, "snapshot b": 700}
    assert not seen.open

    seen = Recording()
    result = api.snapshot_restore(
        config, "laptop", f"sqlite:///{tmp_path / 'copy.db'}", progress=seen
    )
    assert result.rows == 3700
    assert seen.stages[:2] == [("restore a", 3000), ("restore b", 700)]
    assert seen.advanced["restore a"] == 3000 and seen.advanced["restore b"] == 700
    assert seen.stages[2] == ("check restored tables", 2)
    assert seen.advanced["check restored tables"] == 2
    assert not seen.open

    seen = Recording()
    api.migrate(config, f"sqlite:///{tmp_path / 'moved.db'}", url, progress=seen)
    labels = [label for label, _total in seen.stages]
    assert labels == ["snapshot a", "snapshot b", "migrate a", "migrate b"]
    assert seen.advanced == {
        "snapshot a": 3000,
        "snapshot b": 700,
        "migrate a": 3000,
        "migrate b": 700,
    }


def test_the_cli_draws_no_bar_when_stderr_is_not_a_terminal(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    url = _two_tables(tmp_path / "src.db")
    code, _out, err = sot("--repo", repo.path, "--database-url", url, "snapshot", "create")
    assert (code, err) == (0, "")
    code, _out, err = sot(
        "--repo", repo.path, "snapshot", "restore", "laptop", "--to", f"sqlite:///{tmp_path}/c.db"
    )
    assert (code, err) == (0, "")
    code, _out, err = sot(
        "--repo", repo.path, "--database-url", url, "migrate", "--to", f"sqlite:///{tmp_path}/m.db"
    )
    assert (code, err) == (0, "")


@pytest.mark.postgres
def test_the_fast_postgresql_reader_gives_the_python_encoders_lines(tmp_path: Path) -> None:
    from pg import fresh_database

    with fresh_database() as url:
        db = connect(url, tmp_path)
        try:
            db.execute(
                "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, s VARCHAR(40), b BOOLEAN, "
                "at TIMESTAMP, small SMALLINT)"
            )
            db.executemany(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        "a",
                        2**62,
                        'tab\there "q" \\ é \u2028 \x01 \x7f',
                        True,
                        "2025-12-23 14:00:59",
                        1,
                    ),
                    ("b", None, None, None, None, None),
                    ("c", -1, "", False, "2025-12-23T14:09:08.724807", -5),
                    ("d", 0, "x", True, "0999-01-02 03:04:05.000001", 0),
                    ("é", 7, "late", False, "9999-12-31 23:59:59.999999", 7),
                ],
            )
            with read_transaction(db):
                (table,) = [t for t in postgres_tables(db) if t.name == "t"]
                assert table.fast is not None
                fast = list(encoded_batches(db, table, fast=True))
                slow = list(encoded_batches(db, table, fast=False))
            assert fast == slow
            assert fast[0][1][3] == '["d",0,"x",true,{"$datetime":"0999-01-02T03:04:05.000001"},0]'
            assert fast[0][1][0].endswith('{"$datetime":"2025-12-23T14:00:59"},1]')
        finally:
            db.close()
