"""The incident verbs: `recover stuck` and `recover integrity` (SPEC §7).

Part of the api layer.  Each verb checks before it acts: ``recover stuck`` lists what it would
change and, with ``execute``, takes the workspace lock, a safety snapshot, then changes exactly
those rows in one transaction (a row whose state moved meanwhile rolls everything back).
``recover integrity`` checks the database and, asked to, restores the newest verified recovery
point and reconciles.  Recovery points come from sources; snapshots are one, and backups join as
another source in ``recovery_points`` without touching the rest.  Never prints, exits or reads
argv.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sotsync.config import Config, resolve_database_url, resolve_device
from sotsync.db import Target, quote
from sotsync.errors import SotsyncError
from sotsync.locking import workspace_lock
from sotsync.recover import (
    DEFAULT_WINDOW,
    PHASE_REASON_COLUMNS,
    Activity,
    RecoverError,
    RecoverSettings,
    RecoveryPoint,
    StuckPlan,
    newest_verified,
    parse_duration,
    plan_stuck,
    recover_settings,
    utc_text,
)

if TYPE_CHECKING:
    from sotsync.api.database import ReconcileResult
    from sotsync.db import Backend
    from sotsync.snapshot import SnapshotInfo


# Lists the recovery points of one kind for (config, device), newest first or in any order.
PointSource = Callable[[Config, str | None], list[RecoveryPoint]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- recover stuck


@dataclass(frozen=True)
class StuckResult:
    """The plan, and what ``execute`` did: the safety snapshot and the rows changed."""

    url: str
    plan: StuckPlan
    executed: bool
    snapshot: SnapshotInfo | None = None
    changed: int = 0


def recover_stuck(
    config: Config,
    url: str | None = None,
    older_than: str = DEFAULT_WINDOW,
    execute: bool = False,
    device: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> StuckResult:
    """Mark runs and phases stuck longer than ``older_than`` as failed (dry run by default)."""
    from sotsync.api.database import open_database
    from sotsync.runsettings import run_settings

    window = parse_duration(older_than)
    settings = recover_settings(config)
    runs = run_settings(config)
    moment = (now or _utc_now)().astimezone(UTC)
    db = open_database(config, url)
    try:
        layout = _layout(db, runs.runs_table, runs.id_column, runs.state_column, settings)
        plan = plan_stuck(_activity(db, layout, settings), settings, moment, window)
        if not execute or not plan.items:
            return StuckResult(db.url, plan, executed=False)
        resolve_device(device, config)  # a bad device name fails before anything is written
        with workspace_lock(config.workspace, "sotsync recover stuck"):
            # Read again under the lock: the rows changed are the rows this snapshot precedes.
            plan = plan_stuck(_activity(db, layout, settings), settings, moment, window)
            if not plan.items:
                return StuckResult(db.url, plan, executed=True)
            message = (
                f"safety snapshot before recover stuck: {len(plan.runs)} run(s), "
                f"{len(plan.phases)} phase(s) to mark failed"
            )
            snapshot = _safety_snapshot(config, db, device, message)
            changed = _apply(db, layout, plan)
        return StuckResult(db.url, plan, executed=True, snapshot=snapshot, changed=changed)
    finally:
        db.close()


@dataclass(frozen=True)
class _Table:
    name: str
    key: str
    state: str
    label: str | None  # phases: phase_id
    run: str | None  # phases: run_id
    times: tuple[str, ...]  # updated, then fallbacks
    completed: str | None
    reason: str | None
    time_types: dict[str, str]


@dataclass(frozen=True)
class _Layout:
    runs: _Table
    phases: _Table | None


def _layout(db: Backend, table: str, key: str, state: str, settings: RecoverSettings) -> _Layout:
    """Which columns exist; the run table must have an update time, phases are optional."""
    tables = db.tables()
    if table not in tables:
        raise RecoverError(
            f"no table {table!r} in {db.url}",
            hint="point DATABASE_URL at the Autopack database, or set [tool.sotsync.runs] table",
        )
    runs = _table(db, table, key, state, None, None, settings, settings.reason_column)
    phases = None
    if settings.phases_table in tables:
        columns = set(db.columns(settings.phases_table))
        reason = next((c for c in PHASE_REASON_COLUMNS if c in columns), None)
        phases = _table(
            db, settings.phases_table, "id", "state", "phase_id", "run_id", settings, reason
        )
    return _Layout(runs, phases)


def _table(
    db: Backend,
    name: str,
    key: str,
    state: str,
    label: str | None,
    run: str | None,
    settings: RecoverSettings,
    reason: str | None,
) -> _Table:
    columns = set(db.columns(name))
    for needed in (key, state, settings.updated_column):
        if needed not in columns:
            raise RecoverError(
                f"table {name!r} in {db.url} has no column {needed!r}",
                hint="set the names in [tool.sotsync.recover] (updated_column, phases_table)",
            )
    fallbacks = [c for c in ("started_at", "created_at") if c in columns]
    times = (settings.updated_column, *fallbacks)
    completed = settings.completed_column if settings.completed_column in columns else None
    written = [c for c in (settings.updated_column, completed) if c]
    return _Table(
        name,
        key,
        state,
        label if label in columns else None,
        run if run in columns else None,
        times,
        completed,
        reason if reason in columns else None,
        {c: _column_type(db, name, c) for c in written},
    )


def _column_type(db: Backend, table: str, column: str) -> str:
    if db.engine != "postgresql":
        return "text"
    rows = db.query(
        "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? AND column_name = ?",
        (table, column),
    )
    return str(rows[0][0]) if rows else "text"


def _activity(db: Backend, layout: _Layout, settings: RecoverSettings) -> Iterator[Activity]:
    """The rows in an active state (filtered in SQL: a million finished runs stay unread)."""
    runs = layout.runs
    cols = ", ".join(quote(c) for c in (runs.key, runs.state, *runs.times))
    for row in _in_states(db, cols, runs, settings.active_states):
        yield Activity("run", row[0], str(row[0]), str(row[0]), str(row[1] or ""), tuple(row[2:]))
    phases = layout.phases
    if phases is None:
        return
    label = phases.label or phases.key
    run = phases.run or phases.key
    cols = ", ".join(quote(c) for c in (phases.key, phases.state, label, run, *phases.times))
    for row in _in_states(db, cols, phases, settings.phase_states):
        shown = f"{row[3]}/{row[2]}" if phases.run and phases.label else str(row[0])
        yield Activity(
            "phase", row[0], shown, str(row[3]), str(row[1] or ""), tuple(row[4:])
        )  # fmt: skip


def _in_states(db: Backend, cols: str, table: _Table, states: Sequence[str]) -> Iterator[Any]:
    if not states:
        return iter(())
    marks = ", ".join("?" for _ in states)
    return db.iterate(
        f"SELECT {cols} FROM {quote(table.name)} WHERE {quote(table.state)} IN ({marks})",
        tuple(states),
    )


def _time_value(kind: str, moment: datetime) -> Any:
    """``moment`` as the column stores times: Autopack's naive UTC text, or a timestamp."""
    if kind == "timestamp without time zone":
        return moment.replace(tzinfo=None)
    if kind == "timestamp with time zone":
        return moment
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _apply(db: Backend, layout: _Layout, plan: StuckPlan) -> int:
    changed = 0
    with db.transaction():
        for item in plan.items:
            table = layout.runs if item.kind == "run" else layout.phases
            assert table is not None
            sets: list[tuple[str, Any]] = [(table.state, item.new_state)]
            for column in (table.times[0], table.completed):
                if column:
                    sets.append((column, _time_value(table.time_types[column], plan.now)))
            if table.reason:
                sets.append((table.reason, item.reason))
            assignments = ", ".join(f"{quote(c)} = ?" for c, _v in sets)
            count = db.execute(
                f"UPDATE {quote(table.name)} SET {assignments} "
                f"WHERE {quote(table.key)} = ? AND {quote(table.state)} = ?",
                (*(v for _c, v in sets), item.key, item.state),
            )
            if count != 1:
                raise RecoverError(
                    f"{item.kind} {item.label} left {item.state} while recovering; "
                    "nothing was changed",
                    hint="run `sotsync recover stuck` again to see the current state",
                )
            changed += 1
    return changed


