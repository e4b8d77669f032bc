"""Git hooks end to end: real repositories, real ``git commit``/``merge``/``rebase``/``push``.

The hook scripts are installed with ``sotsync hooks install`` and run by git itself; the
``sotsync`` console script of this environment is put on PATH so that they find it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import GitRepo
from sotsync import api, hooks
from sotsync.config import DEFAULT_LEDGERS

MakeRepo = Callable[..., GitRepo]
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "autopack"
BIN = Path(sys.executable).parent
LEDGER = "docs/BUILD_HISTORY.md"


@pytest.fixture(autouse=True)
def sotsync_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def sotsync(
    repo: GitRepo, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sotsync", *args],
        cwd=repo.path,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        check=False,
    )


def git(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    """git with the outcome returned (not asserted), for commands a hook may refuse."""
    return subprocess.run(
        ["git", *args], cwd=repo.path, capture_output=True, text=True, check=False
    )


def new_entry(repo: GitRepo, title: str, date: str = "2026-01-02") -> str:
    proc = sotsync(repo, "new", "build", "--title", title, "--date", date)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def init_repo(make_repo: MakeRepo, name: str = "repo") -> GitRepo:
    repo = make_repo(name)
    assert sotsync(repo, "init", "--no-hooks").returncode == 0
    new_entry(repo, "First build")
    repo.commit(message="ledgers")
    return repo


def duplicate_section(ident: str = "BUILD-001") -> str:
    return f"\n### {ident} | 2026-01-05 | Something else entirely\n\nOther work.\n"


def append(repo: GitRepo, text: str, path: str = LEDGER) -> None:
    with (repo.path / path).open("a", encoding="utf-8") as stream:
        stream.write(text)


def test_default_ledger_paths_match_the_configuration() -> None:
    assert tuple(spec.path for spec in DEFAULT_LEDGERS) == hooks.DEFAULT_LEDGER_PATHS


def test_scripts_in_the_source_tree_are_the_installed_script() -> None:
    for name in api.HOOK_NAMES:
        script = ROOT / "hooks" / name
        assert script.read_text(encoding="utf-8") == api.HOOK_SCRIPT
        assert os.access(script, os.X_OK)


# --------------------------------------------------------------------------- install


def test_install_keeps_and_chains_an_existing_hook_and_uninstall_restores_it(
    make_repo: MakeRepo,
) -> None:
    repo = init_repo(make_repo)
    hook_dir = repo.path / ".git" / "hooks"
    foreign = "#!/bin/sh\necho foreign pre-commit ran\nexit 0\n"
    (hook_dir / "pre-commit").write_text(foreign)
    (hook_dir / "pre-commit").chmod(0o755)

    proc = sotsync(repo, "hooks", "install")
    assert proc.returncode == 0, proc.stderr
    assert "pre-commit     installed, previous hook chained (.git/hooks/pre-commit)" in proc.stdout
    assert (hook_dir / "pre-commit.sotsync-previous").read_text() == foreign
    assert (hook_dir / "pre-commit").read_text() == api.HOOK_SCRIPT

    status = sotsync(repo, "hooks", "status").stdout.splitlines()
    assert status[0] == "pre-commit     installed (chains previous)  .git/hooks/pre-commit"
    assert status[1] == "post-merge     installed  .git/hooks/post-merge"

    again = sotsync(repo, "hooks", "install")
    assert again.returncode == 0
    assert all(" kept " in line for line in again.stdout.splitlines())
    assert (hook_dir / "pre-commit.sotsync-previous").read_text() == foreign

    # The foreign hook still runs, after sotsync's (which is silent: no ledger staged).
    repo.write({"notes.txt": "x\n"})
    repo.git("add", "notes.txt")
    done = git(repo, "commit", "-m", "notes")
    assert done.returncode == 0, done.stderr
    assert "foreign pre-commit ran" in done.stdout + done.stderr
    assert "sotsync" not in done.stdout + done.stderr

    out = sotsync(repo, "hooks", "uninstall")
    assert out.returncode == 0
    assert "pre-commit     removed, previous hook restored" in out.stdout
    assert (hook_dir / "pre-commit").read_text() == foreign
    assert not (hook_dir / "pre-commit.sotsync-previous").exists()
    assert not (hook_dir / "post-merge").exists()
    status = sotsync(repo, "hooks", "status", "--format", "json").stdout
    assert '"state": "foreign"' in status and '"state": "installed"' not in status
    assert sotsync(repo, "hooks", "uninstall").returncode == 0  # idempotent


def test_chained_hook_failure_blocks_and_stdin_reaches_both(make_repo: MakeRepo) -> None:
    repo = init_repo(make_repo)
    hook_dir = repo.path / ".git" / "hooks"
    (hook_dir / "pre-commit").write_text("#!/bin/sh\necho previous says no\nexit 7\n")
    (hook_dir / "pre-commit").chmod(0o755)
    assert sotsync(repo, "hooks", "install").returncode == 0
    repo.write({"a.txt": "a\n"})
    repo.git("add", "a.txt")
    done = git(repo, "commit", "-m", "a")
    assert done.returncode != 0
    assert "previous says no" in done.stdout + done.stderr

    (hook_dir / "pre-push.sotsync-previous").write_text(
        f"#!/bin/sh\ncat > '{repo.path / 'seen.txt'}'\n"
    )
    (hook_dir / "pre-push.sotsync-previous").chmod(0o755)
    line = b"refs/heads/main " + b"1" * 40 + b" refs/heads/main " + b"0" * 40 + b"\n"
    proc = subprocess.run(
        [str(hook_dir / "pre-push"), "nowhere", "/nowhere.git"],
        cwd=repo.path,
        input=line,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (repo.path / "seen.txt").read_bytes() == line


def test_core_hooks_path_is_respected(make_repo: MakeRepo) -> None:
    repo = init_repo(make_repo)
    repo.git("config", "core.hooksPath", ".githooks")
    proc = sotsync(repo, "hooks", "install")
    assert proc.returncode == 0, proc.stderr
    assert "(.githooks/pre-commit)" in proc.stdout
    assert (repo.path / ".githooks" / "pre-commit").read_text() == api.HOOK_SCRIPT
    assert not (repo.path / ".git" / "hooks" / "pre-commit").exists()
    append(repo, duplicate_section())
    repo.git("add", LEDGER)
    blocked = git(repo, "commit", "-m", "dup")
    assert blocked.returncode == 1
    assert "SOT010" in blocked.stdout + blocked.stderr


def test_install_in_a_worktree_uses_the_shared_hooks(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = init_repo(make_repo)
    repo.git("worktree", "add", "-q", str(tmp_path / "wt"), "-b", "side")
    worktree = GitRepo(tmp_path / "wt")
    assert sotsync(worktree, "hooks", "install").returncode == 0
    assert (repo.path / ".git" / "hooks" / "pre-commit").read_text() == api.HOOK_SCRIPT


def test_install_refuses_when_both_a_hook_and_a_saved_previous_exist(make_repo: MakeRepo) -> None:
    repo = init_repo(make_repo)
    hook_dir = repo.path / ".git" / "hooks"
    (hook_dir / "pre-push").write_text("#!/bin/sh\n")
    (hook_dir / "pre-push.sotsync-previous").write_text("#!/bin/sh\n")
    proc = sotsync(repo, "hooks", "install")
    assert proc.returncode == 3
    assert proc.stderr.startswith(
        "sotsync: error: cannot install the pre-push hook: both .git/hooks/pre-push and "
        ".git/hooks/pre-push.sotsync-previous exist\n"
    )
    assert not (hook_dir / "pre-commit").exists()  # nothing half-installed


# --------------------------------------------------------------------------- pre-commit


@pytest.fixture
def hooked(make_repo: MakeRepo) -> GitRepo:
    repo = init_repo(make_repo)
    assert sotsync(repo, "hooks", "install").returncode == 0
    return repo


def test_commit_adding_a_duplicate_id_is_blocked(hooked: GitRepo) -> None:
    append(hooked, duplicate_section())
    hooked.git("add", LEDGER)
    done = git(hooked, "commit", "-m", "dup")
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "docs/BUILD_HISTORY.md:" in out
    assert "SOT010 [error] BUILD-001 names 2 different entries" in out
    assert "sotsync pre-commit: commit blocked" in out


def test_clean_commit_passes_and_reports(hooked: GitRepo) -> None:
    new_entry(hooked, "Second build")
    hooked.git("add", LEDGER)
    done = git(hooked, "commit", "-m", "second")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sotsync pre-commit: docs/BUILD_HISTORY.md: no new findings" in done.stdout + done.stderr


def test_pre_commit_lints_the_index_not_the_work_tree(hooked: GitRepo) -> None:
    new_entry(hooked, "Second build")
    hooked.git("add", LEDGER)
    append(hooked, duplicate_section())  # not staged
    done = git(hooked, "commit", "-m", "second")
    assert done.returncode == 0, done.stdout + done.stderr
    # ... and the other way round: a bad staged version with a clean work tree.
    append(hooked, duplicate_section("BUILD-002"))
    hooked.git("add", LEDGER)
    clean = subprocess.run(["git", "show", f"HEAD:{LEDGER}"], cwd=hooked.path, capture_output=True)
    (hooked.path / LEDGER).write_bytes(clean.stdout)
    blocked = git(hooked, "commit", "-m", "dup")
    assert blocked.returncode == 1
    assert "SOT010 [error] BUILD-002" in blocked.stdout + blocked.stderr


def test_conflict_markers_block_the_commit(hooked: GitRepo) -> None:
    append(hooked, "\n<<<<<<< ours\nmine\n=======\ntheirs\n>>>>>>> theirs\n")
    hooked.git("add", LEDGER)
    done = git(hooked, "commit", "-m", "markers")
    assert done.returncode == 1
    assert "SOT002 [error]" in done.stdout + done.stderr


def test_old_findings_do_not_block_a_clean_entry(make_repo: MakeRepo) -> None:
    repo = make_repo("corpus")
    (repo.path / "docs").mkdir()
    (repo.path / LEDGER).write_bytes((CORPUS / "BUILD_HISTORY.md").read_bytes())
    repo.commit(message="corpus")
    lint = sotsync(repo, "lint", "build", "--format", "json", "--fail-on", "never")
    assert lint.stdout.count('"code"') >= 100  # the old findings
    assert '"severity": "error"' in lint.stdout
    assert sotsync(repo, "hooks", "install").returncode == 0
    new_entry(repo, "One clean entry", "2026-02-01")
    repo.git("add", LEDGER)
    done = git(repo, "commit", "-m", "clean entry")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "already in HEAD ignored" in done.stdout + done.stderr


def test_initial_commit_and_deleted_ledger(make_repo: MakeRepo) -> None:
    repo = make_repo()
    assert sotsync(repo, "hooks", "install").returncode == 0
    assert sotsync(repo, "init", "--no-hooks").returncode == 0
    new_entry(repo, "First")
    repo.git("add", "-A")
    done = git(repo, "commit", "-m", "first")  # no HEAD yet
    assert done.returncode == 0, done.stdout + done.stderr
    repo.git("rm", "-q", LEDGER)
    done = git(repo, "commit", "-m", "drop")
    assert done.returncode == 0, done.stdout + done.stderr


def test_configured_ledger_path(make_repo: MakeRepo) -> None:
    repo = make_repo()
    repo.write(
        {
            ".sotsync.toml": (
                '[[ledgers]]\nname = "build"\npath = "notes/builds.md"\n'
                'prefix = "BUILD"\nfile_type = "build_history"\n'
            )
        }
    )
    assert sotsync(repo, "init", "--no-hooks").returncode == 0
    new_entry(repo, "First")
    repo.commit(message="init")
    assert sotsync(repo, "hooks", "install").returncode == 0
    append(repo, duplicate_section(), "notes/builds.md")
    repo.git("add", "notes/builds.md")
    done = git(repo, "commit", "-m", "dup")
    assert done.returncode == 1
    assert "notes/builds.md:" in done.stderr and "SOT010" in done.stderr


# --------------------------------------------------------------------------- fail open


def test_internal_error_fails_open_unless_strict(hooked: GitRepo) -> None:
    hooked.write({".sotsync.toml": "this is = not [valid toml\n"})
    append(hooked, duplicate_section())
    hooked.git("add", LEDGER)
    done = git(hooked, "commit", "-m", "anyway")
    assert done.returncode == 0
    assert (
        done.stderr.count("sotsync: warning: pre-commit hook skipped (.sotsync.toml: invalid TOML")
        == 1
    )
    assert "set SOTSYNC_STRICT=1 to fail instead" in done.stderr

    append(hooked, duplicate_section("BUILD-009"))
    hooked.git("add", LEDGER)
    strict = subprocess.run(
        ["git", "commit", "-m", "strict"],
        cwd=hooked.path,
        capture_output=True,
        text=True,
        env={**os.environ, "SOTSYNC_STRICT": "1"},
        check=False,
    )
    assert strict.returncode == 1  # git reports any hook failure as 1
    assert "sotsync: error: pre-commit hook: .sotsync.toml: invalid TOML" in strict.stderr


def test_unexpected_error_fails_open_with_a_logged_traceback(
    hooked: GitRepo, tmp_path: Path
) -> None:
    # No git on PATH: the hook cannot even ask which files are staged.
    env = {**os.environ, "PATH": str(BIN), "SOTSYNC_LOG_DIR": str(tmp_path)}
    run = [sys.executable, "-m", "sotsync", "hook", "pre-commit"]
    proc = subprocess.run(run, cwd=hooked.path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0
    assert proc.stderr.startswith(
        "sotsync: warning: pre-commit hook skipped (internal error: FileNotFoundError"
    )
    assert "Traceback" in (tmp_path / "sotsync-error.log").read_text()
    strict = subprocess.run(
        run, cwd=hooked.path, capture_output=True, text=True, env={**env, "SOTSYNC_STRICT": "1"}
    )
    assert strict.returncode == 4
    assert strict.stderr.startswith("sotsync: error: pre-commit hook: internal error:")


def test_unknown_hook_name_is_a_usage_error(hooked: GitRepo) -> None:
    proc = sotsync(hooked, "hook", "pre-rebase")
    assert proc.returncode == 2
    assert "sotsync: error: unknown or missing hook name" in proc.stderr


# --------------------------------------------------------------------------- post-*


def test_post_merge_summarises_the_merge(hooked: GitRepo) -> None:
    hooked.git("checkout", "-q", "-b", "topic")
    new_entry(hooked, "On topic", "2026-01-03")
    hooked.commit(message="topic")
    hooked.git("checkout", "-q", "main")
    hooked.write({"other.txt": "x\n"})
    hooked.commit(message="main moves on")
    done = git(hooked, "merge", "--no-edit", "topic")
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "sotsync post-merge: docs/BUILD_HISTORY.md: 1 added (BUILD-002), 0 removed" in out


def test_post_merge_reports_ids_duplicated_by_the_merge(hooked: GitRepo) -> None:
    # Without sotsync's merge driver (which would renumber), git merges the hunks textually.
    hooked.git("config", "--unset", "merge.sotsync.driver")
    hooked.git("rm", "-q", ".gitattributes")
    hooked.commit(message="plain text merges")
    hooked.git("checkout", "-q", "-b", "topic")
    new_entry(hooked, "Topic work", "2026-01-03")
    hooked.commit(message="topic")
    hooked.git("checkout", "-q", "main")
    hooked.write({"x.txt": "x\n"})
    hooked.commit(message="unrelated")
    # main takes the same next id for other work, in a different part of the file.
    append(hooked, duplicate_section("BUILD-002"))
    hooked.commit(message="main takes BUILD-002 too")
    done = git(hooked, "merge", "--no-edit", "topic")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out  # git merges the two hunks textually
    assert "SOT010 [error] BUILD-002" in out
    assert "new error in the ledgers" in out


def test_post_checkout_reports_branch_switches_only(hooked: GitRepo) -> None:
    hooked.git("checkout", "-q", "-b", "topic")
    new_entry(hooked, "On topic", "2026-01-03")
    hooked.commit(message="topic")
    back = git(hooked, "checkout", "main")
    assert "sotsync post-checkout: docs/BUILD_HISTORY.md: 0 added, 1 removed (BUILD-002)" in (
        back.stdout + back.stderr
    )
    files = git(hooked, "checkout", "topic", "--", LEDGER)  # a file checkout: nothing
    assert "sotsync" not in files.stdout + files.stderr


def _diverge(repo: GitRepo) -> None:
    repo.git("checkout", "-q", "-b", "topic")
    new_entry(repo, "Topic one", "2026-01-03")
    repo.commit(message="topic one")
    repo.write({"t.txt": "t\n"})
    repo.commit(message="topic two")
    repo.git("checkout", "-q", "main")
    proc = sotsync(repo, "new", "debug", "--title", "Main's debug session", "--date", "2026-01-04")
    assert proc.returncode == 0, proc.stderr
    repo.commit(message="main")


def test_nothing_runs_mid_rebase_and_post_rewrite_runs_at_the_end(hooked: GitRepo) -> None:
    _diverge(hooked)
    hooked.git("checkout", "-q", "topic")
    done = git(hooked, "rebase", "main")
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "sotsync post-checkout" not in out  # the rebase's own checkout
    assert out.count("sotsync post-rewrite:") == 1
    assert "sotsync post-rewrite: docs/DEBUG_LOG.md: 1 added (DBG-001), 0 removed" in out


def test_post_rewrite_after_pull_rebase(make_repo: MakeRepo, tmp_path: Path) -> None:
    upstream = init_repo(make_repo, "upstream")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(upstream.path), str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(tmp_path / "a")], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(tmp_path / "b")], check=True)
    a, b = GitRepo(tmp_path / "a"), GitRepo(tmp_path / "b")
    new_entry(a, "From a", "2026-01-03")
    a.commit(message="a")
    a.git("push", "-q", "origin", "main")
    assert sotsync(b, "hooks", "install").returncode == 0
    b.write({"b.txt": "b\n"})
    b.commit(message="b local")
    done = git(b, "pull", "--rebase", "origin", "main")
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "sotsync post-checkout" not in out
    assert "sotsync post-rewrite: docs/BUILD_HISTORY.md: 1 added (BUILD-002), 0 removed" in out


def test_amend_inside_an_interactive_rebase_is_skipped(hooked: GitRepo) -> None:
    _diverge(hooked)
    hooked.git("checkout", "-q", "topic")
    env = {**os.environ, "GIT_SEQUENCE_EDITOR": "sed -i 1s/^pick/edit/"}
    started = subprocess.run(
        ["git", "rebase", "-i", "main"], cwd=hooked.path, env=env, capture_output=True, text=True
    )
    assert started.returncode == 0, started.stderr
    append(hooked, "\nmore text\n")
    hooked.git("add", LEDGER)
    amend = git(hooked, "commit", "--amend", "--no-edit")
    assert amend.returncode == 0, amend.stderr
    assert "sotsync post-rewrite" not in amend.stdout + amend.stderr
    done = git(hooked, "rebase", "--continue")
    assert done.returncode == 0, done.stderr
    assert "sotsync post-rewrite:" in done.stdout + done.stderr


def test_hooks_sync_never_fails_on_an_unreachable_database(hooked: GitRepo) -> None:
    hooked.write(
        {
            "pyproject.toml": (
                "[tool.sotsync]\nhooks_sync = true\n"
                'database_url = "postgresql://u@127.0.0.1:1/nowhere"\n'
            )
        }
    )
    hooked.commit(message="config")
    hooked.git("checkout", "-q", "-b", "topic")
    new_entry(hooked, "On topic", "2026-01-03")
    hooked.commit(message="topic")
    back = git(hooked, "checkout", "main")
    assert back.returncode == 0
    out = back.stdout + back.stderr
    assert "sotsync post-checkout: docs/BUILD_HISTORY.md: 0 added, 1 removed" in out
    assert "sotsync post-checkout: database sync skipped:" in out


def test_hooks_sync_syncs_a_sqlite_mirror(hooked: GitRepo) -> None:
    hooked.write({"pyproject.toml": "[tool.sotsync]\nhooks_sync = true\n", ".gitignore": "*.db\n"})
    hooked.commit(message="config")
    assert sotsync(hooked, "db", "init").returncode == 0
    hooked.git("checkout", "-q", "-b", "topic")
    new_entry(hooked, "On topic", "2026-01-03")
    hooked.commit(message="topic")
    back = git(hooked, "checkout", "main")
    assert "sotsync post-checkout: database mirror synced (" in back.stdout + back.stderr


# --------------------------------------------------------------------------- pre-push


def test_pre_push_blocks_an_id_a_remote_branch_took(make_repo: MakeRepo, tmp_path: Path) -> None:
    upstream = init_repo(make_repo, "upstream")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(upstream.path), str(remote)], check=True)
    for name in ("a", "b"):
        subprocess.run(["git", "clone", "-q", str(remote), str(tmp_path / name)], check=True)
    a, b = GitRepo(tmp_path / "a"), GitRepo(tmp_path / "b")
    a.git("checkout", "-q", "-b", "feature")
    new_entry(a, "Device A's work", "2026-01-03")
    a.commit(message="a")
    a.git("push", "-q", "origin", "feature")

    assert sotsync(b, "hooks", "install").returncode == 0
    b.git("fetch", "-q", "origin")
    b.git("checkout", "-q", "-b", "topic")
    new_entry(b, "Device B's different work", "2026-01-04")  # also BUILD-002? not if it looked
    ledger = (b.path / LEDGER).read_text()
    if "BUILD-003" in ledger:  # `new` saw origin/feature and skipped BUILD-002: force the clash
        (b.path / LEDGER).write_text(ledger.replace("BUILD-003", "BUILD-002"))
    b.commit(message="b")
    pushed = git(b, "push", "origin", "topic")
    assert pushed.returncode != 0
    out = pushed.stdout + pushed.stderr
    assert (
        "sotsync pre-push: docs/BUILD_HISTORY.md: BUILD-002 is added by refs/heads/topic and, "
        "with different content, by refs/remotes/origin/feature"
    ) in out
    assert "push blocked" in out

    # Entries both sides merely share are fine.
    b.git("checkout", "-q", "main")
    b.write({"b.txt": "b\n"})
    b.commit(message="b on main")
    ok = git(b, "push", "origin", "main")
    assert ok.returncode == 0, ok.stderr
    assert (
        "sotsync pre-push: no duplicate ids against the branches of origin" in ok.stdout + ok.stderr
    )


def test_pre_commit_hooks_yaml_names_real_hooks() -> None:
    import yaml

    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    by_id = {item["id"]: item for item in manifest}
    assert list(by_id) == [
        "sotsync-lint",
        "sotsync-check",
        "sotsync-post-merge",
        "sotsync-pre-push",
    ]
    assert by_id["sotsync-post-merge"]["stages"] == ["post-merge", "post-checkout", "post-rewrite"]
    assert by_id["sotsync-post-merge"]["always_run"] is True
    assert by_id["sotsync-post-merge"]["pass_filenames"] is False
    assert by_id["sotsync-check"]["entry"] == "sotsync check"
    for item in manifest:
        assert item["language"] == "python"
        words = item["entry"].split()
        if words[:2] == ["sotsync", "hook"]:
            assert words[2] in hooks.HOOKS


@pytest.mark.parametrize("direct", [True, False])
def test_hook_script_runs_the_console_scripts_interpreter_or_the_command_itself(
    hooked: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    # A `sotsync` on PATH whose body leaves a mark: the direct path must bypass the body (and
    # still run the hook with the shebang's interpreter); any other script is run as it is.
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    mark = tmp_path / "ran-the-script"
    shebang = f"#!{sys.executable}" if direct else "#!/bin/sh"
    body = (
        f"import pathlib, sys, runpy\npathlib.Path({str(mark)!r}).write_text('x')\n"
        "sys.argv = ['sotsync', *sys.argv[1:]]\nrunpy.run_module('sotsync', run_name='__main__')\n"
        if direct
        else f'echo x > "{mark}"\nexec "{sys.executable}" -m sotsync "$@"\n'
    )
    script = fake_bin / "sotsync"
    script.write_text(f"{shebang}\n{body}")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    new_entry(hooked, "Second build")
    hooked.git("add", LEDGER)
    done = git(hooked, "commit", "-m", "second")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sotsync pre-commit: docs/BUILD_HISTORY.md: no new findings" in done.stdout + done.stderr
    assert mark.exists() is not direct
