"""Read-only questions to git: branches, file contents at revisions and in the index, attributes.

This module owns every call to the ``git`` binary outside the snapshot package: argument lists
only (never a shell string), ``-c core.quotepath=off``, ``GIT_OPTIONAL_LOCKS=0`` so that reads
never take git's index lock, ``GIT_DIR``/``GIT_WORK_TREE`` pinned to the discovered workspace, and
git failures turned into ``GitError`` naming the command and git's own first line of complaint.
Paths in and out are workspace-root-relative POSIX paths.  It must not write to the repository
(no refs, objects, index or work tree changes) and must not import dulwich.  Without a git
repository (``ws.git_root is None``) every function answers empty or None.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sotsync.errors import GitError

if TYPE_CHECKING:
    from pathlib import Path

    from sotsync.config import Workspace

_ENCODING = "utf-8"
_ERRORS = "surrogateescape"  # ref and path names that are not UTF-8 still round-trip


def _git_path(ws: Workspace, path: str) -> str:
    """*path* (workspace-root-relative) made relative to the git top level."""
    parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
    if path.startswith("/") or ".." in parts or not parts:
        raise GitError(
            f"path {path!r} is not a file path inside the workspace",
            hint="give ledger paths relative to the workspace root",
        )
    assert ws.git_root is not None
    prefix = ws.root.relative_to(ws.git_root).as_posix()
    return "/".join(parts) if prefix == "." else f"{prefix}/{'/'.join(parts)}"


def _display(args: Sequence[str]) -> str:
    shown: list[str] = []
    for arg in args:
        if arg == "--":
            break
        shown.append(arg)
    return "git " + " ".join(shown)


def _run(ws: Workspace, args: Sequence[str], stdin: bytes | None = None) -> bytes:
    import subprocess

    assert ws.git_root is not None and ws.git_dir is not None
    env = dict(os.environ)
    env.update(
        {
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_DIR": str(ws.git_dir),
            "GIT_WORK_TREE": str(ws.git_root),
            "LC_ALL": "C",  # stable, English messages in GitError
        }
    )
    try:
        proc = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            cwd=ws.git_root,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise GitError(
            "git executable not found", hint="install git and make sure it is on PATH"
        ) from None
    except OSError as exc:
        raise GitError(f"cannot run {_display(args)}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        first = next(
            (
                line.strip()
                for line in proc.stderr.decode(_ENCODING, "replace").splitlines()
                if line.strip()
            ),
            f"exit status {proc.returncode}",
        )
        raise GitError(
            f"{_display(args)} failed: {first}",
            hint="check that the repository is healthy (`git fsck`) and git works in it",
        )
    return proc.stdout


def _cat_file_batch(ws: Workspace, names: Sequence[str]) -> list[tuple[str, bytes] | None]:
    """(type, content) for each object name, or None when git says it is missing."""
    for name in names:
        if "\n" in name or "\r" in name:
            raise GitError(f"cannot look up {name!r}: line breaks are not allowed in names")
    payload = "".join(f"{name}\n" for name in names).encode(_ENCODING, _ERRORS)
    out = _run(ws, ["cat-file", "--batch"], stdin=payload)
    results: list[tuple[str, bytes] | None] = []
    pos = 0
    for name in names:
        end = out.find(b"\n", pos)
        if end < 0:
            raise GitError(f"git cat-file --batch: truncated output while reading {name!r}")
        header = out[pos:end]
        pos = end + 1
        if header.endswith((b" missing", b" ambiguous")):
            results.append(None)
            continue
        fields = header.rsplit(b" ", 2)
        try:
            kind, size = fields[1].decode("ascii"), int(fields[2])
        except (IndexError, ValueError):
            raise GitError(
                f"git cat-file --batch: unexpected output {header[:80]!r} for {name!r}"
            ) from None
        results.append((kind, out[pos : pos + size]))
        pos += size + 1  # content is followed by a line feed
    return results


def branch_refs(ws: Workspace) -> list[str]:
    """Every local branch and remote-tracking ref (full names), symbolic refs left out."""
    if ws.git_root is None:
        return []
    out = _run(
        ws, ["for-each-ref", "--format=%(refname)%00%(symref)", "refs/heads", "refs/remotes"]
    )
    refs: list[str] = []
    for line in out.split(b"\n"):
        name, _, symref = line.partition(b"\0")
        if name and not symref:
            refs.append(name.decode(_ENCODING, _ERRORS))
    return refs


def read_blobs(ws: Workspace, revs: Sequence[str], path: str) -> dict[str, bytes]:
    """The content of *path* at each of *revs* (one git process); absent where it does not exist."""
    if ws.git_root is None or not revs:
        return {}
    unique = list(dict.fromkeys(revs))
    target = _git_path(ws, path)
    found = _cat_file_batch(ws, [f"{rev}:{target}" for rev in unique])
    return {
        rev: item[1]
        for rev, item in zip(unique, found, strict=True)
        if item is not None and item[0] == "blob"
    }


def read_blob(ws: Workspace, rev: str, path: str) -> bytes | None:
    """The content of *path* at *rev*; None when it does not exist there; GitError for a bad rev."""
    if ws.git_root is None:
        return None
    tree, blob = _cat_file_batch(ws, [f"{rev}^{{tree}}", f"{rev}:{_git_path(ws, path)}"])
    if tree is None:
        raise GitError(
            f"not a valid revision: {rev}",
            hint="give a branch, tag or commit that exists in this repository",
        )
    if blob is None or blob[0] != "blob":
        return None
    return blob[1]


def read_staged(ws: Workspace, path: str) -> bytes | None:
    """The content of *path* in the index (stage 0); None when it is not staged there."""
    if ws.git_root is None:
        return None
    (item,) = _cat_file_batch(ws, [f":0:{_git_path(ws, path)}"])
    if item is None or item[0] != "blob":
        return None
    return item[1]


def eol_attribute(ws: Workspace, paths: Sequence[str]) -> dict[str, str | None]:
    """The ``eol`` gitattribute of each path: ``"lf"``, ``"crlf"``, or None (unset, or -text)."""
    result: dict[str, str | None] = {path: None for path in paths}
    if ws.git_root is None or not paths:
        return result
    to_git = {_git_path(ws, path): path for path in paths}
    payload = b"".join(name.encode(_ENCODING, _ERRORS) + b"\0" for name in to_git)
    out = _run(ws, ["check-attr", "-z", "--stdin", "eol", "text"], stdin=payload)
    fields = out.split(b"\0")
    attrs: dict[str, dict[str, str]] = {}
    for index in range(0, len(fields) - 2, 3):
        name = fields[index].decode(_ENCODING, _ERRORS)
        attr = fields[index + 1].decode(_ENCODING, _ERRORS)
        attrs.setdefault(name, {})[attr] = fields[index + 2].decode(_ENCODING, _ERRORS)
    for name, path in to_git.items():
        values = attrs.get(name, {})
        eol = values.get("eol")
        if values.get("text") != "unset" and eol in ("lf", "crlf"):
            result[path] = eol
    return result


def head_commit(ws: Workspace) -> str | None:
    """The commit HEAD points to, or None (no repository, or no commit yet)."""
    if ws.git_root is None:
        return None
    try:
        out = _run(ws, ["rev-parse", "--verify", "-q", "HEAD^{commit}"])
    except GitError:
        return None
    return out.decode("ascii", "replace").strip() or None


# --------------------------------------------------------------------------- id reservations

# Reservation commits are written by sotsync, not by a person.
_MACHINE_IDENTITY = {
    "GIT_AUTHOR_NAME": "sotsync",
    "GIT_AUTHOR_EMAIL": "sotsync@localhost",
    "GIT_COMMITTER_NAME": "sotsync",
    "GIT_COMMITTER_EMAIL": "sotsync@localhost",
}


def _attempt(
    ws: Workspace, args: Sequence[str], stdin: bytes = b"", env: dict[str, str] | None = None
) -> tuple[int, bytes, str]:
    """Run git and return (exit status, stdout, stderr) instead of raising on failure."""
    import subprocess

    assert ws.git_root is not None and ws.git_dir is not None
    full = dict(os.environ)
    full.update(
        {
            "GIT_OPTIONAL_LOCKS": "0",
            "GIT_DIR": str(ws.git_dir),
            "GIT_WORK_TREE": str(ws.git_root),
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
        }
    )
    full.update(env or {})
    try:
        proc = subprocess.run(
            ["git", *args], input=stdin, capture_output=True, cwd=ws.git_root, env=full, check=False
        )
    except OSError as exc:
        raise GitError(f"cannot run {_display(args)}: {exc.strerror or exc}") from None
    return proc.returncode, proc.stdout, proc.stderr.decode(_ENCODING, "replace")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no message")


def resolve_ref(ws: Workspace, ref: str) -> str | None:
    """The object a ref points to, or None when it does not exist."""
    code, out, _err = _attempt(ws, ["rev-parse", "--verify", "-q", ref])
    return out.decode("ascii").strip() if code == 0 else None


def fetch_ref(ws: Workspace, remote: str, ref: str, into: str) -> str | None:
    """Fetch ``ref`` from ``remote`` into the local ref ``into``; None when the remote lacks it."""
    code, _out, err = _attempt(
        ws, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, f"+{ref}:{into}"]
    )
    if code != 0:
        if "couldn't find remote ref" in err:
            _attempt(ws, ["update-ref", "-d", into])
            return None
        raise GitError(
            f"git fetch {remote} {ref} failed: {_first_line(err)}",
            hint=f"check that remote '{remote}' is reachable (`git remote -v`)",
        )
    return resolve_ref(ws, into)


def read_reserved(ws: Workspace, commit: str, name: str = "reserved") -> str | None:
    """The text of the file ``name`` in a reservation commit."""
    code, out, _err = _attempt(ws, ["cat-file", "blob", f"{commit}:{name}"])
    return out.decode(_ENCODING, "replace").strip() if code == 0 else None


def reservation_commit(ws: Workspace, parent: str | None, text: str, message: str) -> str:
    """A commit whose tree holds one file ``reserved`` with ``text``; the work tree is untouched."""
    blob = _run(ws, ["hash-object", "-w", "--stdin"], stdin=(text + "\n").encode()).strip()
    tree = _run(ws, ["mktree"], stdin=b"100644 blob " + blob + b"\treserved\n").strip()
    args = ["commit-tree", tree.decode("ascii"), "-m", message]
    if parent:
        args += ["-p", parent]
    code, out, err = _attempt(ws, args, env=_MACHINE_IDENTITY)
    if code != 0:
        raise GitError(f"git commit-tree failed: {_first_line(err)}")
    return out.decode("ascii").strip()


def push_with_lease(ws: Workspace, remote: str, new: str, ref: str, expected: str | None) -> bool:
    """Compare-and-swap ``ref`` on ``remote`` from ``expected`` (None: absent) to ``new``.

    Returns False when the remote moved first (the lease is stale); other failures raise.
    """
    lease = f"--force-with-lease={ref}:{expected or ''}"
    code, _out, err = _attempt(
        ws, ["push", "--quiet", "--no-verify", lease, remote, f"{new}:{ref}"]
    )
    if code == 0:
        return True
    if "stale info" in err or "rejected" in err or "failed to update ref" in err:
        return False
    raise GitError(
        f"git push {remote} {ref} failed: {_first_line(err)}",
        hint=f"check that remote '{remote}' is reachable and accepts {ref}",
    )


def update_ref(ws: Workspace, ref: str, new: str, old: str | None) -> None:
    """Move a local ref with compare-and-swap (``old`` None: the ref must not exist)."""
    _run(ws, ["update-ref", ref, new, old or "0" * 40])


def hooks_dir(ws: Workspace) -> Path:
    """The directory git runs hooks from: ``core.hooksPath`` (work-tree relative) or the default.

    ``git rev-parse --git-path hooks`` answers for worktrees and ``core.hooksPath`` alike.
    """
    from pathlib import Path

    if ws.git_root is None:
        raise GitError(
            f"{ws.root} is not inside a git repository",
            hint="git hooks need a git repository; run `git init` first",
        )
    out = _run(ws, ["rev-parse", "--git-path", "hooks"]).decode(_ENCODING, _ERRORS).strip()
    path = Path(out)
    return path if path.is_absolute() else ws.git_root / path


def merge_base(ws: Workspace, a: str, b: str) -> str | None:
    """The best common ancestor of two commits; None when the histories are unrelated."""
    if ws.git_root is None:
        return None
    try:
        out = _run(ws, ["merge-base", a, b])
    except GitError:
        return None
    return out.decode("ascii", "replace").strip() or None


def remote_branch_refs(ws: Workspace, remote: str) -> list[str]:
    """The remote-tracking branches of *remote* (full names), symbolic refs left out."""
    return [ref for ref in branch_refs(ws) if ref.startswith(f"refs/remotes/{remote}/")]


def resolve_commit(ws: Workspace, rev: str) -> str | None:
    """The commit *rev* names, or None when it names none (unborn HEAD, missing ORIG_HEAD)."""
    if ws.git_root is None:
        return None
    try:
        out = _run(ws, ["rev-parse", "--verify", "-q", f"{rev}^{{commit}}"])
    except GitError:
        return None
    return out.decode("ascii", "replace").strip() or None


# --------------------------------------------------------------------------- configuration


def config_get(ws: Workspace, key: str) -> str | None:
    """A value of the repository's git configuration (all scopes), or None."""
    if ws.git_root is None:
        return None
    code, out, _err = _attempt(ws, ["config", "--get", key])
    return out.decode(_ENCODING, _ERRORS).strip() if code == 0 else None


