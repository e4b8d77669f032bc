"""Git hooks: one ``main(argv) -> int`` per hook, each printing a short report.

``sotsync hook NAME [ARGS]`` (and ``python -m sotsync.hooks NAME``) lands in ``main``, which
picks the hook and turns sotsync's own failures into a one-line warning and exit 0 (fail open)
unless ``SOTSYNC_STRICT=1``.  The hooks never fetch or push, and the post-checkout, post-merge and
amend post-rewrite hooks do nothing in the middle of a rebase (the rebase's own post-rewrite, at
its end, does the work).  Commits that stage no ledger are the common case, so that path imports
only ``os`` and ``sys`` and asks git one question through ``posix_spawn`` (``subprocess``,
``typing`` and the configuration module each cost more than the whole budget of this path); the
rest of sotsync is imported only once a ledger is involved.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sotsync.config import Config
    from sotsync.models import Finding

# The default ledger paths (config.DEFAULT_LEDGERS; a test keeps the two equal).
DEFAULT_LEDGER_PATHS = (
    "docs/BUILD_HISTORY.md",
    "docs/DEBUG_LOG.md",
    "docs/ARCHITECTURE_DECISIONS.md",
)
SHOWN_IDS = 8


# --------------------------------------------------------------------------- light helpers


def _git(*args: str) -> bytes | None:
    """Standard output of ``git ARGS`` in the cwd, or None when git fails."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    command = ["git", "-c", "core.quotepath=off", *args]
    if not hasattr(os, "posix_spawnp"):  # Windows
        import subprocess

        proc = subprocess.run(command, capture_output=True, env=env, check=False)
        return proc.stdout if proc.returncode == 0 else None
    read_end, write_end = os.pipe()
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawnp(
            "git",
            command,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, write_end, 1),
                (os.POSIX_SPAWN_DUP2, devnull, 2),
                (os.POSIX_SPAWN_CLOSE, read_end),
            ],
        )
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
        os.close(devnull)
    chunks = []
    try:
        while chunk := os.read(read_end, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    return b"".join(chunks) if os.waitstatus_to_exitcode(status) == 0 else None


def _names(out: bytes | None) -> list[str]:
    if not out:
        return []
    return [name.decode("utf-8", "surrogateescape") for name in out.split(b"\0") if name]


def _rev(name: str) -> str | None:
    out = _git("rev-parse", "-q", "--verify", f"{name}^{{commit}}")
    return out.decode("ascii", "replace").strip() or None if out else None


def _is_null(sha: str | None) -> bool:
    return not sha or not sha.strip("0")


def _config_text() -> bytes | None:
    """The workspace configuration file's bytes (hooks run at the top of the work tree)."""
    for name, needle in ((".sotsync.toml", b""), ("pyproject.toml", b"sotsync")):
        try:
            with open(name, "rb") as stream:
                data = stream.read()
        except OSError:
            continue
        if needle in data:
            return data
    return None


def _could_be_ledgers(paths: Sequence[str]) -> bool:
    """False only when no path can be a ledger: not a default one, not named in the config.

    A cheap filter before the configuration is parsed; ``api`` then decides exactly.
    """
    if not paths:
        return False
    if any(path in DEFAULT_LEDGER_PATHS for path in paths):
        return True
    text = _config_text()
    return text is not None and any(
        path.rsplit("/", 1)[-1].encode("utf-8", "surrogateescape") in text for path in paths
    )


def _git_dir() -> str | None:
    if os.environ.get("GIT_DIR"):
        return os.environ["GIT_DIR"]
    if os.path.isdir(".git"):
        return ".git"
    out = _git("rev-parse", "--git-dir")
    return out.decode("utf-8", "surrogateescape").strip() or None if out else None


def rebase_in_progress() -> bool:
    """True between the start and the end of a rebase (``git rebase``, ``git pull --rebase``)."""
    action = os.environ.get("GIT_REFLOG_ACTION", "")
    if action.startswith("rebase") or "--rebase" in action:
        return True
    git_dir = _git_dir()
    return git_dir is not None and any(
        os.path.isdir(os.path.join(git_dir, name)) for name in ("rebase-merge", "rebase-apply")
    )


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _config() -> Config:
    from sotsync.config import find_workspace, load_config

    return load_config(find_workspace())


def _finding_line(f: Finding) -> str:
    return f"{f.path}:{f.line}:{f.col}: {f.code} [{f.severity}] {f.message}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --------------------------------------------------------------------------- pre-commit


def pre_commit(argv: Sequence[str]) -> int:
    """Lint the staged ledgers (the index, not the work tree); block on new error findings.

    *argv* may name the staged files (the pre-commit framework passes them); by default git
    is asked which files are staged.
    """
    paths = list(argv) if argv else _names(_git("diff", "--cached", "--name-only", "-z"))
    if not _could_be_ledgers(paths):
        return 0
    from sotsync import api

    report = api.lint_staged(_config(), paths)
    if not report.ledgers:
        return 0
    for finding in report.findings:
        _out(_finding_line(finding))
    errors = sum(1 for f in report.findings if f.severity == "error")
    known = f"; {_plural(report.suppressed, 'finding')} already in HEAD ignored"
    shown = ", ".join(report.ledgers)
    if not report.findings:
        _out(f"sotsync pre-commit: {shown}: no new findings{known if report.suppressed else ''}")
        return 0
    _out(
        f"sotsync pre-commit: {shown}: {_plural(len(report.findings), 'new finding')}, "
        f"{_plural(errors, 'error')}{known if report.suppressed else ''}"
    )
    if errors:
        _out("sotsync pre-commit: commit blocked: fix the errors above and stage the ledger again")
        return 1
    return 0


# --------------------------------------------------------------------------- post-*


def _ids(ids: Sequence[str]) -> str:
    if len(ids) <= SHOWN_IDS:
        return ", ".join(ids)
    return ", ".join(ids[:SHOWN_IDS]) + f", ... {len(ids) - SHOWN_IDS} more"


def _after(name: str, before: str | None, after: str | None) -> int:
    """Report how the ledgers changed from *before* to *after* (None: the work tree)."""
    if _is_null(before) or before == after:
        return 0
    assert before is not None
    diff = ["diff", "--name-only", "-z", "--no-renames", before]
    paths = _names(_git(*diff, *([after] if after is not None else [])))
    if not _could_be_ledgers(paths):
        return 0
    from sotsync import api

    config = _config()
    changes = api.ledger_changes(config, before, after)
    if not changes:
        return 0
    errors = 0
    for change in changes:
        added = f"{len(change.added)} added" + (f" ({_ids(change.added)})" if change.added else "")
        removed = f"{len(change.removed)} removed" + (
            f" ({_ids(change.removed)})" if change.removed else ""
        )
        edited = (
            f", {len(change.changed)} changed ({_ids(change.changed)})" if change.changed else ""
        )
        _out(f"sotsync {name}: {change.path}: {added}, {removed}{edited}")
        for finding in change.findings:
            _out("  " + _finding_line(finding))
        errors += sum(1 for f in change.findings if f.severity == "error")
    if errors:
        _out(
            f"sotsync {name}: {_plural(errors, 'new error')} in the ledgers: "
            "run `sotsync lint` and fix them before the next commit"
        )
    _sync(name, config)
    return 1 if errors else 0


def _sync(name: str, config: Config) -> None:
    """Sync the database mirror when ``hooks_sync = true``; a failing database is only reported."""
    if config.settings.get("hooks_sync") is not True:
        return
    from sotsync import api
    from sotsync.errors import SotsyncError

    os.environ.setdefault("PGCONNECT_TIMEOUT", "5")
    try:
        result = api.sync(config)
    except SotsyncError as exc:
        _out(f"sotsync {name}: database sync skipped: {exc.message}")
        return
    _out(f"sotsync {name}: database mirror synced ({_plural(result.writes, 'row')} written)")


def post_merge(argv: Sequence[str]) -> int:
    """After ``git merge``/``git pull``: what the merge changed in the ledgers, and new findings."""
    if rebase_in_progress():
        return 0
    squash = bool(argv) and argv[0] == "1"
    head = _rev("HEAD")
    before = head if squash else _rev("ORIG_HEAD")
    return _after("post-merge", before, None if squash else head)


def post_checkout(argv: Sequence[str]) -> int:
    """After a branch checkout (not a file checkout, not inside a rebase)."""
    if len(argv) < 3 or argv[2] != "1" or rebase_in_progress():
        return 0
    return _after("post-checkout", argv[0], argv[1])


def post_rewrite(argv: Sequence[str], stdin: bytes | None = None) -> int:
    """After ``git commit --amend`` or at the end of a rebase (``git pull --rebase`` included)."""
    command = argv[0] if argv else ""
    if command != "rebase" and rebase_in_progress():
        return 0
    if command == "rebase":
        before = _rev("ORIG_HEAD")
    else:
        lines = _stdin_lines(stdin)
        before = lines[0].split()[0] if lines else _rev("HEAD@{1}")
    return _after("post-rewrite", before, _rev("HEAD"))


def post_framework(argv: Sequence[str]) -> int:
    """The pre-commit framework's post-* stages: which one ran comes from PRE_COMMIT_* variables."""
    env = os.environ
    if "PRE_COMMIT_CHECKOUT_TYPE" in env:
        return post_checkout(
            [
                env.get("PRE_COMMIT_FROM_REF", ""),
                env.get("PRE_COMMIT_TO_REF", ""),
                env["PRE_COMMIT_CHECKOUT_TYPE"],
            ]
        )
    if "PRE_COMMIT_REWRITE_COMMAND" in env:
        return post_rewrite([env["PRE_COMMIT_REWRITE_COMMAND"]], b"")
    if "PRE_COMMIT_IS_SQUASH_MERGE" in env:
        return post_merge([env["PRE_COMMIT_IS_SQUASH_MERGE"]])
    return post_merge(argv)


# --------------------------------------------------------------------------- pre-push


def _stdin_lines(stdin: bytes | None) -> list[str]:
    if stdin is None:
        stdin = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    return [line for line in stdin.decode("utf-8", "surrogateescape").splitlines() if line.strip()]


def pre_push(argv: Sequence[str], stdin: bytes | None = None) -> int:
    """Block a push whose commits add an id that a branch of the remote added differently.

    Reads git's pre-push lines (``<local ref> <local sha> <remote ref> <remote sha>``) from
    stdin, or the pre-commit framework's PRE_COMMIT_* variables; compares with the
    remote-tracking branches as last fetched (no network).
    """
    env = os.environ
    remote = argv[0] if argv else env.get("PRE_COMMIT_REMOTE_NAME", "")
    pushed: list[tuple[str, str]] = []
    if "PRE_COMMIT_REMOTE_NAME" in env and stdin is None:
        local_ref = env.get("PRE_COMMIT_LOCAL_BRANCH", "HEAD")
        commit = env.get("PRE_COMMIT_TO_REF") or _rev(local_ref)
        if commit:
            pushed.append((local_ref, commit))
    else:
        for line in _stdin_lines(stdin):
            fields = line.split()
            if len(fields) == 4 and not _is_null(fields[1]):
                pushed.append((fields[0], fields[1]))
    if not pushed or not remote:
        return 0
    from sotsync import api

    collisions = api.push_collisions(_config(), remote, pushed)
    for c in collisions:
        _out(
            f"sotsync pre-push: {c.path}: {c.id} is added by {c.local_ref} and, with different "
            f"content, by {c.remote_ref}"
        )
    if collisions:
        _out(
            "sotsync pre-push: push blocked: merge or rebase onto that branch first (the merge "
            "driver renumbers the incoming entry), or renumber yours with `sotsync new`"
        )
        return 1
    _out(f"sotsync pre-push: no duplicate ids against the branches of {remote}")
    return 0


# --------------------------------------------------------------------------- dispatch

HOOKS: dict[str, Callable[[Sequence[str]], int]] = {
    "pre-commit": pre_commit,
    "post-merge": post_merge,
    "post-checkout": post_checkout,
    "post-rewrite": post_rewrite,
    "pre-push": pre_push,
    "post-framework": post_framework,
}


def _log_traceback() -> str | None:
    import tempfile
    import traceback

    text = traceback.format_exc() + "\n"
    for directory in dict.fromkeys(
        d for d in (os.environ.get("SOTSYNC_LOG_DIR"), tempfile.gettempdir()) if d
    ):
        path = os.path.join(directory, "sotsync-error.log")
        try:
            with open(path, "a", encoding="utf-8", errors="backslashreplace") as handle:
                handle.write(text)
        except OSError:
            continue
        return path
    return None


def _failed(name: str, exc: Exception) -> int:
    """Fail open (warning, exit 0) unless SOTSYNC_STRICT=1 asks for the error's exit code."""
    from sotsync.errors import EXIT_INTERNAL, SotsyncError

    if isinstance(exc, SotsyncError):
        message, hint, code = exc.message, exc.hint, exc.exit_code
    else:
        log = _log_traceback()
        message = f"internal error: {type(exc).__name__}: {exc}"
        hint = f"the traceback is in {log}; please report it" if log else ""
        code = EXIT_INTERNAL
    if os.environ.get("SOTSYNC_STRICT") == "1":
        sys.stderr.write(f"sotsync: error: {name} hook: {message}\n")
        if hint:
            sys.stderr.write(f"hint: {hint}\n")
        return code
    sys.stderr.write(
        f"sotsync: warning: {name} hook skipped ({message}); set SOTSYNC_STRICT=1 to fail instead\n"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``sotsync hook NAME [ARGS]``: run one hook, failing open on sotsync's own errors."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in HOOKS:
        sys.stderr.write(
            "usage: sotsync hook {" + ",".join(HOOKS) + "} [ARGS]\n"
            "sotsync: error: unknown or missing hook name\n"
        )
        return 2
    name = args[0]
    try:
        return HOOKS[name](args[1:])
    except KeyboardInterrupt:
        sys.stderr.write("sotsync: interrupted\n")
        return 130
    except Exception as exc:
        return _failed(name, exc)


if __name__ == "__main__":
    sys.exit(main())
