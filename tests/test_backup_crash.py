"""Crash safety (SPEC §5, §10): SIGKILL `sotsync backup` and `sotsync restore` at random points.

The real CLI runs as a subprocess and is killed at seeded random moments spread over the
duration of an unkilled run (20 kill points per operation here; ``benchmarks/stress_backup.py``
runs hundreds).  After every kill: every listed backup verifies and the next backup takes the
next sequence; a restore leaves the workspace, database included, all old or all new once the
next sotsync backup command has finished or undone it, and never changes a file before the
safety backup exists.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from stress_backup import Workspace, backup_trials, restore_trials  # noqa: E402

ROWS = 100_000
KILL_POINTS = 20


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "stress", ROWS)


def test_killed_backups_leave_only_complete_backups(workspace: Workspace) -> None:
    outcome = backup_trials(workspace, KILL_POINTS, random.Random(5))
    assert outcome.trials == KILL_POINTS
    assert outcome.killed >= KILL_POINTS // 2
    assert outcome.failures == []


def test_killed_restores_leave_the_old_or_the_new_state(workspace: Workspace) -> None:
    outcome = restore_trials(workspace, KILL_POINTS, random.Random(55))
    assert outcome.trials == KILL_POINTS
    assert outcome.killed >= KILL_POINTS // 2
    assert outcome.failures == []
    assert outcome.leftovers == 0  # the next command removed every staged file and the journal
