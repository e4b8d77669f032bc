"""Backup commands: backup [list|verify|prune], restore."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from sotsync import api
from sotsync.cli.base import State, cli, pass_state, progress
from sotsync.cli.database import report_lines
from sotsync.errors import EXIT_FAILURE, EXIT_OK

TEXT_JSON = click.Choice(["text", "json"])
_DEST = click.Path(path_type=Path, file_okay=False)


def _info_json(info: api.BackupInfo) -> dict[str, Any]:
    manifest = info.manifest
    return {
        "name": info.name,
        "path": str(info.path),
        "sequence": info.sequence,
        "kind": info.kind,
        "created": info.created,
        "engine": manifest.get("engine"),
        "head": manifest.get("head"),
        "label": manifest.get("label"),
        "base": manifest.get("base"),
        "env": manifest.get("env"),
        "ledgers": manifest.get("ledgers", []),
        "state": info.state.get("id"),
        "files": len(manifest.get("files", {})),
        "bytes": sum(int(f.get("size", 0)) for f in manifest.get("files", {}).values()),
    }


def _info_line(info: api.BackupInfo) -> str:
    manifest = info.manifest
    entries = ", ".join(
        f"{ledger['name']} {ledger['entries'] if ledger['entries'] is not None else '?'}"
        for ledger in manifest.get("ledgers", [])
    )
    base = info.base
    what = f"on #{base['sequence']}" if base else str(manifest.get("engine") or "no database")
    label = f"  ({manifest['label']})" if manifest.get("label") else ""
    return (
        f"#{info.sequence:<4} {info.name:<22} {info.created}  {info.kind:<11} {what:<11} "
        f"entries: {entries or '-'}{label}"
    )


def _notice(recovered: str | None) -> None:
    if recovered:
        click.echo(f"sotsync: note: {recovered}", err=True)


@cli.group(invoke_without_command=True)
@click.option(
    "--dest", type=_DEST, help="Backup directory (default: backup_dir or .git/sotsync/backups)."
)
@click.option("--incremental", is_flag=True, help="Patch of the ledgers since the last backup.")
@click.option("--archive", is_flag=True, help="Also write <name>.tar.gz of the backup's chain.")
@click.option("--include-env", is_flag=True, help="Copy .env with its secrets (masked otherwise).")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
@click.pass_context
def backup(
    ctx: click.Context,
    dest: Path | None,
    incremental: bool,
    archive: bool,
    include_env: bool,
    fmt: str,
) -> int:
    """Back up the database, the ledgers, config/ and .env (SPEC §5).

    Without a subcommand, take a full backup into <dest>/<UTC YYYYMMDD-HHMMSS>-full/,
    or with --incremental a git-apply-able patch of the ledgers since the previous backup.

    \b
    Example:
      sotsync backup                       # full backup into .git/sotsync/backups
      sotsync backup --incremental
      sotsync backup --dest /srv/backups --archive
      sotsync backup list
    """
    state = ctx.ensure_object(State)
    ctx.meta["backup_dest"] = dest
    if ctx.invoked_subcommand is not None:
        if incremental or archive or include_env:
            raise click.UsageError(
                "--incremental, --archive and --include-env apply to `sotsync backup` itself"
            )
        return EXIT_OK
    result = api.backup(
        state.config,
        state.database_url,
        dest,
        archive=archive,
        include_env=include_env,
        incremental=incremental,
        progress=progress(),
    )
    _notice(result.recovered)
    info = result.info
    if fmt == "json":
        document = {"version": 1, "backup": _info_json(info), "archive": None}
        document["archive"] = str(result.archive) if result.archive else None
        document["warnings"] = list(result.warnings)
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(f"backup #{info.sequence} ({info.kind}) written to {info.path}")
        if result.archive is not None:
            click.echo(f"archive {result.archive}")
    for warning in result.warnings:
        click.echo(f"sotsync: warning: {warning}", err=True)
    return EXIT_OK


def _dest(ctx: click.Context, dest: Path | None) -> Path | None:
    parent = ctx.parent.meta.get("backup_dest") if ctx.parent is not None else None
    return dest if dest is not None else parent


@backup.command(name="list")
@click.option("--dest", type=_DEST, help="Backup directory (default: the configured one).")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
@click.pass_context
def backup_list(ctx: click.Context, dest: Path | None, fmt: str) -> int:
    """List the backups of the destination, oldest first.

    \b
    Example:
      sotsync backup list --format json
    """
    state = ctx.find_object(State)
    assert state is not None
    listing = api.backup_list(state.config, _dest(ctx, dest), state.database_url)
    _notice(listing.recovered)
    if fmt == "json":
        document = {
            "version": 1,
            "dest": str(listing.dest),
            "backups": [_info_json(i) for i in listing.backups],
            "problems": list(listing.problems),
        }
        click.echo(json.dumps(document, indent=2))
    else:
        if not listing.backups:
            click.echo(f"no backups in {listing.dest}")
        for info in listing.backups:
            click.echo(_info_line(info))
        for problem in listing.problems:
            click.echo(f"sotsync: warning: {problem}", err=True)
    return EXIT_OK


@backup.command(name="verify")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--dest", type=_DEST, help="Backup directory (default: the configured one).")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
@click.pass_context
def backup_verify(ctx: click.Context, path: Path | None, dest: Path | None, fmt: str) -> int:
    """Check every file's checksum and every incremental's chain (exit 3 when one fails).

    PATH is a backup directory, an archive, or a directory of backups; default: every
    backup of the destination.

    \b
    Example:
      sotsync backup verify
      sotsync backup verify /mnt/usb/20260101-120000-full.tar.gz
    """
    state = ctx.find_object(State)
    assert state is not None
    result = api.backup_verify(state.config, path, _dest(ctx, dest), state.database_url)
    _notice(result.recovered)
    if fmt == "json":
        document = {
            "version": 1,
            "ok": result.ok,
            "checked": list(result.checked),
            "problems": list(result.problems),
        }
        click.echo(json.dumps(document, indent=2))
    else:
        for problem in result.problems:
            click.echo(f"sotsync: error: {problem}", err=True)
        if result.ok:
            click.echo(f"verified {len(result.checked)} backup(s): ok")
    if not result.ok:
        if fmt == "text":
            click.echo("hint: restore from an intact copy, or take a new backup", err=True)
        return EXIT_FAILURE
    return EXIT_OK


@backup.command(name="prune")
@click.option("--keep-last", type=int, required=True, help="Keep the newest N backups.")
@click.option("--keep-daily", type=int, default=0, help="Also the newest backup of N recent days.")
@click.option("--dest", type=_DEST, help="Backup directory (default: the configured one).")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
@click.pass_context
def backup_prune(
    ctx: click.Context,
    keep_last: int,
    keep_daily: int,
    dest: Path | None,
    dry_run: bool,
    fmt: str,
) -> int:
    """Remove old backups; the base of a kept incremental is always kept.

    \b
    Example:
      sotsync backup prune --keep-last 5 --keep-daily 7
    """
    state = ctx.find_object(State)
    assert state is not None
    result = api.backup_prune(
        state.config, keep_last, keep_daily, _dest(ctx, dest), dry_run, state.database_url
    )
    if fmt == "json":
        document = {
            "version": 1,
            "dry_run": dry_run,
            "kept": [i.name for i in result.kept],
            "removed": [i.name for i in result.removed],
            "kept_as_base": list(result.kept_as_base),
        }
        click.echo(json.dumps(document, indent=2))
        return EXIT_OK
    verb = "would remove" if dry_run else "removed"
    for info in result.removed:
        click.echo(f"{verb} {info.name}")
    for name in result.kept_as_base:
        click.echo(f"kept {name}: the base of a kept incremental")
    click.echo(f"{len(result.kept)} backup(s) kept, {len(result.removed)} {verb}")
    return EXIT_OK


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Verify and print the plan; write nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--format", "fmt", type=TEXT_JSON, default="text", show_default=True)
@pass_state
def restore(state: State, path: Path, dry_run: bool, yes: bool, fmt: str) -> int:
    """Restore a backup (directory or .tar.gz): database, ledgers, config/, .env.

    Verifies every checksum and the chain of incrementals, takes a safety backup, then
    replaces everything or nothing; prints the reconcile report of the result.

    \b
    Example:
      sotsync restore .git/sotsync/backups/20260101-120000-incr --dry-run
      sotsync restore /tmp/20260101-120000-full.tar.gz --yes
    """
    config = state.config
    if not dry_run and not yes:
        if not sys.stdin.isatty():
            from sotsync.backup import BackupError

            raise BackupError(
                f"restoring {path} replaces the workspace's database and ledgers; "
                "nothing restored without confirmation",
                hint="look at the plan with --dry-run, then run again with --yes",
            )
        preview = api.restore(config, path, state.database_url, dry_run=True)
        _print_plan(preview, "would restore")
        click.confirm("restore it?", abort=True, err=True)
    result = api.restore(config, path, state.database_url, dry_run=dry_run, progress=progress())
    _notice(result.recovered)
    if fmt == "json":
        click.echo(json.dumps(_restore_json(result), indent=2))
        return EXIT_OK
    if dry_run:
        _print_plan(result, "would restore")
        return EXIT_OK
    if result.safety is not None:
        click.echo(f"safety backup #{result.safety.sequence} written to {result.safety.path}")
    _print_plan(result, "restored")
    if result.reconcile is not None:
        paths = {spec.name: spec.path for spec in config.ledgers}
        for line in report_lines(result.reconcile, "text", paths):
            click.echo(line)
    else:
        click.echo(f"reconcile: not run: {result.reconcile_error}")
    return EXIT_OK


def _print_plan(result: api.BackupRestoreResult, verb: str) -> None:
    plan = result.plan
    chain = " + ".join(f"#{b.sequence} {b.name}" for b in plan.chain)
    click.echo(f"{verb} {chain}")
    database = plan.database
    if database is None:
        click.echo("  database: none in the backup (left as it is)")
    else:
        click.echo(f"  database: {database['engine']} ({database['method']}) into {plan.target}")
    for rel in plan.files:
        click.echo(f"  write {rel}")
    if plan.unchanged:
        click.echo(f"  {len(plan.unchanged)} file(s) already as in the backup")


def _restore_json(result: api.BackupRestoreResult) -> dict[str, Any]:
    plan = result.plan
    document: dict[str, Any] = {
        "version": 1,
        "restored": result.restored,
        "chain": [b.name for b in plan.chain],
        "database": dict(plan.database) if plan.database else None,
        "target": plan.target,
        "written": list(plan.files),
        "unchanged": list(plan.unchanged),
        "safety_backup": str(result.safety.path) if result.safety else None,
        "reconcile": None,
        "reconcile_error": result.reconcile_error,
    }
    if result.reconcile is not None:
        document["reconcile"] = json.loads("\n".join(report_lines(result.reconcile, "json", {})))
    return document
