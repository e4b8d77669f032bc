"""One function per user verb: lint, fix, inspect, new, init.

This layer joins the pieces below it (config, files, git, locks, the ledger engine) and returns
values for the CLI to render.  It never prints, exits or reads argv.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sotsync import fsio, gitrepo
from sotsync.config import Config, LedgerSpec, Workspace, resolve_ledgers, write_config
from sotsync.errors import ConfigError, LedgerError, SotsyncError, UsageError
from sotsync.ledger import fix as fixer
from sotsync.ledger.lint import BY_CODE, lint_ledger
from sotsync.ledger.new import add_entry, next_id
from sotsync.ledger.parse import Ledger, parse_ledger
from sotsync.locking import Holder, break_lock, workspace_lock
from sotsync.models import Finding, severity_rank

if TYPE_CHECKING:
    from sotsync.db import Backend
    from sotsync.db.schema import SchemaStatus
    from sotsync.ledger.merge import MergeResult
    from sotsync.mirror import MirrorRow, SyncPlan
    from sotsync.reconcile import Report

BINARY_SNIFF = 8000
BASELINE_VERSION = 1


@dataclass(frozen=True)
class LintReport:
    """Findings that remain after ``--select``/``--ignore``/baseline filtering."""

    findings: tuple[Finding, ...]
    ledgers: tuple[str, ...]
    suppressed: int

    def failing(self, fail_on: str) -> list[Finding]:
        if fail_on == "never":
            return []
        rank = severity_rank(fail_on)
        return [f for f in self.findings if severity_rank(f.severity) >= rank]


# --------------------------------------------------------------------------- loading


def ledger_specs(config: Config, selectors: Sequence[str]) -> tuple[LedgerSpec, ...]:
    """The ledgers to work on; with zero config, default ledgers that do not exist are skipped."""
    specs = resolve_ledgers(config, selectors)
    root = config.workspace.root
    # A config file that only sets other keys still leaves the ledger list at its defaults.
    configured = "ledgers" in config.settings
    origin = config.source_name if configured else "defaults"
    if selectors or configured:
        for spec in specs:
            if not (root / spec.path).exists():
                raise LedgerError(
                    f"ledger '{spec.name}' ({spec.path}, from {origin}) does not exist",
                    hint="create it with `sotsync init` or correct its path in the configuration",
                )
        return specs
    present = tuple(s for s in specs if (root / s.path).exists())
    if not present:
        raise ConfigError(
            f"no ledgers found in {root} (looked for " + ", ".join(s.path for s in specs) + ")",
            hint="run `sotsync init` to create them, or configure [tool.sotsync] ledgers",
        )
    return present


def load_ledger(ws: Workspace, spec: LedgerSpec) -> Ledger:
    """Read and parse one ledger; binary files are refused with a clear error."""
    data = fsio.read_ledger_bytes(ws.root / spec.path, spec.path)
    nul = data.find(b"\0", 0, BINARY_SNIFF)
    if nul >= 0:
        raise LedgerError(
            f"{spec.path} looks like a binary file (NUL byte at offset {nul}), not a ledger",
            hint="point the ledger configuration at the Markdown file",
        )
    return parse_ledger(data, spec.path, spec.prefix)


def _eol_rules(ws: Workspace, specs: Sequence[LedgerSpec]) -> dict[str, str | None]:
    if ws.git_root is None:
        return {}
    return gitrepo.eol_attribute(ws, [s.path for s in specs])


# --------------------------------------------------------------------------- lint


def lint(
    config: Config,
    selectors: Sequence[str] = (),
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    baseline: Path | None = None,
    new_since: str | None = None,
) -> LintReport:
    """Lint the chosen ledgers; keep only new findings when a baseline or revision is given."""
    ws = config.workspace
    _check_codes([*select, *ignore])
    specs = ledger_specs(config, selectors)
    eol = _eol_rules(ws, specs)
    findings: list[Finding] = []
    for spec in specs:
        ledger = load_ledger(ws, spec)
        found = lint_ledger(ledger, eol.get(spec.path), spec.order == "newest-first")
        if new_since is not None:
            found = _only_new(found, _findings_at(ws, spec, new_since, eol.get(spec.path)))
        findings.extend(found)
    total = len(findings)
    if baseline is not None:
        findings = _only_new(findings, read_baseline(baseline))
    findings = [f for f in findings if _selected(f.code, select, ignore)]
    suppressed = total - len(findings)
    return LintReport(tuple(findings), tuple(s.path for s in specs), suppressed)


def _check_codes(codes: Sequence[str]) -> None:
    for code in codes:
        if not any(known.startswith(code) for known in BY_CODE):
            raise UsageError(
                f"unknown finding code {code!r}",
                hint="codes are SOT001..SOT050; see `sotsync lint --help`",
            )


def _selected(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    if select and not any(code.startswith(s) for s in select):
        return False
    return not any(code.startswith(i) for i in ignore)


def _findings_at(ws: Workspace, spec: LedgerSpec, rev: str, eol: str | None) -> list[Finding]:
    data = gitrepo.read_blob(ws, rev, spec.path)
    if data is None:
        return []
    old = parse_ledger(data, spec.path, spec.prefix)
    return lint_ledger(old, eol, spec.order == "newest-first")


def _only_new(
    current: Sequence[Finding], accepted: Sequence[Finding] | Counter[str]
) -> list[Finding]:
    """Findings beyond those accepted, matched by fingerprint (code + id + text), as a multiset."""
    budget = (
        accepted if isinstance(accepted, Counter) else Counter(_baseline_key(f) for f in accepted)
    )
    fresh = []
    for finding in current:
        key = _baseline_key(finding)
        if budget[key] > 0:
            budget[key] -= 1
        else:
            fresh.append(finding)
    return fresh


def _baseline_key(finding: Finding) -> str:
    return f"{finding.path}\0{finding.fingerprint}"


def read_baseline(path: Path) -> Counter[str]:
    """The accepted findings of a baseline file written by ``write_baseline``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        items = raw["findings"]
        return Counter(f"{item['path']}\0{item['fingerprint']}" for item in items)
    except FileNotFoundError:
        raise ConfigError(
            f"baseline file not found: {path}",
            hint="create it with `sotsync lint --write-baseline FILE`",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"baseline file {path} is not a sotsync baseline ({exc})",
            hint="rewrite it with `sotsync lint --write-baseline FILE`",
        ) from None


