"""Ledger commands: lint, fix, inspect, new, init, unlock, codes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from sotsync import api
from sotsync.cli.base import FORMATS, State, cli, pass_state
from sotsync.errors import (
    EXIT_FINDINGS,
    EXIT_OK,
)
from sotsync.ledger.lint import CATALOGUE
from sotsync.models import Finding

# --------------------------------------------------------------------------- lint


def _codes(value: str | None) -> list[str]:
    return [c.strip().upper() for c in (value or "").split(",") if c.strip()]


def render_findings(findings: Sequence[Finding], fmt: str, extra: dict[str, Any]) -> str:
    """Findings as text lines, JSON, or GitHub workflow annotations."""
    if fmt == "json":
        counts: dict[str, int] = {}
        for f in findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        doc = {
            "version": 1,
            "findings": [f.as_dict() for f in findings],
            "summary": {"total": len(findings), "by_severity": counts, **extra},
        }
        return json.dumps(doc, indent=2, ensure_ascii=False)
    if fmt == "github":
        level = {"error": "error", "warning": "warning", "info": "notice"}
        return "\n".join(
            f"::{level[f.severity]} file={f.path},line={f.line},col={f.col},title={f.code}::"
            f"{gh_escape(f.message)}"
            for f in findings
        )
    return "\n".join(f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}" for f in findings)


def gh_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


@cli.command()
@click.argument("ledgers", nargs=-1)
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--select", help="Only these codes (comma-separated prefixes, e.g. SOT02,SOT030).")
@click.option("--ignore", help="Skip these codes (comma-separated prefixes).")
@click.option(
    "--fail-on",
    type=click.Choice(["info", "warning", "error", "never"]),
    default="error",
    show_default=True,
    help="Lowest severity that makes the exit 1.",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Ignore findings recorded in this baseline file.",
)
@click.option(
    "--write-baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Record the current findings as accepted, then exit 0.",
)
@click.option("--new-since", metavar="REV", help="Only findings absent from the ledgers at REV.")
@pass_state
def lint(
    state: State,
    ledgers: tuple[str, ...],
    fmt: str,
    select: str | None,
    ignore: str | None,
    fail_on: str,
    baseline: Path | None,
    write_baseline: Path | None,
    new_since: str | None,
) -> int:
    """Report findings (SOT001-SOT050) in the ledgers (names or paths; default: all).

    \b
    Example:
      sotsync lint build --format json
      sotsync lint --new-since origin/main --fail-on warning
    """
    # A baseline being written records every current finding, not only the new ones.
    accepted = None if write_baseline is not None else baseline
    report = api.lint(state.config, ledgers, _codes(select), _codes(ignore), accepted, new_since)
    if write_baseline is not None:
        count = api.write_baseline(report, write_baseline)
        click.echo(f"wrote {count} finding(s) to {write_baseline}", err=True)
        return EXIT_OK
    output = render_findings(
        report.findings, fmt, {"ledgers": list(report.ledgers), "suppressed": report.suppressed}
    )
    if output:
        click.echo(output)
    failing = report.failing(fail_on)
    if fmt == "text":
        click.echo(
            f"{len(report.findings)} finding(s) in {len(report.ledgers)} ledger(s), "
            f"{len(failing)} at or above {fail_on}",
            err=True,
        )
    return EXIT_FINDINGS if failing else EXIT_OK


# --------------------------------------------------------------------------- fix


@cli.command()
@click.argument("ledgers", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Print a unified diff instead of writing.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_state
def fix(state: State, ledgers: tuple[str, ...], dry_run: bool, fmt: str) -> int:
    """Repair every fixable finding (atomic writes under the workspace lock).

    \b
    Example:
      sotsync fix --dry-run build
      sotsync fix
    """
    results = api.fix(state.config, ledgers, dry_run)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "version": 1,
                    "dry_run": dry_run,
                    "ledgers": [
                        {
                            "path": r.path,
                            "changed": r.changed,
                            "repaired": dict(r.repaired),
                            "refused": r.refused,
                        }
                        for r in results
                    ],
                },
                indent=2,
            )
        )
    for result in results:
        if fmt == "text" and dry_run and result.changed:
            click.echo(_diff(result.path, result.before, result.after), nl=False)
        if fmt == "text":
            click.echo(_fix_line(result, dry_run), err=True)
    return EXIT_FINDINGS if any(r.refused for r in results) else EXIT_OK


def _fix_line(result: Any, dry_run: bool) -> str:
    if result.refused:
        return f"{result.path}: {result.refused}"
    if not result.changed:
        return f"{result.path}: nothing to fix"
    done = ", ".join(f"{code} x{n}" for code, n in result.repaired)
    verb = "would repair" if dry_run else "repaired"
    return f"{result.path}: {verb} {done}"


def _diff(path: str, before: bytes, after: bytes) -> str:
    import difflib  # only --dry-run needs it; keep start-up light

    old = before.decode("utf-8", "surrogateescape").splitlines(keepends=True)
    new = after.decode("utf-8", "surrogateescape").splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, f"a/{path}", f"b/{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# --------------------------------------------------------------------------- inspect


@cli.command()
@click.argument("ledgers", nargs=-1)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_state
def inspect(state: State, ledgers: tuple[str, ...], fmt: str) -> int:
    """Per-ledger counts, line endings and preamble values.

    \b
    Example:
      sotsync inspect --format json
    """
    reports = api.inspect(state.config, ledgers)
    if fmt == "json":
        click.echo(json.dumps({"version": 1, "ledgers": reports}, indent=2, ensure_ascii=False))
        return EXIT_OK
    for report in reports:
        click.echo(
            f"{report['path']} ({report['name']}, {report['prefix']}, "
            f"{report['line_endings']}, {report['bytes']:,} bytes)"
        )
        for key, value in report["counts"].items():
            shown = ", ".join(value) if isinstance(value, list) else value
            click.echo(f"  {key:<22} {shown if shown != '' else '-'}")
        pre = report["preamble"]
        click.echo(f"  {'summary':<22} {pre['summary'] or '-'}")
        for key, value in pre["meta"].items():
            click.echo(f"  meta {key:<17} {value}")
    return EXIT_OK


# --------------------------------------------------------------------------- new


def _field(values: tuple[str, ...]) -> list[tuple[str, str]]:
    fields = []
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--field")
        fields.append((key.strip(), value.strip()))
    return fields


@cli.command()
@click.argument("ledger")
@click.option("--title", required=True, help="Title of the new entry.")
@click.option("--date", help="Entry date, YYYY-MM-DD (default: today, UTC).")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="KEY=VALUE",
    help="A `**KEY**: VALUE` line in the section (and the INDEX cell of that column).",
)
@click.option(
    "--reserve",
    is_flag=True,
    help="Claim the id on the remote first (compare-and-swap), so devices never clash.",
)
@click.option(
    "--remote",
    default="origin",
    show_default=True,
    help="The remote that holds the id reservations (with --reserve).",
)
@pass_state
def new(
    state: State,
    ledger: str,
    title: str,
    date: str | None,
    fields: tuple[str, ...],
    reserve: bool,
    remote: str,
) -> int:
    """Add an entry with the next free id (INDEX row + section).

    \b
    Example:
      sotsync new build --title "Cache warm-up" --field Status=DONE
      sotsync new debug --title "Flaky gate" --reserve   # claim the id on origin first
    """
    entry = api.new(
        state.config, ledger, title, date, _field(fields), reserve=remote if reserve else None
    )
    click.echo(entry.id)
    click.echo(f"added {entry.id} to {entry.path}", err=True)
    return EXIT_OK


# --------------------------------------------------------------------------- init


@cli.command()
@click.option(
    "--write-config",
    type=click.Choice(["pyproject", "sotsync.toml"]),
    help="Also write the ledger list to pyproject.toml or .sotsync.toml.",
)
@click.option(
    "--adopt",
    is_flag=True,
    help="Set expect_since to now: runs created before adoption need no entry.",
)
@click.option("--no-hooks", is_flag=True, help="Do not install the git hooks.")
@pass_state
def init(state: State, write_config: str | None, adopt: bool, no_hooks: bool) -> int:
    """Set the repository up: ledgers, merge driver, refspecs, git hooks (idempotent).

    \b
    Example:
      sotsync init --write-config sotsync.toml
      sotsync init --adopt          # on an existing database: old runs need no entry
    """
    result = api.init(state.config, write_config, adopt, hooks=not no_hooks)
    for path in result.created:
        click.echo(f"created {path}")
    if result.config:
        click.echo(f"configuration in {result.config}")
    if result.adopted:
        click.echo(result.adopted)
    for line in result.registered:
        click.echo(f"registered {line}")
    for line in result.hooks:
        click.echo(f"hook {line}")
    if not result.created:
        click.echo("ledgers already present; nothing to create")
    return EXIT_OK


@cli.command()
@pass_state
def unlock(state: State) -> int:
    """Remove the record of a workspace lock whose holder is gone.

    A live holder is never interrupted: the command refuses while the lock is held.

    \b
    Example:
      sotsync unlock
    """
    holder = api.unlock(state.config)
    if holder is None:
        click.echo("no lock record; nothing to do")
    else:
        click.echo(f"removed the lock record of {holder.describe()}")
    return EXIT_OK


@cli.command(name="codes")
def codes() -> int:
    """List the finding codes with severity and whether fix repairs them.

    \b
    Example:
      sotsync codes
    """
    for code in CATALOGUE:
        click.echo(f"{code.code}  {code.severity:<7}  fix: {code.fixable:<16} {code.summary}")
    return EXIT_OK
