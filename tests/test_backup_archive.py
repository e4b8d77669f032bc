"""Backup archives: they restore on another clone; crafted ones are refused before any write."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import GitRepo
from test_backup_support import (
    SECRET,
    Sot,
    backups_dir,
    db_rows,
    ledgers,
    only_backup,
    tree_digest,
    workspace,
)


@pytest.fixture
def repo(make_repo: Callable[..., GitRepo]) -> GitRepo:
    return workspace(make_repo)


def test_an_archive_restores_on_another_clone(
    repo: GitRepo, make_repo: Callable[..., GitRepo], sot: Sot, tmp_path: Path
) -> None:
    dest = tmp_path / "outbox"
    assert sot("--repo", repo.path, "backup", "--dest", dest, "--include-env")[0] == 0
    (repo.path / "docs" / "DEBUG_LOG.md").write_text("# Debug Log\n\nuncommitted\r\n")
    code, out, err = sot(
        "--repo", repo.path, "backup", "--dest", dest, "--incremental", "--archive"
    )
    assert code == 0, err
    archive = dest / f"{only_backup(dest, '-incr').name}.tar.gz"
    assert out.endswith(f"archive {archive}\n")
    # "scp" the archive alone to another machine, into a fresh clone (no database, no .env).
    moved = tmp_path / "elsewhere" / archive.name
    moved.parent.mkdir()
    moved.write_bytes(archive.read_bytes())
    clone = tmp_path / "clone"
    repo.git("clone", "-q", str(repo.path), str(clone))
    other = GitRepo(clone)
    assert not (clone / "autopack.db").exists()
    assert sot("--repo", clone, "backup", "verify", moved)[0] == 0
    code, out, err = sot("--repo", clone, "restore", moved, "--yes")
    assert code == 0, err
    assert ledgers(other) == ledgers(repo)
    assert db_rows(clone / "autopack.db") == db_rows(repo.path / "autopack.db")
    assert (clone / "config" / "nested" / "limits.yaml").read_text() == "limit: 3\n"
    assert SECRET in (clone / ".env").read_text()
    assert (clone / ".env").stat().st_mode & 0o077 == 0
    # The extraction scratch is gone; the safety backup of the clone's old state is there.
    assert [p.name for p in (clone / ".git" / "sotsync").iterdir() if "extract" in p.name] == []
    assert only_backup(backups_dir(other)).is_dir()


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


CRAFTED = {
    "traversal": (
        _member("20260101-000000-full/MANIFEST.json"),
        _member("20260101-000000-full/../../../escaped.txt"),
    ),
    "absolute": (_member("/tmp/sotsync-absolute-member.txt"),),
    "symlink": (
        _member("20260101-000000-full/ledgers", tarfile.SYMTYPE, link="/etc"),
        _member("20260101-000000-full/ledgers/passwd"),
    ),
    "hardlink": (_member("20260101-000000-full/shadow", tarfile.LNKTYPE, link="/etc/shadow"),),
    "device": (_member("20260101-000000-full/disk", tarfile.CHRTYPE),),
    "fifo": (_member("20260101-000000-full/pipe", tarfile.FIFOTYPE),),
}
REASONS = {
    "traversal": "member '20260101-000000-full/../../../escaped.txt' has a '..' component",
    "absolute": "member '/tmp/sotsync-absolute-member.txt' has an absolute path",
    "symlink": "member '20260101-000000-full/ledgers' is a symbolic link (to '/etc')",
    "hardlink": "member '20260101-000000-full/shadow' is a hard link (to '/etc/shadow')",
    "device": "member '20260101-000000-full/disk' is a device file",
    "fifo": "member '20260101-000000-full/pipe' is a FIFO",
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_archive_is_refused_with_nothing_written(
    repo: GitRepo, sot: Sot, tmp_path: Path, case: str
) -> None:
    archive = tmp_path / "evil" / "20260101-000000-full.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for info, data in CRAFTED[case]:
            tar.addfile(info, data)
    before = tree_digest(repo.path)
    sotsync_dir = repo.path / ".git" / "sotsync"
    outside = sorted(p.name for p in tmp_path.iterdir())
    for args in (("restore", archive, "--yes"), ("restore", archive, "--dry-run")):
        code, out, err = sot("--repo", repo.path, *args)
        assert (code, out) == (3, ""), err
        assert err == (
            f"sotsync: error: {archive}: refused, {REASONS[case]}; nothing was extracted\n"
            "hint: only restore archives written by `sotsync backup --archive`\n"
        )
    code, _out, err = sot("--repo", repo.path, "backup", "verify", archive)
    assert code == 3 and REASONS[case] in err
    assert tree_digest(repo.path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == outside
    assert not Path("/tmp/sotsync-absolute-member.txt").exists()
    leftovers = [p.name for p in sotsync_dir.iterdir()] if sotsync_dir.exists() else []
    assert [n for n in leftovers if n not in ("lock", "lock.holder.json")] == []


def test_a_truncated_archive_is_a_clear_error(repo: GitRepo, sot: Sot, tmp_path: Path) -> None:
    assert sot("--repo", repo.path, "backup", "--archive")[0] == 0
    archive = next(backups_dir(repo).glob("*.tar.gz"))
    cut = tmp_path / archive.name
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    code, out, err = sot("--repo", repo.path, "restore", cut, "--yes")
    assert (code, out) == (3, "")
    assert err.startswith(f"sotsync: error: {cut}: not a readable .tar.gz archive")
    assert "hint: the archive is truncated or damaged; copy it again\n" in err
