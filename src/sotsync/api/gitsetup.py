"""Git integration set up by `init`: the merge driver (registration and the verb) and
the hook scripts (`hooks install|uninstall|status`).

Part of the api layer: it never prints, exits or reads argv.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sotsync import fsio, gitrepo
from sotsync.config import Config, LedgerSpec, Workspace, resolve_ledgers
from sotsync.errors import ConfigError, SotsyncError
from sotsync.locking import workspace_lock

if TYPE_CHECKING:
    from sotsync.ledger.merge import MergeResult


MERGE_DRIVER = "sotsync"


def merge_driver_command() -> str:
    """The driver command git runs, by absolute path.

    A merge may run where PATH differs (an IDE, a GUI client, cron); a driver git cannot find
    makes git keep one side and silently drop the other's entries, so never rely on PATH.
    """
    import shlex
    import shutil
    import sys

    script = shutil.which("sotsync")
    if script:
        return f"{shlex.quote(str(Path(script).resolve()))} merge-driver %O %A %B %P"
    return f"{shlex.quote(sys.executable)} -m sotsync merge-driver %O %A %B %P"


RESERVATION_REFSPEC = "+refs/sotsync/ids/*:refs/sotsync/ids/*"
SNAPSHOT_REFSPEC = "+refs/sotsync/snapshots/*:refs/sotsync/remotes/{remote}/snapshots/*"
TAG_REFSPEC = "+refs/sotsync/tags/*:refs/sotsync/remotes/{remote}/tags/*"


def _register_refspecs(ws: Workspace) -> tuple[str, ...]:
    """Fetch refspecs per remote, so a plain ``git fetch`` brings reservations and snapshots.

    The remote is the authority on reservations (they only move by compare-and-swap pushes),
    so the local copies follow it with a forced update.  Snapshots and tags land in a
    remote-tracking namespace, ``refs/sotsync/remotes/<remote>/...``, like branches do: a
    plain ``git fetch`` (and so ``git pull``) never fails because this device has snapshots it
    has not pushed yet, and never touches its own refs; ``sotsync pull`` moves the local
    ones.  Nothing is added to ``push``: a push refspec would change what a plain
    ``git push`` sends.
    """
    done = []
    for remote in gitrepo.remotes(ws):
        key = f"remote.{remote}.fetch"
        present = gitrepo.config_values(ws, key)
        for pattern in (RESERVATION_REFSPEC, SNAPSHOT_REFSPEC, TAG_REFSPEC):
            refspec = pattern.format(remote=remote)
            if refspec not in present:
                gitrepo.config_add_local(ws, key, refspec)
                done.append(f"git config {key} {refspec}")
    return tuple(done)


def _register_merge_driver(ws: Workspace, specs: Sequence[LedgerSpec]) -> tuple[str, ...]:
    """``merge.sotsync.*`` in ``.git/config`` and ``merge=sotsync`` for each ledger."""
    if ws.git_root is None:
        return ()
    done = []
    wanted = {
        f"merge.{MERGE_DRIVER}.name": "sotsync entry-aware ledger merge",
        f"merge.{MERGE_DRIVER}.driver": merge_driver_command(),
    }
    for key, value in wanted.items():
        if gitrepo.config_get(ws, key) is None:
            gitrepo.config_set_local(ws, key, value)
            done.append(f"git config {key}")
    merge = gitrepo.attribute(ws, [s.path for s in specs], "merge")
    missing = [s.path for s in specs if merge[s.path] != MERGE_DRIVER]
    if missing:
        attributes = ws.git_root / ".gitattributes"
        text = attributes.read_bytes().decode("utf-8") if attributes.exists() else ""
        newline = "\r\n" if "\r\n" in text else "\n"
        if text and not text.endswith(("\n", "\r")):
            text += newline
        for path in missing:
            text += f"/{gitrepo.git_relative(ws, path)} merge={MERGE_DRIVER}{newline}"
        fsio.atomic_write_bytes(attributes, text.encode("utf-8"), ".gitattributes")
        done += [f".gitattributes: {path} merge={MERGE_DRIVER}" for path in missing]
    return tuple(done)


# --------------------------------------------------------------------------- merge driver


def merge_driver(
    config: Config | None, base: Path, ours: Path, theirs: Path, path: str
) -> MergeResult:
    """Merge ``theirs`` into ``ours`` by entry (git's %O %A %B %P) and write the result to %A.

    ``path`` picks the ledger: a configured one, else one whose prefix can be guessed.  Anything
    else, and any failure of the merge itself, gives git's own answer: one conflict over the
    whole file.  A merge driver must always leave a usable %A behind; a traceback would not.
    """
    from sotsync.ledger.merge import guess_prefix, merge_ledgers, whole_file_conflict

    sides = (
        fsio.read_ledger_bytes(base, str(base)),
        fsio.read_ledger_bytes(ours, str(ours)),
        fsio.read_ledger_bytes(theirs, str(theirs)),
    )
    spec: LedgerSpec | None = None
    if config is not None:
        spec = next((s for s in config.ledgers if s.path == path), None)
        if spec is None:
            try:
                spec = resolve_ledgers(config, [path], cwd=config.workspace.root)[0]
            except SotsyncError:
                spec = None
    prefix = spec.prefix if spec is not None else None
    if prefix is None and path.lower().endswith(".md"):
        prefix = guess_prefix(sides[1]) or guess_prefix(sides[2])
    result = whole_file_conflict(*sides)
    if prefix is not None:
        newest_first = spec is None or spec.order == "newest-first"
        try:
            result = merge_ledgers(*sides, path, prefix, newest_first)
        except Exception:  # a bug in the merge must still leave git a conflict to resolve
            result = whole_file_conflict(*sides)
    fsio.atomic_write_bytes(ours, result.data, path)
    return result


# --------------------------------------------------------------------------- git hooks

HOOK_NAMES = ("pre-commit", "post-merge", "post-checkout", "post-rewrite", "pre-push")
PREVIOUS_SUFFIX = ".sotsync-previous"
HOOK_MARKER = "# sotsync-hook-script v1"
# The same script serves every hook (it reads its name from $0); `hooks/` in the source tree
# holds copies of it for people who install hooks by hand.
HOOK_SCRIPT = f"""#!/bin/sh
{HOOK_MARKER}
# Runs `sotsync hook <name>`, then the hook this one replaced (saved as <name>{PREVIOUS_SUFFIX}).
# Installed by `sotsync hooks install`; `sotsync hooks uninstall` restores the previous hook.
hook=${{0##*/}}
previous="${{0%/*}}/$hook{PREVIOUS_SUFFIX}"

# Hooks run at every commit: when the `sotsync` on PATH is a script whose first line names a
# Python interpreter, that interpreter runs the hook module directly, skipping the script's own
# imports and `-m` (milliseconds per commit); anything else runs `sotsync hook` as it is.
python=""
if command -v sotsync >/dev/null 2>&1; then
    runner="sotsync"
    IFS= read -r first <"$(command -v sotsync)" 2>/dev/null || first=""
    case $first in
    "#!"*python*) python=${{first#??}} ;;
    esac
    case $python in
    *" "*) python="" ;;
    esac
    [ -z "$python" ] || [ -x "$python" ] || python=""
elif command -v python3 >/dev/null 2>&1 && python3 -c "import sotsync" >/dev/null 2>&1; then
    runner="python3 -m sotsync"
else
    runner=""
    echo "sotsync: warning: $hook hook skipped: sotsync is neither on PATH nor importable" >&2
fi
run_hook() {{
    if [ -n "$python" ]; then
        "$python" -c 'import sys; from sotsync.hooks import main; sys.exit(main(sys.argv[1:]))' "$@"
    else
        $runner hook "$@"
    fi
}}

if [ ! -x "$previous" ]; then
    [ -n "$runner" ] || exit 0
    run_hook "$hook" "$@"
    exit $?
fi

# Both hooks get git's stdin, so that pre-push and post-rewrite receive their ref lists.
case $hook in
pre-push | post-rewrite) input=$(cat) ;;
*) input="" ;;
esac
feed() {{
    if [ -n "$input" ]; then printf '%s\\n' "$input"; fi
}}
status=0
if [ -n "$runner" ]; then
    case $hook in
    pre-push | post-rewrite) feed | run_hook "$hook" "$@" ;;
    *) run_hook "$hook" "$@" ;;
    esac || status=$?