def _safety_snapshot(config: Config, db: Backend, device: str | None, message: str) -> SnapshotInfo:
    """A snapshot of ``db`` and the ledgers before a recovery writes anything."""
    from sotsync.api.snapshots import _ledgers, _meta, _store
    from sotsync.snapshot import write_snapshot

    with _store(config) as store:
        return write_snapshot(db, store, _ledgers(config), _meta(config, device, db.url, message))


# --------------------------------------------------------------------------- recovery points


def recovery_points(
    config: Config, device: str | None = None, sources: Sequence[PointSource] | None = None
) -> list[RecoveryPoint]:
    """Every point this device's database could be restored from, newest first.

    Each source lists its own points: this device's snapshot chain (another device's snapshots
    are another database) and the backups in the backup directory.  A new kind is one more
    source; choosing the newest verified point does not change.
    """
    points: list[RecoveryPoint] = []
    for source in SOURCES if sources is None else sources:
        points += source(config, device)
    return sorted(points, key=lambda p: p.when, reverse=True)


def _snapshot_points(config: Config, device: str | None) -> list[RecoveryPoint]:
    from sotsync.api.snapshots import _store
    from sotsync.snapshot import list_snapshots

    name = resolve_device(device, config)
    with _store(config) as store:
        found = list_snapshots(store, name)
    return [
        RecoveryPoint(
            "snapshot",
            info.commit,
            datetime.strptime(info.time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
            info.device or name,
            str(info.manifest.get("engine") or "") or None,
            f"snapshot {info.commit[:12]} of {info.device or name} at {info.time}"
            + (f" ({info.subject})" if info.subject else ""),
        )
        for info in found
    ]


def _backup_points(config: Config, device: str | None) -> list[RecoveryPoint]:
    """The backups in the backup directory (listing only: nothing is recovered or written)."""
    from sotsync.api.backups import backup_dir
    from sotsync.backup import scan_backups

    found, _unreadable = scan_backups(backup_dir(config))
    points = []
    for info in found:
        try:
            when = datetime.strptime(info.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            continue
        engine = info.manifest.get("engine")
        points.append(
            RecoveryPoint(
                "backup",
                str(info.path),
                when,
                None,
                str(engine) if engine else None,
                f"{info.kind} backup {info.name} at {info.created}",
            )
        )
    return points


# Where doctor looks for recovery points, and the ones `recover integrity` can restore.  A
# backup restores the ledgers as well as the database (`sotsync restore PATH`), so it is an
# operator's decision, not something `recover integrity --restore` does behind their back.
SOURCES: tuple[PointSource, ...] = (_snapshot_points, _backup_points)
RESTORABLE: tuple[PointSource, ...] = (_snapshot_points,)


def _verify_point(config: Config, point: RecoveryPoint) -> list[str]:
    from sotsync.api.snapshots import _store
    from sotsync.snapshot import read_snapshot, verify_snapshot

    if point.kind != "snapshot":
        return [f"no restore for {point.kind} recovery points"]
    with _store(config) as store:
        problems = verify_snapshot(store, point.ident)
        if problems:
            return problems
        integrity = str(read_snapshot(store, point.ident).manifest.get("integrity_check", ""))
    if integrity != "ok" and not integrity.startswith("not checked"):
        return [f"the database failed its integrity check when snapshotted: {integrity}"]
    return []


# --------------------------------------------------------------------------- recover integrity


@dataclass(frozen=True)
class IntegrityResult:
    """The check, the chosen recovery point and, after ``restore``, what happened next."""

    url: str
    engine: str
    problems: tuple[str, ...]
    candidate: RecoveryPoint | None = None
    rejected: tuple[str, ...] = ()
    restored: bool = False
    kept_copy: str | None = None
    rows: int = 0
    problems_after: tuple[str, ...] = ()
    reconcile: ReconcileResult | None = None
    reconcile_error: str | None = None

    @property
    def healthy(self) -> bool:
        return not self.problems


def recover_integrity(
    config: Config,
    url: str | None = None,
    restore: bool = False,
    fix: bool = False,
    device: str | None = None,
    now: Callable[[], datetime] | None = None,
) -> IntegrityResult:
    """Check the database; when it is damaged name (and with ``restore``, restore) the newest
    verified recovery point, then reconcile (``fix``: ``reconcile --fix``)."""
    from sotsync.db import parse_url

    resolved, _source = resolve_database_url(url, config)
    target = parse_url(resolved, config.workspace.root)
    problems = tuple(_integrity_problems(target, resolved, config.workspace.root))
    if not problems:
        return IntegrityResult(target.redacted, target.engine, ())
    points: list[RecoveryPoint] = []
    unavailable: list[str] = []
    try:
        points = recovery_points(config, device, RESTORABLE)
    except SotsyncError as exc:
        unavailable.append(exc.message)
    candidate, rejected = newest_verified(points, target.engine, lambda p: _verify_point(config, p))
    found = IntegrityResult(
        target.redacted, target.engine, problems, candidate, tuple(rejected + unavailable)
    )
    if not restore:
        return found
    if candidate is None:
        raise RecoverError(
            f"{target.redacted} is damaged ({problems[0]}) and there is no verified snapshot "
            "or backup to restore",
            hint="list what exists with `sotsync snapshot list --all` and `sotsync snapshot "
            "verify --all`; pull other copies with `sotsync pull`",
        )
    with workspace_lock(config.workspace, "sotsync recover integrity"):
        kept, rows = _restore(config, target, resolved, candidate, (now or _utc_now)())
    after = tuple(_integrity_problems(target, resolved, config.workspace.root))
    reconciled, error = None, None
    if not after:
        from sotsync.api.database import reconcile

        try:
            reconciled = reconcile(config, url, fix=fix)
        except SotsyncError as exc:
            error = exc.message
    return IntegrityResult(
        target.redacted, target.engine, problems, candidate, tuple(rejected), True, kept, rows,
        after, reconciled, error,
    )  # fmt: skip


def _integrity_problems(target: Target, url: str, root: Path) -> list[str]:
    """What is wrong with the database: the full integrity check on SQLite, every table readable
    on PostgreSQL.  Read-only; a file too damaged to open is a problem, not an error."""
    if target.engine == "sqlite":
        path = target.path
        assert path is not None
        if not path.exists():
            return [f"database file not found: {path}"]
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            return [f"cannot open {path}: {exc}"]
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            return [str(exc)]
        finally:
            conn.close()
        if rows == ["ok"]:
            return []
        # SQLite opens its report with "*** in database main ***" and may put several lines in
        # one row: one problem per line reads (and prints) better.
        lines = [line.strip() for row in rows for line in row.splitlines()]
        return [line for line in lines if line and not line.startswith("*** in database")]
    from sotsync.db import connect

    db = connect(url, root)
    try:
        found = []
        for table in sorted(t for t in db.tables()):
            try:
                db.query('SELECT count(*) FROM "' + table.replace('"', '""') + '"')
            except SotsyncError as exc:
                found.append(exc.message)
        return found
    finally:
        db.close()


def _restore(
    config: Config, target: Target, url: str, point: RecoveryPoint, moment: datetime
) -> tuple[str | None, int]:
    """Restore ``point`` over the damaged database; returns (kept copy, rows restored).

    A damaged SQLite file cannot be snapshotted, so it is copied aside (the evidence) instead;
    PostgreSQL gets a safety snapshot when it can still be read.
    """
    from sotsync.api.snapshots import _store
    from sotsync.db import connect
    from sotsync.snapshot.restore import restore_postgres, restore_sqlite

    root = config.workspace.root
    with _store(config) as store:
        if target.engine == "sqlite":
            path = target.path
            assert path is not None
            kept = None
            if path.exists():
                copy = path.with_name(f"{path.name}.damaged-{moment.strftime('%Y%m%dT%H%M%SZ')}")
                shutil.copy2(path, copy)
                kept = str(copy)
            return kept, restore_sqlite(store, point.ident, path, root)
        db = connect(url, root)
        try:
            # Unreadable tables are why we are here: without a safety snapshot, restore anyway.
            with contextlib.suppress(SotsyncError):
                message = f"safety snapshot before recover integrity ({point.label})"
                _safety_snapshot(config, db, None, message)
            return None, restore_postgres(store, point.ident, db)
        finally:
            db.close()


__all__ = [
    "IntegrityResult",
    "StuckResult",
    "recover_integrity",
    "recover_stuck",
    "recovery_points",
    "utc_text",
]
