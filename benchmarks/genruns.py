"""Deterministic generator of Autopack-schema run databases (``runs``, ``tiers``, ``phases``).

The tables follow Autopack's models as they exist in the wild (SPEC §3 and §7): run states
QUEUED … DONE_FAILED_ENVIRONMENT, phase states QUEUED … SKIPPED, and the mixed timestamp
formats of real data in one column: some rows were written with ``isoformat()``
(``2025-12-23T14:09:08.724807``), others by the ORM (``2025-12-23 14:00:59.556514``).  On
SQLite timestamps are TEXT in one of those two forms; on PostgreSQL they are ``TIMESTAMP``
values (naive, UTC).

What is generated, for ``n_runs`` runs spread evenly over ``span`` before ``now``:

- run ids like ``build129-token-budget-intelligence`` (numbered in creation order, a few
  ``-v2`` retries of the previous build) and, with ``id_style="mixed"`` (about one run in five)
  or ``"other"``, non-build ids like ``research-gaps-2025-12-20``, ``autopack-phase3-telemetry``
  or ``research-citation-fix-v2``; ids are unique;
- states: mostly DONE_SUCCESS and DONE_FAILED_*; a few active runs (PLAN_BOOTSTRAP …
  SNAPSHOT_CREATED; those of the last day alive, older ones mostly stale, i.e. stuck) and a few
  waiting ones (QUEUED, RUN_CREATED); runs created in the last day are more often active or waiting;
- unless ``runs_only``: 1–3 tiers per run and 1–6 phases per tier, whose states, tokens and
  timestamps agree with their run (a failed run has one FAILED phase, later ones QUEUED or
  SKIPPED; an executing run has one EXECUTING/GATE/CI_RUNNING phase).

The same arguments always give the same rows.  Everything is inserted with ``executemany`` in
batches inside one transaction.  ``build_ids`` asks for runs whose ids map to given ledger ids
(``BUILD-013`` → ``build013-…``, SPEC §3's default link pattern ``^build(\\d+)``), spread evenly
over the timeline; ``pins`` fixes the id, state or times of individual runs (by position).

Usage::

    python benchmarks/genruns.py --url sqlite:///runs.db --runs 1000000 --runs-only --create
    python benchmarks/genruns.py --url postgresql://postgres@127.0.0.1/x --runs 500 --seed 3

From Python::

    from genruns import create_autopack_schema, generate_runs
    create_autopack_schema(db)
    stats = generate_runs(db, 200, seed=1, build_ids=["BUILD-013", 14])
    stats.runs, stats.tiers, stats.phases, stats.run_states, stats.timestamp_styles
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_NOW",
    "DONE_FAILED_STATES",
    "PHASE_STATES",
    "RUN_STATES",
    "WAITING_STATES",
    "RunPin",
    "Stats",
    "build_ids",
    "build_number",
    "build_run_id",
    "create_autopack_schema",
    "generate_runs",
    "main",
]

if __name__ == "__main__":  # pragma: no cover - make ``sotsync`` importable from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sotsync.db import Backend, connect

WAITING_STATES = ("QUEUED", "RUN_CREATED")
ACTIVE_STATES = (
    "PLAN_BOOTSTRAP",
    "PHASE_QUEUEING",
    "PHASE_EXECUTION",
    "GATE",
    "CI_RUNNING",
    "SNAPSHOT_CREATED",
)
DONE_FAILED_STATES = (
    "DONE_FAILED_BUDGET_EXHAUSTED",
    "DONE_FAILED_POLICY_VIOLATION",
    "DONE_FAILED_REQUIRES_HUMAN_REVIEW",
    "DONE_FAILED_ENVIRONMENT",
)
RUN_STATES = (
    "QUEUED",
    "PLAN_BOOTSTRAP",
    "RUN_CREATED",
    "PHASE_QUEUEING",
    "PHASE_EXECUTION",
    "GATE",
    "CI_RUNNING",
    "SNAPSHOT_CREATED",
    "DONE_SUCCESS",
    *DONE_FAILED_STATES,
)
PHASE_STATES = ("QUEUED", "EXECUTING", "GATE", "CI_RUNNING", "COMPLETE", "FAILED", "SKIPPED")
TIER_STATES = ("PENDING", "IN_PROGRESS", "COMPLETE", "FAILED", "SKIPPED")
ID_STYLES = ("mixed", "build", "other")

DEFAULT_NOW = datetime(2026, 2, 12, 18, 0, 0)
DEFAULT_SPAN = timedelta(days=90)
BATCH = 5_000

# Weights (per mille) of run states: runs older than a day, and runs of the last day.
_OLD_WEIGHTS = {
    "DONE_SUCCESS": 700,
    "DONE_FAILED_BUDGET_EXHAUSTED": 55,
    "DONE_FAILED_POLICY_VIOLATION": 30,
    "DONE_FAILED_REQUIRES_HUMAN_REVIEW": 70,
    "DONE_FAILED_ENVIRONMENT": 105,
    "QUEUED": 8,
    "RUN_CREATED": 7,
    "PLAN_BOOTSTRAP": 3,
    "PHASE_QUEUEING": 3,
    "PHASE_EXECUTION": 8,
    "GATE": 4,
    "CI_RUNNING": 5,
    "SNAPSHOT_CREATED": 2,
}
_RECENT_WEIGHTS = {
    "DONE_SUCCESS": 380,
    "DONE_FAILED_BUDGET_EXHAUSTED": 25,
    "DONE_FAILED_POLICY_VIOLATION": 15,
    "DONE_FAILED_REQUIRES_HUMAN_REVIEW": 40,
    "DONE_FAILED_ENVIRONMENT": 40,
    "QUEUED": 120,
    "RUN_CREATED": 80,
    "PLAN_BOOTSTRAP": 40,
    "PHASE_QUEUEING": 50,
    "PHASE_EXECUTION": 110,
    "GATE": 40,
    "CI_RUNNING": 45,
    "SNAPSHOT_CREATED": 15,
}

_FAILURE_REASONS = {
    "DONE_FAILED_BUDGET_EXHAUSTED": (
        "Run token budget exhausted ({used} of {budget} tokens)",
        "Phase {phase} exceeded max_builder_attempts (5) without passing the auditor",
        "CI budget exhausted after {ci} CI runs",
    ),
    "DONE_FAILED_POLICY_VIOLATION": (
        "Builder touched protected path src/autopack/governance/ (policy: protected_paths)",
        "Patch deleted more than 40% of tests/ (policy: test_deletion_guard)",
        "Secret-like string in patch for phase {phase} (policy: secret_scan)",
    ),
    "DONE_FAILED_REQUIRES_HUMAN_REVIEW": (
        "Auditor flagged {major} major issues in phase {phase}; human review required",
        "Goal drift detected against goal_anchor; escalated for review",
        "Quality gate blocked: coverage dropped below threshold in phase {phase}",
    ),
    "DONE_FAILED_ENVIRONMENT": (
        "CI runner lost connection (exit 137) during phase {phase}",
        "pip install failed: could not resolve host pypi.org",
        "Stuck in CI_RUNNING without heartbeat; marked failed by recovery",
        "Disk full on executor while writing phase {phase} artifacts",
        "Database locked (sqlite3.OperationalError) while saving phase {phase}",
    ),
}

_TOPICS = (
    "token-budget-intelligence", "tidy-revision", "schema-validation-prevention",
    "telemetry", "completion", "diagnostics-parity", "citation-fix", "gatherers",
    "state-tracker", "api-router", "goal-anchoring", "doctor-checks", "ledger-sync",
    "ci-hardening", "retry-policy", "phase-batching", "memory-compaction",
    "quality-gate", "auditor-prompts", "builder-modes", "scope-guard", "sot-ledgers",
    "db-migrations", "executor-resume", "model-routing", "cost-reports", "tracer-bullet",
    "integration", "testing-polish", "examples-and-docs", "foundation-orchestrator",
    "plan-bootstrap", "snapshot-restore", "backup-rotation", "lint-autofix",
    "artifact-cleanup", "followups", "registry", "root-cause-analysis", "learned-rules",
)  # fmt: skip
_RESEARCH = ("gaps", "system", "citation-fix", "gatherers", "tracer-bullet", "trigger",
             "market-scan", "deps-audit", "prior-art", "eval-suite")  # fmt: skip
_TIER_NAMES = ("Foundation", "Core Implementation", "Integration", "Hardening", "Polish")
_CATEGORIES = ("feature", "refactor", "tests", "docs", "bugfix", "research", "backend", "ci")
_COMPLEXITY = ("low", "low", "medium", "medium", "medium", "high")
_BUILDER_MODES = ("default", "default", "tweak_light", "scaffolding_heavy", "patch_only")
_SCOPE_DIRS = ("src/autopack", "tests", "docs", "scripts", "src/autopack/research", "config")
_SAFETY = ("normal", "normal", "normal", "safety_critical")
_DEBT = ("clean", "clean", "has_minor_issues", "excess_minor_issues", "has_major_issues")


@dataclass(frozen=True)
class RunPin:
    """Fixed values for one run (by position in creation order); ``None`` keeps the random one.

    ``updated_at`` is when an active or waiting run was last touched (a stale one is "stuck").
    """

    run_id: str | None = None
    state: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    failure_reason: str | None = None
    goal_anchor: str | None = None


@dataclass
class Stats:
    """What ``generate_runs`` wrote."""

    runs: int = 0
    tiers: int = 0
    phases: int = 0
    run_states: Counter[str] = field(default_factory=Counter)
    phase_states: Counter[str] = field(default_factory=Counter)
    timestamp_styles: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


# --------------------------------------------------------------------------- schema


def create_autopack_schema(db: Backend) -> None:
    """Create Autopack's ``runs``, ``tiers`` and ``phases`` tables (if missing) and indexes."""
    pg = db.engine == "postgresql"
    ts = "TIMESTAMP" if pg else "TEXT"
    serial = "SERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY AUTOINCREMENT"
    times = f"created_at {ts}, updated_at {ts}, started_at {ts}, completed_at {ts}"
    statements = (
        "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, state TEXT NOT NULL, "
        "safety_profile TEXT, run_scope TEXT, token_budget INTEGER, tokens_used INTEGER, "
        "ci_runs_used INTEGER, minor_issues_count INTEGER, major_issues_count INTEGER, "
        "promotion_eligible_to_main TEXT, debt_status TEXT, failure_reason TEXT, "
        f"{times}, goal_anchor TEXT)",
        f"CREATE TABLE IF NOT EXISTS tiers (id {serial}, tier_id TEXT NOT NULL, "
        "run_id TEXT NOT NULL REFERENCES runs(id), tier_index INTEGER NOT NULL, name TEXT, "
        "description TEXT, state TEXT, token_budget INTEGER, tokens_used INTEGER, "
        "ci_runs_used INTEGER, minor_issues_count INTEGER, major_issues_count INTEGER, "
        f"cleanliness TEXT, {times})",
        f"CREATE TABLE IF NOT EXISTS phases (id {serial}, phase_id TEXT NOT NULL, "
        "run_id TEXT NOT NULL REFERENCES runs(id), tier_id INTEGER REFERENCES tiers(id), "
        "phase_index INTEGER NOT NULL, name TEXT, description TEXT, state TEXT, "
        "task_category TEXT, complexity TEXT, builder_mode TEXT, max_builder_attempts INTEGER, "
        "max_auditor_attempts INTEGER, incident_token_cap INTEGER, builder_attempts INTEGER, "
        "auditor_attempts INTEGER, tokens_used INTEGER, minor_issues_count INTEGER, "
        "major_issues_count INTEGER, issue_state TEXT, quality_level TEXT, "
        f"quality_blocked TEXT, scope TEXT, {times})",
        "CREATE INDEX IF NOT EXISTS ix_tiers_run_id ON tiers (run_id)",
        "CREATE INDEX IF NOT EXISTS ix_phases_run_id ON phases (run_id)",
        "CREATE INDEX IF NOT EXISTS ix_phases_tier_id ON phases (tier_id)",
    )
    with db.transaction():
        for sql in statements:
            db.execute(sql)