fi
case $hook in
pre-push | post-rewrite) feed | "$previous" "$@" ;;
*) "$previous" "$@" ;;
esac || {{
    code=$?
    [ "$status" -ne 0 ] || status=$code
}}
exit $status
"""


@dataclass(frozen=True)
class HookState:
    """One git hook: ``state`` is installed, foreign or missing; ``action`` what a command did."""

    name: str
    path: str
    state: str
    previous: bool
    current: bool = True
    action: str = ""


def _hook_state(path: Path) -> str:
    if not path.exists() and not path.is_symlink():
        return "missing"
    try:
        with path.open("rb") as stream:
            head = stream.read(4096)
    except OSError:
        return "foreign"
    return "installed" if HOOK_MARKER.encode() in head else "foreign"


def _shown_path(ws: Workspace, path: Path) -> str:
    try:
        return path.relative_to(ws.root).as_posix()
    except ValueError:
        return str(path)


def _hook_states(ws: Workspace) -> list[tuple[str, Path, Path, str]]:
    directory = gitrepo.hooks_dir(ws)
    return [
        (
            name,
            directory / name,
            directory / f"{name}{PREVIOUS_SUFFIX}",
            _hook_state(directory / name),
        )
        for name in HOOK_NAMES
    ]


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def hooks_status(config: Config) -> list[HookState]:
    """Each sotsync hook in git's hooks directory (``core.hooksPath`` respected)."""
    ws = config.workspace
    script = HOOK_SCRIPT.encode()
    result = []
    for name, target, previous, state in _hook_states(ws):
        current = state != "installed" or target.read_bytes() == script
        result.append(HookState(name, _shown_path(ws, target), state, _exists(previous), current))
    return result