def write_baseline(report: LintReport, path: Path) -> int:
    """Record every finding of ``report`` as accepted; returns how many were written."""
    items = [
        {
            "path": f.path,
            "code": f.code,
            "entry_id": f.entry_id,
            "fingerprint": f.fingerprint,
            "message": f.message,
        }
        for f in report.findings
    ]
    text = (
        json.dumps({"version": BASELINE_VERSION, "findings": items}, indent=2, ensure_ascii=False)
        + "\n"
    )
    # A path that is not UTF-8 (an undecodable file name) holds lone surrogates: written as
    # JSON escapes (\udcff), they read back as the same str and the baseline still matches.
    fsio.atomic_write_bytes(path, text.encode("utf-8", "backslashreplace"), str(path))
    return len(items)


# --------------------------------------------------------------------------- fix


def fix(
    config: Config, selectors: Sequence[str] = (), dry_run: bool = False
) -> list[fixer.FixResult]:
    """Repair every fixable finding; writes atomically under the workspace lock."""
    if dry_run:
        return _fix_ledgers(config, selectors, dry_run=True)
    with workspace_lock(config.workspace, "sotsync fix"):
        return _fix_ledgers(config, selectors)


def _fix_ledgers(
    config: Config, selectors: Sequence[str], dry_run: bool = False
) -> list[fixer.FixResult]:
    ws = config.workspace
    specs = ledger_specs(config, selectors)
    eol = _eol_rules(ws, specs)
    results = []
    for spec in specs:
        ledger = load_ledger(ws, spec)
        result = fixer.fix_ledger(
            ledger.data, spec.path, spec.prefix, eol.get(spec.path), spec.order == "newest-first"
        )
        if result.changed and not dry_run:
            fsio.atomic_write_bytes(ws.root / spec.path, result.after, spec.path)
        results.append(result)
    return results


# --------------------------------------------------------------------------- inspect


