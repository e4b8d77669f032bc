"""Operations commands: doctor, recover stuck|integrity, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sotsync import api
from sotsync.cli.base import State, cli, pass_state
from sotsync.errors import EXIT_FINDINGS, EXIT_OK

TEXT_JSON = click.Choice(["text", "json"])
_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


@cli.command(short_help="Check setup, database, recovery points and .env defaults.")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
@pass_state
def doctor(state: State, fmt: str) -> int:
    """Check the workspace, database, git setup, recovery points and .env safe defaults.

    Each check is ok, warn or fail with a hint; exit 1 when any fails.

    \b
    Example:
      sotsync doctor
      sotsync doctor --format json
    """
    checks = api.doctor(state.repo, state.database_url, state.device)
    counts = api.doctor_summary(checks)
    failing = counts["fail"] > 0
    if fmt == "json":
        doc = {
            "version": 1,
            "ok": not failing,
            "counts": counts,
            "checks": [c.as_dict() for c in checks],
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for check in checks:
            click.echo(f"{_MARK[check.status]}  {check.name:<15} {check.message}")
            if check.status != "ok" and check.hint:
                click.echo(f"{'':<22}hint: {check.hint}")
        click.echo(
            f"doctor: {counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed",
            err=True,
        )
    return EXIT_FINDINGS if failing else EXIT_OK


@cli.group()
def recover() -> None:
    """Incident recovery: stuck runs and phases, a damaged database.

    \b
    Example:
      sotsync recover stuck --older-than 2h
      sotsync recover integrity --restore
    """


@recover.command(name="stuck", short_help="Mark stuck runs and phases failed (dry run first).")
@click.option(
    "--older-than",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="No update for this long means stuck (90s, 30m, 1h, 2d, 1h30m).",
)
@click.option(
    "--execute", is_flag=True, help="Change the rows (after a safety snapshot); default: dry run."
)
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
@pass_state
def recover_stuck(state: State, older_than: str, execute: bool, fmt: str) -> int:
    """Mark runs and phases stuck in an active state as failed, with a reason.

    Runs in PLAN_BOOTSTRAP, PHASE_QUEUEING, PHASE_EXECUTION, GATE, CI_RUNNING or
    SNAPSHOT_CREATED become DONE_FAILED_ENVIRONMENT; phases in EXECUTING, GATE or
    CI_RUNNING become FAILED.  Waiting runs (QUEUED, RUN_CREATED) are never touched.
    Without --execute nothing is written; exit 1 while something is stuck.

    \b
    Example:
      sotsync recover stuck                      # what would change
      sotsync recover stuck --older-than 2h --execute
    """
    result = api.recover_stuck(state.config, state.database_url, older_than, execute, state.device)
    plan = result.plan
    if fmt == "json":
        doc: dict[str, Any] = {
            "version": 1,
            "url": result.url,
            "dry_run": not result.executed,
            "now": api.utc_text(plan.now),
            "older_than_seconds": int(plan.window.total_seconds()),
            "cutoff": api.utc_text(plan.cutoff),
            "runs": [i.as_dict() for i in plan.runs],
            "phases": [i.as_dict() for i in plan.phases],
            "unreadable": list(plan.unreadable),
            "snapshot": result.snapshot.commit if result.snapshot else None,
            "changed": result.changed,
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for item in plan.items:
            click.echo(
                f"~ {item.kind:<5} {item.label}  {item.state} -> {item.new_state}  "
                f"(last update {api.utc_text(item.last_update)})"
            )
        for line in plan.unreadable:
            click.echo(f"? {line}")
        if result.snapshot is not None:
            shot = result.snapshot
            click.echo(f"safety snapshot {shot.commit} ({shot.ref})", err=True)
        counted = f"{len(plan.runs)} run(s), {len(plan.phases)} phase(s)"
        if not plan.items:
            summary = f"nothing stuck for longer than {older_than} in {result.url}"
        elif result.executed:
            summary = f"marked {counted} failed in {result.url}"
        else:
            summary = f"{counted} stuck; dry run, nothing changed (pass --execute)"
        click.echo(f"recover stuck: {summary}", err=True)
    return EXIT_FINDINGS if plan.items and not result.executed else EXIT_OK


@recover.command(name="integrity", short_help="Check the database; restore a verified snapshot.")
@click.option("--restore", is_flag=True, help="Restore the newest verified snapshot if damaged.")
@click.option("--fix", is_flag=True, help="After a restore, run `reconcile --fix` (not a report).")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
@pass_state
def recover_integrity(state: State, restore: bool, fix: bool, fmt: str) -> int:
    """Run the database integrity check; on damage name (or restore) the newest verified snapshot.

    After --restore the database is checked again and reconciled with the ledgers.  Exit 0 when
    the database is healthy (or restored and reconciled clean), 1 otherwise.

    \b
    Example:
      sotsync recover integrity
      sotsync recover integrity --restore
    """
    result = api.recover_integrity(state.config, state.database_url, restore, fix, state.device)
    rec = result.reconcile.report if result.reconcile is not None else None
    if fmt == "json":
        doc = {
            "version": 1,
            "url": result.url,
            "engine": result.engine,
            "healthy": result.healthy,
            "problems": list(result.problems),
            "candidate": result.candidate.as_dict() if result.candidate else None,
            "rejected": list(result.rejected),
            "restored": result.restored,
            "kept_copy": result.kept_copy,
            "rows": result.rows,
            "problems_after": list(result.problems_after),
            "reconcile": None if rec is None else {"clean": rec.clean, "counts": rec.counts},
            "reconcile_error": result.reconcile_error,
        }
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _integrity_text(result)
    if result.healthy:
        return EXIT_OK
    good = result.restored and not result.problems_after and rec is not None and rec.clean
    return EXIT_OK if good else EXIT_FINDINGS


SHOWN_PROBLEMS = 5  # a torn file gives one line per page; the first few say enough


def _damage(problems: tuple[str, ...], label: str) -> None:
    for problem in problems[:SHOWN_PROBLEMS]:
        click.echo(f"! {label}  {problem}")
    if len(problems) > SHOWN_PROBLEMS:
        click.echo(f"! {label}  ... and {len(problems) - SHOWN_PROBLEMS} more problem(s)")


def _integrity_text(result: Any) -> None:
    if result.healthy:
        click.echo(f"integrity: {result.url} is healthy")
        return
    _damage(result.problems, "damaged")
    for line in result.rejected:
        click.echo(f"- skipped  {line}")
    candidate = result.candidate
    if candidate is None:
        click.echo("integrity: no verified snapshot or backup to restore")
        return
    if not result.restored:
        click.echo(f"integrity: newest verified recovery point: {candidate.label}")
        click.echo("hint: restore it with `sotsync recover integrity --restore`", err=True)
        return
    if result.kept_copy:
        click.echo(f"kept the damaged file as {result.kept_copy}", err=True)
    click.echo(f"restored {candidate.label}: {result.rows} row(s)")
    _damage(result.problems_after, "still damaged")
    if result.reconcile_error:
        click.echo(f"reconcile: {result.reconcile_error}")
    elif result.reconcile is not None:
        from sotsync.cli.database import report_lines

        for line in report_lines(result.reconcile.report, "text", {}):
            click.echo(line)


@cli.command(short_help="Write an HTML page: reconcile, findings, weeks, snapshots.")
@click.option(
    "--html",
    "html",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Write the page to FILE.",
)
@pass_state
def report(state: State, html: Path) -> int:
    """Write one self-contained HTML page: reconcile result, findings, entries per week,
    snapshot timeline per device.

    The page loads nothing from the network (inline styles and SVG, no script).

    \b
    Example:
      sotsync report --html sotsync-report.html
    """
    data = api.report(state.config, html, state.database_url)
    verdict = "clean" if data["reconcile"]["clean"] else "drift remains"
    click.echo(f"wrote {html} (reconcile: {verdict})", err=True)
    return EXIT_OK
