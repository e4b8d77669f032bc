"""Where ledgers, mirror and runs disagree: pure functions from facts to a keyed report.

Inputs are plain values (parsed ledgers, the sync plan, an iterator of runs, link rows) so the
rules can be tested without a database; runs are consumed as a stream, keeping memory flat for
a million of them.  Report lines are data-diff style: ``+`` missing, ``-`` gone, ``~`` differs,
``!`` contradicts, ``?`` unknown.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sotsync.config import LedgerSpec
from sotsync.ledger.parse import Ledger, strip_eol
from sotsync.mirror import SyncPlan
from sotsync.models import Finding, Run
from sotsync.runsettings import RunSettings, parse_time

_RUN_FIELD = re.compile(r"^\s*[-*]?\s*\*\*(?:Run|Run ID|Runs|Run IDs)\*\*\s*:\s*(.+?)\s*$")
_RUN_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_STATUS_FIELD = re.compile(r"^\s*[-*]?\s*\*\*Status\*\*\s*:\s*(.+?)\s*$")
_SAYS_DONE = re.compile(r"\b(?:COMPLETE|COMPLETED|DONE|SUCCESS|RESOLVED)\b|✅", re.IGNORECASE)
_SAYS_FAILED = re.compile(r"\bFAIL(?:ED|URE)?\b|❌", re.IGNORECASE)

CATEGORIES = {
    "finding": "ledger findings",
    "mirror-missing": "entries missing from the mirror",
    "mirror-gone": "mirror rows whose entry left the ledger",
    "mirror-drift": "mirror rows with other content",
    "run-needs-entry": "runs that need an entry and have none",
    "unknown-run": "entries naming unknown runs",
    "status": "entries whose status contradicts their run",
}


@dataclass(frozen=True, slots=True)
class Item:
    """One report line: ``sign category key  detail``.

    A run table can flag hundreds of thousands of runs, so a run item stores only references
    (run id, state, ledger) and builds its text when it is shown.
    """

    sign: str
    category: str
    key: str
    note: str | None = None
    ledger: str | None = None
    run_state: str | None = None
    run_created: object = None

    @property
    def detail(self) -> str:
        if self.category == "run-needs-entry":
            return f"{self.run_state} run has no entry in {self.ledger}"
        return self.note or ""

    def as_dict(self) -> dict[str, str | None]:
        return {
            "sign": self.sign,
            "category": self.category,
            "key": self.key,
            "detail": self.detail,
            "ledger": self.ledger,
        }


@dataclass(frozen=True)
class Report:
    """Everything reconcile found; ``clean`` when nothing needs attention."""

    items: tuple[Item, ...]
    runs_checked: int
    offline: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    # Per id prefix, the highest number that a run id maps to by a link pattern (``build014-x``
    # → 14): generated entries must not take an id that a run will later claim.
    pattern_numbers: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.items


@dataclass(frozen=True, slots=True)
class EntryFacts:
    """What an entry says about runs: the run ids it names and its status text."""

    ledger: str
    file_type: str
    entry_id: str
    occurrence: int
    run_ids: tuple[str, ...]
    status: str | None
    generated: bool


def entry_facts(ledger: Ledger, spec: LedgerSpec) -> list[EntryFacts]:
    """Run ids (``**Run**:``/``**Run ID**:``/``**Runs**:``) and status of every entry."""
    facts = []
    for entry in ledger.entries:
        runs: list[str] = []
        status = None
        for line in ledger.lines[entry.line + 1 : entry.end]:
            text = strip_eol(line)
            if "**" not in text:
                continue
            found = _RUN_FIELD.match(text)
            if found:
                runs.extend(_RUN_TOKEN.findall(found.group(1).replace("`", " ")))
                continue
            if status is None:
                said = _STATUS_FIELD.match(text)
                if said:
                    status = said.group(1)
        if status is None and (
            _SAYS_DONE.search(entry.heading) or _SAYS_FAILED.search(entry.heading)
        ):
            status = entry.heading
        facts.append(
            EntryFacts(
                spec.name,
                spec.file_type,
                entry.id,
                entry.occurrence,
                tuple(dict.fromkeys(runs)),
                status,
                entry.generated,
            )
        )
    return facts


def reconcile(
    specs: Sequence[LedgerSpec],
    findings: Iterable[Finding],
    facts: Iterable[EntryFacts],
    plan: SyncPlan | None,
    runs: Iterable[Run] | None,
    links: Iterable[tuple[str, str, int, str]],
    settings: RunSettings,
    ids: Mapping[str, set[str]] | None = None,
) -> Report:
    """The report of SPEC §3; ``plan`` and ``runs`` are None when working offline.

    ``ids`` maps a ledger name to every id it documents (INDEX rows and sections); a run whose
    pattern-derived id is among them has its entry.
    """
    items: list[Item] = [
        Item("!", "finding", f"{f.path}:{f.line}", f"{f.code} {f.message}")
        for f in findings
        if f.severity == "error"
    ]
    by_type: dict[str, str] = {s.file_type: s.name for s in specs}
    if plan is not None:
        items += _mirror_items(plan, by_type)
    runs_checked = 0
    numbers: dict[str, int] = {}
    if runs is not None:
        run_items, runs_checked, numbers = _run_items(
            specs, list(facts), runs, links, settings, ids
        )
        items += run_items
    counts = Counter(i.category for i in items)
    return Report(
        tuple(items),
        runs_checked,
        runs is None,
        {c: counts.get(c, 0) for c in CATEGORIES},
        numbers,
    )


def _mirror_items(plan: SyncPlan, by_type: dict[str, str]) -> list[Item]:
    def key(file_type: str, entry_id: str, occurrence: int) -> str:
        suffix = "" if occurrence == 1 else f"#{occurrence}"
        return f"{by_type.get(file_type, file_type)}/{entry_id}{suffix}"

    items = [
        Item("+", "mirror-missing", key(*r.key), "entry is not in the database mirror")
        for r in plan.inserts
    ]
    items += [
        Item("~", "mirror-drift", key(*r.key), "mirror content differs from the ledger")
        for r in plan.updates
    ]
    items += [
        Item("-", "mirror-gone", key(*k), "mirror row's entry is gone from the ledger")
        for k in plan.tombstones
    ]
    return items


def _run_items(
    specs: Sequence[LedgerSpec],
    facts: list[EntryFacts],
    runs: Iterable[Run],
    links: Iterable[tuple[str, str, int, str]],
    settings: RunSettings,
    ids: Mapping[str, set[str]] | None,
) -> tuple[list[Item], int, dict[str, int]]:
    names: dict[str, str] = {s.file_type: s.name for s in specs}
    prefixes = {s.prefix: s.name for s in specs}
    entries_by_ledger: dict[str, set[str]] = defaultdict(set)
    explicit: dict[str, list[EntryFacts]] = defaultdict(list)
    for name, documented in (ids or {}).items():
        entries_by_ledger[name].update(documented)
    for fact in facts:
        entries_by_ledger[fact.ledger].add(fact.entry_id)
        for run_id in fact.run_ids:
            explicit[run_id].append(fact)
    by_key = {(f.file_type, f.entry_id, f.occurrence): f for f in facts}
    first_section = {(f.ledger, f.entry_id): f for f in reversed(facts)}
    for file_type, entry_id, occurrence, run_id in links:
        known = by_key.get((file_type, entry_id, occurrence))
        ledger = names.get(file_type, file_type)
        explicit[run_id].append(
            known or EntryFacts(ledger, file_type, entry_id, occurrence, (run_id,), None, False)
        )
    items: list[Item] = []
    numbers: dict[str, int] = {}
    wanted_by_state: dict[str, str | None] = {}
    seen_explicit: set[str] = set()
    count = 0
    for run in runs:
        count += 1
        linked = explicit.get(run.id, [])
        if linked:
            seen_explicit.add(run.id)
        ledgers = {f.ledger for f in linked}
        for pattern in settings.links:
            target = pattern.entry_for(run.id)
            if target is not None:
                prefix, number = target.split("-", 1)
                main = int(number.split(".")[0])
                if main > numbers.get(prefix, 0):
                    numbers[prefix] = main
                home = prefixes.get(prefix)
                if home is not None and target in entries_by_ledger[home]:
                    ledgers.add(home)
                    section = first_section.get((home, target))
                    if section is not None and section not in linked:
                        linked = [*linked, section]
        # A run table has millions of rows but a handful of states: match each state once.
        if run.state not in wanted_by_state:
            wanted_by_state[run.state] = settings.expected_ledger(run.state)
        wanted = wanted_by_state[run.state]
        if wanted is not None and wanted not in ledgers and _after_since(run, settings):
            items.append(
                Item("+", "run-needs-entry", run.id, None, wanted, run.state, run.created_at)
            )
        for fact in linked:
            clash = _status_clash(fact.status, run.state)
            if clash:
                items.append(
                    Item(
                        "!",
                        "status",
                        f"{fact.ledger}/{fact.entry_id}",
                        f"entry says {clash}, run {run.id} is {run.state}",
                    )
                )
    for run_id, named in explicit.items():
        if run_id not in seen_explicit:
            for fact in named:
                items.append(
                    Item(
                        "?",
                        "unknown-run",
                        f"{fact.ledger}/{fact.entry_id}",
                        f"names run {run_id}, which is not in the database",
                    )
                )
    return items, count, numbers


def _after_since(run: Run, settings: RunSettings) -> bool:
    if settings.expect_since is None:
        return True
    created = parse_time(run.created_at)
    return created is None or created >= settings.expect_since


def _status_clash(status: str | None, state: str) -> str | None:
    if status is None:
        return None
    failed = _SAYS_FAILED.search(status) is not None
    done = _SAYS_DONE.search(status) is not None and not failed
    if done and state.startswith("DONE_FAILED"):
        return "complete"
    if failed and state == "DONE_SUCCESS":
        return "failed"
    return None