def inspect(config: Config, selectors: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per-ledger counts and preamble values (SPEC §2), as plain JSON-ready dicts."""
    ws = config.workspace
    return [describe(load_ledger(ws, spec), spec) for spec in ledger_specs(config, selectors)]


def describe(ledger: Ledger, spec: LedgerSpec) -> dict[str, Any]:
    table_rows = ledger.table_rows
    row_ids = Counter(r.id for r in ledger.rows if r.id is not None)
    section_ids = Counter(e.id for e in ledger.entries)
    endings = ledger.endings
    styles = [name for key, name in (("\r\n", "crlf"), ("\n", "lf"), ("\r", "cr")) if endings[key]]
    pre = ledger.preamble
    return {
        "name": spec.name,
        "path": spec.path,
        "prefix": spec.prefix,
        "file_type": spec.file_type,
        "counts": {
            "index_rows": len(table_rows),
            "index_rows_with_id": sum(1 for r in table_rows if r.id is not None),
            "stray_rows": sum(1 for r in ledger.rows if not r.in_table and not r.glued),
            "glued_rows": sum(1 for r in ledger.rows if r.glued),
            "entries": len(ledger.entries),
            "idless_entries": len(ledger.idless),
            "hidden_entries": len(ledger.hidden),
            "distinct_entry_ids": len(section_ids),
            "distinct_ids": len(ledger.ids()),
            "duplicated_row_ids": sorted(i for i, n in row_ids.items() if n > 1),
            "duplicated_entry_ids": sorted(i for i, n in section_ids.items() if n > 1),
            "index_only_ids": len(set(row_ids) - set(section_ids)),
            "section_only_ids": sorted(set(section_ids) - set(row_ids)),
        },
        "line_endings": styles[0] if len(styles) == 1 else ("mixed" if styles else "none"),
        "final_newline": bool(ledger.lines) and ledger.lines[-1].endswith(("\n", "\r")),
        "bom": ledger.bom,
        "bytes": len(ledger.data),
        "lines": len(ledger.lines),
        "preamble": {
            "title": pre.title,
            "summary": pre.summary_text,
            "summary_counts": list(pre.summary_counts),
            "meta": {key: value for key, value, _line in pre.meta},
        },
    }


# --------------------------------------------------------------------------- new


@dataclass(frozen=True)
class NewEntry:
    """What ``new`` wrote."""

    id: str
    path: str
    date: str


def new(
    config: Config,
    selector: str,
    title: str,
    date: str | None = None,
    fields: Sequence[tuple[str, str]] = (),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    reserve: str | None = None,
) -> NewEntry:
    """Allocate the next id and add the entry, under the lock.

    The next id is 1 + the highest id in the work tree, every local and remote-tracking branch
    and the local reservation ref; with ``reserve`` (a remote name) the id is first claimed on
    that remote by compare-and-swap, so two devices never take the same one.
    """
    ws = config.workspace
    spec = ledger_specs(config, [selector])[0]
    when = date or now().strftime("%Y-%m-%d")
    if date is not None:
        _check_date(date)
    with workspace_lock(ws, f"sotsync new {spec.name}"):
        ledger = load_ledger(ws, spec)
        known = [ledger.ids(), _ids_on_branches(ws, spec, ledger.data), _reserved_ids(ws, spec)]
        if reserve is not None:
            ident = reserve_id(config, spec, reserve, known)
        else:
            ident = next_id(spec.prefix, *known)
        data = add_entry(ledger, ident, title, when, fields, spec.order == "newest-first")
        fsio.atomic_write_bytes(ws.root / spec.path, data, spec.path)
    return NewEntry(ident, spec.path, when)


RESERVATION_TRIES = 25


def reservation_ref(spec: LedgerSpec) -> str:
    return f"refs/sotsync/ids/{spec.prefix}"


def _reserved_ids(ws: Workspace, spec: LedgerSpec) -> set[str]:
    """The id recorded by the local reservation ref (the last one this clone saw or claimed)."""
    if ws.git_root is None:
        return set()
    commit = gitrepo.resolve_ref(ws, reservation_ref(spec))
    text = gitrepo.read_reserved(ws, commit) if commit else None
    return {text} if text else set()


def reserve_id(config: Config, spec: LedgerSpec, remote: str, known: Sequence[set[str]]) -> str:
    """Claim the next id on ``remote`` with a compare-and-swap push of the reservation ref.

    A lost race re-reads the remote's reservation and tries the next id; the local ref follows
    the remote so later ``new`` calls without ``--reserve`` still count the claim.
    """
    import os
    import socket

    from sotsync.errors import LockError

    ws = config.workspace
    if ws.git_root is None:
        raise UsageError("--reserve needs a git repository with a remote")
    ref = reservation_ref(spec)
    tracking = f"refs/sotsync/remotes/{remote}/ids/{spec.prefix}"
    for _attempt in range(RESERVATION_TRIES):
        current = gitrepo.fetch_ref(ws, remote, ref, tracking)
        claimed = gitrepo.read_reserved(ws, current) if current else None
        ident = next_id(spec.prefix, *known, {claimed} if claimed else set())
        message = f"reserve {ident}\n\nDevice: {socket.gethostname()}\nPid: {os.getpid()}\n"
        commit = gitrepo.reservation_commit(ws, current, ident, message)
        if gitrepo.push_with_lease(ws, remote, commit, ref, current):
            gitrepo.update_ref(ws, tracking, commit, current)
            local = gitrepo.resolve_ref(ws, ref)
            gitrepo.update_ref(ws, ref, commit, local)
            return ident
    raise LockError(
        f"could not reserve a {spec.prefix} id on '{remote}' after {RESERVATION_TRIES} tries",
        hint="other devices are reserving ids right now; run the command again",
    )


def _check_date(date: str) -> None:
    try:
        datetime.strptime(date, "%Y-%m-%d")
    except ValueError:
        raise UsageError(f"invalid date {date!r}", hint="use YYYY-MM-DD, e.g. 2026-01-31") from None


def _ids_on_branches(ws: Workspace, spec: LedgerSpec, current: bytes) -> set[str]:
    """Ids of the ledger as committed on every local and remote-tracking branch."""
    if ws.git_root is None:
        return set()
    refs = gitrepo.branch_refs(ws)
    if not refs:
        return set()
    seen = {hashlib.sha256(current).digest()}
    ids: set[str] = set()
    for blob in gitrepo.read_blobs(ws, refs, spec.path).values():
        digest = hashlib.sha256(blob).digest()
        if digest in seen:
            continue
        seen.add(digest)
        ids |= parse_ledger(blob, spec.path, spec.prefix).ids()
    return ids


# --------------------------------------------------------------------------- init


@dataclass(frozen=True)
class InitResult:
    """What ``init`` created; empty tuples mean the workspace was already set up."""

    created: tuple[str, ...]
    config: str | None
    adopted: str | None = None
    registered: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()


_TITLES = {
    "build_history": (
        "Build History - Implementation Log",
        "build entries",
        "Total_Builds",
        "| Timestamp | {p}-ID | Phase | Summary | Files Changed |",
        "BUILDS",
    ),
    "debug_log": (
        "Debug Log - Problem Solving History",
        "debug session(s)",
        "Total_Issues",
        "| Timestamp | {p}-ID | Severity | Summary | Status |",
        "DEBUG ENTRIES",
    ),
    "architecture": (
        "Architecture Decisions - Design Rationale",
        "decision(s)",
        "Total_Decisions",
        "| Timestamp | {p}-ID | Decision | Status | Impact |",
        "DECISIONS",
    ),
}


def skeleton(spec: LedgerSpec, now: datetime) -> bytes:
    """The standard empty ledger: title, summary, META, INDEX header, entries section."""
    title, noun, total, header, section = _TITLES[spec.file_type]
    header = header.format(p=spec.prefix)
    delimiter = "|" + "|".join("-" * (len(c) + 2) for c in header.strip("|").split("|")) + "|"
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    order = "Most Recent First" if spec.order == "newest-first" else "Oldest First"
    lines = [
        f"# {title}",
        "",
        "",
        "<!-- AUTO-GENERATED SUMMARY - DO NOT EDIT MANUALLY -->",
        f"**Summary**: 0 {noun} documented | Last updated: {stamp}",
        "<!-- END AUTO-GENERATED SUMMARY -->",
        "",
        "<!-- META",
        f"Last_Updated: {now.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"{total}: 0",
        "Format_Version: 2.0",
        "Auto_Generated: False",
        "Sources: sotsync init",
        "-->",
        "",
        f"## INDEX (Chronological - {order})",
        header,
        delimiter,
        "",
        f"## {section} (Reverse Chronological)"
        if spec.order == "newest-first"
        else f"## {section} (Chronological)",
        "",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def init(
    config: Config,
    write: str | None = None,
    adopt: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    hooks: bool = True,
) -> InitResult:
    """Set a repository up; running it twice changes nothing.

    Creates missing ledgers, writes the config on request, sets ``expect_since`` with
    ``adopt``, registers the merge driver (``.git/config`` and ``.gitattributes``) and installs
    the git hooks (unless ``hooks`` is False).
    """
    ws = config.workspace
    created = []
    with workspace_lock(ws, "sotsync init"):
        for spec in config.ledgers:
            path = ws.root / spec.path
            if path.exists():
                if path.is_dir():
                    raise LedgerError(f"{spec.path} is a directory, not a ledger file")
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            fsio.atomic_write_bytes(path, skeleton(spec, now()), spec.path)
            created.append(spec.path)
        written = None
        if write is not None:
            target: Literal["pyproject", "sotsync.toml"] = (
                "pyproject" if write == "pyproject" else "sotsync.toml"
            )
            written = str(write_config(ws, config.ledgers, target).relative_to(ws.root))
        adopted = None
        if adopt:
            from sotsync.config import load_config, set_top_level

            fresh = load_config(ws)  # the config may have just been written
            stamp = now().strftime("%Y-%m-%dT%H:%M:%SZ")
            path, changed = set_top_level(fresh, "expect_since", stamp)
            shown = str(path.relative_to(ws.root))
            adopted = (
                f"expect_since = {stamp} in {shown}"
                if changed
                else (f"expect_since already set in {shown}; kept")
            )
        registered = _register_merge_driver(ws, config.ledgers)
    installed: tuple[str, ...] = ()
    if hooks and ws.git_root is not None:
        states = hooks_install(config)
        installed = tuple(f"{h.name}: {h.action}" for h in states if h.action != "kept")
    return InitResult(tuple(created), written, adopted, registered, installed)


MERGE_DRIVER = "sotsync"


def merge_driver_command() -> str:
    """The driver command git runs, by absolute path.

    A merge may run where PATH differs (an IDE, a GUI client, cron); a driver git cannot find
    makes git keep one side and silently drop the other's entries, so never rely on PATH.
    """
    import shlex
    import shutil
    import sys

    script = shutil.which("sotsync")
    if script:
        return f"{shlex.quote(str(Path(script).resolve()))} merge-driver %O %A %B %P"
    return f"{shlex.quote(sys.executable)} -m sotsync merge-driver %O %A %B %P"


def _register_merge_driver(ws: Workspace, specs: Sequence[LedgerSpec]) -> tuple[str, ...]:
    """``merge.sotsync.*`` in ``.git/config`` and ``merge=sotsync`` for each ledger."""
    if ws.git_root is None:
        return ()
    done = []
    wanted = {
        f"merge.{MERGE_DRIVER}.name": "sotsync entry-aware ledger merge",
        f"merge.{MERGE_DRIVER}.driver": merge_driver_command(),
    }
    for key, value in wanted.items():
        if gitrepo.config_get(ws, key) is None:
            gitrepo.config_set_local(ws, key, value)
            done.append(f"git config {key}")
    merge = gitrepo.attribute(ws, [s.path for s in specs], "merge")
    missing = [s.path for s in specs if merge[s.path] != MERGE_DRIVER]
    if missing:
        attributes = ws.git_root / ".gitattributes"
        text = attributes.read_bytes().decode("utf-8") if attributes.exists() else ""
        newline = "\r\n" if "\r\n" in text else "\n"
        if text and not text.endswith(("\n", "\r")):
            text += newline
        for path in missing:
            text += f"/{gitrepo.git_relative(ws, path)} merge={MERGE_DRIVER}{newline}"
        fsio.atomic_write_bytes(attributes, text.encode("utf-8"), ".gitattributes")
        done += [f".gitattributes: {path} merge={MERGE_DRIVER}" for path in missing]
    return tuple(done)


# --------------------------------------------------------------------------- unlock


def unlock(config: Config) -> Holder | None:
    """Remove a stale lock record; LockError while a live process holds the lock."""
    return break_lock(config.workspace)


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
    from sotsync.errors import SotsyncError

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


# --------------------------------------------------------------------------- merge driver


def merge_driver(
    config: Config | None, base: Path, ours: Path, theirs: Path, path: str
) -> MergeResult:
    """Merge ``theirs`` into ``ours`` by entry (git's %O %A %B %P) and write the result to %A.

    ``path`` picks the ledger: a configured one, else one whose prefix can be guessed.  Anything
    else, and any failure of the merge itself, gives git's own answer: one conflict over the
    whole file.  A merge driver must always leave a usable %A behind; a traceback would not.
    """
    from sotsync.ledger.merge import guess_prefix, merge_ledgers, whole_file_conflict

    sides = (
        fsio.read_ledger_bytes(base, str(base)),
        fsio.read_ledger_bytes(ours, str(ours)),
        fsio.read_ledger_bytes(theirs, str(theirs)),
    )
    spec: LedgerSpec | None = None
    if config is not None:
        spec = next((s for s in config.ledgers if s.path == path), None)
        if spec is None:
            try:
                spec = resolve_ledgers(config, [path], cwd=config.workspace.root)[0]
            except SotsyncError:
                spec = None
    prefix = spec.prefix if spec is not None else None
    if prefix is None and path.lower().endswith(".md"):
        prefix = guess_prefix(sides[1]) or guess_prefix(sides[2])
    result = whole_file_conflict(*sides)
    if prefix is not None:
        newest_first = spec is None or spec.order == "newest-first"
        try:
            result = merge_ledgers(*sides, path, prefix, newest_first)
        except Exception:  # a bug in the merge must still leave git a conflict to resolve
            result = whole_file_conflict(*sides)
    fsio.atomic_write_bytes(ours, result.data, path)
    return result


# --------------------------------------------------------------------------- git hooks

HOOK_NAMES = ("pre-commit", "post-merge", "post-checkout", "post-rewrite", "pre-push")
PREVIOUS_SUFFIX = ".sotsync-previous"
HOOK_MARKER = "# sotsync-hook-script v1"
# The same script serves every hook (it reads its name from $0); `hooks/` in the source tree
# holds copies of it for people who install hooks by hand.
HOOK_SCRIPT = f"""#!/bin/sh
{HOOK_MARKER}
# Runs `sotsync hook <name>`, then the hook this one replaced (saved as <name>{PREVIOUS_SUFFIX}).
# Installed by `sotsync hooks install`; `sotsync hooks uninstall` restores the previous hook.
hook=${{0##*/}}
previous="${{0%/*}}/$hook{PREVIOUS_SUFFIX}"

if command -v sotsync >/dev/null 2>&1; then
    runner="sotsync"
elif command -v python3 >/dev/null 2>&1 && python3 -c "import sotsync" >/dev/null 2>&1; then
    runner="python3 -m sotsync"
else
    runner=""
    echo "sotsync: warning: $hook hook skipped: sotsync is neither on PATH nor importable" >&2
fi

if [ ! -x "$previous" ]; then
    [ -n "$runner" ] || exit 0
    exec $runner hook "$hook" "$@"
fi

# Both hooks get git's stdin, so that pre-push and post-rewrite receive their ref lists.
case $hook in
pre-push | post-rewrite) input=$(cat) ;;
*) input="" ;;
esac
feed() {{
    if [ -n "$input" ]; then printf '%s\\n' "$input"; fi
}}
status=0
if [ -n "$runner" ]; then
    case $hook in
    pre-push | post-rewrite) feed | $runner hook "$hook" "$@" ;;
    *) $runner hook "$hook" "$@" ;;
    esac || status=$?
