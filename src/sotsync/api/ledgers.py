"""The verbs that change ledgers: `fix`, `new` (with id reservation), `init`, plus
`inspect` and `unlock`.

Part of the api layer: it never prints, exits or reads argv.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sotsync import fsio, gitrepo
from sotsync.api.common import _eol_rules, ledger_specs, load_ledger
from sotsync.api.gitsetup import _register_merge_driver, _register_refspecs, hooks_install
from sotsync.config import Config, LedgerSpec, Workspace, write_config
from sotsync.errors import LedgerError, UsageError
from sotsync.ledger import fix as fixer
from sotsync.ledger.new import add_entry, next_id
from sotsync.ledger.parse import Ledger, parse_ledger
from sotsync.locking import Holder, break_lock, workspace_lock

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
        if ws.git_root is not None:
            registered += _register_refspecs(ws)
    installed: tuple[str, ...] = ()
    if hooks and ws.git_root is not None:
        states = hooks_install(config)
        installed = tuple(f"{h.name}: {h.action}" for h in states if h.action != "kept")
    return InitResult(tuple(created), written, adopted, registered, installed)


# --------------------------------------------------------------------------- unlock


def unlock(config: Config) -> Holder | None:
    """Remove a stale lock record; LockError while a live process holds the lock."""
    return break_lock(config.workspace)
