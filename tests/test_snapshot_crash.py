"""Crash safety (SPEC §4, §10): SIGKILL `snapshot create` and `snapshot restore` at random points.

The real CLI runs as a subprocess and is killed at seeded random moments spread over the measured
duration of an unkilled run (12 kill points per operation here; ``benchmarks/stress_snapshot.py``
runs hundreds).  After every kill: refs point only to complete snapshots, ``git fsck`` is clean,
the restore target is untouched or fully restored and passes its integrity check, and the next,
unkilled run succeeds.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from stress_snapshot import (  # noqa: E402
    DEVICE,
    Outcome,
    Workspace,
    create_trials,
    restore_trials,
    spread,
)

ROWS = 25_000
KILL_POINTS = 12
MIN_RUN_SECONDS = 0.3


def _no_run_is_blocked_by_a_stale_lock(outcome: Outcome) -> None:
    """A kill inside dulwich's lock window must not block the next run (stale locks are cleared)."""
    assert outcome.blocked == []


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "stress", ROWS)


def test_kill_delays_cover_the_whole_run() -> None:
    delays = spread(random.Random(1), 2.0, KILL_POINTS)
    assert len(delays) == KILL_POINTS
    assert min(delays) < 2.0 / KILL_POINTS
    assert max(delays) > 2.0 * (1 - 1 / KILL_POINTS)
    assert max(delays) <= 2.0


def test_killed_creates_leave_only_complete_snapshots(workspace: Workspace) -> None:
    outcome = create_trials(workspace, KILL_POINTS, random.Random(4))
    assert outcome.unkilled_seconds >= MIN_RUN_SECONDS, "the database is too small to kill in"
    assert outcome.trials == KILL_POINTS
    assert outcome.killed >= KILL_POINTS // 2  # most kills land before the run ends
    assert outcome.failures == []
    refs = workspace.refs()
    assert f"refs/sotsync/snapshots/{DEVICE}" in refs
    assert workspace.git_problems() == []
    assert workspace.verify_all() == []
    _no_run_is_blocked_by_a_stale_lock(outcome)


def test_killed_restores_leave_the_target_before_or_restored(workspace: Workspace) -> None:
    outcome = restore_trials(workspace, KILL_POINTS, random.Random(44))
    assert outcome.unkilled_seconds >= MIN_RUN_SECONDS, "the database is too small to kill in"
    assert outcome.trials == KILL_POINTS
    assert outcome.killed >= KILL_POINTS // 2
    # Scratch files a kill leaves are tolerated only because the next restore succeeds anyway
    # (restore_trials records a failure otherwise).
    assert outcome.failures == []
    _no_run_is_blocked_by_a_stale_lock(outcome)


def test_a_stale_object_lock_from_a_killed_create_does_not_block_the_next(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path / "lock", 2000)
    objects = ws.repo / ".git" / "objects"
    before = {p for p in objects.rglob("*") if p.is_file()}
    assert ws.run("create").returncode == 0
    new = sorted(p for p in objects.rglob("*") if p.is_file() and p not in before)
    # What a kill in the middle of writing one object leaves: no ref, a half-written lock file.
    ref = f"refs/sotsync/snapshots/{DEVICE}"
    (ws.repo / ".git" / ref).unlink()
    (ws.repo / ".git" / "logs" / ref).unlink()  # a killed create wrote no ref, so no reflog
    for path in new:
        path.unlink()
    Path(f"{new[len(new) // 2]}.lock").write_bytes(b"x\x9c half")
    follow = ws.run("create")
    assert follow.returncode == 0, follow.stderr
    assert ws.git_problems() == []


def test_a_stale_ref_lock_from_a_killed_create_does_not_block_the_next(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "lock", 2000)
    assert ws.run("create").returncode == 0
    ref = ws.repo / ".git" / "refs" / "sotsync" / "snapshots" / DEVICE
    # What a kill between taking the ref's lock and renaming it leaves.
    Path(f"{ref}.lock").write_text(ws.refs()[f"refs/sotsync/snapshots/{DEVICE}"] + "\n")
    follow = ws.run("create")
    assert follow.returncode == 0, follow.stderr
