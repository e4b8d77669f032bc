"""Snapshots between devices (SPEC §4): `push`/`pull` through a bare remote, `init`'s refspecs,
`snapshot prune --keep-last` and `snapshot verify --deep`, all with the real git binary.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import GitRepo, Result
from test_snapshot import loose_object

LEDGER = "# Build History\n\n| Date | ID | Title |\n|---|---|---|\n"


def _clones(tmp_path: Path, make_repo: Callable[..., GitRepo]) -> tuple[GitRepo, GitRepo, Path]:
    origin = make_repo("origin", files={"docs/BUILD_HISTORY.md": LEDGER})
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin.path), str(bare)], check=True)
    out = []
    for name in ("a", "b"):
        path = tmp_path / name
        subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True)
        out.append(GitRepo(path))
    return out[0], out[1], bare


def _db(path: Path, rows: int) -> str:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT, f REAL)")
    conn.executemany(
        "INSERT OR REPLACE INTO t VALUES (?, ?, ?)", ((i, f"v{i}", i / 7) for i in range(rows))
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def _rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM t ORDER BY id").fetchall()
    finally:
        conn.close()


def _fsck(*paths: Path) -> None:
    for path in paths:
        subprocess.run(
            ["git", "-C", str(path), "fsck", "--strict"], check=True, capture_output=True
        )


def _snap(sot: Callable[..., Result], repo: GitRepo, device: str, url: str, msg: str) -> None:
    code, _out, err = sot(
        "--repo", repo.path, "--device", device, "--database-url", url, "snapshot", "create",
        "-m", msg,
    )  # fmt: skip
    assert code == 0, err


def test_push_and_pull_carry_snapshots_to_another_device(
    tmp_path: Path, make_repo: Callable[..., GitRepo], sot: Callable[..., Result]
) -> None:
    a, b, bare = _clones(tmp_path, make_repo)
    source = tmp_path / "a.db"
    url = _db(source, 300)
    _snap(sot, a, "A", url, "first")
    url = _db(source, 500)
    code, _out, err = sot(
        "--repo", a.path, "--device", "A", "--database-url", url,
        "snapshot", "create", "-m", "second", "--tag", "keep",
    )  # fmt: skip
    assert code == 0, err
    code, out, err = sot("--repo", a.path, "--device", "A", "push")
    assert code == 0, err
    assert "refs/sotsync/snapshots/A: new" in out
    assert "refs/sotsync/tags/keep: new" in out
    assert sot("--repo", a.path, "--device", "A", "push")[1].count("up to date") == 2

    code, out, err = sot("--repo", b.path, "--device", "B", "pull")
    assert code == 0, err
    assert "refs/sotsync/snapshots/A: new" in out
    assert b.git("log", "--format=%s", "refs/sotsync/snapshots/A").splitlines() == [
        "second",
        "first",
    ]
    assert b.git("rev-parse", "refs/sotsync/tags/keep") == a.git(
        "rev-parse", "refs/sotsync/tags/keep"
    )
    target = tmp_path / "restored.db"
    code, _out, err = sot(
        "--repo", b.path, "--device", "B", "snapshot", "restore", "A", "--to",
        f"sqlite:///{target}",
    )  # fmt: skip
    assert code == 0, err
    assert _rows(target) == _rows(source)
    assert sot("--repo", b.path, "snapshot", "verify", "--all")[0] == 0
    _fsck(a.path, b.path, bare)


def test_a_diverged_own_ref_is_reported_never_overwritten(
    tmp_path: Path, make_repo: Callable[..., GitRepo], sot: Callable[..., Result]
) -> None:
    a, b, bare = _clones(tmp_path, make_repo)
    url = _db(tmp_path / "a.db", 50)
    _snap(sot, a, "A", url, "from a")
    assert sot("--repo", a.path, "--device", "A", "push")[0] == 0
    # The same device name used on the other clone: a diverged history of A.
    _snap(sot, b, "A", _db(tmp_path / "b.db", 20), "from b")
    mine = b.git("rev-parse", "refs/sotsync/snapshots/A")
    code, _out, err = sot("--repo", b.path, "--device", "A", "pull")
    assert code == 3
    assert "refs/sotsync/snapshots/A: diverged" in err
    assert b.git("rev-parse", "refs/sotsync/snapshots/A") == mine
    code, _out, err = sot("--repo", b.path, "--device", "A", "push")
    assert code == 3
    assert "refs/sotsync/snapshots/A: rejected" in err
    remote = subprocess.run(
        ["git", "-C", str(bare), "rev-parse", "refs/sotsync/snapshots/A"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert remote == a.git("rev-parse", "refs/sotsync/snapshots/A")
    _fsck(a.path, b.path, bare)


def test_branch_fallback_uses_refs_heads(
    tmp_path: Path, make_repo: Callable[..., GitRepo], sot: Callable[..., Result]
) -> None:
    a, b, bare = _clones(tmp_path, make_repo)
    _snap(sot, a, "A", _db(tmp_path / "a.db", 30), "one")
    code, _out, err = sot("--repo", a.path, "--device", "A", "push", "--branch-fallback")
    assert code == 0, err
    listed = subprocess.run(
        ["git", "-C", str(bare), "for-each-ref", "--format=%(refname)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert "refs/heads/sotsync/snapshots/A" in listed
    assert "refs/sotsync/snapshots/A" not in listed
    code, _out, err = sot("--repo", b.path, "--device", "B", "pull", "origin", "--branch-fallback")
    assert code == 0, err
    assert b.git("rev-parse", "refs/sotsync/snapshots/A") == a.git(
        "rev-parse", "refs/sotsync/snapshots/A"
    )
    _fsck(a.path, b.path, bare)


def test_init_refspecs_make_plain_git_fetch_bring_snapshots(
    tmp_path: Path, make_repo: Callable[..., GitRepo], sot: Callable[..., Result]
) -> None:
    a, b, _bare = _clones(tmp_path, make_repo)
    code, out, err = sot("--repo", b.path, "init", "--no-hooks")
    assert code == 0, err
    assert "+refs/sotsync/snapshots/*:refs/sotsync/remotes/origin/snapshots/*" in out
    _snap(sot, a, "A", _db(tmp_path / "a.db", 30), "one")
    assert sot("--repo", a.path, "--device", "A", "push")[0] == 0
    b.git("fetch", "-q", "origin")
    assert b.git("log", "--format=%s", "refs/sotsync/remotes/origin/snapshots/A") == "one"
    # A device with snapshots it has not pushed still fetches (and pulls) without an error.
    assert sot("--repo", a.path, "init", "--no-hooks")[0] == 0
    _snap(sot, a, "A", _db(tmp_path / "a.db", 31), "two, not pushed")
    a.git("fetch", "-q", "origin")
    assert a.git("log", "--format=%s", "refs/sotsync/snapshots/A").splitlines() == [
        "two, not pushed",
        "one",
    ]
    assert a.git("log", "--format=%s", "refs/sotsync/remotes/origin/snapshots/A") == "one"


def test_prune_keeps_the_newest_and_verify_passes(
    tmp_path: Path, make_repo: Callable[..., GitRepo], sot: Callable[..., Result]
) -> None:
    a, _b, _bare = _clones(tmp_path, make_repo)
    path = tmp_path / "a.db"
    for n in range(4):
        _snap(sot, a, "A", _db(path, 10 + n), f"s{n}")
    old = a.git("log", "--format=%H %T %s", "refs/sotsync/snapshots/A").splitlines()
    code, out, err = sot("--repo", a.path, "--device", "A", "snapshot", "prune", "--keep-last", "2")
    assert code == 0, err
    assert out.count("\ndropped ") + out.startswith("dropped ") == 2
    assert old[2].split()[0][:12] in out and old[3].split()[0][:12] in out
    new = a.git("log", "--format=%T %s", "refs/sotsync/snapshots/A").splitlines()
    assert new == [" ".join(line.split()[1:]) for line in old[:2]]
    assert sot("--repo", a.path, "snapshot", "verify", "--all")[:2] == (
        0,
        "verified 2 snapshot(s): ok\n",
    )
    code, out, _err = sot(
        "--repo", a.path, "--device", "A", "snapshot", "prune", "--keep-last", "2"
    )
    assert (code, out) == (0, "refs/sotsync/snapshots/A: 2 snapshot(s), nothing to prune\n")
    a.git("gc", "-q", "--prune=now")
    _fsck(a.path)


def test_deep_verify_restores_and_catches_a_corrupted_chunk(
    tmp_path: Path, make_repo: Callable[..., GitRepo], sot: Callable[..., Result]
) -> None:
    a, _b, _bare = _clones(tmp_path, make_repo)
    _snap(sot, a, "A", _db(tmp_path / "a.db", 200), "one")
    code, out, err = sot("--repo", a.path, "snapshot", "verify", "--deep", "A")
    assert code == 0, err
    assert out == "verified 1 snapshot(s) (deep: restored and integrity-checked): ok\n"
    chunk = a.git("rev-parse", "refs/sotsync/snapshots/A:tables/t/chunks/000000/000000.jsonl")
    target = loose_object(a.path, chunk)
    target.chmod(0o644)
    target.write_bytes(b"garbage")
    code, _out, err = sot("--repo", a.path, "snapshot", "verify", "--deep", "A")
    assert code == 3
    assert f"corrupted blob {chunk}" in err
