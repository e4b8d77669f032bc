"""The run-database generator is deterministic and realistic, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from pg import fresh_database
from sotsync.db import Backend, connect
from sotsync.runsettings import DEFAULT_LINKS, LinkPattern

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from genruns import (  # noqa: E402
    DONE_FAILED_STATES,
    RUN_STATES,
    RunPin,
    build_ids,
    create_autopack_schema,
    generate_runs,
    main,
)

_T_FORM = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
_SPACE_FORM = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
_RUN_ID = re.compile(r"^(build\d{3,}-[a-z0-9-]+|research-[a-z0-9-]+|autopack-[a-z0-9-]+)$")
N = 300


def _sqlite(path: Path) -> Backend:
    db = connect(f"sqlite:///{path}", path.parent, create=True)
    create_autopack_schema(db)
    return db


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[Backend]:
    db = _sqlite(tmp_path / "runs.db")
    generate_runs(db, N, seed=7)
    yield db
    db.close()


def test_same_seed_same_rows_other_seed_other_rows(tmp_path: Path) -> None:
    dumps = []
    for name, seed in (("a.db", 1), ("b.db", 1), ("c.db", 2)):
        db = _sqlite(tmp_path / name)
        generate_runs(db, 120, seed=seed)
        db.close()
        dumps.append(_dump(tmp_path / name))
    assert dumps[0] == dumps[1]
    assert dumps[0] != dumps[2]


def test_state_mix_is_mostly_terminal_with_a_few_active_and_waiting(generated: Backend) -> None:
    rows = generated.query("SELECT state, count(*) FROM runs GROUP BY state")
    counts: dict[str, int] = {str(state): int(n) for state, n in rows}
    assert set(counts) <= set(RUN_STATES)
    assert sum(counts.values()) == N
    done = sum(n for s, n in counts.items() if s.startswith("DONE_"))
    assert counts["DONE_SUCCESS"] > N / 2
    assert done > 0.85 * N
    assert len([s for s in DONE_FAILED_STATES if counts.get(s)]) >= 3
    assert 0 < N - done < 0.15 * N
    assert counts.get("QUEUED", 0) + counts.get("RUN_CREATED", 0) > 0


def test_ids_are_unique_and_shaped_like_autopacks(generated: Backend) -> None:
    ids = [r[0] for r in generated.query("SELECT id FROM runs")]
    assert len(ids) == len(set(ids)) == N
    assert all(_RUN_ID.match(i) for i in ids), [i for i in ids if not _RUN_ID.match(i)]
    builds = [i for i in ids if i.startswith("build")]
    assert N / 2 < len(builds) < N


def test_both_timestamp_formats_in_one_column(generated: Backend) -> None:
    for column in ("created_at", "updated_at", "completed_at"):
        values = [r[0] for r in generated.query(f"SELECT {column} FROM runs")]
        present = [v for v in values if v is not None]
        t_form = [v for v in present if _T_FORM.match(v)]
        space_form = [v for v in present if _SPACE_FORM.match(v)]
        assert t_form and space_form, column
        assert len(t_form) + len(space_form) == len(present), column
    rows = generated.query("SELECT created_at, started_at, completed_at, updated_at FROM runs")
    for created, started, completed, updated in rows:
        times = [datetime.fromisoformat(v) for v in (created, started, completed) if v]
        assert times == sorted(times)
        assert datetime.fromisoformat(updated) >= datetime.fromisoformat(created)


def test_tiers_and_phases_reference_runs_and_agree_with_them(generated: Backend) -> None:
    q = generated.query
    assert q("SELECT count(*) FROM tiers t LEFT JOIN runs r ON r.id = t.run_id "
             "WHERE r.id IS NULL") == [(0,)]  # fmt: skip
    assert q(
        "SELECT count(*) FROM phases p LEFT JOIN tiers t ON t.id = p.tier_id "
        "AND t.run_id = p.run_id WHERE t.id IS NULL"
    ) == [(0,)]
    per_run = q("SELECT r.id, count(t.id) FROM runs r LEFT JOIN tiers t ON t.run_id = r.id "
                "GROUP BY r.id")  # fmt: skip
    assert {n for _, n in per_run} <= {1, 2, 3}
    per_tier = q("SELECT count(*) FROM phases GROUP BY tier_id")
    assert {n for (n,) in per_tier} <= set(range(1, 7))
    states: dict[str, list[str]] = {}
    for run_state, phase_state in q(
        "SELECT r.state, p.state FROM phases p JOIN runs r ON r.id = p.run_id "
        "ORDER BY p.run_id, p.id"
    ):
        states.setdefault(run_state, []).append(phase_state)
    assert set(states["DONE_SUCCESS"]) <= {"COMPLETE", "SKIPPED"}
    failed = q(
        "SELECT r.id, sum(CASE WHEN p.state = 'FAILED' THEN 1 ELSE 0 END) FROM runs r "
        "JOIN phases p ON p.run_id = r.id WHERE r.state LIKE 'DONE_FAILED%' GROUP BY r.id"
    )
    assert failed and all(n == 1 for _, n in failed)


def test_build_ids_and_pins(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "x.db")
    pin = RunPin(run_id="research-gaps-2025-12-20", state="DONE_FAILED_ENVIRONMENT")
    generate_runs(
        db, 20, seed=3, id_style="other", build_ids=build_ids("BUILD-013", 14, "BUILD-002"),
        pins={5: pin},
    )  # fmt: skip
    ids = [r[0] for r in db.query("SELECT id FROM runs ORDER BY created_at")]
    link = LinkPattern(re.compile(DEFAULT_LINKS[0][0]), DEFAULT_LINKS[0][1])
    linked = [link.entry_for(i) for i in ids if link.entry_for(i)]
    assert linked == ["BUILD-002", "BUILD-013", "BUILD-014"]
    assert db.query("SELECT state FROM runs WHERE id = ?", (pin.run_id,)) == [
        ("DONE_FAILED_ENVIRONMENT",)
    ]
    db.close()
    with pytest.raises(ValueError, match="sub-ids"):
        build_ids("BUILD-009.1")


def test_runs_only_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cli.db"
    assert main(["--url", f"sqlite:///{target}", "--runs", "50"]) == 3
    assert main(["--url", f"sqlite:///{target}", "--runs", "50", "--runs-only", "--create"]) == 0
    assert "50 runs, 0 tiers, 0 phases" in capsys.readouterr().out
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT count(*), (SELECT count(*) FROM phases) FROM runs").fetchone() == (
        50,
        0,
    )
    conn.close()


def test_demo_database_is_what_make_db_builds(tmp_path: Path) -> None:
    demo = ROOT / "examples" / "autopack-demo"
    sys.path.insert(0, str(demo))
    try:
        import make_db
    finally:
        sys.path.remove(str(demo))
    make_db.build(tmp_path / "demo.db")
    committed = demo / "autopack.db"
    assert committed.stat().st_size < 200_000
    assert _dump(tmp_path / "demo.db") == _dump(committed)
    tables = {r[0] for r in sqlite3.connect(committed).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}  # fmt: skip
    # sotsync's tables hold a mirror that lags the ledgers (see make_db's docstring).
    assert {"sot_entries", "sot_links", "sot_schema_version"} <= tables


@pytest.mark.postgres
def test_postgresql() -> None:
    with fresh_database() as url:
        db = connect(url, Path.cwd())
        try:
            create_autopack_schema(db)
            stats = generate_runs(db, 60, seed=5, build_ids=[13])
            assert stats.runs == 60 and stats.tiers >= 60 and stats.phases >= stats.tiers
            assert db.query("SELECT count(*) FROM runs") == [(60,)]
            assert db.query("SELECT count(*) FROM phases") == [(stats.phases,)]
            (created,) = db.query("SELECT created_at FROM runs LIMIT 1")[0]
            assert isinstance(created, datetime)
            assert db.query("SELECT count(*) FROM runs WHERE id LIKE ?", ("build013-%",)) == [(1,)]
            # The serial sequences were moved past the explicit ids.
            db.execute(
                "INSERT INTO tiers (tier_id, run_id, tier_index) "
                "SELECT 'T9', id, 8 FROM runs LIMIT 1"
            )
            assert db.query("SELECT max(id) FROM tiers") == [(stats.tiers + 1,)]
        finally:
            db.close()
