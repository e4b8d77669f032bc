"""The real git binary reads what `sotsync snapshot` wrote through dulwich (SPEC §4)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import GitRepo, Result
from sotsync.db import connect

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from genruns import create_autopack_schema, generate_runs  # noqa: E402

LEDGER = "# Build History\n\n| Date | ID | Title |\n|---|---|---|\n"


def test_git_reads_snapshots_of_a_generated_autopack_database(
    make_repo: Callable[..., GitRepo],
    sot: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOTSYNC_DEVICE", "eu-west.prod")
    repo = make_repo(files={"docs/BUILD_HISTORY.md": LEDGER, "notes.txt": "x\n"})
    url = f"sqlite:///{tmp_path / 'autopack.db'}"
    db = connect(url, tmp_path, create=True)
    create_autopack_schema(db)
    stats = generate_runs(db, 300, seed=5)
    db.close()
    head = repo.git("rev-parse", "HEAD")
    index = (repo.path / ".git" / "index").read_bytes()
    base = ("--repo", repo.path, "--database-url", url, "snapshot")

    code, out, err = sot(*base, "create", "-m", "nightly", "--tag", "v1")
    assert code == 0, err
    assert sot(*base, "create", "-m", "again")[0] == 0

    ref = "refs/sotsync/snapshots/eu-west.prod"
    repo.git("fsck", "--strict", "--no-dangling")
    assert repo.git("log", "--format=%s", ref).splitlines() == ["again", "nightly"]
    assert repo.git("rev-parse", f"{ref}^{{tree}}") == repo.git("rev-parse", f"{ref}~1^{{tree}}")
    assert repo.git("rev-parse", "refs/sotsync/tags/v1") == repo.git("rev-parse", f"{ref}~1")
    body = repo.git("log", "-1", "--format=%B", ref)
    assert "Device: eu-west.prod" in body
    assert f"Workspace-Head: {head}" in body
    assert f"Database: {url}" in body

    manifest = json.loads(repo.git("cat-file", "-p", f"{ref}:MANIFEST.json"))
    assert manifest["format"] == 2
    assert manifest["engine"] == "sqlite"
    assert manifest["integrity_check"] == "ok"
    assert manifest["tables"]["runs"]["rows"] == stats.runs
    assert manifest["tables"]["phases"]["rows"] == stats.phases
    assert manifest["ledgers"] == [
        {
            "path": "docs/BUILD_HISTORY.md",
            "sha256": manifest["ledgers"][0]["sha256"],
            "size": len(LEDGER),
        }
    ]
    assert repo.git("cat-file", "-p", f"{ref}:ledgers/docs/BUILD_HISTORY.md") + "\n" == LEDGER
    groups = repo.git("ls-tree", "--name-only", f"{ref}:tables/runs/chunks").splitlines()
    assert len(groups) == manifest["tables"]["runs"]["groups"]
    chunks = repo.git("ls-tree", "-r", "--name-only", f"{ref}:tables/runs/chunks").splitlines()
    assert len(chunks) == manifest["tables"]["runs"]["chunks"]
    rows = sum(
        len(repo.git("cat-file", "-p", f"{ref}:tables/runs/chunks/{c}").splitlines())
        for c in chunks
    )
    assert rows == manifest["tables"]["runs"]["rows"]
    schema = json.loads(repo.git("cat-file", "-p", f"{ref}:tables/runs/schema.json"))
    assert schema["primary_key"] == ["id"]

    # The work tree, the index and HEAD are untouched.
    assert repo.git("status", "--porcelain") == ""
    assert (repo.path / ".git" / "index").read_bytes() == index
    assert repo.git("rev-parse", "HEAD") == head
    code, out, _err = sot(*base, "list")
    assert code == 0
    assert [line.split()[-1] for line in out.splitlines()] == ["again", "nightly"]
    assert sot(*base, "verify", "--all")[:2] == (0, "verified 2 snapshot(s): ok\n")
