from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sotsync.config import Workspace, find_workspace
from sotsync.errors import GitError
from sotsync.gitrepo import branch_refs, eol_attribute, read_blob, read_blobs, read_staged

MakeRepo = Callable[..., Any]

LEDGER_V1 = b"# Ledger\r\n| 2026-01-01 | BUILD-001 |\r\n\x00binary ok"
LEDGER_V2 = LEDGER_V1 + b"\r\n| 2026-01-02 | BUILD-002 |"


def _repo_with_history(make_repo: MakeRepo) -> tuple[Any, Workspace, str, str]:
    repo = make_repo(files={"docs/X.md": LEDGER_V1, "other.txt": "x"})
    first = repo.git("rev-parse", "HEAD")
    second = repo.commit({"docs/X.md": LEDGER_V2}, "second")
    return repo, find_workspace(cwd=repo.path), first, second


def test_without_git_everything_is_empty(tmp_path: Path) -> None:
    ws = find_workspace(repo=tmp_path)
    assert ws.git_root is None
    assert branch_refs(ws) == []
    assert read_blobs(ws, ["HEAD"], "docs/X.md") == {}
    assert read_blob(ws, "HEAD", "docs/X.md") is None
    assert read_staged(ws, "docs/X.md") is None
    assert eol_attribute(ws, ["docs/X.md"]) == {"docs/X.md": None}


def test_branch_refs_lists_branches_and_remote_tracking_refs(make_repo: MakeRepo) -> None:
    repo = make_repo(files={"a": "a"})
    repo.git("branch", "feature/x")
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")
    repo.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    repo.git("update-ref", "refs/sotsync/ids/BUILD", "HEAD")  # not a branch
    repo.git("tag", "v1")
    assert branch_refs(find_workspace(cwd=repo.path)) == [
        "refs/heads/feature/x",
        "refs/heads/main",
        "refs/remotes/origin/main",
    ]


def test_branch_refs_in_an_empty_repository(make_repo: MakeRepo) -> None:
    assert branch_refs(find_workspace(cwd=make_repo().path)) == []


def test_read_blob(make_repo: MakeRepo) -> None:
    _, ws, first, _second = _repo_with_history(make_repo)
    assert read_blob(ws, first, "docs/X.md") == LEDGER_V1
    assert read_blob(ws, "HEAD", "docs/X.md") == LEDGER_V2
    assert read_blob(ws, "main~1", "./docs//X.md") == LEDGER_V1
    assert read_blob(ws, "HEAD", "docs/missing.md") is None
    assert read_blob(ws, "HEAD", "docs") is None  # a tree, not a file


@pytest.mark.parametrize("rev", ["nope", "HEAD~5", "", "HEAD:docs"])
def test_read_blob_bad_revision(make_repo: MakeRepo, rev: str) -> None:
    _, ws, _, _ = _repo_with_history(make_repo)
    with pytest.raises(GitError) as info:
        read_blob(ws, rev, "docs/X.md")
    assert info.value.message == f"not a valid revision: {rev}"
    assert info.value.hint == "give a branch, tag or commit that exists in this repository"


def test_read_blob_in_an_empty_repository(make_repo: MakeRepo) -> None:
    ws = find_workspace(cwd=make_repo().path)
    with pytest.raises(GitError) as info:
        read_blob(ws, "HEAD", "docs/X.md")
    assert info.value.message == "not a valid revision: HEAD"


def test_read_blobs_uses_one_batch(make_repo: MakeRepo) -> None:
    repo, ws, first, _second = _repo_with_history(make_repo)
    repo.git("branch", "old", first)
    repo.git("checkout", "-q", "--orphan", "empty")
    repo.git("rm", "-q", "-r", "--cached", ".")
    repo.git("commit", "-q", "--allow-empty", "-m", "empty")
    got = read_blobs(ws, ["refs/heads/old", "main", "empty", "nope", "main"], "docs/X.md")
    assert got == {"refs/heads/old": LEDGER_V1, "main": LEDGER_V2}
    assert read_blobs(ws, [], "docs/X.md") == {}


def test_workspace_below_the_git_top_level(make_repo: MakeRepo) -> None:
    repo = make_repo(files={"project/docs/X.md": LEDGER_V1, "docs/X.md": "top-level copy"})
    repo.write({"project/docs/X.md": LEDGER_V2})
    repo.git("add", "project/docs/X.md")
    repo.write({".gitattributes": "project/docs/*.md eol=crlf\n"})
    ws = find_workspace(repo=Path("project"), cwd=repo.path)
    assert ws.root == repo.path / "project"
    assert read_blob(ws, "HEAD", "docs/X.md") == LEDGER_V1
    assert read_blobs(ws, ["HEAD"], "docs/X.md") == {"HEAD": LEDGER_V1}
    assert read_staged(ws, "docs/X.md") == LEDGER_V2
    assert eol_attribute(ws, ["docs/X.md"]) == {"docs/X.md": "crlf"}


