"""Build ``autopack.db``, the demo's Autopack run database, reproducibly.

    python examples/autopack-demo/make_db.py [--out PATH]

The database holds only Autopack's tables (``runs``, ``tiers``, ``phases``), made with
``benchmarks/genruns.py`` (seed 2026, "now" = 2026-02-12 18:00 UTC): 31 runs whose ids, states
and creation times are pinned below, each with 1–3 tiers and 1–6 phases per tier, and the
mixed timestamp formats of real data (``2026-02-03T08:50:41.123456`` and
``2026-02-03 08:50:41.123456`` in the same column).  sotsync's own tables are created too
(``sotsync db init``), with a mirror synced from an older state of the ledgers, so that
``sotsync check`` shows mirror drift without writing anything: BUILD-012 and DBG-008 are missing
from the mirror (added to the ledgers after the last sync), BUILD-010's stored content is out of
date, and BUILD-099 is still in the mirror although no ledger has it any more.

Runs are linked to ledger entries by SPEC §3's default pattern (``^build(\\d+)`` →
``BUILD-%03d``); the demo ledgers carry no ``**Run**:`` fields.  With the default ``expect``
rules and ``expect_since = "2026-01-23T00:00:00Z"`` (``EXPECT_SINCE``), the intended drift is:

1. Two DONE_SUCCESS runs have no BUILD_HISTORY entry: ``build013-mirror-health-dashboard``
   (BUILD-013 does not exist) and ``research-gaps-2026-02-08`` (an id no pattern links).
2. One DONE_FAILED_ENVIRONMENT run has no DEBUG_LOG entry: ``autopack-phase3-telemetry``.
3. BUILD-008 says ``✅ COMPLETE`` but its run ``build008-resumable-uploads`` is
   DONE_FAILED_REQUIRES_HUMAN_REVIEW (status disagreement).  Being a failed run that no DEBUG_LOG
   entry names, it also lacks a debug entry under the default rules.
4. Nine runs were created before ``EXPECT_SINCE`` and are exempt: four DONE_FAILED_* runs and
   three non-build DONE_SUCCESS runs without any entry, plus ``build001-service-skeleton`` and
   ``build002-config-loader`` (BUILD-001 and BUILD-002 only have INDEX rows).  Without
   ``expect_since`` at least those seven runs are reported as well.
5. Every other ``buildNNN-…`` DONE_SUCCESS run has its BUILD-NNN entry; the four BUILD-009 runs
   (the rework and its hotfix, retry-budget and lease-metrics follow-ups) all map to BUILD-009,
   and BUILD-005's two entries each have a run.
6. Active and waiting runs (no entry needed): ``autopack-diagnostics-parity-v5`` in GATE since
   2026-02-08 and ``autopack-followups-v1`` in CI_RUNNING since 2026-02-10 are stuck;
   ``build014-upload-quotas`` (PHASE_EXECUTION) was touched five minutes before "now" (measured
   against the wall clock, it is stale too); ``research-system-v14`` (QUEUED) and
   ``research-citation-fix`` (RUN_CREATED) are waiting, never stuck.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "src"))

from genruns import RunPin, Stats, create_autopack_schema, generate_runs  # noqa: E402

from sotsync.config import DEFAULT_LEDGERS  # noqa: E402
from sotsync.db import Backend, connect  # noqa: E402
from sotsync.db.schema import upgrade  # noqa: E402
from sotsync.ledger.parse import parse_ledger  # noqa: E402
from sotsync.mirror import MirrorRow, apply_sync, desired_rows, plan_sync  # noqa: E402
from sotsync.runsettings import DEFAULT_PROJECT_ID  # noqa: E402

SEED = 2026
NOW = datetime(2026, 2, 12, 18, 0, 0)
EXPECT_SINCE = "2026-01-23T00:00:00Z"
OUT = HERE / "autopack.db"

_S = "DONE_SUCCESS"


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


# (run id, state, created, last update of an active run, failure reason), oldest first.
RUNS: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    # Before EXPECT_SINCE: exempt from "needs an entry".
    ("autopack-phase0-bootstrap", _S, "2026-01-12 09:10", None, None),
    ("research-gaps-2026-01-14", "DONE_FAILED_BUDGET_EXHAUSTED", "2026-01-14 13:25", None, None),
    ("autopack-registry", "DONE_FAILED_POLICY_VIOLATION", "2026-01-16 08:40", None, None),
    ("research-tracer-bullet", _S, "2026-01-17 15:05", None, None),
    (
        "autopack-diagnostics-parity-v2",
        "DONE_FAILED_REQUIRES_HUMAN_REVIEW",
        "2026-01-19 10:30",
        None,
        None,
    ),
    ("build001-service-skeleton", _S, "2026-01-20 08:15", None, None),
    ("research-deps-audit-2026-01-21", "DONE_FAILED_ENVIRONMENT", "2026-01-21 11:00", None, None),
    ("build002-config-loader", _S, "2026-01-21 19:40", None, None),
    ("research-system-v13", _S, "2026-01-22 12:00", None, None),
    # After EXPECT_SINCE.
    ("build003-structured-logging", _S, "2026-01-24 09:00", None, None),
    ("build004-health-readiness", _S, "2026-01-26 08:30", None, None),
    ("build005-login-rate-limiter", _S, "2026-01-27 10:10", None, None),
    ("build005-index-compaction", _S, "2026-01-28 09:45", None, None),
    ("build006-ci-matrix-trim", _S, "2026-01-30 14:00", None, None),
    ("build007-push-token-auth", _S, "2026-02-01 09:20", None, None),
    (
        "build008-resumable-uploads",
        "DONE_FAILED_REQUIRES_HUMAN_REVIEW",
        "2026-02-02 10:05",
        None,
        "Auditor flagged 2 major issues in phase P2.3 (re-acknowledged chunk); "
        "human review required",
    ),
    ("build009-scheduler-rework", _S, "2026-02-03 08:50", None, None),
    ("build009-hotfix-double-enqueue", _S, "2026-02-04 07:30", None, None),
    ("build009-retry-budget", _S, "2026-02-05 11:15", None, None),
    ("build009-lease-metrics", _S, "2026-02-06 09:40", None, None),
    (
        "autopack-phase3-telemetry",
        "DONE_FAILED_ENVIRONMENT",
        "2026-02-06 16:20",
        None,
        "CI runner lost connection (exit 137) during phase P2.1",
    ),
    ("build010-blob-gc", _S, "2026-02-07 08:00", None, None),
    ("research-gaps-2026-02-08", _S, "2026-02-08 13:30", None, None),
    ("autopack-diagnostics-parity-v5", "GATE", "2026-02-08 15:00", "2026-02-08 16:10", None),
    ("build011-metrics-exporter", _S, "2026-02-09 10:00", None, None),
    ("build012-mirror-sync-v2", _S, "2026-02-10 09:30", None, None),
    ("autopack-followups-v1", "CI_RUNNING", "2026-02-10 18:00", "2026-02-10 19:12", None),
    ("build013-mirror-health-dashboard", _S, "2026-02-11 10:45", None, None),
    ("build014-upload-quotas", "PHASE_EXECUTION", "2026-02-12 17:20", "2026-02-12 17:55", None),
    ("research-system-v14", "QUEUED", "2026-02-12 17:40", "2026-02-12 17:40", None),
    ("research-citation-fix", "RUN_CREATED", "2026-02-12 17:50", "2026-02-12 17:50", None),
)


def pins() -> dict[int, RunPin]:
    """The pinned runs by position; seconds come from the seed so that times look real."""
    out = {}
    for i, (run_id, state, created, updated, reason) in enumerate(RUNS):
        second = timedelta(seconds=(i * 37) % 60, microseconds=(i * 104_729) % 1_000_000)
        out[i] = RunPin(
            run_id=run_id,
            state=state,
            created_at=_t(created) + second,
            updated_at=_t(updated) + second if updated else None,
            failure_reason=reason,
        )
    return out


def build(path: Path = OUT) -> Stats:
    """(Re)create the database at ``path``; returns what was generated."""
    path.unlink(missing_ok=True)
    db = connect(f"sqlite:///{path.resolve()}", HERE, create=True)
    try:
        create_autopack_schema(db)
        stats = generate_runs(
            db, len(RUNS), seed=SEED, now=NOW, span=timedelta(days=32), pins=pins()
        )
        _old_mirror(db)
        db.execute("VACUUM")
    finally:
        db.close()
    return stats


MIRROR_SYNCED = "2026-02-11T09:30:00.000000Z"


def _old_mirror(db: Backend) -> None:
    """sotsync's tables and a mirror that lags the ledgers (see the module docstring)."""
    upgrade(db)
    db.execute("UPDATE sot_schema_version SET applied_at = ?", (MIRROR_SYNCED,))
    rows = []
    for spec in DEFAULT_LEDGERS:
        ledger = parse_ledger((HERE / spec.path).read_bytes(), spec.path, spec.prefix)
        rows += desired_rows(ledger, spec)
    apply_sync(db, DEFAULT_PROJECT_ID, plan_sync(rows, {}), None, MIRROR_SYNCED)
    db.execute("DELETE FROM sot_entries WHERE entry_id IN ('BUILD-012', 'DBG-008')")
    db.execute(
        "UPDATE sot_entries SET content = content || ?, content_hash = ? WHERE entry_id = ?",
        ("\n(an older wording)\n", "0" * 64, "BUILD-010"),
    )
    stale = MirrorRow("build_history", "BUILD-099", 1, "Retired experiment", "### BUILD-099\n",
                      "{}", "1" * 64, "2026-01-02")
    apply_sync(db, DEFAULT_PROJECT_ID, plan_sync([stale], {}), None, MIRROR_SYNCED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    stats = build(args.out)
    size = args.out.stat().st_size
    print(
        f"{args.out}: {stats.runs} runs, {stats.tiers} tiers, {stats.phases} phases, "
        f"{size // 1024} KiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
