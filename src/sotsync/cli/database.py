"""Database commands: db init|upgrade|status, sync, reconcile, check, status."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import click

from sotsync import api
from sotsync.cli.base import FORMATS, State, cli, pass_state
from sotsync.cli.ledgers import gh_escape, render_findings
from sotsync.errors import (
    EXIT_FINDINGS,
    EXIT_OK,
)

# --------------------------------------------------------------------------- database


@cli.group()
def db() -> None:
    """Create, upgrade and inspect sotsync's tables in the run database.

    \b
    Example:
      sotsync db init
      sotsync db status
    """


@db.command(name="init")
@pass_state
def db_init(state: State) -> int:
    """Create sotsync's tables (and a missing SQLite file); idempotent.

    \b
    Example:
      sotsync --database-url sqlite:///autopack.db db init
    """
    before, after = api.db_init(state.config, state.database_url)
    click.echo(_migrated(before, after))
    return EXIT_OK


@db.command(name="upgrade")
@pass_state
def db_upgrade(state: State) -> int:
    """Migrate sotsync's tables in place (an Autopack sot_entries table included).

    \b
    Example:
      sotsync db upgrade
    """
    before, after = api.db_upgrade(state.config, state.database_url)
    click.echo(_migrated(before, after))
    return EXIT_OK


def _migrated(before: int, after: int) -> str:
    if before == after:
        return f"schema is at version {after}; nothing to do"
    return f"schema migrated from version {before} to {after}"


@db.command(name="status")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_state
def db_status(state: State, fmt: str) -> int:
    """Show the database, its sotsync schema version and mirror size.

    \b
    Example:
      sotsync db status --format json
    """
    url, found = api.db_status(state.config, state.database_url)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "version": 1,
                    "url": url,
                    "schema_version": found.version,
                    "current": found.current,
                    "tables": list(found.tables),
                    "entries": found.entries,
                },
                indent=2,
            )
        )
    else:
        click.echo(f"database        {url}")
        click.echo(f"schema version  {found.version} (current {found.current})")
        click.echo(f"tables          {', '.join(found.tables) or '-'}")
        click.echo(f"mirror rows     {found.entries if found.entries is not None else '-'}")
    return EXIT_OK if found.up_to_date else EXIT_FINDINGS


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_state
def sync(state: State, dry_run: bool, fmt: str) -> int:
    """Make the database mirror (sot_entries) follow the ledgers, in one transaction.

    \b
    Example:
      sotsync sync --dry-run
    """
    result = api.sync(state.config, state.database_url, dry_run)
    plan = result.plan
    names: dict[str, str] = {spec.file_type: spec.name for spec in state.config.ledgers}
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "version": 1,
                    "url": result.url,
                    "dry_run": dry_run,
                    "writes": result.writes,
                    "inserts": [_row_key(r.key, names) for r in plan.inserts],
                    "updates": [_row_key(r.key, names) for r in plan.updates],
                    "tombstones": [_row_key(k, names) for k in plan.tombstones],
                },
                indent=2,
            )
        )
        return EXIT_OK
    for row in plan.inserts:
        click.echo(f"+ {_row_key(row.key, names)}")
    for row in plan.updates:
        click.echo(f"~ {_row_key(row.key, names)}")
    for key in plan.tombstones:
        click.echo(f"- {_row_key(key, names)}")
    planned = len(plan.inserts) + len(plan.updates) + len(plan.tombstones)
    done = f"would write {planned}" if dry_run else f"wrote {result.writes}"
    click.echo(
        f"{len(plan.inserts)} insert(s), {len(plan.updates)} update(s), "
        f"{len(plan.tombstones)} tombstone(s); {done} row(s) to {result.url}",
        err=True,
    )
    return EXIT_OK


def _row_key(key: tuple[str, str, int], names: dict[str, str]) -> str:
    """``build/BUILD-159#2``: the ledger name, as reconcile shows it, not the file type."""
    file_type, entry_id, occurrence = key
    return f"{names.get(file_type, file_type)}/{entry_id}" + (
        "" if occurrence == 1 else f"#{occurrence}"
    )


def report_lines(report: Any, fmt: str, paths: dict[str, str]) -> Iterator[str]:
    """A reconcile report as keyed lines plus a count summary, JSON, or annotations.

    Yielded piece by piece: a report over a million runs is printed without first being built
    as one string.  ``paths`` maps ledger names to files, for annotations GitHub can place.
    """
    from sotsync.reconcile import CATEGORIES

    if fmt == "json":
        head = {
            "version": 1,
            "clean": report.clean,
            "offline": report.offline,
            "runs_checked": report.runs_checked,
            "counts": report.counts,
        }
        yield json.dumps(head, ensure_ascii=False)[:-1] + ', "items": ['
        last = len(report.items) - 1
        for n, item in enumerate(report.items):
            yield "  " + json.dumps(item.as_dict(), ensure_ascii=False) + ("," if n < last else "")
        yield "]}"
        return
    if fmt == "github":
        for i in report.items:
            if i.category == "finding":
                continue
            where = paths.get(i.ledger or i.key.split("/", 1)[0])
            file_part = f"file={where}," if where else ""
            yield (
                f"::error {file_part}title=sotsync {i.category}::{i.sign} {i.key} "
                f"{gh_escape(i.detail)}"
            )
        return
    for i in report.items:
        yield f"{i.sign} {i.category:<16} {i.key}  {i.detail}"
    summary = ", ".join(f"{n} {CATEGORIES[c]}" for c, n in report.counts.items() if n)
    where = (
        "offline: database not checked"
        if report.offline
        else (f"{report.runs_checked} run(s) checked")
    )
    yield f"reconcile: {summary or 'ledgers, mirror and runs agree'} ({where})"


