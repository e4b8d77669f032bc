"""The command line: the only package that imports click.

One module per domain registers its commands on the group in ``base``; this module runs it.

Each command parses its options, makes one ``api`` call and renders the result.  ``run`` turns
every error into an exit code (SPEC §8): SotsyncError → its own code with ``sotsync: error:`` and
``hint:`` lines; anything else → 4, with the traceback written to a log file (shown on --debug).
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from sotsync.cli import backups, database, hooks, ledgers, ops, snapshots  # noqa: F401  (registers commands)
from sotsync.cli.base import cli
from sotsync.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, SotsyncError

__all__ = ["cli", "run"]


def _log_traceback() -> Path | None:
    """Append the current traceback to the log file; None when no log file can be written.

    Called while handling an error: it must not raise, or the user gets a traceback after all.
    """
    text = traceback.format_exc() + "\n"
    directories = [os.environ.get("SOTSYNC_LOG_DIR") or "", tempfile.gettempdir()]
    for directory in dict.fromkeys(d for d in directories if d):
        path = Path(directory) / "sotsync-error.log"
        try:
            with path.open("a", encoding="utf-8", errors="backslashreplace") as handle:
                handle.write(text)
        except OSError:
            continue
        return path
    return None


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (SPEC §8)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = cli.main(args, prog_name="sotsync", standalone_mode=False)
    except SotsyncError as exc:
        click.echo(f"sotsync: error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("sotsync: interrupted", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("sotsync: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if exc.exit_code == 2 else exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except Exception as exc:  # the one place that turns bugs into exit 4
        log = _log_traceback()
        if debug:
            traceback.print_exc()
        click.echo(f"sotsync: internal error: {type(exc).__name__}: {exc}", err=True)
        if log is not None:
            click.echo(f"hint: the traceback is in {log}; please report it", err=True)
        else:
            click.echo("hint: run the command again with --debug to see the traceback", err=True)
        return EXIT_INTERNAL
    return int(result) if isinstance(result, int) else EXIT_OK
