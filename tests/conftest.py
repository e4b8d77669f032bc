"""Shared fixtures: a pinned git environment and a helper that builds real repositories."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

# Variables that would let the developer's own setup leak into a test.
_LEAKY_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CEILING_DIRECTORIES",
    "GIT_PREFIX",
    "SOTSYNC_DEVICE",
    "SOTSYNC_DATABASE_URL",
    "SOTSYNC_STRICT",
    "DATABASE_URL",
    "AUTOPACK_REGION",
)


@pytest.fixture(autouse=True)
def git_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin HOME, git config, author and committer so that git behaves the same everywhere."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    for name in _LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)


class GitRepo:
    """A real repository in a temporary directory, with a few helpers for tests."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, input: bytes | None = None) -> str:
        """Run git in the repository; return stdout (stripped); fail the test on error."""
        proc = subprocess.run(
            ["git", *args],
            cwd=self.path,
            input=input,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode()}"
            )
        return proc.stdout.decode("utf-8", "replace").strip()

    def write(self, files: Mapping[str, bytes | str]) -> None:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)

    def commit(
        self, files: Mapping[str, bytes | str] | None = None, message: str = "commit"
    ) -> str:
        """Write *files*, stage everything, commit; return the new commit id."""
        if files:
            self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    """Factory: ``make_repo()`` or ``make_repo("sub/dir", files={...})`` → a fresh GitRepo."""

    def make(name: str = "repo", files: Mapping[str, bytes | str] | None = None) -> GitRepo:
        path = tmp_path / name
        path.mkdir(parents=True, exist_ok=True)
        repo = GitRepo(path)
        repo.git("init", "-q", "-b", "main")
        if files:
            repo.commit(files, "initial")
        return repo

    return make


Result = tuple[int, str, str]


@pytest.fixture
def sot(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``sot(*args)`` runs the CLI in-process: (exit code, stdout, stderr)."""
    from sotsync import cli

    def call(*args: str | Path) -> Result:
        capsys.readouterr()
        code = cli.run([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on each engine; the SQLite file does not exist yet (`db init` makes it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'autopack.db'}"
    else:
        from pg import fresh_database

        with fresh_database() as url:
            yield url


# A small clean build ledger with one entry (BUILD-001), for tests that need a ledger to grow.
ONE_ENTRY_LEDGER = """\
# Build History

<!-- AUTO-GENERATED SUMMARY - DO NOT EDIT MANUALLY -->
**Summary**: 1 build entries documented | Last updated: 2026-01-01
<!-- END AUTO-GENERATED SUMMARY -->

<!-- META
Total_Builds: 1
-->

## INDEX

| Timestamp | BUILD-ID | Phase | Summary | Files Changed |
|-----------|----------|-------|---------|---------------|
| 2026-01-01 | BUILD-001 | First | first |  |

## BUILDS

### BUILD-001 | 2026-01-01 | First

Done.
"""