def test_paths_with_spaces_and_unicode(make_repo: MakeRepo) -> None:
    name = "docs/ünï côde log.md"
    repo = make_repo(files={name: "é\n", ".gitattributes": "*.md text eol=lf\n"})
    ws = find_workspace(cwd=repo.path)
    assert read_blob(ws, "HEAD", name) == "é\n".encode()
    assert read_staged(ws, name) == "é\n".encode()
    assert eol_attribute(ws, [name]) == {name: "lf"}


def test_read_staged(make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, ws, _, _ = _repo_with_history(make_repo)
    repo.write({"docs/X.md": b"staged"})
    repo.git("add", "docs/X.md")
    repo.write({"docs/X.md": b"work tree only"})
    assert read_staged(ws, "docs/X.md") == b"staged"
    assert read_staged(ws, "docs/nothing.md") is None
    # A hook sees the index git is committing (GIT_INDEX_FILE, here relative as git sets it).
    shutil.copy(repo.path / ".git" / "index", repo.path / ".git" / "other-index")
    monkeypatch.setenv("GIT_INDEX_FILE", ".git/other-index")
    repo.write({"docs/X.md": b"other index"})
    repo.git("add", "docs/X.md")
    assert read_staged(ws, "docs/X.md") == b"other index"
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert read_staged(ws, "docs/X.md") == b"staged"


def test_read_staged_during_a_conflict_is_none(make_repo: MakeRepo) -> None:
    repo = make_repo(files={"X.md": "base\n"})
    repo.git("checkout", "-q", "-b", "side")
    repo.commit({"X.md": "side\n"}, "side")
    repo.git("checkout", "-q", "main")
    repo.commit({"X.md": "main\n"}, "main")
    with pytest.raises(AssertionError, match="failed \\(1\\)"):
        repo.git("merge", "-q", "side")
    assert read_staged(find_workspace(cwd=repo.path), "X.md") is None


def test_read_staged_in_a_worktree(make_repo: MakeRepo) -> None:
    repo = make_repo(files={"X.md": "main\n"})
    worktree = repo.path.parent / "wt"
    repo.git("worktree", "add", "-q", str(worktree), "-b", "wt")
    (worktree / "X.md").write_text("staged in worktree\n")
    repo.git("-C", str(worktree), "add", "X.md")
    ws = find_workspace(cwd=worktree)
    assert read_staged(ws, "X.md") == b"staged in worktree\n"
    assert read_staged(find_workspace(cwd=repo.path), "X.md") == b"main\n"
    assert branch_refs(ws) == ["refs/heads/main", "refs/heads/wt"]


def test_eol_attribute_forms(make_repo: MakeRepo) -> None:
    repo = make_repo(
        files={
            ".gitattributes": (
                "*.md text eol=lf\n"
                "docs/crlf.md eol=crlf\n"
                "docs/binary.md -text\n"
                "docs/auto.md text=auto eol=crlf\n"
                "docs/plain.md text\n"
                "docs/unset.md -eol\n"
            )
        }
    )
    ws = find_workspace(cwd=repo.path)
    paths = [
        "docs/a.md",
        "docs/crlf.md",
        "docs/binary.md",
        "docs/auto.md",
        "docs/plain.md",
        "docs/unset.md",
        "notes.txt",
    ]
    assert eol_attribute(ws, paths) == {
        "docs/a.md": "lf",
        "docs/crlf.md": "crlf",
        "docs/binary.md": None,
        "docs/auto.md": "crlf",
        "docs/plain.md": "lf",
        "docs/unset.md": None,
        "notes.txt": None,
    }
    assert eol_attribute(ws, []) == {}


def test_git_failure_names_the_command(make_repo: MakeRepo) -> None:
    repo, ws, _, _ = _repo_with_history(make_repo)
    shutil.rmtree(repo.path / ".git")
    with pytest.raises(GitError) as info:
        branch_refs(ws)
    assert info.value.message == (
        "git for-each-ref --format=%(refname)%00%(symref) refs/heads refs/remotes failed:"
        f" fatal: not a git repository: '{repo.path / '.git'}'"
    )
    with pytest.raises(GitError) as info:
        read_blob(ws, "HEAD", "docs/X.md")
    assert info.value.message.startswith("git cat-file --batch failed: fatal: not a git")
    with pytest.raises(GitError) as info:
        eol_attribute(ws, ["docs/X.md"])
    assert info.value.message.startswith(
        "git check-attr -z --stdin eol text failed: fatal: not a git"
    )


def test_git_binary_missing(make_repo: MakeRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ws, _, _ = _repo_with_history(make_repo)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(GitError) as info:
        branch_refs(ws)
    assert info.value.message == "git executable not found"
    assert info.value.hint == "install git and make sure it is on PATH"


@pytest.mark.parametrize("path", ["../X.md", "/etc/passwd", "", "docs/../../X.md", "a\nb"])
def test_paths_outside_the_workspace_are_refused(make_repo: MakeRepo, path: str) -> None:
    _, ws, _, _ = _repo_with_history(make_repo)
    with pytest.raises(GitError) as info:
        read_blob(ws, "HEAD", path)
    if "\n" in path:
        assert info.value.message == (
            "cannot look up 'HEAD:a\\nb': line breaks are not allowed in names"
        )
    else:
        assert info.value.message == f"path {path!r} is not a file path inside the workspace"