fi
case $hook in
pre-push | post-rewrite) feed | "$previous" "$@" ;;
*) "$previous" "$@" ;;
esac || {{
    code=$?
    [ "$status" -ne 0 ] || status=$code
}}
exit $status
"""


@dataclass(frozen=True)
class HookState:
    """One git hook: ``state`` is installed, foreign or missing; ``action`` what a command did."""

    name: str
    path: str
    state: str
    previous: bool
    current: bool = True
    action: str = ""


def _hook_state(path: Path) -> str:
    if not path.exists() and not path.is_symlink():
        return "missing"
    try:
        with path.open("rb") as stream:
            head = stream.read(4096)
    except OSError:
        return "foreign"
    return "installed" if HOOK_MARKER.encode() in head else "foreign"


def _shown_path(ws: Workspace, path: Path) -> str:
    try:
        return path.relative_to(ws.root).as_posix()
    except ValueError:
        return str(path)


def _hook_states(ws: Workspace) -> list[tuple[str, Path, Path, str]]:
    directory = gitrepo.hooks_dir(ws)
    return [
        (
            name,
            directory / name,
            directory / f"{name}{PREVIOUS_SUFFIX}",
            _hook_state(directory / name),
        )
        for name in HOOK_NAMES
    ]


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def hooks_status(config: Config) -> list[HookState]:
    """Each sotsync hook in git's hooks directory (``core.hooksPath`` respected)."""
    ws = config.workspace
    script = HOOK_SCRIPT.encode()
    result = []
    for name, target, previous, state in _hook_states(ws):
        current = state != "installed" or target.read_bytes() == script
        result.append(HookState(name, _shown_path(ws, target), state, _exists(previous), current))
    return result