def config_set_local(ws: Workspace, key: str, value: str) -> None:
    """Set ``key`` in the repository's own configuration (``.git/config``)."""
    _run(ws, ["config", "--local", key, value])


def attribute(ws: Workspace, paths: Sequence[str], name: str) -> dict[str, str | None]:
    """The value of gitattribute ``name`` for each workspace path (None: unspecified)."""
    result: dict[str, str | None] = {path: None for path in paths}
    if ws.git_root is None or not paths:
        return result
    to_git = {_git_path(ws, path): path for path in paths}
    payload = b"".join(p.encode(_ENCODING, _ERRORS) + b"\0" for p in to_git)
    out = _run(ws, ["check-attr", "-z", "--stdin", name], stdin=payload)
    fields = out.split(b"\0")
    for index in range(0, len(fields) - 2, 3):
        git_path = fields[index].decode(_ENCODING, _ERRORS)
        value = fields[index + 2].decode(_ENCODING, _ERRORS)
        if git_path in to_git and value != "unspecified":
            result[to_git[git_path]] = value
    return result


def git_relative(ws: Workspace, path: str) -> str:
    """A workspace path as git names it (relative to the repository's top level)."""
    return _git_path(ws, path)


def remotes(ws: Workspace) -> list[str]:
    """The names of the repository's remotes."""
    if ws.git_root is None:
        return []
    return [r for r in _run(ws, ["remote"]).decode(_ENCODING, _ERRORS).split() if r]


