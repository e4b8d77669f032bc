"""What the git hooks check: staged ledgers, ledger changes between two states,
ids pushed that a remote branch added differently.

Part of the api layer: it never prints, exits or reads argv.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sotsync import fsio, gitrepo
from sotsync.api.common import BINARY_SNIFF, _eol_rules
from sotsync.api.linting import LintReport, _only_new
from sotsync.config import Config, LedgerSpec
from sotsync.errors import LedgerError
from sotsync.ledger.lint import lint_ledger
from sotsync.ledger.parse import Ledger, parse_ledger
from sotsync.models import Finding

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