def hooks_install(config: Config) -> list[HookState]:
    """Install the hook scripts; a foreign hook is kept as ``<hook>.sotsync-previous`` and chained.

    Running it again changes nothing; an outdated sotsync script is rewritten.
    """
    ws = config.workspace
    script = HOOK_SCRIPT.encode()
    with workspace_lock(ws, "sotsync hooks install"):
        states = _hook_states(ws)
        for _name, target, previous, state in states:
            if state == "foreign" and _exists(previous):
                raise ConfigError(
                    f"cannot install the {_name} hook: both {_shown_path(ws, target)} and "
                    f"{_shown_path(ws, previous)} exist",
                    hint="merge or remove one of them, then run `sotsync hooks install` again",
                )
        result = []
        for name, target, previous, state in states:
            if state == "installed" and target.read_bytes() == script:
                action = "kept"
            else:
                if state == "foreign":
                    target.replace(previous)
                    action = "installed, previous hook chained"
                else:
                    action = "updated" if state == "installed" else "installed"
                target.parent.mkdir(parents=True, exist_ok=True)
                fsio.atomic_write_bytes(target, script, _shown_path(ws, target))
                target.chmod(0o755)
            result.append(
                HookState(
                    name, _shown_path(ws, target), "installed", _exists(previous), True, action
                )
            )
    return result


