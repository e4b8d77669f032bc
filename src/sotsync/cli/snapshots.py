"""Snapshot commands: snapshot create|list|show|verify|restore|diff|prune, migrate, push, pull."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from sotsync import api
from sotsync.cli.base import State, cli, pass_state, progress
from sotsync.errors import (
    EXIT_OK,
)
from sotsync.progress import NO_PROGRESS

# --------------------------------------------------------------------------- snapshots


@cli.group()
def snapshot() -> None:
    """Database snapshots stored as git objects under refs/sotsync/ (SPEC §4).

    \b
    Example:
      sotsync snapshot create -m "before the migration"
      sotsync snapshot list
      sotsync snapshot verify --all
    """


def _snapshot_line(info: api.SnapshotInfo) -> str:
    device = info.device or "-"
    return f"{info.commit[:12]}  {info.time}  {device:<16} {info.rows:>9} rows  {info.subject}"


def _snapshot_json(info: api.SnapshotInfo) -> dict[str, Any]:
    return {
        "commit": info.commit,
        "tree": info.tree,
        "ref": info.ref,
        "parent": info.parent,
        "time": info.time,
        "subject": info.subject,
        "trailers": dict(info.trailers),
        "manifest": dict(info.manifest),
    }


@snapshot.command(name="create")
@click.option("-m", "--message", help="What the snapshot is for (the commit subject).")
@click.option("--tag", metavar="NAME", help="Also name it refs/sotsync/tags/NAME (never moved).")
@pass_state
def snapshot_create(state: State, message: str | None, tag: str | None) -> int:
    """Snapshot the database and the ledgers onto refs/sotsync/snapshots/<device>.

    \b
    Example:
      sotsync snapshot create -m "before cleanup" --tag pre-cleanup
    """
    info = api.snapshot_create(
        state.config, state.database_url, state.device, message, tag, progress()
    )
    tables = info.manifest.get("tables", {})
    click.echo(
        f"snapshot {info.commit[:12]} on {info.ref}: {len(tables)} table(s), {info.rows} row(s), "
        f"{info.new_objects} new object(s), {info.new_bytes} new byte(s)"
    )
    if info.tag:
        click.echo(f"tagged refs/sotsync/tags/{info.tag}")
    check = info.manifest.get("integrity_check", "ok")
    if check != "ok" and not str(check).startswith("not checked"):
        click.echo(f"sotsync: warning: integrity check of the database: {check}", err=True)
    return EXIT_OK


@snapshot.command(name="list")
@click.option("--device", metavar="D", help="Snapshots of device D (default: this device).")
@click.option("--all", "all_devices", is_flag=True, help="Snapshots of every device.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_state
def snapshot_list(state: State, device: str | None, all_devices: bool, fmt: str) -> int:
    """List snapshots, newest first.

    \b
    Example:
      sotsync snapshot list --all
    """
    if device and all_devices:
        raise click.UsageError("--device and --all exclude each other")
    found = api.snapshot_list(state.config, device or state.device, all_devices)
    if fmt == "json":
        click.echo(json.dumps({"version": 1, "snapshots": [_snapshot_json(i) for i in found]}))
        return EXIT_OK
    for info in found:
        click.echo(_snapshot_line(info))
    return EXIT_OK


@snapshot.command(name="show")
@click.argument("ref")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_state
def snapshot_show(state: State, ref: str, fmt: str) -> int:
    """Show a snapshot's trailers and manifest (REF: refs/..., a device, tag:NAME, a commit).

    \b
    Example:
      sotsync snapshot show tag:pre-cleanup
    """
    info = api.snapshot_show(state.config, ref)
    if fmt == "json":
        click.echo(json.dumps(_snapshot_json(info), indent=2))
        return EXIT_OK
    click.echo(f"commit  {info.commit}")
    click.echo(f"tree    {info.tree}")
    click.echo(f"parent  {info.parent or '-'}")
    click.echo(f"time    {info.time}")
    click.echo(f"subject {info.subject}")
    for key, value in info.trailers.items():
        click.echo(f"{key}: {value}")
    manifest = info.manifest
    click.echo(f"engine {manifest.get('engine')}; integrity {manifest.get('integrity_check')}")
    for name, table in sorted(manifest.get("tables", {}).items()):
        click.echo(
            f"  table {name}: {table['rows']} row(s), {_chunk_count(table)} chunk(s), "
            f"sha256 {table['content_sha256'][:16]}"
        )
    for ledger in manifest.get("ledgers", []):
        click.echo(f"  ledger {ledger['path']}: sha256 {ledger['sha256'][:16]}")
    return EXIT_OK


def _chunk_count(table: dict[str, Any]) -> int:
    chunks = table.get("chunks", 0)
    return len(chunks) if isinstance(chunks, list) else int(chunks)  # format 1 listed them


@snapshot.command(name="verify")
@click.argument("ref", required=False)
@click.option("--all", "all_snapshots", is_flag=True, help="Every snapshot of every ref.")
@click.option(
    "--deep",
    is_flag=True,
    help="Also rebuild each snapshot in a scratch SQLite database and check it there.",
)
@pass_state
def snapshot_verify(state: State, ref: str | None, all_snapshots: bool, deep: bool) -> int:
    """Check that a snapshot's objects are present and match its manifest (exit 3 if not).

    \b
    Example:
      sotsync snapshot verify --all
      sotsync snapshot verify --deep laptop
    """
    if ref and all_snapshots:
        raise click.UsageError("REF and --all exclude each other")
    from sotsync.errors import EXIT_FAILURE

    result = api.snapshot_verify(state.config, ref, all_snapshots, state.device, deep)
    for problem in result.problems:
        click.echo(f"sotsync: error: {problem}", err=True)
    if result.problems:
        return EXIT_FAILURE
    how = " (deep: restored and integrity-checked)" if deep else ""
    click.echo(f"verified {len(result.checked)} snapshot(s){how}: ok")
    return EXIT_OK


@snapshot.command(name="restore")
@click.argument("ref")
@click.option(
    "--to", "url", metavar="URL", help="Database to restore into (default: the workspace's)."
)
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option("--force", is_flag=True, help="Replace a non-empty target (after a safety snapshot).")
@pass_state
def snapshot_restore(state: State, ref: str, url: str | None, dry_run: bool, force: bool) -> int:
    """Verify a snapshot and restore its tables into a database, atomically.

    SQLite is rebuilt in a scratch file and swapped in; PostgreSQL is restored in one
    transaction.  A target with tables needs --force and gets a safety snapshot first.

    \b
    Example:
      sotsync snapshot restore tag:pre-cleanup --to sqlite:///restored.db
      sotsync snapshot restore laptop --dry-run
    """
    result = api.snapshot_restore(
        state.config,
        ref,
        url or state.database_url,
        dry_run,
        force,
        state.device,
        NO_PROGRESS if dry_run else progress(),
    )
    plan = result.plan
    if dry_run:
        click.echo(f"would restore snapshot {plan.commit[:12]} ({plan.engine}) into {plan.target}:")
        for name, rows in plan.tables:
            click.echo(f"  table {name}: {rows} row(s)")
        if plan.existing:
            click.echo(
                f"the target has {len(plan.existing)} table(s): --force is needed, and a safety "
                "snapshot of it would be taken first"
            )
        else:
            click.echo("the target is empty: no safety snapshot needed")
        return EXIT_OK
    if result.safety is not None:
        click.echo(f"safety snapshot {result.safety.commit[:12]} on {result.safety.ref}")
    click.echo(
        f"restored snapshot {plan.commit[:12]} into {plan.target}: "
        f"{len(plan.tables)} table(s), {result.rows} row(s), verified"
    )
    return EXIT_OK


@cli.command()
@click.option("--to", "to", metavar="URL", required=True, help="Database to build (either engine).")
@click.option(
    "--from", "source", metavar="URL", help="Database to copy (default: the workspace's)."
)
@click.option("--force", is_flag=True, help="Replace the tables of a non-empty target.")
@pass_state
def migrate(state: State, to: str, source: str | None, force: bool) -> int:
    """Copy a database to another one, across engines, through a snapshot.

    A snapshot of the source is taken first (recorded on this device); the target is built
    from it with the column types mapped (SQLite <-> PostgreSQL), sequences reset, and every
    table verified by row count and checksum.  A target with tables needs --force.

    \b
    Example:
      sotsync migrate --to postgresql://autopack@db.internal/autopack
      sotsync migrate --from postgresql://autopack@db/autopack --to sqlite:///copy.db
    """
    result = api.migrate(
        state.config, to, source or state.database_url, force, state.device, progress()
    )
    click.echo(f"snapshot {result.snapshot.commit[:12]} on {result.snapshot.ref}")
    for table in result.tables:
        click.echo(
            f"  table {table.name}: {table.rows} row(s), {table.indexes} index(es), "
            f"checksum {table.checksum[:12]}"
        )
    for item in result.skipped:
        click.echo(f"  not carried over: {item}")
    click.echo(
        f"migrated {result.source} ({result.source_engine}) to {result.target} "
        f"({result.target_engine}): {len(result.tables)} table(s), {result.rows} row(s), verified"
    )
    return EXIT_OK


@snapshot.command(name="diff")
@click.argument("old")
@click.argument("new")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_state
def snapshot_diff(state: State, old: str, new: str, fmt: str) -> int:
    """Rows added, removed and changed per table (by primary key) from OLD to NEW.

    \b
    Example:
      sotsync snapshot diff tag:pre-cleanup laptop
    """
    from sotsync.snapshot.diff import diff_json

    diffs = api.snapshot_diff(state.config, old, new)
    if fmt == "json":
        click.echo(json.dumps(diff_json(diffs), indent=2))
        return EXIT_OK
    for d in diffs:
        if d.status == "same":
            continue
        added, removed, changed = d.counts
        note = {"added": " (new table)", "removed": " (table dropped)"}.get(d.status, "")
        if d.schema_changed:
            note += " (schema changed)"
        click.echo(f"{d.name}: {added} added, {removed} removed, {changed} changed{note}")
        for sign, keys in (("+", d.added), ("-", d.removed), ("~", d.changed)):
            for key in keys[:_DIFF_KEYS]:
                click.echo(f"  {sign} {key}")
            if len(keys) > _DIFF_KEYS:
                click.echo(f"  {sign} ... and {len(keys) - _DIFF_KEYS} more")
    if all(d.status == "same" for d in diffs):
        click.echo("no differences")
    return EXIT_OK


_DIFF_KEYS = 20


@snapshot.command(name="prune")
@click.option(
    "--keep-last",
    "keep",
    type=click.IntRange(min=1),
    required=True,
    metavar="N",
    help="How many of the newest snapshots to keep.",
)
@click.option("--device", metavar="D", help="Prune device D's chain (default: this device).")
@pass_state
def snapshot_prune(state: State, keep: int, device: str | None) -> int:
    """Keep the newest N snapshots of a device's chain; tags are never pruned.

    The kept snapshots are re-written without the older ones; git's gc removes what is dropped.

    \b
    Example:
      sotsync snapshot prune --keep-last 10
    """
    result = api.snapshot_prune(state.config, keep, device or state.device)
    for commit in result.dropped:
        click.echo(f"dropped {commit[:12]}")
    if not result.dropped:
        click.echo(f"{result.ref}: {len(result.kept)} snapshot(s), nothing to prune")
    else:
        click.echo(
            f"{result.ref}: kept {len(result.kept)} snapshot(s), dropped {len(result.dropped)}; "
            "`git gc --prune=now` removes their objects"
        )
    return EXIT_OK


def _ref_updates(updates: Sequence[api.RefUpdate], verb: str) -> int:
    from sotsync.errors import EXIT_FAILURE

    for update in updates:
        line = f"{update.ref}: {update.status}"
        if update.new and update.status not in ("up to date",):
            line += f" ({update.new[:12]})"
        if update.detail:
            line += f": {update.detail}"
        click.echo(f"sotsync: error: {line}" if update.failed else line, err=update.failed)
    if not updates:
        click.echo(f"no snapshot refs to {verb}")
    return EXIT_FAILURE if any(u.failed for u in updates) else EXIT_OK


_FALLBACK_HELP = "Use refs/heads/sotsync/... on the remote (hosts that refuse custom refs)."


@cli.command()
@click.argument("remote", default="origin")
@click.option("--branch-fallback", is_flag=True, help=_FALLBACK_HELP)
@pass_state
def push(state: State, remote: str, branch_fallback: bool) -> int:
    """Push this device's snapshots and every snapshot tag to REMOTE (never forced).

    A remote ref that has diverged is rejected and named (exit 3).

    \b
    Example:
      sotsync push
      sotsync push origin --branch-fallback
    """
    updates = api.snapshot_push(state.config, remote, branch_fallback, state.device)
    return _ref_updates(updates, "push")


@cli.command()
@click.argument("remote", default="origin")
@click.option("--branch-fallback", is_flag=True, help=_FALLBACK_HELP)
@pass_state
def pull(state: State, remote: str, branch_fallback: bool) -> int:
    """Fetch every device's snapshots, the snapshot tags and the id reservations from REMOTE.

    This device's own ref only moves forward: a diverged one is reported (exit 3), never
    overwritten.

    \b
    Example:
      sotsync pull
    """
    updates = api.snapshot_pull(state.config, remote, branch_fallback, state.device)
    return _ref_updates(updates, "pull")