def hooks_install(config: Config) -> list[HookState]:
    """Install the hook scripts; a foreign hook is kept as ``<hook>.sotsync-previous`` and chained.

    Running it again changes nothing; an outdated sotsync script is rewritten.
    """
    ws = config.workspace
    script = HOOK_SCRIPT.encode()
    with workspace_lock(ws, "sotsync hooks install"):
        states = _hook_states(ws)
        for _name, target, previous, state in states:
            if state == "foreign" and _exists(previous):
                raise ConfigError(
                    f"cannot install the {_name} hook: both {_shown_path(ws, target)} and "
                    f"{_shown_path(ws, previous)} exist",
                    hint="merge or remove one of them, then run `sotsync hooks install` again",
                )
        result = []
        for name, target, previous, state in states:
            if state == "installed" and target.read_bytes() == script:
                action = "kept"
            else:
                if state == "foreign":
                    target.replace(previous)
                    action = "installed, previous hook chained"
                else:
                    action = "updated" if state == "installed" else "installed"
                target.parent.mkdir(parents=True, exist_ok=True)
                fsio.atomic_write_bytes(target, script, _shown_path(ws, target))
                target.chmod(0o755)
            result.append(
                HookState(
                    name, _shown_path(ws, target), "installed", _exists(previous), True, action
                )
            )
    return result


def hooks_uninstall(config: Config) -> list[HookState]:
    """Remove sotsync's hook scripts and put back the hooks they replaced; foreign hooks stay."""
    ws = config.workspace
    with workspace_lock(ws, "sotsync hooks uninstall"):
        result = []
        for name, target, previous, state in _hook_states(ws):
            if state == "foreign":
                action, now = "left alone (not sotsync's)", "foreign"
            elif _exists(previous):
                previous.replace(target)
                action, now = "removed, previous hook restored", "foreign"
            elif state == "installed":
                target.unlink()
                action, now = "removed", "missing"
            else:
                action, now = "not installed", "missing"
            result.append(HookState(name, _shown_path(ws, target), now, False, True, action))
    return result