def hooks_uninstall(config: Config) -> list[HookState]:
    """Remove sotsync's hook scripts and put back the hooks they replaced; foreign hooks stay."""
    ws = config.workspace
    with workspace_lock(ws, "sotsync hooks uninstall"):
        result = []
        for name, target, previous, state in _hook_states(ws):
            if state == "foreign":
                action, now = "left alone (not sotsync's)", "foreign"
            elif _exists(previous):
                previous.replace(target)
                action, now = "removed, previous hook restored", "foreign"
            elif state == "installed":
                target.unlink()
                action, now = "removed", "missing"
            else:
                action, now = "not installed", "missing"
            result.append(HookState(name, _shown_path(ws, target), now, False, True, action))
    return result


# --------------------------------------------------------------------------- hook checks


def _ledger_at(data: bytes, spec: LedgerSpec) -> Ledger:
    nul = data.find(b"\0", 0, BINARY_SNIFF)
    if nul >= 0:
        raise LedgerError(
            f"{spec.path} looks like a binary file (NUL byte at offset {nul}), not a ledger",
            hint="point the ledger configuration at the Markdown file",
        )
    return parse_ledger(data, spec.path, spec.prefix)


def _lint_at(data: bytes, spec: LedgerSpec, eol: str | None) -> list[Finding]:
    return lint_ledger(_ledger_at(data, spec), eol, spec.order == "newest-first")


