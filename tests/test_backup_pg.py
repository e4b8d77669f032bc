"""PostgreSQL backups on the real server: ``pg_dump -Fc``, and the snapshot format without it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import GitRepo
from pg import fresh_database
from test_backup_support import Sot, ledgers, only_backup, workspace

pytestmark = pytest.mark.postgres


def _fill(url: str, rows: int = 50) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE runs (id SERIAL PRIMARY KEY, name TEXT NOT NULL, state TEXT, meta JSONB)"
        )
        for i in range(rows):
            conn.execute(
                "INSERT INTO runs (name, state, meta) VALUES (%s, %s, %s)",
                (f"run-{i}", "DONE_SUCCESS" if i % 2 else "QUEUED", json.dumps({"i": i})),
            )


def _rows(url: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return list(conn.execute("SELECT id, name, state, meta FROM runs ORDER BY id"))


@pytest.fixture
def repo(make_repo: Callable[..., GitRepo]) -> GitRepo:
    return workspace(make_repo)


def test_pg_dump_backup_restores_into_a_fresh_database(
    repo: GitRepo, sot: Sot, tmp_path: Path
) -> None:
    assert shutil.which("pg_dump"), "the PostgreSQL client tools are needed for this test"
    with fresh_database() as source, fresh_database() as target:
        _fill(source)
        code, _out, err = sot("--repo", repo.path, "--database-url", source, "backup")
        assert code == 0, err
        backup = only_backup(repo.path / ".git" / "sotsync" / "backups")
        manifest = json.loads((backup / "MANIFEST.json").read_bytes())
        assert manifest["engine"] == "postgresql"
        assert manifest["database"]["method"] == "pg_dump"
        assert (backup / "database" / "database.pgdump").read_bytes().startswith(b"PGDMP")
        code, _out, err = sot(
            "--repo", repo.path, "--database-url", target, "restore", backup, "--yes"
        )
        assert code == 0, err
        assert _rows(target) == _rows(source)
        # Restoring over the changed source brings it back, in one transaction.
        import psycopg

        with psycopg.connect(source) as conn:
            conn.execute("DELETE FROM runs WHERE id > 10")
        assert (
            sot("--repo", repo.path, "--database-url", source, "restore", backup, "--yes")[0] == 0
        )
        assert _rows(source) == _rows(target)


def test_without_pg_dump_the_snapshot_format_is_used_and_restores_the_same_rows(
    repo: GitRepo, sot: Sot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PATH with git and nothing of PostgreSQL's client tools.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = shutil.which("git")
    assert git is not None
    os.symlink(git, bin_dir / "git")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert shutil.which("pg_dump") is None
    with fresh_database() as source, fresh_database() as target:
        _fill(source)
        code, _out, err = sot("--repo", repo.path, "--database-url", source, "backup")
        assert code == 0, err
        backup = only_backup(repo.path / ".git" / "sotsync" / "backups")
        manifest = json.loads((backup / "MANIFEST.json").read_bytes())
        assert manifest["database"]["method"] == "snapshot"
        assert manifest["database"]["rows"] == 50
        assert (backup / "database" / "snapshot.git" / "HEAD").is_file()
        assert sot("--repo", repo.path, "backup", "verify")[0] == 0
        code, out, err = sot(
            "--repo", repo.path, "--database-url", target, "restore", backup, "--yes"
        )
        assert code == 0, err
        assert "database: postgresql (snapshot)" in out
        assert _rows(target) == _rows(source)
        assert ledgers(GitRepo(repo.path))


def test_a_pg_dump_backup_without_pg_restore_is_refused_before_any_write(
    repo: GitRepo, sot: Sot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_database() as source:
        _fill(source, rows=3)
        assert sot("--repo", repo.path, "--database-url", source, "backup")[0] == 0
        backup = only_backup(repo.path / ".git" / "sotsync" / "backups")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        git = shutil.which("git")
        assert git is not None
        os.symlink(git, bin_dir / "git")
        monkeypatch.setenv("PATH", str(bin_dir))
        code, out, err = sot(
            "--repo", repo.path, "--database-url", source, "restore", backup, "--yes"
        )
        assert (code, out) == (3, "")
        assert "holds a pg_dump archive and pg_restore is not installed; nothing restored" in err
        assert "hint: install the PostgreSQL client tools (pg_restore)" in err
        assert len(list((repo.path / ".git" / "sotsync" / "backups").iterdir())) == 1
