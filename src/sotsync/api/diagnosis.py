"""`doctor`: every check of SPEC §7 in one read-only pass, each ok / warn / fail with a hint.

Part of the api layer: it gathers the facts (workspace, configuration, ledgers, database, git
setup, snapshots, lock, disk, ``.env``) and lets ``sotsync.doctor`` judge them.  One broken
part never hides the others: each check catches its own ``SotsyncError`` and becomes a failed
check.  It writes nothing, never prints, exits or reads argv.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sotsync import doctor as rules
from sotsync.api.common import _eol_rules, ledger_specs, load_ledger
from sotsync.config import Config, Workspace, find_workspace, load_config, read_dotenv
from sotsync.doctor import Check, fail, ok, warn
from sotsync.errors import SotsyncError, WorkspaceError

if TYPE_CHECKING:
    from sotsync.api.recover import PointSource
    from sotsync.db import Backend
    from sotsync.models import Finding

DiskUsage = Callable[[Path], tuple[int, int]]  # (free, total) bytes


def _disk_usage(path: Path) -> tuple[int, int]:
    usage = shutil.disk_usage(path)
    return usage.free, usage.total


def doctor(
    repo: Path | None = None,
    url: str | None = None,
    device: str | None = None,
    env: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    disk_usage: DiskUsage = _disk_usage,
    sources: Sequence[PointSource] | None = None,
) -> list[Check]:
    """Run every check; a ``--repo`` directory that does not exist is the only error raised."""
    try:
        ws = find_workspace(repo)
    except WorkspaceError:
        if repo is not None:
            raise
        # Outside git, the current directory is still a workspace to examine: the first check
        # says what is missing instead of the whole command refusing.
        ws = find_workspace(Path.cwd())
    checks = [_repository(ws)]
    try:
        config = load_config(ws)
        from sotsync.runsettings import run_settings

        run_settings(config)
        checks.append(ok("config", f"{config.source_name}: {len(config.ledgers)} ledger(s)"))
    except SotsyncError as exc:
        checks.append(fail("config", exc.message, exc.hint))
        config = None
    if config is not None:
        checks += _ledger_checks(config)
        checks += _database_checks(config, url)
        checks += _git_checks(config)
        checks += _recovery_checks(config, device, now(), sources)
    checks.append(_lock(ws))
    free, total = disk_usage(ws.root)
    checks.append(rules.check_disk(free, total, str(ws.root)))
    checks += rules.env_checks(_env(ws, os.environ if env is None else env))
    return checks


def _repository(ws: Workspace) -> Check:
    if ws.git_root is None:
        return fail(
            "repository",
            f"{ws.root} is not in a git repository: no hooks, snapshots or merge driver",
            "run `git init` there, or pass --repo with the repository's directory",
        )
    return ok("repository", f"git repository {ws.git_root}")


def _env(ws: Workspace, environ: Mapping[str, str]) -> dict[str, str]:
    """The workspace ``.env`` with the process environment on top, as Autopack reads it."""
    values = {k: v for k, v in read_dotenv(ws.root / ".env").items() if k in rules.ENV_KEYS}
    values.update({k: v for k, v in environ.items() if k in rules.ENV_KEYS})
    return values


# --------------------------------------------------------------------------- ledgers


def _ledger_checks(config: Config) -> list[Check]:
    from sotsync.ledger.lint import lint_ledger

    try:
        specs = ledger_specs(config, ())
        eol = _eol_rules(config.workspace, specs)
        found: list[Finding] = []
        for spec in specs:
            ledger = load_ledger(config.workspace, spec)
            found += lint_ledger(ledger, eol.get(spec.path), spec.order == "newest-first")
    except SotsyncError as exc:
        return [fail("ledgers", exc.message, exc.hint)]
    names = ", ".join(s.name for s in specs)
    blocking = [f for f in found if f.code in ("SOT001", "SOT002")]
    errors = [f for f in found if f.severity == "error"]
    if blocking:
        first = blocking[0]
        ledgers = fail(
            "ledgers",
            f"{len(blocking)} finding(s) that stop every tool: {first.path}:{first.line} "
            f"{first.code} {first.message}",
            "resolve the conflict markers or re-save the file as UTF-8, then `sotsync lint`",
        )
    elif errors:
        per_path = Counter(f.path for f in errors)
        ledgers = warn(
            "ledgers",
            "; ".join(
                f"{s.name}: {per_path[s.path]} error finding(s)" for s in specs if per_path[s.path]
            ),
            "`sotsync fix` repairs what it can; `sotsync lint` lists the rest",
        )
    else:
        ledgers = ok("ledgers", f"{names}: no error findings")
    endings = [f for f in found if f.code == "SOT003"]
    marked = sorted(path for path, value in eol.items() if value)
    if endings:
        eol_check = warn(
            "line-endings",
            "; ".join(f"{f.path}: {f.message}" for f in endings),
            "`sotsync fix` rewrites the endings; mark the ledgers with `text eol=lf` "
            "in .gitattributes so git keeps them",
        )
    else:
        detail = f"eol attribute on {len(marked)} of {len(specs)}" if marked else "no eol attribute"
        eol_check = ok("line-endings", f"consistent in every ledger ({detail})")
    return [ledgers, eol_check]


# --------------------------------------------------------------------------- database


def _database_checks(config: Config, url: str | None) -> list[Check]:
    from sotsync.api.database import open_database

    try:
        db = open_database(config, url)
    except SotsyncError as exc:
        return [fail("database", exc.message, exc.hint)]
    try:
        checks = [ok("database", f"{db.url} reachable ({db.engine})")]
        checks += list(_database_contents(config, db))
        return checks
    finally:
        db.close()


def _database_contents(config: Config, db: Backend) -> Iterator[Check]:
    from sotsync.api.database import _sync
    from sotsync.db.runs import check_runs_table
    from sotsync.db.schema import status
    from sotsync.runsettings import run_settings

    try:
        yield _integrity(db)
    except SotsyncError as exc:
        yield fail("integrity", exc.message, "run `sotsync recover integrity`")
        return
    try:
        found = status(db)
        if found.version == 0:
            yield fail(
                "schema", f"{db.url} has no sotsync tables", "create them with `sotsync db init`"
            )
            return
        if found.version < found.current:
            yield fail(
                "schema",
                f"sotsync schema version {found.version}, this sotsync needs {found.current}",
                "run `sotsync db upgrade` (no row is lost)",
            )
            return
        check_runs_table(db, run_settings(config))
        yield ok("schema", f"sotsync schema version {found.version}; run table present")
    except SotsyncError as exc:
        yield fail("schema", exc.message, exc.hint)
        return
    try:
        plan = _sync(config, db, dry_run=True).plan
    except SotsyncError as exc:
        yield fail("mirror", exc.message, exc.hint)
        return
    if plan.empty:
        yield ok("mirror", "the database mirror matches the ledgers")
    else:
        yield warn(
            "mirror",
            f"mirror rows: {len(plan.inserts)} missing, {len(plan.updates)} changed, "
            f"{len(plan.tombstones)} whose entry left the ledgers",
            "run `sotsync sync`, or `sotsync reconcile --fix` after an incident",
        )


def _integrity(db: Backend) -> Check:
    if db.engine != "sqlite":
        db.query("SELECT 1")
        return ok("integrity", "server answers (PostgreSQL checks its own pages)")
    rows = [str(r[0]) for r in db.query("PRAGMA quick_check")]
    if rows == ["ok"]:
        return ok("integrity", "PRAGMA quick_check: ok")
    return fail(
        "integrity",
        f"PRAGMA quick_check: {'; '.join(rows[:3])}",
        "run `sotsync recover integrity` to find the newest verified snapshot",
    )


# --------------------------------------------------------------------------- git setup


def _git_checks(config: Config) -> list[Check]:
    ws = config.workspace
    if ws.git_root is None:
        hint = "run sotsync in a git repository"
        return [
            warn(name, "no git repository", hint) for name in ("hooks", "merge-driver", "refspecs")
        ]
    return [_hooks(config), _merge_driver(config), _refspecs(ws)]


def _hooks(config: Config) -> Check:
    from sotsync.api.gitsetup import hooks_status

    states = hooks_status(config)
    missing = [h.name for h in states if h.state == "missing"]
    foreign = [h.name for h in states if h.state == "foreign"]
    stale = [h.name for h in states if h.state == "installed" and not h.current]
    if not (missing or foreign or stale):
        return ok("hooks", f"{len(states)} hooks installed")
    parts = [
        f"{label}: {', '.join(names)}"
        for label, names in (("missing", missing), ("not sotsync's", foreign), ("old", stale))
        if names
    ]
    return warn("hooks", "; ".join(parts), "run `sotsync hooks install` (existing hooks are kept)")


def _merge_driver(config: Config) -> Check:
    from sotsync import gitrepo
    from sotsync.api.gitsetup import MERGE_DRIVER

    ws = config.workspace
    driver = gitrepo.config_get(ws, f"merge.{MERGE_DRIVER}.driver")
    paths = [s.path for s in config.ledgers]
    merge = gitrepo.attribute(ws, paths, "merge")
    unmarked = [p for p in paths if merge.get(p) != MERGE_DRIVER]
    hint = "run `sotsync init`: it registers the driver and marks the ledgers"
    if driver is None:
        return warn("merge-driver", "merge.sotsync.driver is not configured", hint)
    if unmarked:
        return warn("merge-driver", f"not marked merge=sotsync: {', '.join(unmarked)}", hint)
    return ok("merge-driver", f"configured; {len(paths)} ledger(s) marked in .gitattributes")


def _refspecs(ws: Workspace) -> Check:
    from sotsync import gitrepo
    from sotsync.api.gitsetup import RESERVATION_REFSPEC, SNAPSHOT_REFSPEC, TAG_REFSPEC

    remotes = gitrepo.remotes(ws)
    if not remotes:
        return ok("refspecs", "no remotes (nothing to fetch snapshots from)")
    lacking = []
    for remote in remotes:
        present = gitrepo.config_values(ws, f"remote.{remote}.fetch")
        wanted = (RESERVATION_REFSPEC, SNAPSHOT_REFSPEC, TAG_REFSPEC)
        if any(p.format(remote=remote) not in present for p in wanted):
            lacking.append(remote)
    if lacking:
        return warn(
            "refspecs",
            f"remote(s) without sotsync's fetch refspecs: {', '.join(lacking)}",
            "run `sotsync init` to add them (git fetch then brings snapshots and reservations)",
        )
    return ok("refspecs", f"configured on {', '.join(remotes)}")


# --------------------------------------------------------------------------- recovery points


def _recovery_checks(
    config: Config, device: str | None, now: datetime, sources: Sequence[PointSource] | None
) -> list[Check]:
    from sotsync.api.recover import SOURCES

    points = []
    problems = []
    for source in SOURCES if sources is None else sources:
        try:
            points += source(config, device)
        except SotsyncError as exc:  # one source failing (no git) leaves the others
            problems.append(exc.message)
    checks = []
    for kind, what, hint in (
        (
            "snapshot",
            "snapshot of this device",
            "take one with `sotsync snapshot create` (schedule it, e.g. daily)",
        ),
        ("backup", "backup", "take one with `sotsync backup` (schedule it, e.g. daily)"),
    ):
        newest = max((p.when for p in points if p.kind == kind), default=None)
        name = f"{kind}s"
        if newest is None and problems:
            checks.append(warn(name, f"no {what} found ({'; '.join(problems)})", hint))
        else:
            checks.append(rules.check_age(name, what, newest, now, rules.SNAPSHOT_MAX_AGE, hint))
    return checks


def _lock(ws: Workspace) -> Check:
    from sotsync.locking import is_stale, read_holder

    holder = read_holder(ws)
    if holder is None:
        return ok("lock", "free")
    if is_stale(holder):
        return warn(
            "lock",
            f"stale record: {holder.describe()} is gone",
            "run `sotsync unlock` to remove the record",
        )
    return ok("lock", f"held by {holder.describe()}")