def staged_ledgers(config: Config, paths: Sequence[str]) -> tuple[LedgerSpec, ...]:
    """The configured ledgers among *paths* (workspace-relative POSIX paths)."""
    wanted = set(paths)
    return tuple(spec for spec in config.ledgers if spec.path in wanted)


def lint_staged(config: Config, paths: Sequence[str]) -> LintReport:
    """Lint the index content of the ledgers among *paths*: findings new relative to HEAD only.

    ``suppressed`` counts the findings HEAD already had (accepted, as ``--new-since HEAD``).
    """
    ws = config.workspace
    specs = staged_ledgers(config, paths)
    head = gitrepo.resolve_commit(ws, "HEAD")
    eol = _eol_rules(ws, specs)
    findings: list[Finding] = []
    linted: list[str] = []
    total = 0
    for spec in specs:
        staged = gitrepo.read_staged(ws, spec.path)
        if staged is None:
            continue  # deleted (or not a file) in the index
        linted.append(spec.path)
        old = gitrepo.read_blob(ws, head, spec.path) if head is not None else None
        if old == staged:
            continue  # nothing staged for it after all (e.g. mode change only)
        found = _lint_at(staged, spec, eol.get(spec.path))
        total += len(found)
        if old is not None:
            found = _only_new(found, _lint_at(old, spec, eol.get(spec.path)))
        findings.extend(found)
    return LintReport(tuple(findings), tuple(linted), total - len(findings))


@dataclass(frozen=True)
class LedgerChange:
    """How one ledger differs between two states: ids added and removed, findings that are new."""

    path: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    findings: tuple[Finding, ...]
    # Ids kept whose entry text differs: an edit, or an id that now names other work (after a
    # merge renumbered entries) - worth a look either way.
    changed: tuple[str, ...] = ()


def ledger_changes(config: Config, before: str | None, after: str | None) -> list[LedgerChange]:
    """Per changed ledger: the ids *after* adds and drops relative to *before*; new findings.

    *before* and *after* are commits; *after* None means the work tree (a squash merge leaves
    its result there).  Ledgers absent in both, or unchanged, are left out.
    """
    ws = config.workspace
    eol = _eol_rules(ws, config.ledgers)
    changes = []
    for spec in config.ledgers:
        old = gitrepo.read_blob(ws, before, spec.path) if before is not None else None
        if after is None:
            path = ws.root / spec.path
            new_data = fsio.read_ledger_bytes(path, spec.path) if path.is_file() else None
        else:
            new_data = gitrepo.read_blob(ws, after, spec.path)
        if old == new_data:
            continue
        old_ledger = _ledger_at(old, spec) if old is not None else None
        old_ids = old_ledger.ids() if old_ledger is not None else set()
        if new_data is None:
            changes.append(LedgerChange(spec.path, (), _by_key(old_ids), ()))
            continue
        ledger = _ledger_at(new_data, spec)
        found = lint_ledger(ledger, eol.get(spec.path), spec.order == "newest-first")
        if old_ledger is not None:
            accepted = lint_ledger(old_ledger, eol.get(spec.path), spec.order == "newest-first")
            found = _only_new(found, accepted)
        ids = ledger.ids()
        changed: set[str] = set()
        if old_ledger is not None:
            before_text = {e.id: e.content_hash for e in old_ledger.entries if e.occurrence == 1}
            changed = {
                e.id
                for e in ledger.entries
                if e.occurrence == 1 and before_text.get(e.id, e.content_hash) != e.content_hash
            }
        changes.append(
            LedgerChange(
                spec.path,
                _by_key(ids - old_ids),
                _by_key(old_ids - ids),
                tuple(found),
                _by_key(changed),
            )
        )
    return changes


def _by_key(ids: set[str]) -> tuple[str, ...]:
    from sotsync.ledger.parse import id_key

    return tuple(sorted(ids, key=lambda i: (i.split("-", 1)[0], id_key(i))))


@dataclass(frozen=True)
class Collision:
    """An id the pushed branch adds that a remote branch also added, with different content."""

    path: str
    id: str
    local_ref: str
    remote_ref: str


def _signatures(ledger: Ledger) -> dict[str, tuple[str, ...]]:
    """Per id, what it documents: its sections' hashes and its INDEX rows' text."""
    parts: dict[str, list[str]] = {}
    for entry in ledger.entries:
        parts.setdefault(entry.id, []).append(entry.content_hash)
    for row in ledger.rows:
        if row.id is not None:
            parts.setdefault(row.id, []).append("\0".join(row.text_key))
    return {ident: tuple(sorted(items)) for ident, items in parts.items()}


