"""The hooks through the real ``pre-commit`` tool, from a snapshot of this work tree.

The snapshot is a temporary git repository holding the current files (committed or not), so that
``.pre-commit-config.yaml`` can name it with ``repo:`` and ``rev:`` as users name the published
repository.  pre-commit pip-installs sotsync and its dependencies once per session into a shared
PRE_COMMIT_HOME.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import GitRepo

MakeRepo = Callable[..., GitRepo]
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "autopack"
LEDGER = "docs/BUILD_HISTORY.md"


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A git repository holding the work tree's files as one commit: (path, commit)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    target = tmp_path_factory.mktemp("sotsync-snapshot")
    for raw in listed.split(b"\0"):
        name = raw.decode()
        source = ROOT / name
        if not name or not source.is_file() or name.startswith(("tests/", "benchmarks/")):
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name)
    env = {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Snapshot",
        "GIT_AUTHOR_EMAIL": "snapshot@example.com",
        "GIT_COMMITTER_NAME": "Snapshot",
        "GIT_COMMITTER_EMAIL": "snapshot@example.com",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=target, env=env, check=True, capture_output=True)
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=target, env=env, capture_output=True, text=True
    ).stdout.strip()
    return target, rev


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def framework_repo(
    make_repo: MakeRepo,
    snapshot: tuple[Path, str],
    pre_commit_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> GitRepo:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(pre_commit_home))
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    path, rev = snapshot
    repo = make_repo("framework")
    (repo.path / "docs").mkdir()
    (repo.path / LEDGER).write_bytes((CORPUS / "BUILD_HISTORY.md").read_bytes())
    repo.write(
        {
            ".pre-commit-config.yaml": (
                "repos:\n"
                f"  - repo: {path}\n"
                f"    rev: {rev}\n"
                "    hooks:\n"
                "      - id: sotsync-lint\n"
                "      - id: sotsync-post-merge\n"
                "        verbose: true\n"
            )
        }
    )
    repo.commit(message="corpus ledger and pre-commit config")
    for hook_type in ("pre-commit", "post-merge"):
        pre_commit(repo, "install", "--hook-type", hook_type)
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install-hooks"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return repo


def pre_commit(repo: GitRepo, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def git(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo.path, capture_output=True, text=True, check=False, timeout=600
    )


def new_entry(repo: GitRepo, title: str, date: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "sotsync", "new", "build", "--title", title, "--date", date],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_duplicate_id_is_blocked_and_a_clean_entry_passes(framework_repo: GitRepo) -> None:
    repo = framework_repo
    ledger = repo.path / LEDGER
    original = ledger.read_bytes()
    ident = new_entry(repo, "Framework entry", "2026-02-01")
    with ledger.open("a", encoding="utf-8") as stream:
        stream.write(f"\n### {ident} | 2026-02-02 | Another entry with the same id\n\nText.\n")
    repo.git("add", LEDGER)
    blocked = git(repo, "commit", "-m", "duplicate id")
    assert blocked.returncode == 1
    out = blocked.stdout + blocked.stderr
    assert "sotsync lint (staged ledgers, new findings only)" in out
    assert "Failed" in out
    assert f"SOT010 [error] {ident} names 2 different entries" in out

    # The corpus ledger's ~100 old findings do not block one clean entry.
    ledger.write_bytes(original)
    new_entry(repo, "Framework entry", "2026-02-01")
    repo.git("add", LEDGER)
    done = git(repo, "commit", "-m", "clean entry")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout + done.stderr


def test_post_merge_stage_runs_after_a_real_merge(framework_repo: GitRepo) -> None:
    repo = framework_repo
    repo.git("checkout", "-q", "-b", "topic")
    ident = new_entry(repo, "Topic entry", "2026-02-03")
    repo.git("add", LEDGER)
    committed = git(repo, "commit", "-m", "topic entry")
    assert committed.returncode == 0, committed.stdout + committed.stderr
    repo.git("checkout", "-q", "main")
    repo.write({"other.txt": "main moves on\n"})
    repo.git("add", "other.txt")
    assert git(repo, "commit", "-m", "main").returncode == 0
    merged = git(repo, "merge", "--no-edit", "topic")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    out = merged.stdout + merged.stderr
    assert "sotsync ledger check after merge, checkout and rewrite" in out
    assert f"sotsync post-merge: docs/BUILD_HISTORY.md: 1 added ({ident}), 0 removed" in out