# --------------------------------------------------------------------------- ids


def build_number(ledger_id: str | int) -> int:
    """``"BUILD-013"``, ``"013"`` or ``13`` → 13; sub-ids (``BUILD-009.1``) are refused."""
    if isinstance(ledger_id, int):
        number = ledger_id
    else:
        text = ledger_id.strip().upper().removeprefix("BUILD-")
        if not text.isdigit():
            raise ValueError(f"not a whole build id: {ledger_id!r} (sub-ids have no run id form)")
        number = int(text)
    if number < 0:
        raise ValueError(f"negative build number: {ledger_id!r}")
    return number


def build_run_id(ledger_id: str | int, slug: str) -> str:
    """The run id that SPEC §3's default pattern maps to ``ledger_id``: ``build013-slug``."""
    return f"build{build_number(ledger_id):03d}-{slug}"


def build_ids(*ledger_ids: str | int) -> list[int]:
    """Ledger ids (``"BUILD-013"``, ``13``) or ranges as build numbers for ``generate_runs``."""
    numbers: list[int] = []
    for item in ledger_ids:
        numbers.append(build_number(item))
    return numbers


class _Ids:
    """Unique run ids in creation order."""

    def __init__(self, rng: random.Random, style: str, reserved: Sequence[int]) -> None:
        self.rng = rng
        self.style = style
        self.next_build = (max(reserved) + 1) if reserved else 1
        self.last_build: tuple[int, str] | None = None
        self.retried = False
        self.seen: dict[str, int] = {}

    def build(self, number: int | None = None) -> str:
        rng = self.rng
        if number is None:
            if self.last_build and not self.retried and rng.random() < 0.04:
                self.retried = True
                return f"build{self.last_build[0]:03d}-{self.last_build[1]}-v2"
            number = self.next_build
            self.next_build += 1
        slug = _TOPICS[int(rng.random() * len(_TOPICS))]
        self.last_build = (number, slug)
        self.retried = False
        return f"build{number:03d}-{slug}"

    def other(self, created: datetime) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            base = f"research-{rng.choice(_RESEARCH)}-{created:%Y-%m-%d}"
        elif roll < 0.75:
            base = f"autopack-phase{rng.randint(1, 9)}-{rng.choice(_TOPICS)}"
        elif roll < 0.9:
            base = f"autopack-{rng.choice(_TOPICS)}"
        else:
            base = f"research-{rng.choice(_RESEARCH)}"
        count = self.seen.get(base, 0) + 1
        self.seen[base] = count
        return base if count == 1 else f"{base}-v{count}"

    def next(self, created: datetime) -> str:
        if self.style == "build" or (self.style == "mixed" and self.rng.random() < 0.8):
            return self.build()
        return self.other(created)