def push_collisions(
    config: Config, remote: str, pushed: Sequence[tuple[str, str]]
) -> list[Collision]:
    """Ids each pushed commit adds that a remote-tracking branch of *remote* added differently.

    *pushed* holds (local ref, commit) pairs.  "Added" means absent at the two commits' merge
    base, so an entry both sides edited is not a collision (the merge driver handles that).
    Only local refs are read: nothing is fetched.
    """
    ws = config.workspace
    refs = gitrepo.remote_branch_refs(ws, remote)
    if not refs:
        return []
    parsed: dict[bytes, Ledger] = {}

    def parse_once(data: bytes, spec: LedgerSpec) -> Ledger:
        key = hashlib.sha256(data).digest() + spec.path.encode()
        if key not in parsed:
            parsed[key] = _ledger_at(data, spec)
        return parsed[key]

    found: list[Collision] = []
    for local_ref, commit in pushed:
        for spec in config.ledgers:
            blobs = gitrepo.read_blobs(ws, [commit, *refs], spec.path)
            mine = blobs.get(commit)
            if mine is None:
                continue
            my_sig = _signatures(parse_once(mine, spec))
            for ref in refs:
                theirs = blobs.get(ref)
                if theirs is None or theirs == mine:
                    continue
                their_sig = _signatures(parse_once(theirs, spec))
                shared = [i for i, sig in my_sig.items() if i in their_sig and their_sig[i] != sig]
                if not shared:
                    continue
                base = gitrepo.merge_base(ws, commit, ref)
                at_base = gitrepo.read_blob(ws, base, spec.path) if base is not None else None
                base_ids = parse_once(at_base, spec).ids() if at_base is not None else set()
                found.extend(
                    Collision(spec.path, i, local_ref, ref) for i in _by_key(set(shared) - base_ids)
                )
    return found


# --------------------------------------------------------------------------- status


def status(config: Config, url: str | None = None) -> dict[str, Any]:
    """What a person needs at a glance: ledgers, database, hooks, merge driver, ids, lock.

    Read-only and tolerant: a part that cannot be read (an unreachable database, no git) is
    reported as such instead of failing the whole command.
    """
    from sotsync.errors import SotsyncError
    from sotsync.locking import is_stale, read_holder

    ws = config.workspace
    doc: dict[str, Any] = {"version": 1, "workspace": str(ws.root)}
    ledgers = []
    for spec in config.ledgers:
        entry: dict[str, Any] = {"name": spec.name, "path": spec.path}
        try:
            found = lint_ledger(load_ledger(ws, spec), None, spec.order == "newest-first")
            by = Counter(f.severity for f in found)
            entry.update({"errors": by["error"], "warnings": by["warning"], "info": by["info"]})
        except SotsyncError as exc:
            entry["problem"] = exc.message
        ledgers.append(entry)
    doc["ledgers"] = ledgers
    doc["database"] = _database_status(config, url)
    git = ws.git_root is not None
    doc["hooks"] = [{"name": h.name, "state": h.state} for h in hooks_status(config)] if git else []
    driver = gitrepo.config_get(ws, f"merge.{MERGE_DRIVER}.driver") if git else None
    merge = gitrepo.attribute(ws, [s.path for s in config.ledgers], "merge") if git else {}
    doc["merge_driver"] = {
        "configured": driver is not None,
        "ledgers_marked": sorted(p for p, v in merge.items() if v == MERGE_DRIVER),
    }
    doc["reservations"] = {s.prefix: sorted(_reserved_ids(ws, s)) for s in config.ledgers}
    holder = read_holder(ws)
    doc["lock"] = (
        None
        if holder is None
        else {
            "holder": holder.describe(),
            "stale": is_stale(holder),
        }
    )
    return doc


def _database_status(config: Config, url: str | None) -> dict[str, Any]:
    from sotsync.errors import SotsyncError

    try:
        db = open_database(config, url)
    except SotsyncError as exc:
        return {"reachable": False, "problem": exc.message}
    try:
        from sotsync.db.schema import status as schema_status

        found = schema_status(db)
        doc: dict[str, Any] = {
            "reachable": True,
            "url": db.url,
            "schema_version": found.version,
            "current": found.current,
        }
        if found.up_to_date:
            plan = _sync(config, db, dry_run=True).plan
            doc["mirror"] = {
                "missing": len(plan.inserts),
                "changed": len(plan.updates),
                "gone": len(plan.tombstones),
            }
        return doc
    except SotsyncError as exc:
        return {"reachable": True, "url": db.url, "problem": exc.message}
    finally:
        db.close()
