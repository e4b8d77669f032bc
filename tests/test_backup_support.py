"""Shared pieces of the backup tests: an Autopack-shaped workspace with a database and secrets.

No tests here; the ``test_backup*`` modules import these helpers.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

from conftest import ONE_ENTRY_LEDGER, GitRepo

SECRET = "s3cr3t-api-key-7f1d"
ENV = f"DATABASE_URL=sqlite:///./autopack.db\nAUTOPACK_API_KEY={SECRET}\n# comment\nDEBUG_MODE=0\n"
DEBUG_LEDGER = "# Debug Log\n\n## INDEX\n\n| Date | DBG-ID | Summary |\n|---|---|---|\n"
LEDGERS = ("docs/BUILD_HISTORY.md", "docs/DEBUG_LOG.md")
Sot = Callable[..., tuple[int, str, str]]


def make_db(path: Path, rows: int = 20, tag: str = "v") -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, state TEXT, n INTEGER)")
    conn.executemany(
        "INSERT INTO runs VALUES (?, ?, ?)",
        ((f"run-{i}", f"DONE_SUCCESS {tag}", i) for i in range(rows)),
    )
    conn.commit()
    conn.close()


def db_rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute("SELECT * FROM runs ORDER BY id"))
    finally:
        conn.close()


def workspace(make_repo: Callable[..., GitRepo], name: str = "repo") -> GitRepo:
    """A committed repository with two ledgers, ``config/``, ``.env`` and ``autopack.db``."""
    repo = make_repo(
        name,
        files={
            "docs/BUILD_HISTORY.md": ONE_ENTRY_LEDGER,
            "docs/DEBUG_LOG.md": DEBUG_LEDGER,
            "config/models.yaml": "model: small\n",
            "config/nested/limits.yaml": "limit: 3\n",
            ".gitignore": ".env\nautopack.db\n",
        },
    )
    repo.write({".env": ENV})
    make_db(repo.path / "autopack.db")
    return repo


def ledgers(repo: GitRepo) -> dict[str, bytes]:
    return {rel: (repo.path / rel).read_bytes() for rel in LEDGERS if (repo.path / rel).exists()}


def backups_dir(repo: GitRepo) -> Path:
    return repo.path / ".git" / "sotsync" / "backups"


def only_backup(dest: Path, suffix: str = "-full") -> Path:
    found = sorted(p for p in dest.iterdir() if p.is_dir() and p.name.endswith(suffix))
    assert found, f"no *{suffix} backup in {dest}"
    return found[-1]


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file below *root* (``.git`` left out): tells 'nothing written'."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
