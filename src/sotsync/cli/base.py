"""Shared parts of the command line: the ``sotsync`` group, its per-invocation state, formats.

The only package that imports click (with the rest of ``sotsync.cli``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from sotsync import __version__
from sotsync.config import Config, find_workspace, load_config
from sotsync.progress import NO_PROGRESS, Progress

FORMATS = click.Choice(["text", "json", "github"])


class State:
    """Options of the ``sotsync`` group, resolved into a config once per invocation."""

    def __init__(
        self,
        repo: Path | None,
        debug: bool,
        database_url: str | None = None,
        device: str | None = None,
    ) -> None:
        self.repo = repo
        self.debug = debug
        self.database_url = database_url
        self.device = device
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(find_workspace(self.repo))
        return self._config


pass_state = click.make_pass_decorator(State)


class TerminalProgress:
    """A ``Progress`` drawn as click progress bars on stderr, one bar per stage."""

    def __init__(self) -> None:
        self._bar: Any = None

    def stage(self, label: str, total: int | None) -> None:
        self.done()
        self._bar = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
        self._bar.__enter__()

    def advance(self, units: int) -> None:
        if self._bar is not None:
            self._bar.update(units)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def progress() -> Progress:
    """A terminal bar when stderr is a terminal, else the silent sink (SPEC §8)."""
    return TerminalProgress() if sys.stderr.isatty() else NO_PROGRESS


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--repo",
    type=click.Path(path_type=Path, file_okay=True),
    default=None,
    help="Workspace directory (default: the git repository containing the cwd).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.option(
    "--database-url",
    metavar="URL",
    default=None,
    help="Database to use (before SOTSYNC_DATABASE_URL, DATABASE_URL, .env, config).",
)
@click.option(
    "--device",
    metavar="NAME",
    default=None,
    help="This device's name (before SOTSYNC_DEVICE, AUTOPACK_REGION, config, hostname).",
)
@click.version_option(__version__, prog_name="sotsync")
@click.pass_context
def cli(
    ctx: click.Context, repo: Path | None, debug: bool, database_url: str | None, device: str | None
) -> None:
    """Keep Markdown source-of-truth ledgers, the run database and git consistent.

    \b
    Example:
      sotsync lint                 # findings of every configured ledger
      sotsync fix --dry-run        # what fix would change, as a diff
    """
    ctx.obj = State(repo, debug, database_url, device)
