"""``sotsync sync``: the database mirror follows the Autopack corpus, on SQLite and PostgreSQL.

The corpus (``../shared/corpus/autopack``) is copied into a git repository as ``docs/*.md``.
The mirror keys rows by (file type, id, occurrence): sub-ids and repeated ids never overwrite
each other.  "Writes nothing" is proved three ways: the write-statement counter of the backend,
unchanged ``updated_at`` values, and the engine's own change marker (SQLite's
``PRAGMA data_version`` seen from another connection; PostgreSQL's ``xmin`` of every row).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import GitRepo
from sotsync import api
from sotsync.config import find_workspace, load_config, redact_url
from sotsync.db import Backend, connect
from sotsync.ledger.parse import parse_ledger

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "autopack"
LEDGERS = {
    "build_history": ("BUILD_HISTORY.md", "BUILD"),
    "debug_log": ("DEBUG_LOG.md", "DBG"),
    "architecture": ("ARCHITECTURE_DECISIONS.md", "DEC"),
}
PER_TYPE = {"build_history": 108, "debug_log": 81, "architecture": 51}
TOTAL = sum(PER_TYPE.values())

MakeRepo = Callable[..., GitRepo]
Result = tuple[int, str, str]


@pytest.fixture
def corpus(make_repo: MakeRepo, db_url: str, sot: Callable[..., Result]) -> GitRepo:
    """The corpus in a git repository, with sotsync's tables created in ``db_url``."""
    repo = make_repo(
        files={f"docs/{name}": (CORPUS / name).read_bytes() for name, _ in LEDGERS.values()}
    )
    assert sot("--repo", repo.path, "--database-url", db_url, "db", "init")[0] == 0
    return repo


