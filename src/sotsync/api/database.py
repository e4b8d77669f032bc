"""The database verbs: `db init|upgrade|status`, `sync`, `reconcile [--fix]`, `check`.

Part of the api layer: it never prints, exits or reads argv.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sotsync import fsio, gitrepo
from sotsync.api.common import _eol_rules, ledger_specs, load_ledger
from sotsync.api.ledgers import _fix_ledgers, _ids_on_branches, _reserved_ids
from sotsync.api.linting import LintReport, lint
from sotsync.config import Config, LedgerSpec
from sotsync.errors import SotsyncError, UsageError
from sotsync.ledger.lint import lint_ledger
from sotsync.ledger.new import add_entry, next_id
from sotsync.ledger.parse import Ledger, parse_ledger
from sotsync.locking import workspace_lock

if TYPE_CHECKING:
    from sotsync.db import Backend
    from sotsync.db.schema import SchemaStatus
    from sotsync.mirror import MirrorRow, SyncPlan
    from sotsync.reconcile import Report


# --------------------------------------------------------------------------- database


def open_database(config: Config, url: str | None = None, create: bool = False) -> Backend:
    """Connect to the workspace database (URL resolution of SPEC §1)."""
    from sotsync.config import resolve_database_url
    from sotsync.db import connect

    resolved, _source = resolve_database_url(url, config)
    return connect(resolved, config.workspace.root, create=create)


def db_init(config: Config, url: str | None = None) -> tuple[int, int]:
    """Create sotsync's tables (and a missing SQLite file); idempotent."""
    return _migrate(config, url, create=True, command="sotsync db init")


def db_upgrade(config: Config, url: str | None = None) -> tuple[int, int]:
    """Migrate sotsync's tables (an Autopack ``sot_entries`` included) in place."""
    return _migrate(config, url, create=False, command="sotsync db upgrade")


def _migrate(config: Config, url: str | None, create: bool, command: str) -> tuple[int, int]:
    from sotsync.db.schema import upgrade

    db = open_database(config, url, create=create)
    try:
        with workspace_lock(config.workspace, command):
            return upgrade(db)
    finally:
        db.close()


def db_status(config: Config, url: str | None = None) -> tuple[str, SchemaStatus]:
    """The redacted URL and the schema status of the workspace database."""
    from sotsync.db.schema import status

    db = open_database(config, url)
    try:
        return db.url, status(db)
    finally:
        db.close()


@dataclass(frozen=True)
class SyncResult:
    """A sync plan and how many rows it wrote (0 for a dry run or an empty plan)."""

    url: str
    plan: SyncPlan
    writes: int


def _desired(config: Config) -> tuple[tuple[LedgerSpec, ...], list[Ledger], list[MirrorRow]]:
    from sotsync.mirror import desired_rows

    ws = config.workspace
    specs = ledger_specs(config, ())
    ledgers = [load_ledger(ws, spec) for spec in specs]
    rows = [
        row
        for spec, ledger in zip(specs, ledgers, strict=True)
        for row in desired_rows(ledger, spec)
    ]
    return specs, ledgers, rows


def _sync(config: Config, db: Backend, dry_run: bool) -> SyncResult:
    from sotsync.db.schema import require_current
    from sotsync.mirror import apply_sync, plan_sync, read_mirror, utc_now
    from sotsync.runsettings import run_settings

    require_current(db)
    settings = run_settings(config)
    specs, _ledgers, rows = _desired(config)
    before = db.writes
    plan = plan_sync(rows, read_mirror(db, settings.project_id, [s.file_type for s in specs]))
    if not dry_run and not plan.empty:
        commit = gitrepo.head_commit(config.workspace)
        apply_sync(db, settings.project_id, plan, commit, utc_now())
    return SyncResult(db.url, plan, db.writes - before)


def sync(config: Config, url: str | None = None, dry_run: bool = False) -> SyncResult:
    """Make the database mirror follow the ledgers (one transaction; nothing when in sync)."""
    db = open_database(config, url)
    try:
        if dry_run:
            return _sync(config, db, True)
        with workspace_lock(config.workspace, "sotsync sync"):
            return _sync(config, db, False)
    finally:
        db.close()


@dataclass(frozen=True)
class ReconcileResult:
    """The report after any repairs, and what ``--fix`` did."""

    report: Report
    repaired: tuple[str, ...] = ()
    generated: tuple[str, ...] = ()
    synced: SyncPlan | None = None


