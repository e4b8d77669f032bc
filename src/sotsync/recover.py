"""Incident recovery rules: which runs and phases are stuck, and which recovery point to trust.

Pure functions over rows and times (SPEC §7).  A run is stuck when it sits in an *active* state
(PLAN_BOOTSTRAP … SNAPSHOT_CREATED; QUEUED and RUN_CREATED are waiting, not stuck) and has not
been updated within the window; a phase when it sits in EXECUTING, GATE or CI_RUNNING that long.
Autopack writes its times as TEXT in two styles (``2025-12-23T14:09:08.724807`` and
``2025-12-23 14:00:59.556514``, naive UTC) or as TIMESTAMP values; all are compared in UTC.
No I/O, no printing: the api layer reads the rows, applies the plan and takes the snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sotsync.config import Config
from sotsync.errors import ConfigError, SotsyncError, UsageError
from sotsync.runsettings import parse_time

ACTIVE_RUN_STATES = (
    "PLAN_BOOTSTRAP",
    "PHASE_QUEUEING",
    "PHASE_EXECUTION",
    "GATE",
    "CI_RUNNING",
    "SNAPSHOT_CREATED",
)
ACTIVE_PHASE_STATES = ("EXECUTING", "GATE", "CI_RUNNING")
RUN_FAILED = "DONE_FAILED_ENVIRONMENT"
PHASE_FAILED = "FAILED"
DEFAULT_WINDOW = "1h"
# Columns a phase table may carry its own failure text in, first found wins.
PHASE_REASON_COLUMNS = ("failure_reason", "last_error", "error_message")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_DURATION = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


class RecoverError(SotsyncError):
    """A recovery that cannot go ahead: nothing to restore, data changed meanwhile, ..."""

    default_hint = "run `sotsync doctor` to see what is wrong with the workspace"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class RecoverSettings:
    """``[tool.sotsync.recover]``: which states count as active, and where phases live."""

    active_states: tuple[str, ...] = ACTIVE_RUN_STATES
    phase_states: tuple[str, ...] = ACTIVE_PHASE_STATES
    phases_table: str = "phases"
    updated_column: str = "updated_at"
    completed_column: str = "completed_at"
    reason_column: str = "failure_reason"


def recover_settings(config: Config) -> RecoverSettings:
    """Validated recover settings of ``config``; identifiers are checked before any SQL."""
    where = f"{config.source_name} [recover]"
    table: Any = config.settings.get("recover", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    defaults = RecoverSettings()
    values: dict[str, Any] = {}
    for key in ("active_states", "phase_states"):
        value = table.get(key, getattr(defaults, key))
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of state names")
        if key == "active_states" and set(value) & {"QUEUED", "RUN_CREATED"}:
            raise ConfigError(
                f"{where}: {key} names a waiting state (QUEUED or RUN_CREATED)",
                hint="waiting runs are not stuck; list only states in which a run works",
            )
        values[key] = tuple(value)
    for key in ("phases_table", "updated_column", "completed_column", "reason_column"):
        value = table.get(key, getattr(defaults, key))
        if not isinstance(value, str) or not _IDENT.fullmatch(value):
            raise ConfigError(
                f"{where}: {key} = {value!r} is not a valid SQL identifier",
                hint="use letters, digits and _ only (the name is quoted, never interpolated)",
            )
        values[key] = value
    return RecoverSettings(**values)


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``2d``, ``1h30m`` → a positive timedelta (UsageError else)."""
    compact = text.strip().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts).lower() != compact.lower():
        raise UsageError(
            f"--older-than {text!r} is not a duration",
            hint="write it like 90s, 30m, 1h, 2d or 1h30m",
        )
    seconds = sum(int(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    if seconds <= 0:
        raise UsageError(f"--older-than {text!r} must be longer than zero", hint="e.g. 1h")
    return timedelta(seconds=seconds)


# --------------------------------------------------------------------------- stuck runs


@dataclass(frozen=True)
class Activity:
    """One run or phase row as read: its key, state and the times that show it is alive."""

    kind: str  # "run" or "phase"
    key: Any  # the primary key used in the UPDATE
    label: str  # what an operator recognises: the run id, or run/phase id
    run_id: str
    state: str
    times: tuple[object, ...]  # updated, then fallbacks (started, created)


@dataclass(frozen=True)
class Stuck:
    """A run or phase to mark failed, and why."""

    kind: str
    key: Any
    label: str
    run_id: str
    state: str
    last_update: datetime
    age: timedelta
    new_state: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.label,
            "run_id": self.run_id,
            "state": self.state,
            "last_update": utc_text(self.last_update),
            "age_seconds": int(self.age.total_seconds()),
            "new_state": self.new_state,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class StuckPlan:
    """What ``recover stuck`` changes; ``unreadable`` rows have no time it can trust."""

    now: datetime
    window: timedelta
    items: tuple[Stuck, ...]
    unreadable: tuple[str, ...] = ()

    @property
    def cutoff(self) -> datetime:
        return self.now - self.window

    @property
    def runs(self) -> tuple[Stuck, ...]:
        return tuple(i for i in self.items if i.kind == "run")

    @property
    def phases(self) -> tuple[Stuck, ...]:
        return tuple(i for i in self.items if i.kind == "phase")


def utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def last_activity(times: Sequence[object]) -> datetime | None:
    """The first readable time of ``times`` (updated, else started, else created), in UTC."""
    for value in times:
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return None


def plan_stuck(
    rows: Iterable[Activity], settings: RecoverSettings, now: datetime, window: timedelta
) -> StuckPlan:
    """The rows in an active state whose last update is older than ``now - window``."""
    from sotsync.doctor import age_text

    cutoff = now - window
    items: list[Stuck] = []
    unreadable: list[str] = []
    for row in rows:
        active = settings.active_states if row.kind == "run" else settings.phase_states
        if row.state not in active:
            continue
        last = last_activity(row.times)
        if last is None:
            unreadable.append(f"{row.kind} {row.label}: no readable update time")
            continue
        if last >= cutoff:
            continue
        new = RUN_FAILED if row.kind == "run" else PHASE_FAILED
        age = now - last
        reason = (
            f"Stuck in {row.state} since {utc_text(last)} (no update for {age_text(age)}); "
            f"marked {new} by sotsync recover stuck at {utc_text(now)}"
        )
        items.append(Stuck(row.kind, row.key, row.label, row.run_id, row.state, last, age, new,
                           reason))  # fmt: skip
    items.sort(key=lambda s: (s.kind != "run", s.run_id, s.label))
    return StuckPlan(now, window, tuple(items), tuple(unreadable))


# --------------------------------------------------------------------------- recovery points


@dataclass(frozen=True)
class RecoveryPoint:
    """Something a database can be restored from: a snapshot now, a backup later.

    ``ident`` is what the source's restore takes (a snapshot commit, a backup directory).
    """

    kind: str
    ident: str
    when: datetime
    device: str | None
    engine: str | None
    label: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.ident,
            "time": utc_text(self.when),
            "device": self.device,
            "engine": self.engine,
            "label": self.label,
        }


def newest_verified(
    points: Iterable[RecoveryPoint],
    engine: str,
    verify: Callable[[RecoveryPoint], Sequence[str]],
) -> tuple[RecoveryPoint | None, list[str]]:
    """The newest point of ``engine`` that ``verify`` finds no problem with, and the rejections.

    Verification is the expensive part, so points are tried newest first and the search stops
    at the first good one.
    """
    rejected: list[str] = []
    for point in sorted(points, key=lambda p: p.when, reverse=True):
        if point.engine is not None and point.engine != engine:
            continue
        problems = list(verify(point))
        if not problems:
            return point, rejected
        rejected.append(f"{point.label}: {'; '.join(problems)}")
    return None, rejected