def query(url: str, root: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    db = connect(url, root)
    try:
        return db.query(sql, params)
    finally:
        db.close()


def mirror(url: str, root: Path) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    """key → (id, content, content_hash, updated_at, deleted_at, entry_date, title)."""
    rows = query(
        url,
        root,
        "SELECT file_type, entry_id, occurrence, id, content, content_hash, updated_at, "
        "deleted_at, entry_date, title FROM sot_entries",
    )
    return {(r[0], r[1], int(r[2])): tuple(r[3:]) for r in rows}


class ChangeMarker:
    """Something the engine changes on any committed write, read from a separate connection."""

    def __init__(self, url: str, root: Path) -> None:
        self.db: Backend = connect(url, root)

    def read(self) -> Any:
        if self.db.engine == "sqlite":
            # data_version changes when another connection commits a change to the file.
            return self.db.query("PRAGMA data_version")[0][0]
        return self.db.query(
            "SELECT string_agg(id::text || ':' || xmin::text, ',' ORDER BY id) FROM sot_entries"
        )[0][0]

    def close(self) -> None:
        self.db.close()


def sync(repo: GitRepo, url: str, dry_run: bool = False) -> api.SyncResult:
    config = load_config(find_workspace(repo.path))
    return api.sync(config, url, dry_run)


def ledger_path(repo: GitRepo, file_type: str) -> Path:
    return repo.path / "docs" / LEDGERS[file_type][0]


def entry_span(repo: GitRepo, file_type: str, entry_id: str) -> tuple[int, int, list[str]]:
    """(first line, end line, all lines with endings) of the unique section ``entry_id``."""
    name, prefix = LEDGERS[file_type]
    data = ledger_path(repo, file_type).read_bytes()
    ledger = parse_ledger(data, f"docs/{name}", prefix)
    found = [e for e in ledger.entries if e.id == entry_id]
    assert len(found) == 1
    return found[0].line, found[0].end, list(ledger.lines)


# ------------------------------------------------------------------------------ first sync


def test_first_sync_stores_every_entry_occurrence(
    corpus: GitRepo, db_url: str, sot: Callable[..., Result]
) -> None:
    code, out, err = sot("--repo", corpus.path, "--database-url", db_url, "sync")
    assert code == 0, err
    assert err == (
        f"{TOTAL} insert(s), 0 update(s), 0 tombstone(s); "
        f"wrote {TOTAL} row(s) to {redact_url(db_url)}\n"
    )
    lines = out.splitlines()
    assert len(lines) == TOTAL and all(line.startswith("+ ") for line in lines)
    assert "+ build/BUILD-159" in lines
    assert "+ build/BUILD-159#2" in lines
    assert "+ build/BUILD-170.5" in lines

    rows = mirror(db_url, corpus.path)
    assert len(rows) == TOTAL
    assert Counter(k[0] for k in rows) == PER_TYPE
    # Sub-ids are their own rows; repeated ids are kept as occurrence 1 and 2.
    b170, b1705 = rows["build_history", "BUILD-170", 1], rows["build_history", "BUILD-170.5", 1]
    assert b170[0] != b1705[0] and b170[1] != b1705[1]
    assert b1705[1].startswith("## BUILD-170.5") or b1705[1].startswith("### BUILD-170.5")
    for repeated in ("BUILD-145", "BUILD-146", "BUILD-159", "BUILD-160"):
        assert ("build_history", repeated, 1) in rows
        assert ("build_history", repeated, 2) in rows
        assert ("build_history", repeated, 3) not in rows
    first, second = rows["build_history", "BUILD-159", 1], rows["build_history", "BUILD-159", 2]
    assert first[1] != second[1]
    # Content: the section text with CRLF normalised; its hash is SHA-256 of that text.
    for key, row in rows.items():
        content, content_hash, deleted = row[1], row[2], row[4]
        assert deleted is None, key
        assert "\r" not in content, key
        assert content_hash == hashlib.sha256(content.encode("utf-8")).hexdigest(), key
    head = corpus.git("rev-parse", "HEAD")
    assert {r[0] for r in query(db_url, corpus.path, "SELECT source_commit FROM sot_entries")} == {
        head
    }
    assert {r[0] for r in query(db_url, corpus.path, "SELECT project_id FROM sot_entries")} == {
        "autopack"
    }


def test_entry_dates_come_from_the_ledger_not_the_sync_time(corpus: GitRepo, db_url: str) -> None:
    sync(corpus, db_url)
    rows = mirror(db_url, corpus.path)
    dated = [r[5] for r in rows.values() if r[5] is not None]
    assert len(dated) > TOTAL // 2
    assert all(str(d)[:4] in ("2025", "2026") and len(str(d)) >= 10 for d in dated)
    # Dates are the entries' own: many different days, not one sync timestamp.
    assert len({str(d)[:10] for d in dated}) > 20


# ------------------------------------------------------------------------------ second sync


def test_second_sync_plans_nothing_and_writes_nothing(
    corpus: GitRepo, db_url: str, sot: Callable[..., Result]
) -> None:
    first = sync(corpus, db_url)
    assert first.writes == TOTAL
    before = mirror(db_url, corpus.path)
    marker = ChangeMarker(db_url, corpus.path)
    try:
        mark = marker.read()
        second = sync(corpus, db_url)
        assert second.plan.empty
        assert second.writes == 0
        assert second.plan.inserts == second.plan.updates == second.plan.tombstones == ()
        code, out, err = sot("--repo", corpus.path, "--database-url", db_url, "sync")
        assert (code, out) == (0, "")
        assert err == (
            f"0 insert(s), 0 update(s), 0 tombstone(s); wrote 0 row(s) to {redact_url(db_url)}\n"
        )
        assert marker.read() == mark
    finally:
        marker.close()
    after = mirror(db_url, corpus.path)
    assert after == before
    assert {k: v[3] for k, v in after.items()} == {k: v[3] for k, v in before.items()}


# ------------------------------------------------------------------------------ edits


def test_editing_one_entry_updates_exactly_one_row(
    corpus: GitRepo, db_url: str, sot: Callable[..., Result]
) -> None:
    sync(corpus, db_url)
    before = mirror(db_url, corpus.path)
    _start, end, lines = entry_span(corpus, "build_history", "BUILD-170.5")
    # Add a line at the end of the section, in the file's own (CRLF) line endings.
    lines.insert(end, "Edited by the sync test.\r\n")
    ledger_path(corpus, "build_history").write_bytes("".join(lines).encode("utf-8"))

    code, out, err = sot("--repo", corpus.path, "--database-url", db_url, "sync", "--dry-run")
    assert (code, out) == (0, "~ build/BUILD-170.5\n")
    assert err == (
        f"0 insert(s), 1 update(s), 0 tombstone(s); would write 1 row(s) to {redact_url(db_url)}\n"
    )
    assert mirror(db_url, corpus.path) == before

    result = sync(corpus, db_url)
    assert [r.key for r in result.plan.updates] == [("build_history", "BUILD-170.5", 1)]
    assert result.plan.inserts == () and result.plan.tombstones == ()
    assert result.writes == 1
    after = mirror(db_url, corpus.path)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {("build_history", "BUILD-170.5", 1)}
    row, old = after["build_history", "BUILD-170.5", 1], before["build_history", "BUILD-170.5", 1]
    assert row[0] == old[0]  # the same row, updated in place
    assert row[1] == old[1] + "Edited by the sync test.\n"
    assert row[3] != old[3] and row[4] is None
    assert sync(corpus, db_url).writes == 0


def test_removing_an_entry_tombstones_one_row_and_restoring_revives_it(
    corpus: GitRepo, db_url: str, sot: Callable[..., Result]
) -> None:
    sync(corpus, db_url)
    before = mirror(db_url, corpus.path)
    original = ledger_path(corpus, "debug_log").read_bytes()
    start, end, lines = entry_span(corpus, "debug_log", "DBG-078")
    ledger_path(corpus, "debug_log").write_bytes("".join(lines[:start] + lines[end:]).encode())

    code, out, err = sot("--repo", corpus.path, "--database-url", db_url, "sync")
    assert (code, out) == (0, "- debug/DBG-078\n")
    assert err == (
        f"0 insert(s), 0 update(s), 1 tombstone(s); wrote 1 row(s) to {redact_url(db_url)}\n"
    )
    gone = mirror(db_url, corpus.path)
    assert len(gone) == TOTAL  # tombstoned, never deleted
    assert {k for k in gone if gone[k] != before[k]} == {("debug_log", "DBG-078", 1)}
    row = gone["debug_log", "DBG-078", 1]
    assert row[4] is not None  # deleted_at
    assert row[:3] == before["debug_log", "DBG-078", 1][:3]  # id, content, hash kept
    assert [k for k, r in gone.items() if r[4] is not None] == [("debug_log", "DBG-078", 1)]
    assert sync(corpus, db_url).writes == 0  # a tombstone is not tombstoned again

    ledger_path(corpus, "debug_log").write_bytes(original)
    code, out, err = sot("--repo", corpus.path, "--database-url", db_url, "sync")
    assert (code, out) == (0, "~ debug/DBG-078\n")
    assert err.startswith("0 insert(s), 1 update(s), 0 tombstone(s); wrote 1 row(s)")
    back = mirror(db_url, corpus.path)
    assert back["debug_log", "DBG-078", 1][4] is None
    assert back["debug_log", "DBG-078", 1][:3] == before["debug_log", "DBG-078", 1][:3]
    assert {k for k in back if back[k][:3] != before[k][:3] or back[k][4]} == set()
    assert sync(corpus, db_url).writes == 0


def test_adding_an_entry_inserts_one_row(
    corpus: GitRepo, db_url: str, sot: Callable[..., Result]
) -> None:
    sync(corpus, db_url)
    before = mirror(db_url, corpus.path)
    code, out, err = sot("--repo", corpus.path, "new", "decisions", "--title", "Mirror rows")
    assert code == 0, err
    new_id = out.strip()
    code, out, err = sot("--repo", corpus.path, "--database-url", db_url, "sync")
    assert (code, out) == (0, f"+ decisions/{new_id}\n")
    after = mirror(db_url, corpus.path)
    assert set(after) - set(before) == {("architecture", new_id, 1)}
    assert {k for k in before if after[k] != before[k]} == set()


# ------------------------------------------------------------------------------ dry run


def test_dry_run_writes_nothing(corpus: GitRepo, db_url: str, sot: Callable[..., Result]) -> None:
    marker = ChangeMarker(db_url, corpus.path)
    try:
        mark = marker.read()
        code, out, err = sot("--repo", corpus.path, "--database-url", db_url, "sync", "--dry-run")
        assert marker.read() == mark
    finally:
        marker.close()
    assert code == 0, err
    assert len(out.splitlines()) == TOTAL
    assert err == (
        f"{TOTAL} insert(s), 0 update(s), 0 tombstone(s); "
        f"would write {TOTAL} row(s) to {redact_url(db_url)}\n"
    )
    assert mirror(db_url, corpus.path) == {}
    result = sync(corpus, db_url, dry_run=True)
    assert (len(result.plan.inserts), result.writes) == (TOTAL, 0)
    assert mirror(db_url, corpus.path) == {}


# ------------------------------------------------------------------------------ output


def test_sync_json_output(corpus: GitRepo, db_url: str, sot: Callable[..., Result]) -> None:
    code, out, err = sot(
        "--repo", corpus.path, "--database-url", db_url, "sync", "--dry-run", "--format", "json"
    )
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert set(doc) == {"version", "url", "dry_run", "writes", "inserts", "updates", "tombstones"}
    assert (doc["version"], doc["url"], doc["dry_run"], doc["writes"]) == (
        1,
        redact_url(db_url),
        True,
        0,
    )
    assert len(doc["inserts"]) == TOTAL and doc["updates"] == doc["tombstones"] == []
    assert "build/BUILD-145#2" in doc["inserts"]
    code, out, _ = sot("--repo", corpus.path, "--database-url", db_url, "sync", "--format", "json")
    doc = json.loads(out)
    assert (code, doc["dry_run"], doc["writes"], len(doc["inserts"])) == (0, False, TOTAL, TOTAL)
    code, out, _ = sot("--repo", corpus.path, "--database-url", db_url, "sync", "--format", "json")
    doc = json.loads(out)
    assert (doc["writes"], doc["inserts"], doc["updates"], doc["tombstones"]) == (0, [], [], [])