def _report(config: Config, db: Backend | None) -> Report:
    from sotsync.db.runs import check_runs_table, read_links, read_runs
    from sotsync.db.schema import require_current
    from sotsync.mirror import plan_sync, read_mirror
    from sotsync.reconcile import entry_facts, reconcile
    from sotsync.runsettings import run_settings

    settings = run_settings(config)
    specs, ledgers, rows = _desired(config)
    eol = _eol_rules(config.workspace, specs)
    findings = [
        f
        for spec, ledger in zip(specs, ledgers, strict=True)
        for f in lint_ledger(ledger, eol.get(spec.path), spec.order == "newest-first")
    ]
    facts = [
        f for spec, ledger in zip(specs, ledgers, strict=True) for f in entry_facts(ledger, spec)
    ]
    if db is None:
        return reconcile(specs, findings, facts, None, None, (), settings)
    require_current(db)
    check_runs_table(db, settings)
    stored = read_mirror(db, settings.project_id, [s.file_type for s in specs])
    plan = plan_sync(rows, stored)
    links = read_links(db, settings.project_id)
    ids = {spec.name: ledger.ids() for spec, ledger in zip(specs, ledgers, strict=True)}
    runs = read_runs(db, settings)
    return reconcile(specs, findings, facts, plan, runs, links, settings, ids)


def reconcile(
    config: Config,
    url: str | None = None,
    fix: bool = False,
    offline: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReconcileResult:
    """Compare ledgers, mirror and runs; with ``fix``, repair what is safe and report again."""
    db = None if offline else open_database(config, url)
    try:
        if not fix:
            return ReconcileResult(_report(config, db))
        if db is None:
            raise UsageError("reconcile --fix needs the database", hint="drop --offline")
        with workspace_lock(config.workspace, "sotsync reconcile --fix"):
            # Everything that can refuse (no sotsync tables, no run table, too many runs to
            # document) is checked before the first ledger write, which leaves every file as
            # it was.
            _check_generate_limit(_report(config, db))
            repaired = tuple(r.path for r in _fix_ledgers(config, ()) if r.changed)
            generated = _generate_entries(config, _report(config, db), now)
            synced = _sync(config, db, False).plan
            return ReconcileResult(_report(config, db), repaired, generated, synced)
    finally:
        if db is not None:
            db.close()


GENERATE_LIMIT = 100


def _generate_entries(
    config: Config, report: Report, now: Callable[[], datetime]
) -> tuple[str, ...]:
    """A generated entry (row + section, marked) for each run that needs one and has none.

    A run whose id maps to a free id of the ledger by a link pattern (``build013-x`` →
    BUILD-013) gets that id, so the pattern links it; any other run gets the next id above
    every id in use, including those that run ids will claim.  More than ``GENERATE_LIMIT``
    runs at once means the rules are not adopted yet: refuse rather than flood the ledgers.
    """
    wanted = [i for i in report.items if i.category == "run-needs-entry" and i.ledger]
    _check_generate_limit(report)
    by_name = {spec.name: spec for spec in config.ledgers}
    added: list[str] = []
    for name in sorted({str(i.ledger) for i in wanted}):
        spec = by_name[name]
        items = sorted((i for i in wanted if i.ledger == name), key=lambda i: i.key)
        added += _generate_into(config, spec, items, report, now)
    return tuple(added)


def _check_generate_limit(report: Report) -> None:

    count = report.counts.get("run-needs-entry", 0)
    if count > GENERATE_LIMIT:
        raise SotsyncError(
            f"{count} runs need a ledger entry; reconcile --fix adds at most "
            f"{GENERATE_LIMIT} at once",
            hint="exempt older runs with `sotsync init --adopt` (expect_since), then run again",
        )


def _generate_into(
    config: Config,
    spec: LedgerSpec,
    items: Sequence[Any],
    report: Report,
    now: Callable[[], datetime],
) -> list[str]:
    from sotsync.runsettings import parse_time, run_settings

    ws = config.workspace
    links = run_settings(config).links
    ledger = load_ledger(ws, spec)
    elsewhere = _ids_on_branches(ws, spec, ledger.data) | _reserved_ids(ws, spec)
    claimed = report.pattern_numbers.get(spec.prefix, 0)
    floor = {f"{spec.prefix}-{claimed:03d}"} if claimed else set()
    added = []
    for item in items:
        taken = ledger.ids() | elsewhere
        own = next((p.entry_for(item.key) for p in links if p.entry_for(item.key)), None)
        if own is not None and own.startswith(f"{spec.prefix}-") and own not in taken:
            ident = own
        else:
            ident = next_id(spec.prefix, taken, floor)
        created = parse_time(item.run_created) or now()
        fields = [("Run", item.key), ("Status", str(item.run_state))]
        data = add_entry(
            ledger,
            ident,
            f"Run {item.key} ({item.run_state})",
            created.strftime("%Y-%m-%d"),
            fields,
            spec.order == "newest-first",
            f"<!-- sotsync:generated run={item.key} -->",
        )
        ledger = parse_ledger(data, spec.path, spec.prefix)
        added.append(f"{spec.name}/{ident}")
    if added:
        fsio.atomic_write_bytes(ws.root / spec.path, ledger.data, spec.path)
    return added


def check(
    config: Config, url: str | None = None, offline: bool = False
) -> tuple[LintReport, Report]:
    """``lint`` + ``reconcile``, read-only, for CI."""
    report = reconcile(config, url, fix=False, offline=offline).report
    return lint(config), report
