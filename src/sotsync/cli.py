"""The command line: the only module that imports click.

Each command parses its options, makes one ``api`` call and renders the result.  ``run`` turns
every error into an exit code (SPEC §8): SotsyncError → its own code with ``sotsync: error:`` and
``hint:`` lines; anything else → 4, with the traceback written to a log file (shown on --debug).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from sotsync import __version__, api
from sotsync.config import Config, find_workspace, load_config
from sotsync.errors import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    SotsyncError,
)
from sotsync.ledger.lint import CATALOGUE
from sotsync.models import Finding

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
            f"{_gh_escape(f.message)}"
            for f in findings
        )
    return "\n".join(f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}" for f in findings)


def _gh_escape(text: str) -> str:
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
    info = api.snapshot_create(state.config, state.database_url, state.device, message, tag)
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
            f"  table {name}: {table['rows']} row(s), {len(table['chunks'])} chunk(s), "
            f"sha256 {table['content_sha256'][:16]}"
        )
    for ledger in manifest.get("ledgers", []):
        click.echo(f"  ledger {ledger['path']}: sha256 {ledger['sha256'][:16]}")
    return EXIT_OK


@snapshot.command(name="verify")
@click.argument("ref", required=False)
@click.option("--all", "all_snapshots", is_flag=True, help="Every snapshot of every ref.")
@click.option(
    "--deep", is_flag=True, help="Also restore into a scratch SQLite database and check it."
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
        state.config, ref, url or state.database_url, dry_run, force, state.device
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
    result = api.migrate(state.config, to, source or state.database_url, force, state.device)
    click.echo(f"snapshot {result.snapshot.commit[:12]} on {result.snapshot.ref}")
    for table in result.tables:
        click.echo(
            f"  table {table.name}: {table.rows} row(s), {table.indexes} index(es), "
            f"checksum {table.checksum[:12]}"
        )
    for item in result.skipped:
        click.echo(f"  skipped {item} (not translatable)")
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
                f"{_gh_escape(i.detail)}"
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
    """Ledgers, database mirror, hooks, merge driver, id reservations and the lock at a glance.

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


# --------------------------------------------------------------------------- entry point


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