# --------------------------------------------------------------------------- generation


def _cumulative(weights: Mapping[str, int]) -> tuple[list[str], list[int]]:
    states, totals, running = [], [], 0
    for state, weight in weights.items():
        running += weight
        states.append(state)
        totals.append(running)
    return states, totals


class _Clock:
    """Timestamps as the engine stores them, counting the text styles used on SQLite."""

    def __init__(self, engine: str, styles: Counter[str]) -> None:
        self.text = engine != "postgresql"
        self.styles = styles

    def __call__(self, value: datetime | None, sep: str) -> Any:
        if value is None:
            return None
        if not self.text:
            return value
        self.styles[sep] += 1
        return value.isoformat(sep, "microseconds")


def generate_runs(
    db: Backend,
    n_runs: int,
    seed: int = 0,
    now: datetime = DEFAULT_NOW,
    id_style: str = "mixed",
    *,
    span: timedelta = DEFAULT_SPAN,
    runs_only: bool = False,
    build_ids: Iterable[str | int] | None = None,
    pins: Mapping[int, RunPin] | None = None,
    batch_size: int = BATCH,
) -> Stats:
    """Insert ``n_runs`` runs (with tiers and phases unless ``runs_only``) in one transaction.

    ``build_ids`` gives runs with ids ``buildNNN-…`` for those ledger ids, in ascending order,
    spread evenly over the timeline; other runs follow ``id_style`` (``mixed``, ``build`` or
    ``other``).  ``pins`` overrides single runs by position (0 = oldest).  The tables must exist
    (``create_autopack_schema``) and hold no run with a generated id.
    """
    if id_style not in ID_STYLES:
        raise ValueError(f"id_style must be one of {', '.join(ID_STYLES)}, not {id_style!r}")
    if n_runs < 0:
        raise ValueError("n_runs must not be negative")
    wanted = sorted(build_number(b) for b in (build_ids or ()))
    if len(wanted) > n_runs:
        raise ValueError(f"{len(wanted)} build ids do not fit in {n_runs} runs")
    pins = dict(pins or {})
    for pin in pins.values():
        if pin.state is not None and pin.state not in RUN_STATES:
            raise ValueError(f"unknown run state {pin.state!r}")
    started_clock = time.perf_counter()
    rng = random.Random(seed)
    stats = Stats()
    clock = _Clock(db.engine, stats.timestamp_styles)
    ids = _Ids(rng, id_style, wanted)
    build_slots = {(k * n_runs) // len(wanted): number for k, number in enumerate(wanted)}
    old_states, old_totals = _cumulative(_OLD_WEIGHTS)
    new_states, new_totals = _cumulative(_RECENT_WEIGHTS)
    start = now - span
    step = span.total_seconds() / max(n_runs, 1)
    day_ago = now - timedelta(days=1)
    run_rows: list[tuple[Any, ...]] = []
    tier_rows: list[tuple[Any, ...]] = []
    phase_rows: list[tuple[Any, ...]] = []
    run_sql = (
        "INSERT INTO runs (id, state, safety_profile, run_scope, token_budget, tokens_used, "
        "ci_runs_used, minor_issues_count, major_issues_count, promotion_eligible_to_main, "
        "debt_status, failure_reason, created_at, updated_at, started_at, completed_at, "
        "goal_anchor) VALUES (" + ", ".join("?" * 17) + ")"
    )
    tier_sql = (
        "INSERT INTO tiers (id, tier_id, run_id, tier_index, name, description, state, "
        "token_budget, tokens_used, ci_runs_used, minor_issues_count, major_issues_count, "
        "cleanliness, created_at, updated_at, started_at, completed_at) VALUES ("
        + ", ".join("?" * 17)
        + ")"
    )
    phase_sql = (
        "INSERT INTO phases (id, phase_id, run_id, tier_id, phase_index, name, description, "
        "state, task_category, complexity, builder_mode, max_builder_attempts, "
        "max_auditor_attempts, incident_token_cap, builder_attempts, auditor_attempts, "
        "tokens_used, minor_issues_count, major_issues_count, issue_state, quality_level, "
        "quality_blocked, scope, created_at, updated_at, started_at, completed_at) VALUES ("
        + ", ".join("?" * 27)
        + ")"
    )

    def flush() -> None:
        db.executemany(run_sql, run_rows)
        db.executemany(tier_sql, tier_rows)
        db.executemany(phase_sql, phase_rows)
        run_rows.clear()
        tier_rows.clear()
        phase_rows.clear()

    with db.transaction():
        next_tier = _next_id(db, "tiers")
        next_phase = _next_id(db, "phases")
        for i in range(n_runs):
            pin = pins.get(i, _NO_PIN)
            created = pin.created_at or start + timedelta(
                seconds=step * (i + 0.1 + 0.8 * rng.random())
            )
            if pin.run_id is not None:
                run_id = pin.run_id
            elif i in build_slots:
                run_id = ids.build(build_slots[i])
            else:
                run_id = ids.next(created)
            if pin.state is not None:
                state = pin.state
            elif created >= day_ago:
                state = new_states[bisect.bisect(new_totals, int(rng.random() * new_totals[-1]))]
            else:
                state = old_states[bisect.bisect(old_totals, int(rng.random() * old_totals[-1]))]
            done = state.startswith("DONE_")
            # Times: started shortly after creation; done runs take minutes to hours.
            if state in WAITING_STATES:
                started = None
                updated = pin.updated_at or created + timedelta(seconds=rng.random() * 5)
                completed = None
            else:
                started = created + timedelta(seconds=1 + rng.random() * 90)
                if done:
                    completed = started + timedelta(seconds=120 + rng.random() * 14_000)
                    if completed > now:
                        completed = max(started, now - timedelta(seconds=rng.random() * 60))
                    updated = completed + timedelta(seconds=rng.random() * 2)
                else:
                    completed = None
                    if pin.updated_at is not None:
                        updated = pin.updated_at
                    elif created >= day_ago or rng.random() < 0.15:
                        # Alive: touched in the last few minutes.
                        updated = now - timedelta(seconds=rng.random() * 600)
                    else:  # stuck: last touched soon after it started
                        updated = started + timedelta(seconds=rng.random() * 3_600)
                    updated = max(updated, started)
            budget = 5_000_000 if rng.random() < 0.7 else 10_000_000
            if state == "DONE_FAILED_BUDGET_EXHAUSTED":
                used = budget + int(rng.random() * 40_000)
            elif started is None or state == "PLAN_BOOTSTRAP":
                used = 0
            else:
                used = int(
                    budget * (0.05 + 0.6 * rng.random()) if done else budget * 0.2 * rng.random()
                )
            ci_runs = int(rng.random() * 12) if started is not None else 0
            minor = int(rng.random() * 8) if done else 0
            major = int(rng.random() * 3) if state.startswith("DONE_FAILED") else 0
            sep1 = "T" if rng.random() < 0.55 else " "
            sep2 = sep1 if rng.random() < 0.7 else ("T" if sep1 == " " else " ")
            reason = pin.failure_reason
            if reason is None and state.startswith("DONE_FAILED"):
                options = _FAILURE_REASONS[state]
                reason = options[int(rng.random() * len(options))].format(
                    used=used, budget=budget, ci=ci_runs, major=major or 1,
                    phase=f"P{1 + int(rng.random() * 3)}.{1 + int(rng.random() * 5)}",
                )  # fmt: skip
            goal = pin.goal_anchor
            if goal is None and rng.random() < 0.6:
                goal = (
                    "Deliver " + run_id.split("-", 1)[-1].replace("-", " ") + " without regressions"
                )
            run_rows.append(
                (
                    run_id,
                    state,
                    _SAFETY[int(rng.random() * 4)],
                    "multi_tier" if rng.random() < 0.8 else "single_tier",
                    budget,
                    used,
                    ci_runs,
                    minor,
                    major,
                    "true" if state == "DONE_SUCCESS" and rng.random() < 0.8 else "false",
                    _DEBT[int(rng.random() * 5)] if done else None,
                    reason,
                    clock(created, sep1),
                    clock(updated, sep2),
                    clock(started, sep1),
                    clock(completed, sep2),
                    goal,
                )
            )
            stats.run_states[state] += 1
            if not runs_only:
                next_tier, next_phase = _children(
                    rng, clock, stats, run_id, state, created, started, updated, completed,
                    used, budget, ci_runs, sep1, sep2, next_tier, next_phase,
                    tier_rows, phase_rows,
                )  # fmt: skip
            if len(run_rows) >= batch_size:
                flush()
        flush()
        if db.engine == "postgresql" and not runs_only:
            for table in ("tiers", "phases"):
                db.query(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    stats.runs = n_runs
    stats.seconds = time.perf_counter() - started_clock
    return stats


_NO_PIN = RunPin()


def _next_id(db: Backend, table: str) -> int:
    return int(db.query(f"SELECT coalesce(max(id), 0) FROM {table}")[0][0]) + 1


def _phase_states(rng: random.Random, state: str, total: int) -> list[str]:
    """The states of a run's phases in order, consistent with the run's state."""
    if state in ("DONE_SUCCESS", "SNAPSHOT_CREATED"):
        return ["SKIPPED" if rng.random() < 0.05 else "COMPLETE" for _ in range(total)]
    if state.startswith("DONE_FAILED"):
        at = int(rng.random() * total)
        rest = "SKIPPED" if rng.random() < 0.3 else "QUEUED"
        return ["COMPLETE"] * at + ["FAILED"] + [rest] * (total - at - 1)
    if state in ("PHASE_EXECUTION", "GATE", "CI_RUNNING"):
        at = int(rng.random() * total)
        current = {"PHASE_EXECUTION": "EXECUTING"}.get(state, state)
        return ["COMPLETE"] * at + [current] + ["QUEUED"] * (total - at - 1)
    if state == "PHASE_QUEUEING":
        at = int(rng.random() * (total + 1))
        return ["COMPLETE"] * at + ["QUEUED"] * (total - at)
    return ["QUEUED"] * total


def _children(
    rng: random.Random,
    clock: _Clock,
    stats: Stats,
    run_id: str,
    state: str,
    created: datetime,
    started: datetime | None,
    updated: datetime,
    completed: datetime | None,
    used: int,
    budget: int,
    ci_runs: int,
    sep1: str,
    sep2: str,
    next_tier: int,
    next_phase: int,
    tier_rows: list[tuple[Any, ...]],
    phase_rows: list[tuple[Any, ...]],
) -> tuple[int, int]:
    """Append a run's tiers and phases; return the next free tier and phase ids."""
    roll = rng.random()
    n_tiers = 1 if roll < 0.4 else 2 if roll < 0.8 else 3
    sizes = [1 + int(rng.random() * 6) for _ in range(n_tiers)]
    total = sum(sizes)
    states = _phase_states(rng, state, total)
    stats.phase_states.update(states)
    weights = [0.2 + rng.random() for _ in range(total)]
    worked = [s not in ("QUEUED", "SKIPPED") for s in states]
    weight_sum = sum(w for w, on in zip(weights, worked, strict=True) if on) or 1.0
    begin = started or created
    end = completed or updated
    slot = max((end - begin).total_seconds(), 1.0) / total
    k = 0
    for t, size in enumerate(sizes):
        tier_db_id = next_tier
        next_tier += 1
        t_states = states[k : k + size]
        t_tokens = 0
        t_minor = t_major = 0
        t_start: datetime | None = None
        t_end: datetime | None = None
        for j in range(size):
            p_state = states[k]
            on = worked[k]
            tokens = int(used * weights[k] / weight_sum) if on else 0
            p_start = begin + timedelta(seconds=slot * k) if on else None
            p_done = None
            if p_state in ("COMPLETE", "FAILED"):
                p_done = begin + timedelta(seconds=slot * (k + 0.6 + 0.35 * rng.random()))
            p_updated = p_done or (updated if on else created)
            minor = int(rng.random() * 3) if p_done else 0
            major = 1 if p_state == "FAILED" and rng.random() < 0.5 else 0
            issue = "has_major_issues" if major else "has_minor_issues" if minor else "no_issues"
            attempts = 1 + int(rng.random() * 2) if on else 0
            if p_state == "FAILED":
                attempts = 5
            quality = "blocked" if p_state == "FAILED" else "needs_review" if minor > 1 else "ok"
            area = _SCOPE_DIRS[int(rng.random() * len(_SCOPE_DIRS))]
            scope = json.dumps({"paths": [f"{area}/"], "read_only_context": ["docs/"]})
            phase_rows.append(
                (
                    next_phase,
                    f"P{t + 1}.{j + 1}",
                    run_id,
                    tier_db_id,
                    j,
                    f"{_CATEGORIES[int(rng.random() * 8)].title()} step {t + 1}.{j + 1}",
                    f"Phase {j + 1} of tier {t + 1} for {run_id}",
                    p_state,
                    _CATEGORIES[int(rng.random() * 8)],
                    _COMPLEXITY[int(rng.random() * 6)],
                    _BUILDER_MODES[int(rng.random() * 5)],
                    5,
                    2,
                    500_000,
                    attempts,
                    min(attempts, 2),
                    tokens,
                    minor,
                    major,
                    issue,
                    quality,
                    "true" if quality == "blocked" else "false",
                    scope,
                    clock(created, sep1),
                    clock(p_updated, sep2),
                    clock(p_start, sep1),
                    clock(p_done, sep2),
                )
            )
            next_phase += 1
            t_tokens += tokens
            t_minor += minor
            t_major += major
            if p_start is not None and t_start is None:
                t_start = p_start
            if p_done is not None:
                t_end = p_done
            k += 1
        if all(s == "SKIPPED" for s in t_states):
            t_state = "SKIPPED"
        elif all(s in ("COMPLETE", "SKIPPED") for s in t_states):
            t_state = "COMPLETE"
        elif "FAILED" in t_states:
            t_state = "FAILED"
        elif all(s == "QUEUED" for s in t_states):
            t_state = "PENDING"
        else:
            t_state = "IN_PROGRESS"
        if t_state != "COMPLETE":
            t_end = None
        tier_rows.append(
            (
                tier_db_id,
                f"T{t + 1}",
                run_id,
                t,
                _TIER_NAMES[min(t + int(rng.random() * 2), len(_TIER_NAMES) - 1)],
                f"Tier {t + 1} of {run_id}",
                t_state,
                budget // n_tiers,
                t_tokens,
                ci_runs // n_tiers,
                t_minor,
                t_major,
                "clean" if t_major == 0 else "not_clean",
                clock(created, sep1),
                clock(t_end or (updated if t_start else created), sep2),
                clock(t_start, sep1),
                clock(t_end, sep2),
            )
        )
    stats.tiers += n_tiers
    stats.phases += total
    return next_tier, next_phase


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fill an Autopack-schema database (runs, tiers, phases) with generated runs."
    )
    parser.add_argument("--url", required=True, help="sqlite:///file.db or postgresql://...")
    parser.add_argument("--runs", type=int, required=True, help="number of runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-only", action="store_true", help="no tiers and phases")
    parser.add_argument(
        "--create",
        action="store_true",
        help="create the SQLite file and the Autopack tables if they are missing",
    )
    parser.add_argument("--id-style", choices=ID_STYLES, default="mixed")
    parser.add_argument(
        "--now", default=DEFAULT_NOW.isoformat(), help="newest creation time (naive UTC)"
    )
    parser.add_argument("--days", type=float, default=DEFAULT_SPAN.days, help="span in days")
    parser.add_argument(
        "--build-id", action="append", default=[], help="ledger id to give a run (repeatable)"
    )
    args = parser.parse_args(argv)
    from sotsync.errors import DatabaseError

    try:
        db = connect(args.url, Path.cwd(), create=args.create)
    except DatabaseError as exc:
        print(f"genruns: {exc}", file=sys.stderr)
        return 3
    try:
        if args.create:
            create_autopack_schema(db)
        elif not {"runs", "tiers", "phases"} <= db.tables():
            print(f"genruns: {db.url} has no Autopack tables (use --create)", file=sys.stderr)
            return 3
        stats = generate_runs(
            db,
            args.runs,
            seed=args.seed,
            now=datetime.fromisoformat(args.now),
            id_style=args.id_style,
            span=timedelta(days=args.days),
            runs_only=args.runs_only,
            build_ids=args.build_id,
        )
    except (DatabaseError, ValueError) as exc:
        print(f"genruns: {exc}", file=sys.stderr)
        return 3
    finally:
        db.close()
    print(
        f"{stats.runs} runs, {stats.tiers} tiers, {stats.phases} phases "
        f"in {stats.seconds:.1f} s ({db.url})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