def config_values(ws: Workspace, key: str) -> list[str]:
    """Every value of a multi-valued configuration key."""
    code, out, _err = _attempt(ws, ["config", "--get-all", key])
    return out.decode(_ENCODING, _ERRORS).splitlines() if code == 0 else []


def config_add_local(ws: Workspace, key: str, value: str) -> None:
    """Add one more value to a multi-valued key of ``.git/config``."""
    _run(ws, ["config", "--local", "--add", key, value])


# --------------------------------------------------------------------------- moving sotsync refs


def remote_refs(ws: Workspace, remote: str, pattern: str) -> dict[str, str]:
    """Ref name → object id for the refs of *remote* matching *pattern* (``git ls-remote``)."""
    code, out, err = _attempt(ws, ["ls-remote", "--refs", remote, pattern])
    if code != 0:
        raise GitError(
            f"git ls-remote {remote} failed: {_first_line(err)}",
            hint=f"check that remote '{remote}' is reachable (`git remote -v`)",
        )
    found: dict[str, str] = {}
    for line in out.decode(_ENCODING, _ERRORS).splitlines():
        oid, _, name = line.partition("\t")
        if name:
            found[name] = oid
    return found


def fetch_objects(ws: Workspace, remote: str, refspecs: Sequence[str]) -> None:
    """Fetch *refspecs* from *remote*: the objects always, local refs only where a spec says so."""
    if not refspecs:
        return
    code, _out, err = _attempt(
        ws,
        ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--refmap=", remote, *refspecs],
    )
    if code != 0:
        raise GitError(
            f"git fetch {remote} failed: {_first_line(err)}",
            hint=f"check that remote '{remote}' is reachable (`git remote -v`)",
        )


def is_ancestor(ws: Workspace, old: str, new: str) -> bool:
    """Whether commit *old* is an ancestor of (or equal to) commit *new*."""
    code, _out, _err = _attempt(ws, ["merge-base", "--is-ancestor", old, new])
    return code == 0


def push_refs(ws: Workspace, remote: str, refspecs: Sequence[str]) -> list[tuple[str, str, str]]:
    """Push *refspecs* (never forced) to *remote*; (remote ref, flag, summary) per ref.

    The flag is git's porcelain flag: ``*`` new, `` `` fast-forward, ``=`` up to date,
    ``!`` rejected.  A push that fails for any other reason (unreachable remote) raises.
    """
    code, out, err = _attempt(ws, ["push", "--porcelain", "--no-verify", remote, *refspecs])
    results = []
    for line in out.decode(_ENCODING, _ERRORS).splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and len(fields[0]) == 1:
            summary = fields[2].strip()
            results.append((fields[1].rpartition(":")[2], fields[0], summary))
    if code != 0 and not any(flag == "!" for _ref, flag, _s in results):
        raise GitError(
            f"git push {remote} failed: {_first_line(err)}",
            hint=f"check that remote '{remote}' is reachable and accepts the refs",
        )
    return results
