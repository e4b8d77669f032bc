"""Git integration commands: merge-driver, hook, hooks install|uninstall|status."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from sotsync import api
from sotsync.cli.base import State, cli, pass_state
from sotsync.config import Config
from sotsync.errors import (
    EXIT_FINDINGS,
    EXIT_OK,
    SotsyncError,
)

# --------------------------------------------------------------------------- merge driver


@cli.command(name="merge-driver")
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("ours", type=click.Path(path_type=Path))
@click.argument("theirs", type=click.Path(path_type=Path))
@click.argument("path")
@pass_state
def merge_driver(state: State, base: Path, ours: Path, theirs: Path, path: str) -> int:
    """Merge a ledger entry by entry: git's merge driver (%O %A %B %P).

    Writes the result to OURS; exit 0 when clean, 1 when conflicts are left.

    \b
    Example:
      git config merge.sotsync.driver "sotsync merge-driver %O %A %B %P"
      echo "docs/*.md merge=sotsync" >> .gitattributes
    """
    try:
        config: Config | None = state.config
    except SotsyncError:
        config = None  # a broken configuration must not stop a merge
    result = api.merge_driver(config, base, ours, theirs, path)
    for old, new in result.renumbered:
        click.echo(f"sotsync: {path}: {old} was added on both sides; theirs is now {new}", err=True)
    if result.conflicts:
        click.echo(f"sotsync: {path}: {result.conflicts} conflict(s) to resolve", err=True)
        return EXIT_FINDINGS
    return EXIT_OK


# --------------------------------------------------------------------------- git hooks


@cli.command(
    name="hook",
    hidden=True,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(args: tuple[str, ...]) -> int:
    """Run one git hook (what the hook scripts call): sotsync hook NAME [ARGS].

    \b
    Example:
      sotsync hook pre-commit      # lint the staged ledgers, as the pre-commit hook does
    """
    from sotsync import hooks as git_hooks

    return git_hooks.main(list(args))


@cli.group(name="hooks")
def hooks_group() -> None:
    """Plain git hooks (without the pre-commit framework).

    \b
    Example:
      sotsync hooks install        # keeps an existing hook and runs it after sotsync's
      sotsync hooks status
    """


def _render_hooks(states: Sequence[api.HookState], fmt: str, with_action: bool) -> None:
    if fmt == "json":
        doc = {
            "version": 1,
            "hooks": [
                {
                    "name": s.name,
                    "path": s.path,
                    "state": s.state,
                    "previous": s.previous,
                    "current": s.current,
                    **({"action": s.action} if with_action else {}),
                }
                for s in states
            ],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    for s in states:
        if with_action:
            click.echo(f"{s.name:<14} {s.action} ({s.path})")
            continue
        flags = (("outdated", not s.current), ("chains previous", s.previous))
        notes = [note for note, on in flags if on]
        extra = f" ({', '.join(notes)})" if notes else ""
        click.echo(f"{s.name:<14} {s.state}{extra}  {s.path}")


@hooks_group.command(name="install")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_state
def hooks_install(state: State, fmt: str) -> int:
    """Install the hook scripts into git's hooks directory (core.hooksPath respected).

    An existing hook is kept as <hook>.sotsync-previous and still runs.  Idempotent.

    \b
    Example:
      sotsync hooks install
    """
    _render_hooks(api.hooks_install(state.config), fmt, True)
    return EXIT_OK


@hooks_group.command(name="uninstall")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_state
def hooks_uninstall(state: State, fmt: str) -> int:
    """Remove sotsync's hook scripts and restore the hooks they replaced.

    \b
    Example:
      sotsync hooks uninstall
    """
    _render_hooks(api.hooks_uninstall(state.config), fmt, True)
    return EXIT_OK


@hooks_group.command(name="status")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@pass_state
def hooks_status(state: State, fmt: str) -> int:
    """Each hook: installed (sotsync's), foreign (someone else's) or missing.

    \b
    Example:
      sotsync hooks status --format json
    """
    _render_hooks(api.hooks_status(state.config), fmt, False)
    return EXIT_OK
