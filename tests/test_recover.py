"""`sotsync recover stuck` and `recover integrity` (SPEC §7) on generated Autopack databases."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import ONE_ENTRY_LEDGER, GitRepo, Result
from sotsync import api
from sotsync.config import find_workspace, load_config
from sotsync.db import connect
from sotsync.errors import UsageError
from sotsync.recover import (
    ACTIVE_PHASE_STATES,
    ACTIVE_RUN_STATES,
    RecoverSettings,
    RecoveryPoint,
    newest_verified,
    parse_duration,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from genruns import DEFAULT_NOW, RunPin, create_autopack_schema, generate_runs

NOW = DEFAULT_NOW.replace(tzinfo=UTC)
# A few runs whose fate is certain, on top of the generated mix (by position, oldest first).
PINS = {
    0: RunPin(run_id="waiting-old", state="QUEUED", updated_at=DEFAULT_NOW - timedelta(days=30)),
    1: RunPin(
        run_id="created-old", state="RUN_CREATED", updated_at=DEFAULT_NOW - timedelta(days=9)
    ),
    2: RunPin(run_id="edge-fresh", state="GATE", updated_at=DEFAULT_NOW - timedelta(minutes=59)),
    3: RunPin(run_id="edge-stale", state="GATE", updated_at=DEFAULT_NOW - timedelta(minutes=61)),
    4: RunPin(run_id="bootstrap-stale", state="PLAN_BOOTSTRAP"),
}


@pytest.fixture
def repo(make_repo: Callable[..., GitRepo], monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    monkeypatch.setenv("SOTSYNC_DEVICE", "laptop")
    return make_repo(files={"docs/BUILD_HISTORY.md": ONE_ENTRY_LEDGER})


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sotsync.api.recover._utc_now", lambda: NOW)


def _generate(url: str, root: Path, runs: int = 240) -> None:
    db = connect(url, root, create=True)
    try:
        create_autopack_schema(db)
        generate_runs(db, runs, seed=7, pins=PINS)
    finally:
        db.close()


def _dump(url: str, root: Path) -> dict[str, dict[Any, tuple[Any, ...]]]:
    db = connect(url, root)
    try:
        return {
            table: {row[0]: tuple(row) for row in db.query(f"SELECT * FROM {table}")}
            for table in ("runs", "phases", "tiers")
        }
    finally:
        db.close()


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _expected(url: str, root: Path, window: timedelta) -> tuple[set[str], set[int]]:
    """The oracle, written independently of sotsync: state and updated_at against the cutoff."""
    cutoff = NOW - window
    db = connect(url, root)
    try:
        runs = {
            str(r[0])
            for r in db.query("SELECT id, state, updated_at FROM runs")
            if r[1] in ACTIVE_RUN_STATES and _time(r[2]) < cutoff
        }
        phases = {
            int(r[0])
            for r in db.query("SELECT id, state, updated_at FROM phases")
            if r[1] in ACTIVE_PHASE_STATES and _time(r[2]) < cutoff
        }
    finally:
        db.close()
    return runs, phases


def _phase_ids(url: str, root: Path, labels: list[str]) -> set[int]:
    db = connect(url, root)
    try:
        return {
            int(r[0])
            for r in db.query("SELECT id, run_id, phase_id FROM phases")
            if f"{r[1]}/{r[2]}" in labels
        }
    finally:
        db.close()


def test_stuck_runs_and_phases_dry_run_execute_and_again(
    repo: GitRepo, db_url: str, sot: Callable[..., Result], pinned_clock: None
) -> None:
    _generate(db_url, repo.path)
    runs, phases = _expected(db_url, repo.path, timedelta(hours=1))
    assert {"edge-stale", "bootstrap-stale"} <= runs
    assert not {"waiting-old", "created-old", "edge-fresh"} & runs
    assert len(runs) >= 5 and len(phases) >= 3  # the generated mix has real stuck work
    before = _dump(db_url, repo.path)
    base = ("--repo", repo.path, "--database-url", db_url, "recover", "stuck")

    code, out, err = sot(*base, "--format", "json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert doc["dry_run"] is True and doc["snapshot"] is None and doc["changed"] == 0
    assert (doc["now"], doc["cutoff"]) == ("2026-02-12T18:00:00Z", "2026-02-12T17:00:00Z")
    assert {r["id"] for r in doc["runs"]} == runs
    assert _phase_ids(db_url, repo.path, [p["id"] for p in doc["phases"]]) == phases
    assert len(doc["phases"]) == len(phases)
    assert _dump(db_url, repo.path) == before

    code, out, err = sot(*base)
    assert code == 1
    assert f"{len(runs)} run(s), {len(phases)} phase(s) stuck; dry run" in err
    assert (
        "~ run   edge-stale  GATE -> DONE_FAILED_ENVIRONMENT  (last update 2026-02-12T16:59:00Z)"
        in out
    )

    code, out, err = sot(*base, "--execute", "--format", "json")
    assert (code, err) == (0, "")
    done = json.loads(out)
    assert done["dry_run"] is False and done["changed"] == len(runs) + len(phases)
    after = _dump(db_url, repo.path)
    assert after["tiers"] == before["tiers"]
    changed_runs = {k for k in before["runs"] if before["runs"][k] != after["runs"][k]}
    changed_phases = {k for k in before["phases"] if before["phases"][k] != after["phases"][k]}
    assert changed_runs == runs and changed_phases == phases

    db = connect(db_url, repo.path)
    try:
        rows = db.query("SELECT id, state, failure_reason, updated_at, completed_at FROM runs")
        for run_id, state, reason, updated, completed in rows:
            if run_id in runs:
                assert state == "DONE_FAILED_ENVIRONMENT"
                assert reason.startswith(f"Stuck in {before['runs'][run_id][1]} since ")
                assert reason.endswith("marked DONE_FAILED_ENVIRONMENT by sotsync recover stuck "
                                       "at 2026-02-12T18:00:00Z")  # fmt: skip
                assert _time(updated) == NOW and _time(completed) == NOW
        states = dict(db.query("SELECT id, state FROM phases"))
        assert {states[p] for p in phases} == {"FAILED"}
    finally:
        db.close()
    edge = next(r for r in done["runs"] if r["id"] == "edge-stale")
    assert edge["reason"] == (
        "Stuck in GATE since 2026-02-12T16:59:00Z (no update for 1h 1m); "
        "marked DONE_FAILED_ENVIRONMENT by sotsync recover stuck at 2026-02-12T18:00:00Z"
    )

    # The safety snapshot holds the database as it was before the change.
    config = load_config(find_workspace(repo.path))
    shots = api.snapshot_list(config)
    assert [s.commit for s in shots] == [done["snapshot"]]
    assert shots[0].subject == (
        f"safety snapshot before recover stuck: {len(runs)} run(s), "
        f"{len(phases)} phase(s) to mark failed"
    )
    api.snapshot_create(config, db_url, message="after")
    diffs = {d.name: d.counts for d in api.snapshot_diff(config, done["snapshot"], "laptop")}
    assert diffs["runs"] == (0, 0, len(runs))
    assert diffs["phases"] == (0, 0, len(phases))
    assert diffs["tiers"] == (0, 0, 0)

    code, out, err = sot(*base, "--execute")
    assert (code, out) == (0, "")
    assert "nothing stuck for longer than 1h" in err
    assert len(api.snapshot_list(config)) == 2  # no snapshot when there is nothing to do


def test_a_longer_window_and_both_time_formats(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result], pinned_clock: None
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _generate(url, repo.path)
    conn = sqlite3.connect(tmp_path / "runs.db")
    styles = {("T" in v[0]) for v in conn.execute("SELECT updated_at FROM runs")}
    conn.close()
    assert styles == {True, False}
    runs, phases = _expected(url, repo.path, timedelta(days=2))
    code, out, _err = sot("--repo", repo.path, "--database-url", url, "recover", "stuck",
                          "--older-than", "2d", "--format", "json")  # fmt: skip
    assert code == (1 if runs or phases else 0)
    assert {r["id"] for r in json.loads(out)["runs"]} == runs


def test_a_row_that_moves_meanwhile_rolls_everything_back(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result], pinned_clock: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _generate(url, repo.path)
    before = _dump(url, repo.path)
    from sotsync import recover

    real = recover.plan_stuck

    def moved(*args: Any) -> recover.StuckPlan:
        plan = real(*args)
        last = plan.items[-1]
        gone = recover.Stuck(
            "run", "edge-fresh", "edge-fresh", "edge-fresh", "CI_RUNNING",
            last.last_update, last.age, "DONE_FAILED_ENVIRONMENT", "x",
        )  # fmt: skip
        return recover.StuckPlan(plan.now, plan.window, (*plan.items, gone))

    monkeypatch.setattr("sotsync.api.recover.plan_stuck", moved)
    code, out, err = sot(
        "--repo", repo.path, "--database-url", url, "recover", "stuck", "--execute"
    )
    assert (code, out) == (3, "")
    assert err == (
        "sotsync: error: run edge-fresh left CI_RUNNING while recovering; nothing was changed\n"
        "hint: run `sotsync recover stuck` again to see the current state\n"
    )
    assert _dump(url, repo.path) == before


def test_execute_needs_a_git_repository_for_the_safety_snapshot(
    tmp_path: Path, sot: Callable[..., Result], pinned_clock: None
) -> None:
    work = tmp_path / "plain"
    (work / "docs").mkdir(parents=True)
    (work / "docs" / "BUILD_HISTORY.md").write_text(ONE_ENTRY_LEDGER)
    url = f"sqlite:///{work / 'runs.db'}"
    _generate(url, work)
    before = _dump(url, work)
    code, out, err = sot("--repo", work, "--database-url", url, "recover", "stuck", "--execute")
    assert (code, out) == (3, "")
    assert err.startswith(f"sotsync: error: snapshots need a git repository; {work} is none\n")
    assert _dump(url, work) == before


def test_missing_tables_and_columns_are_clear_errors(
    repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]
) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE things (id TEXT)")
    conn.commit()
    url = f"sqlite:///{path}"
    base = ("--repo", repo.path, "--database-url", url, "recover", "stuck")
    code, out, err = sot(*base)
    assert (code, out) == (3, "")
    assert err == (
        f"sotsync: error: no table 'runs' in {url}\n"
        "hint: point DATABASE_URL at the Autopack database, or set [tool.sotsync.runs] table\n"
    )
    conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, state TEXT, created_at TEXT)")
    conn.commit()
    conn.close()
    code, out, err = sot(*base)
    assert code == 3
    assert err == (
        f"sotsync: error: table 'runs' in {url} has no column 'updated_at'\n"
        "hint: set the names in [tool.sotsync.recover] (updated_column, phases_table)\n"
    )


def test_bad_durations_are_usage_errors(repo: GitRepo, sot: Callable[..., Result]) -> None:
    code, out, err = sot("--repo", repo.path, "recover", "stuck", "--older-than", "soon")
    assert (code, out) == (2, "")
    assert err == (
        "sotsync: error: --older-than 'soon' is not a duration\n"
        "hint: write it like 90s, 30m, 1h, 2d or 1h30m\n"
    )
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(" 90s ") == timedelta(seconds=90)
    assert parse_duration("2w") == timedelta(days=14)
    for bad in ("", "0m", "1x", "h1", "1h 2"):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_recover_settings_refuse_waiting_states_and_bad_names(
    repo: GitRepo, sot: Callable[..., Result]
) -> None:
    repo.write({".sotsync.toml": '[recover]\nactive_states = ["GATE", "QUEUED"]\n'})
    code, _out, err = sot("--repo", repo.path, "recover", "stuck")
    assert code == 3
    assert err == (
        "sotsync: error: .sotsync.toml [recover]: active_states names a waiting state "
        "(QUEUED or RUN_CREATED)\n"
        "hint: waiting runs are not stuck; list only states in which a run works\n"
    )
    repo.write({".sotsync.toml": '[recover]\nphases_table = "x; DROP"\n'})
    code, _out, err = sot("--repo", repo.path, "recover", "stuck")
    assert code == 3
    assert "phases_table = 'x; DROP' is not a valid SQL identifier" in err


def test_configured_states_narrow_what_is_stuck(
    repo: GitRepo, tmp_path: Path, pinned_clock: None
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _generate(url, repo.path)
    repo.write({".sotsync.toml": '[recover]\nactive_states = ["GATE"]\nphase_states = []\n'})
    config = load_config(find_workspace(repo.path))
    result = api.recover_stuck(config, url)
    assert {i.state for i in result.plan.items} == {"GATE"}
    assert "edge-stale" in {i.label for i in result.plan.items}
    assert RecoverSettings().active_states == ACTIVE_RUN_STATES


# --------------------------------------------------------------------------- integrity


def _point(ident: str, hours: int, engine: str = "sqlite") -> RecoveryPoint:
    when = NOW - timedelta(hours=hours)
    return RecoveryPoint("snapshot", ident, when, "laptop", engine, f"snapshot {ident}")


def test_newest_verified_skips_broken_and_foreign_points() -> None:
    points = [
        _point("old", 30),
        _point("broken", 2),
        _point("pg", 1, "postgresql"),
        _point("mid", 5),
    ]
    tried: list[str] = []

    def verify(point: RecoveryPoint) -> list[str]:
        tried.append(point.ident)
        return ["missing blob"] if point.ident == "broken" else []

    found, rejected = newest_verified(points, "sqlite", verify)
    assert found is not None and found.ident == "mid"
    assert tried == ["broken", "mid"]  # newest first, stops at the first good one
    assert rejected == ["snapshot broken: missing blob"]
    assert newest_verified([], "sqlite", verify) == (None, [])


@pytest.fixture
def clean_workspace(repo: GitRepo, tmp_path: Path, sot: Callable[..., Result]) -> Iterator[str]:
    """A repository whose ledger, mirror and runs agree (runs exempt by expect_since)."""
    repo.commit({".sotsync.toml": 'expect_since = "2100-01-01T00:00:00Z"\n'})
    url = f"sqlite:///{tmp_path / 'autopack.db'}"
    _generate(url, repo.path, runs=400)
    base = ("--repo", repo.path, "--database-url", url)
    assert sot(*base, "db", "init")[0] == 0
    assert sot(*base, "sync")[0] == 0
    assert sot(*base, "check")[0] == 0
    yield url


def _corrupt(path: Path) -> None:
    """Overwrite the middle of the file with garbage, as a failing disk or a torn copy would."""
    data = bytearray(path.read_bytes())
    assert len(data) > 64 * 1024
    page = 4096
    for start in range(2 * page, len(data) // 2, 3 * page):
        data[start : start + page] = bytes((i * 37 + 11) % 256 for i in range(page))
    path.write_bytes(bytes(data))


def test_corruption_is_detected_and_the_newest_verified_snapshot_restored(
    repo: GitRepo, tmp_path: Path, clean_workspace: str, sot: Callable[..., Result]
) -> None:
    url = clean_workspace
    base = ("--repo", repo.path, "--database-url", url)
    assert sot(*base, "snapshot", "create", "-m", "nightly")[0] == 0
    config = load_config(find_workspace(repo.path))
    good = api.snapshot_list(config)[0]
    code, out, err = sot(*base, "recover", "integrity")
    assert (code, out, err) == (0, f"integrity: {url} is healthy\n", "")

    _corrupt(tmp_path / "autopack.db")
    code, out, err = sot(*base, "check")
    assert code in (1, 3)
    code, out, err = sot(*base, "recover", "integrity", "--format", "json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert doc["healthy"] is False and doc["problems"] and doc["restored"] is False
    assert doc["candidate"]["id"] == good.commit and doc["candidate"]["kind"] == "snapshot"
    code, out, err = sot(*base, "recover", "integrity")
    assert code == 1
    assert (
        f"integrity: newest verified recovery point: snapshot {good.commit[:12]} of laptop" in out
    )
    assert err == "hint: restore it with `sotsync recover integrity --restore`\n"

    code, out, err = sot(*base, "recover", "integrity", "--restore")
    assert code == 0, out + err
    assert f"restored snapshot {good.commit[:12]} of laptop" in out
    assert out.rstrip().endswith("reconcile: ledgers, mirror and runs agree (400 run(s) checked)")
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("autopack.db.damaged-")]
    assert len(kept) == 1 and "kept the damaged file as" in err
    assert sot(*base, "check")[0] == 0
    assert sot(*base, "recover", "integrity")[0] == 0


def test_a_destroyed_header_is_detected_too(
    repo: GitRepo, tmp_path: Path, clean_workspace: str, sot: Callable[..., Result]
) -> None:
    path = tmp_path / "autopack.db"
    data = bytearray(path.read_bytes())
    data[:100] = b"\xff" * 100
    path.write_bytes(bytes(data))
    code, out, _err = sot("--repo", repo.path, "--database-url", clean_workspace,
                          "recover", "integrity")  # fmt: skip
    assert code == 1
    assert "! damaged  file is not a database" in out
    assert "integrity: no verified snapshot or backup to restore" in out


def test_restore_without_a_recovery_point_is_an_error(
    repo: GitRepo, tmp_path: Path, clean_workspace: str, sot: Callable[..., Result]
) -> None:
    _corrupt(tmp_path / "autopack.db")
    before = (tmp_path / "autopack.db").read_bytes()
    code, out, err = sot("--repo", repo.path, "--database-url", clean_workspace,
                         "recover", "integrity", "--restore")  # fmt: skip
    assert (code, out) == (3, "")
    first, hint = err.splitlines()
    assert first.startswith(f"sotsync: error: {clean_workspace} is damaged (")
    assert first.endswith(") and there is no verified snapshot or backup to restore")
    assert hint.startswith("hint: list what exists with `sotsync snapshot list --all`")
    assert (tmp_path / "autopack.db").read_bytes() == before


def test_a_healthy_database_on_either_engine(
    repo: GitRepo, db_url: str, sot: Callable[..., Result]
) -> None:
    _generate(db_url, repo.path, runs=20)
    code, out, _err = sot("--repo", repo.path, "--database-url", db_url, "recover", "integrity",
                          "--format", "json")  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert (doc["healthy"], doc["problems"], doc["candidate"]) == (True, [], None)


def test_restore_then_fix_brings_the_mirror_up_to_the_ledgers(
    repo: GitRepo, tmp_path: Path, clean_workspace: str, sot: Callable[..., Result]
) -> None:
    base = ("--repo", repo.path, "--database-url", clean_workspace)
    assert sot(*base, "snapshot", "create", "-m", "nightly")[0] == 0
    assert sot(*base, "new", "build", "--title", "Later", "--date", "2026-03-01")[0] == 0
    assert sot(*base, "sync")[0] == 0
    _corrupt(tmp_path / "autopack.db")
    code, out, _err = sot(*base, "recover", "integrity", "--restore")
    assert code == 1
    assert "+ mirror-missing   build/BUILD-002  entry is not in the database mirror" in out
    _corrupt(tmp_path / "autopack.db")
    code, out, err = sot(*base, "recover", "integrity", "--restore", "--fix", "--format", "json")
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["restored"] is True and doc["problems_after"] == []
    assert doc["reconcile"]["clean"] is True and doc["kept_copy"].startswith(str(tmp_path))
    assert sot(*base, "check")[0] == 0


@pytest.mark.postgres
def test_postgres_restore_takes_a_safety_snapshot_first(
    repo: GitRepo, sot: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pg import fresh_database
    from sotsync.api import recover as recover_api

    real = recover_api._integrity_problems
    calls: list[int] = []

    def damaged_once(*args: Any) -> list[str]:
        calls.append(1)
        return ["relation runs: could not read block 7"] if len(calls) == 1 else real(*args)

    with fresh_database() as url:
        _generate(url, repo.path, runs=30)
        base = ("--repo", repo.path, "--database-url", url)
        assert sot(*base, "snapshot", "create", "-m", "nightly")[0] == 0
        db = connect(url, repo.path)
        db.execute("DELETE FROM phases")
        db.close()
        monkeypatch.setattr(recover_api, "_integrity_problems", damaged_once)
        code, out, _err = sot(*base, "recover", "integrity", "--restore", "--format", "json")
        doc = json.loads(out)
        assert doc["restored"] is True and doc["kept_copy"] is None and doc["problems_after"] == []
        assert doc["reconcile_error"] == f"{url} has no sotsync tables"
        assert code == 1
        config = load_config(find_workspace(repo.path))
        subjects = [s.subject for s in api.snapshot_list(config)]
        assert subjects[0].startswith("safety snapshot before recover integrity (snapshot ")
        db = connect(url, repo.path)
        try:
            assert db.query("SELECT count(*) FROM phases")[0][0] > 0
        finally:
            db.close()


def test_plan_stuck_reads_every_time_form_and_skips_unreadable_rows() -> None:
    from sotsync.recover import Activity, plan_stuck

    old = NOW - timedelta(hours=3)
    rows = [
        Activity("run", "a", "a", "a", "GATE", (old.replace(tzinfo=None).isoformat(),)),
        Activity("run", "b", "b", "b", "GATE", (old.replace(tzinfo=None).isoformat(" "),)),
        Activity("run", "c", "c", "c", "GATE", (old.replace(tzinfo=None),)),
        Activity("run", "d", "d", "d", "GATE", (None, "garbage", old.isoformat())),
        Activity("run", "e", "e", "e", "GATE", (None, "not a time")),
        Activity("run", "f", "f", "f", "QUEUED", (old.isoformat(),)),
        Activity("phase", 9, "a/P1", "a", "EXECUTING", (old.isoformat(),)),
        Activity("phase", 10, "a/P2", "a", "COMPLETE", (old.isoformat(),)),
    ]
    plan = plan_stuck(rows, RecoverSettings(), NOW, timedelta(hours=1))
    assert [i.label for i in plan.items] == ["a", "b", "c", "d", "a/P1"]
    assert plan.unreadable == ("run e: no readable update time",)
    assert {i.age for i in plan.items} == {timedelta(hours=3)}
