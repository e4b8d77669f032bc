"""``sotsync new --reserve``: ids claimed on a shared remote by compare-and-swap.

Real clones of a bare remote in tmp_path; concurrent processes race for the same next id and
every one must get a different id, with its entry intact in its clone.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import ONE_ENTRY_LEDGER as SKELETON
from conftest import GitRepo
from sotsync.ledger.parse import parse_ledger


def sotsync(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sotsync", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def clones(tmp_path: Path, make_repo: Callable[..., GitRepo], count: int) -> list[GitRepo]:
    origin = make_repo("origin")
    origin.commit({"docs/BUILD_HISTORY.md": SKELETON}, "ledger")
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin.path), str(bare)], check=True)
    out = []
    for i in range(count):
        path = tmp_path / f"device{i}"
        subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True)
        out.append(GitRepo(path))
    return out


def test_reserve_claims_on_the_remote_and_records_it(
    tmp_path: Path, make_repo: Callable[..., GitRepo]
) -> None:
    first, second = clones(tmp_path, make_repo, 2)
    done = sotsync(first.path, "new", "build", "--title", "On device 0", "--reserve")
    assert (done.returncode, done.stdout) == (0, "BUILD-002\n"), done.stderr
    remote = first.git("ls-remote", "origin", "refs/sotsync/ids/BUILD").split()[0]
    assert first.git("show", f"{remote}:reserved") == "BUILD-002"
    assert first.git("rev-parse", "refs/sotsync/ids/BUILD") == remote
    # The second device has not pulled the ledger change, yet cannot take BUILD-002.
    done = sotsync(second.path, "new", "build", "--title", "On device 1", "--reserve")
    assert (done.returncode, done.stdout) == (0, "BUILD-003\n"), done.stderr
    log = second.git("log", "--format=%s", "refs/sotsync/ids/BUILD")
    assert log.splitlines() == ["reserve BUILD-003", "reserve BUILD-002"]
    second.git("fsck", "--strict")


def test_twenty_concurrent_reservations_never_collide(
    tmp_path: Path, make_repo: Callable[..., GitRepo]
) -> None:
    devices = clones(tmp_path, make_repo, 4)
    jobs = [devices[i % len(devices)] for i in range(20)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda repo: sotsync(repo.path, "new", "build", "--title", "Race", "--reserve"),
                jobs,
            )
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    ids = [r.stdout.strip() for r in results]
    assert len(set(ids)) == 20, sorted(ids)
    assert sorted(ids) == [f"BUILD-{n:03d}" for n in range(2, 22)]
    for repo in devices:
        data = (repo.path / "docs/BUILD_HISTORY.md").read_bytes()
        ledger = parse_ledger(data, "docs/BUILD_HISTORY.md", "BUILD")
        mine = [r.stdout.strip() for r, j in zip(results, jobs, strict=True) if j is repo]
        assert {e.id for e in ledger.entries} == {"BUILD-001", *mine}
        assert {r.id for r in ledger.table_rows} == {"BUILD-001", *mine}


def test_without_reserve_the_local_reservation_still_counts(
    tmp_path: Path, make_repo: Callable[..., GitRepo]
) -> None:
    (first,) = clones(tmp_path, make_repo, 1)
    assert sotsync(first.path, "new", "build", "--title", "A", "--reserve").stdout == "BUILD-002\n"
    first.git("checkout", "-q", "--", "docs/BUILD_HISTORY.md")  # drop the entry, keep the claim
    assert sotsync(first.path, "new", "build", "--title", "B").stdout == "BUILD-003\n"


def test_reserve_with_an_unreachable_remote_is_a_clear_error(
    tmp_path: Path, make_repo: Callable[..., GitRepo]
) -> None:
    (first,) = clones(tmp_path, make_repo, 1)
    first.git("remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    before = (first.path / "docs/BUILD_HISTORY.md").read_bytes()
    done = sotsync(first.path, "new", "build", "--title", "A", "--reserve")
    assert done.returncode == 3
    assert done.stderr.startswith("sotsync: error: git fetch origin refs/sotsync/ids/BUILD failed")
    assert "hint: check that remote 'origin' is reachable" in done.stderr
    assert "Traceback" not in done.stderr
    assert (first.path / "docs/BUILD_HISTORY.md").read_bytes() == before


def test_init_makes_plain_git_fetch_bring_the_reservations(
    tmp_path: Path, make_repo: Callable[..., GitRepo]
) -> None:
    first, second = clones(tmp_path, make_repo, 2)
    done = sotsync(second.path, "init", "--no-hooks")
    assert done.returncode == 0, done.stderr
    refspec = "+refs/sotsync/ids/*:refs/sotsync/ids/*"
    assert f"registered git config remote.origin.fetch {refspec}" in done.stdout
    assert sotsync(second.path, "init", "--no-hooks").stdout.count("registered") == 0
    assert second.git("config", "--get-all", "remote.origin.fetch").splitlines() == [
        "+refs/heads/*:refs/remotes/origin/*",
        refspec,
        "+refs/sotsync/snapshots/*:refs/sotsync/remotes/origin/snapshots/*",
        "+refs/sotsync/tags/*:refs/sotsync/remotes/origin/tags/*",
    ]
    assert sotsync(first.path, "new", "build", "--title", "A", "--reserve").stdout == "BUILD-002\n"
    second.git("fetch", "-q", "origin")
    assert second.git("show", "refs/sotsync/ids/BUILD:reserved") == "BUILD-002"
    # The next id on the second device counts the claim without asking the remote.
    assert sotsync(second.path, "new", "build", "--title", "B").stdout == "BUILD-003\n"