def render_report(report: Any, fmt: str, paths: dict[str, str] | None = None) -> str:
    return "\n".join(report_lines(report, fmt, paths or {}))


def _ledger_paths(state: State) -> dict[str, str]:
    return {spec.name: spec.path for spec in state.config.ledgers}


@cli.command()
@click.option(
    "--fix",
    is_flag=True,
    help="Apply safe ledger fixes, sync the mirror, add generated entries for runs.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_state
def reconcile(state: State, fix: bool, fmt: str) -> int:
    """Report where ledgers, the database mirror and the runs disagree.

    \b
    Example:
      sotsync reconcile
      sotsync reconcile --fix
    """
    result = api.reconcile(state.config, state.database_url, fix=fix)
    if fix and fmt == "text":
        for path in result.repaired:
            click.echo(f"fixed {path}", err=True)
        for entry in result.generated:
            click.echo(f"added generated entry {entry}", err=True)
        if result.synced is not None and not result.synced.empty:
            plan = result.synced
            click.echo(
                f"synced the mirror: {len(plan.inserts)} insert(s), "
                f"{len(plan.updates)} update(s), {len(plan.tombstones)} tombstone(s)",
                err=True,
            )
    for line in report_lines(result.report, fmt, _ledger_paths(state)):
        click.echo(line)
    return EXIT_OK if result.report.clean else EXIT_FINDINGS


@cli.command()
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--offline", is_flag=True, help="Skip every database check.")
@click.option(
    "--fail-on",
    type=click.Choice(["info", "warning", "error", "never"]),
    default="error",
    show_default=True,
    help="Lowest finding severity that fails.",
)
@pass_state
def check(state: State, fmt: str, offline: bool, fail_on: str) -> int:
    """Lint + reconcile, read-only: the CI gate.

    \b
    Example:
      sotsync check --format github
      sotsync check --offline
    """
    lint_report, report = api.check(state.config, state.database_url, offline)
    # Lint findings are reported once, by lint; reconcile adds the drift.
    drift = dataclasses.replace(
        report,
        items=tuple(i for i in report.items if i.category != "finding"),
        counts={**report.counts, "finding": 0},
    )
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "version": 1,
                    "lint": json.loads(render_findings(lint_report.findings, "json", {})),
                    "reconcile": json.loads(render_report(drift, "json")),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        output = render_findings(lint_report.failing(fail_on), fmt, {})
        if output:
            click.echo(output)
        for line in report_lines(drift, fmt, _ledger_paths(state)):
            click.echo(line)
    failing = lint_report.failing(fail_on)
    drift_left = any(i.category != "finding" for i in report.items)
    return EXIT_FINDINGS if failing or drift_left else EXIT_OK


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_state
def status(state: State, fmt: str) -> int:
    """Ledgers, database mirror, hooks, merge driver, ids, snapshots, refspecs and the lock.

    \b
    Example:
      sotsync status
      sotsync status --format json
    """
    doc = api.status(state.config, state.database_url)
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_OK
    for ledger in doc["ledgers"]:
        if "problem" in ledger:
            click.echo(f"ledger {ledger['name']:<10} {ledger['problem']}")
        else:
            click.echo(
                f"ledger {ledger['name']:<10} {ledger['errors']} error(s), "
                f"{ledger['warnings']} warning(s), {ledger['info']} info  ({ledger['path']})"
            )
    db = doc["database"]
    if not db["reachable"] or "problem" in db:
        click.echo(f"database          {db['problem']}")
    else:
        mirror = db.get("mirror")
        drift = (
            "mirror in sync"
            if mirror and not any(mirror.values())
            else (
                f"mirror: {mirror['missing']} missing, {mirror['changed']} changed, "
                f"{mirror['gone']} gone"
                if mirror
                else f"schema version {db['schema_version']}, current {db['current']}"
            )
        )
        click.echo(f"database          {db['url']}: {drift}")
    hooks = ", ".join(f"{h['name']} {h['state']}" for h in doc["hooks"]) or "no git repository"
    click.echo(f"hooks             {hooks}")
    merge = doc["merge_driver"]
    click.echo(
        f"merge driver      {'configured' if merge['configured'] else 'not configured'}, "
        f"{len(merge['ledgers_marked'])} ledger(s) marked in .gitattributes"
    )
    reserved = ", ".join(f"{p} {ids[0]}" for p, ids in doc["reservations"].items() if ids)
    click.echo(f"id reservations   {reserved or 'none'}")
    for head in doc["snapshots"]:
        where = f" (on {head['remote']})" if head["remote"] else ""
        click.echo(
            f"snapshot          {head['device']}{where}: {head['time']}, "
            f"{_age(head['age_seconds'])} ago, {head['commit'][:12]}"
        )
    if not doc["snapshots"]:
        click.echo("snapshot          none")
    for remote in doc["refspecs"]:
        spec_state = "configured" if not remote["missing"] else f"{len(remote['missing'])} missing"
        click.echo(f"refspecs          {remote['remote']}: {spec_state}")
    lock = doc["lock"]
    click.echo(
        "lock              "
        + (
            "free"
            if lock is None
            else f"{'stale record of' if lock['stale'] else 'held by'} {lock['holder']}"
        )
    )
    return EXIT_OK


def _age(seconds: int) -> str:
    """An age as the largest whole unit: 45s, 12m, 3h, 5d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
