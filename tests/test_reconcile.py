"""``sotsync reconcile`` and ``sotsync check``: ledgers against the mirror and the runs (SPEC §3).

The rules are tested twice: as pure functions (``entry_facts`` → ``reconcile`` → Items, no
database), and end to end through the CLI on SQLite and a real PostgreSQL server, with an
Autopack run table made by ``benchmarks/genruns.py`` (every run pinned, so each one is known).
Ledgers are small and clean (not the corpus), written by the same code as ``sotsync new``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from conftest import GitRepo
from sotsync import api
from sotsync.config import DEFAULT_LEDGERS, LedgerSpec
from sotsync.db import connect
from sotsync.ledger.lint import lint_ledger
from sotsync.ledger.new import add_entry
from sotsync.ledger.parse import Ledger, parse_ledger
from sotsync.mirror import Stored, desired_rows, plan_sync
from sotsync.models import Run
from sotsync.reconcile import Item, entry_facts, reconcile
from sotsync.runsettings import DEFAULT_EXPECT, LinkPattern, RunSettings, parse_time

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from genruns import RunPin, create_autopack_schema, generate_runs

MakeRepo = Callable[..., GitRepo]
Result = tuple[int, str, str]
Fields = Sequence[tuple[str, str]]
SPECS = {s.name: s for s in DEFAULT_LEDGERS}
FIXED_NOW = datetime(2026, 2, 1, 12, 0, 0, tzinfo=UTC)
SETTINGS = RunSettings(
    project_id="autopack",
    runs_table="runs",
    id_column="id",
    state_column="state",
    created_column="created_at",
    expect=DEFAULT_EXPECT,
    expect_since=None,
    links=(LinkPattern(re.compile(r"^build(\d+)"), "BUILD-%03d"),),
)


# ------------------------------------------------------------------------------ helpers


def ledger_bytes(spec: LedgerSpec, entries: Sequence[tuple[str, str, str, Fields]]) -> bytes:
    """A clean ledger (skeleton + entries added like `sotsync new`, oldest first)."""
    data = api.skeleton(spec, FIXED_NOW)
    for ident, title, date, fields in entries:
        ledger = parse_ledger(data, spec.path, spec.prefix)
        data = add_entry(ledger, ident, title, date, fields, True)
    return data


def parsed(spec: LedgerSpec, data: bytes) -> Ledger:
    return parse_ledger(data, spec.path, spec.prefix)


BUILD = (
    (
        "BUILD-001",
        "Linked by field",
        "2026-01-10",
        [("Run", "r-success"), ("Status", "✅ COMPLETE")],
    ),
    ("BUILD-002", "Names an unknown run", "2026-01-11", [("Run", "xyz")]),
    (
        "BUILD-003",
        "Says complete, run failed",
        "2026-01-12",
        [("Status", "✅ COMPLETE"), ("Run", "r-env-fail")],
    ),
    ("BUILD-004", "Linked by the run-id pattern", "2026-01-13", []),
    ("BUILD-005", "Linked by a sot_links row", "2026-01-14", []),
)
DEBUG = (("DBG-001", "Budget ran out", "2026-01-15", [("Run ID", "r-budget")]),)
DECISIONS = (("DEC-001", "Keep the mirror", "2026-01-16", []),)
RUNS = (
    ("r-old", "DONE_SUCCESS", datetime(2025, 6, 1, 9, 0, 0)),
    ("r-success", "DONE_SUCCESS", datetime(2026, 1, 10, 9, 0, 0)),
    ("r-env-fail", "DONE_FAILED_ENVIRONMENT", datetime(2026, 1, 12, 9, 0, 0)),
    ("build004-pattern", "DONE_SUCCESS", datetime(2026, 1, 13, 9, 0, 0)),
    ("manual-link-run", "DONE_SUCCESS", datetime(2026, 1, 14, 9, 0, 0)),
    ("r-budget", "DONE_FAILED_BUDGET_EXHAUSTED", datetime(2026, 1, 15, 9, 0, 0)),
    ("r-needs-build", "DONE_SUCCESS", datetime(2026, 1, 20, 9, 0, 0)),
    ("r-needs-debug", "DONE_FAILED_POLICY_VIOLATION", datetime(2026, 1, 21, 9, 0, 0)),
    ("build099-nothing", "DONE_SUCCESS", datetime(2026, 1, 22, 9, 0, 0)),
    ("r-queued", "QUEUED", datetime(2026, 1, 23, 9, 0, 0)),
)
LINKS = (("build_history", "BUILD-005", 1, "manual-link-run"),)
SINCE = "2025-12-01T00:00:00Z"
AGREE = "reconcile: ledgers, mirror and runs agree ({} run(s) checked)\n"


def scenario_ledgers() -> dict[str, bytes]:
    return {
        "build": ledger_bytes(SPECS["build"], BUILD),
        "debug": ledger_bytes(SPECS["debug"], DEBUG),
        "decisions": ledger_bytes(SPECS["decisions"], DECISIONS),
    }


def pure_report(
    ledgers: dict[str, bytes],
    runs: Sequence[tuple[str, str, object]],
    links: Sequence[tuple[str, str, int, str]] = (),
    settings: RunSettings = SETTINGS,
    stored: dict[tuple[str, str, int], Stored] | None = None,
) -> list[Item]:
    specs = list(DEFAULT_LEDGERS)
    parsed_ledgers = {s.name: parsed(s, ledgers[s.name]) for s in specs}
    findings = [f for s in specs for f in lint_ledger(parsed_ledgers[s.name])]
    facts = [f for s in specs for f in entry_facts(parsed_ledgers[s.name], s)]
    rows = [r for s in specs for r in desired_rows(parsed_ledgers[s.name], s)]
    if stored is None:  # a mirror in sync with the ledgers
        stored = {r.key: Stored(r.content_hash, False) for r in rows}
    plan = plan_sync(rows, stored)
    ids = {s.name: parsed_ledgers[s.name].ids() for s in specs}
    report = reconcile(
        specs,
        findings,
        facts,
        plan,
        iter([Run(*r) for r in runs]),
        links,
        settings,
        ids,
    )
    assert report.runs_checked == len(runs)
    return list(report.items)


def needs(items: Sequence[Item]) -> list[str]:
    return [i.key for i in items if i.category == "run-needs-entry"]


def brief(items: Sequence[Item]) -> set[tuple[str, str, str, str]]:
    return {(i.sign, i.category, i.key, i.detail) for i in items}


def unknown(key: str, run_id: str) -> tuple[str, str, str, str]:
    return ("?", "unknown-run", key, f"names run {run_id}, which is not in the database")


def needs_entry(run_id: str, state: str, ledger: str) -> tuple[str, str, str, str]:
    return ("+", "run-needs-entry", run_id, f"{state} run has no entry in {ledger}")


def clash(key: str, says: str, run_id: str, state: str) -> tuple[str, str, str, str]:
    return ("!", "status", key, f"entry says {says}, run {run_id} is {state}")


SCENARIO_ITEMS = {
    needs_entry("r-env-fail", "DONE_FAILED_ENVIRONMENT", "debug"),
    clash("build/BUILD-003", "complete", "r-env-fail", "DONE_FAILED_ENVIRONMENT"),
    needs_entry("r-needs-build", "DONE_SUCCESS", "build"),
    needs_entry("r-needs-debug", "DONE_FAILED_POLICY_VIOLATION", "debug"),
    needs_entry("build099-nothing", "DONE_SUCCESS", "build"),
    unknown("build/BUILD-002", "xyz"),
}
OLD_RUN_ITEM = ("+", "run-needs-entry", "r-old", "DONE_SUCCESS run has no entry in build")


# ------------------------------------------------------------------------------ pure


def test_entry_facts_read_run_fields_and_status() -> None:
    spec = SPECS["build"]
    data = ledger_bytes(
        spec,
        [
            ("BUILD-001", "one", "2026-01-01", [("Run", "a-1")]),
            ("BUILD-002", "two", "2026-01-02", [("Run ID", "`b-2`"), ("Status", "❌ FAILED")]),
            ("BUILD-003", "three", "2026-01-03", [("Runs", "c-3, c-4 `c-5`")]),
            ("BUILD-004", "four", "2026-01-04", []),
        ],
    )
    data += b"- **Run**: d-6\n"  # a list item form, at the end of BUILD-001 (oldest, last)
    facts = {f.entry_id: f for f in entry_facts(parsed(spec, data), spec)}
    assert facts["BUILD-001"].run_ids == ("a-1", "d-6")
    assert facts["BUILD-002"].run_ids == ("b-2",)
    assert facts["BUILD-002"].status == "❌ FAILED"
    assert facts["BUILD-003"].run_ids == ("c-3", "c-4", "c-5")
    assert facts["BUILD-004"].run_ids == () and facts["BUILD-004"].status is None
    assert {f.ledger for f in facts.values()} == {"build"}
    assert not any(f.generated for f in facts.values())


def test_pure_report_finds_every_category() -> None:
    items = pure_report(scenario_ledgers(), RUNS, LINKS)
    assert brief(items) == SCENARIO_ITEMS | {OLD_RUN_ITEM}
    needs = {i.key: i for i in items if i.category == "run-needs-entry"}
    assert needs["r-needs-build"].ledger == "build"
    assert needs["r-needs-debug"].ledger == "debug"
    assert needs["r-needs-debug"].run_state == "DONE_FAILED_POLICY_VIOLATION"


def test_expect_since_exempts_older_runs() -> None:
    since = dataclasses.replace(SETTINGS, expect_since=parse_time(SINCE))
    items = pure_report(scenario_ledgers(), RUNS, LINKS, since)
    assert brief(items) == SCENARIO_ITEMS
    # The mixed timestamp styles of real run tables compare the same way.
    for created in ("2025-11-30T23:59:59.999999", "2025-11-30 23:59:59.999999"):
        got = pure_report(scenario_ledgers(), [("r", "DONE_SUCCESS", created)], (), since)
        assert needs(got) == []
    for created in ("2025-12-01T00:00:00.000001", "2025-12-01 00:00:00", "not a time"):
        got = pure_report(scenario_ledgers(), [("r", "DONE_SUCCESS", created)], (), since)
        assert needs(got) == ["r"]


def test_run_needs_entry_in_each_ledger() -> None:
    ledgers = scenario_ledgers()
    runs = [("s", "DONE_SUCCESS", None), ("f", "DONE_FAILED_REQUIRES_HUMAN_REVIEW", None)]
    items = [i for i in pure_report(ledgers, runs) if i.category != "unknown-run"]
    assert brief(items) == {
        needs_entry("s", "DONE_SUCCESS", "build"),
        needs_entry("f", "DONE_FAILED_REQUIRES_HUMAN_REVIEW", "debug"),
    }
    # Active and waiting runs need nothing.
    quiet = [(s, s, None) for s in ("QUEUED", "RUN_CREATED", "PHASE_EXECUTION", "GATE")]
    assert needs(pure_report(ledgers, quiet)) == []


def test_unknown_run_and_status_disagreement() -> None:
    ledgers = scenario_ledgers()
    items = pure_report(ledgers, [("r-env-fail", "DONE_FAILED_ENVIRONMENT", None)])
    assert unknown("build/BUILD-002", "xyz") in brief(items)
    assert clash("build/BUILD-003", "complete", "r-env-fail", "DONE_FAILED_ENVIRONMENT") in (
        brief(items)
    )
    # The same entry agreeing with its run: no status item.
    items = pure_report(ledgers, [("r-env-fail", "DONE_SUCCESS", None)])
    assert not [i for i in items if i.category == "status"]
    # An entry that says it failed, for a successful run.
    spec = SPECS["debug"]
    fields = [("Run", "ok"), ("Status", "FAILED")]
    debug = ledger_bytes(spec, [("DBG-001", "x", "2026-01-01", fields)])
    items = pure_report({**ledgers, "debug": debug}, [("ok", "DONE_SUCCESS", None)])
    assert clash("debug/DBG-001", "failed", "ok", "DONE_SUCCESS") in brief(items)


def test_links_by_sot_links_row_and_by_pattern() -> None:
    ledgers = scenario_ledgers()
    run = [("manual-link-run", "DONE_SUCCESS", None)]
    assert brief(pure_report(ledgers, run)) == {
        needs_entry("manual-link-run", "DONE_SUCCESS", "build"),
        unknown("build/BUILD-002", "xyz"),
        unknown("build/BUILD-001", "r-success"),
        unknown("build/BUILD-003", "r-env-fail"),
        unknown("debug/DBG-001", "r-budget"),
    }
    linked = brief(pure_report(ledgers, run, LINKS))
    assert not [i for i in linked if i[1] == "run-needs-entry"]
    # A link row naming a run that does not exist is an unknown run too.
    ghost = brief(pure_report(ledgers, [], [("build_history", "BUILD-005", 1, "ghost")]))
    assert unknown("build/BUILD-005", "ghost") in ghost

    # ^build(\d+) → BUILD-%03d: the number is read as an integer and zero-padded.
    for run_id in ("build004-pattern", "build4-x", "build0004"):
        got = pure_report(ledgers, [(run_id, "DONE_SUCCESS", None)])
        assert not [i for i in got if i.category == "run-needs-entry"], run_id
    for run_id in ("build044-x", "rebuild004", "BUILD004"):
        got = pure_report(ledgers, [(run_id, "DONE_SUCCESS", None)])
        assert [i.key for i in got if i.category == "run-needs-entry"] == [run_id]
    # A pattern target documented only by an INDEX row still counts as documented.
    spec = SPECS["build"]
    row_only = parsed(spec, ledgers["build"]).lines
    assert any(line.startswith("| 2026-01-13 | BUILD-004 |") for line in row_only)
    heading = next(i for i, line in enumerate(row_only) if line.startswith("### BUILD-004"))
    body = "".join(row_only[:heading] + row_only[heading + 1 :])  # the row stays, no section
    assert "### BUILD-004" not in body
    got = pure_report({**ledgers, "build": body.encode()}, [("build004-p", "DONE_SUCCESS", None)])
    assert not [i for i in got if i.category == "run-needs-entry"]
    # A configured pattern maps other run ids to other ledgers.
    custom = dataclasses.replace(
        SETTINGS, links=(LinkPattern(re.compile(r"^fix-(\d+)"), "DBG-%03d"),)
    )
    got = pure_report(ledgers, [("fix-1", "DONE_FAILED_ENVIRONMENT", None)], (), custom)
    assert not [i for i in got if i.category == "run-needs-entry"]
    got = pure_report(ledgers, [("build004-pattern", "DONE_SUCCESS", None)], (), custom)
    assert [i.key for i in got if i.category == "run-needs-entry"] == ["build004-pattern"]


def test_mirror_items() -> None:
    ledgers = scenario_ledgers()
    specs = list(DEFAULT_LEDGERS)
    rows = [r for s in specs for r in desired_rows(parsed(s, ledgers[s.name]), s)]
    stored = {r.key: Stored(r.content_hash, False) for r in rows}
    del stored["build_history", "BUILD-004", 1]  # entry missing from the mirror
    stored["build_history", "BUILD-001", 1] = Stored("0" * 64, False)  # content drift
    stored["architecture", "DEC-009", 1] = Stored("1" * 64, False)  # row whose entry left
    stored["architecture", "DEC-008", 1] = Stored("1" * 64, True)  # an old tombstone: quiet
    items = pure_report(ledgers, [], (), SETTINGS, stored)
    assert {i for i in brief(items) if i[1].startswith("mirror")} == {
        ("+", "mirror-missing", "build/BUILD-004", "entry is not in the database mirror"),
        ("~", "mirror-drift", "build/BUILD-001", "mirror content differs from the ledger"),
        ("-", "mirror-gone", "decisions/DEC-009", "mirror row's entry is gone from the ledger"),
    }


def test_offline_report_has_no_database_items() -> None:
    spec = SPECS["build"]
    ledger = parsed(spec, ledger_bytes(spec, BUILD))
    report = reconcile([spec], [], entry_facts(ledger, spec), None, None, (), SETTINGS)
    assert report.offline and report.clean and report.runs_checked == 0


# ------------------------------------------------------------------------------ end to end


def workspace(
    make_repo: MakeRepo,
    url: str,
    sot: Callable[..., Result],
    ledgers: dict[str, bytes],
    runs: Sequence[tuple[str, str, datetime]],
    links: Sequence[tuple[str, str, int, str]] = (),
    config: str = "",
) -> GitRepo:
    """A repository with these ledgers, the mirror synced, and exactly these runs."""
    files: dict[str, bytes | str] = {SPECS[n].path: data for n, data in ledgers.items()}
    if config:
        files[".sotsync.toml"] = config
    repo = make_repo(files=files)
    assert sot("--repo", repo.path, "--database-url", url, "db", "init")[0] == 0
    db = connect(url, repo.path)
    try:
        create_autopack_schema(db)
        pins = {
            i: RunPin(run_id=run_id, state=state, created_at=created)
            for i, (run_id, state, created) in enumerate(runs)
        }
        generate_runs(db, len(runs), seed=7, runs_only=True, pins=pins)
        with db.transaction():
            db.executemany(
                "INSERT INTO sot_links (project_id, file_type, entry_id, occurrence, run_id, "
                "created_at) VALUES ('autopack', ?, ?, ?, ?, '2026-01-01T00:00:00Z')",
                list(links),
            )
    finally:
        db.close()
    code, _, err = sot("--repo", repo.path, "--database-url", url, "sync")
    assert code == 0, err
    return repo


def text_lines(items: set[tuple[str, str, str, str]]) -> list[str]:
    return sorted(f"{s} {c:<16} {k}  {d}" for s, c, k, d in items)


def test_reconcile_end_to_end_reports_each_category(
    db_url: str, make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    repo = workspace(
        make_repo, db_url, sot, scenario_ledgers(), RUNS, LINKS, f'expect_since = "{SINCE}"\n'
    )
    code, out, err = sot("--repo", repo.path, "--database-url", db_url, "reconcile")
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert sorted(lines[:-1]) == text_lines(SCENARIO_ITEMS)
    assert lines[-1] == (
        "reconcile: 4 runs that need an entry and have none, 1 entries naming unknown runs, "
        "1 entries whose status contradicts their run (10 run(s) checked)"
    )
    code, out, _ = sot(
        "--repo", repo.path, "--database-url", db_url, "reconcile", "--format", "json"
    )
    doc = json.loads(out)
    assert code == 1
    assert (doc["version"], doc["clean"], doc["offline"], doc["runs_checked"]) == (
        1,
        False,
        False,
        10,
    )
    assert doc["counts"] == {
        "finding": 0,
        "mirror-missing": 0,
        "mirror-gone": 0,
        "mirror-drift": 0,
        "run-needs-entry": 4,
        "unknown-run": 1,
        "status": 1,
    }
    assert {(i["sign"], i["category"], i["key"], i["detail"]) for i in doc["items"]} == (
        SCENARIO_ITEMS
    )

    # Without expect_since the old run needs an entry as well.
    (repo.path / ".sotsync.toml").unlink()
    code, out, _ = sot("--repo", repo.path, "--database-url", db_url, "reconcile")
    assert code == 1
    assert sorted(out.splitlines()[:-1]) == text_lines(SCENARIO_ITEMS | {OLD_RUN_ITEM})


def test_reconcile_end_to_end_reports_mirror_drift(
    db_url: str, make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    ledgers = scenario_ledgers()
    keep = ("r-success", "r-env-fail", "build004-pattern", "manual-link-run", "r-budget")
    runs = [r for r in RUNS if r[0] in keep] + [("xyz", "QUEUED", datetime(2026, 1, 17))]
    # BUILD-003 says complete for a failed run; make it agree, and give the run its debug entry.
    ledgers["build"] = ledger_bytes(
        SPECS["build"], [*BUILD[:2], (*BUILD[2][:3], [("Run", "r-env-fail")]), *BUILD[3:]]
    )
    ledgers["debug"] = ledger_bytes(
        SPECS["debug"], [*DEBUG, ("DBG-002", "Env", "2026-01-16", [("Run", "r-env-fail")])]
    )
    repo = workspace(make_repo, db_url, sot, ledgers, runs, LINKS)
    assert sot("--repo", repo.path, "--database-url", db_url, "reconcile")[:2] == (
        0,
        "reconcile: ledgers, mirror and runs agree (6 run(s) checked)\n",
    )
    # Edit BUILD-001, add DEC-002 without syncing, remove DEC-001.
    build = repo.path / SPECS["build"].path
    build.write_bytes(build.read_bytes() + b"An afterthought.\n")
    decisions = repo.path / SPECS["decisions"].path
    ledger = parsed(SPECS["decisions"], decisions.read_bytes())
    entry = ledger.entries[0]
    decisions.write_bytes(
        "".join(ledger.lines[: entry.line] + ledger.lines[entry.end :]).encode("utf-8")
    )
    assert sot("--repo", repo.path, "new", "decisions", "--title", "Second")[1] == "DEC-002\n"
    code, out, err = sot("--repo", repo.path, "--database-url", db_url, "reconcile")
    assert (code, err) == (1, "")
    assert sorted(out.splitlines()[:-1]) == text_lines(
        {
            ("+", "mirror-missing", "decisions/DEC-002", "entry is not in the database mirror"),
            ("~", "mirror-drift", "build/BUILD-001", "mirror content differs from the ledger"),
            ("-", "mirror-gone", "decisions/DEC-001", "mirror row's entry is gone from the ledger"),
        }
    )
    assert out.splitlines()[-1] == (
        "reconcile: 1 entries missing from the mirror, 1 mirror rows whose entry left the "
        "ledger, 1 mirror rows with other content (6 run(s) checked)"
    )


def _sections(spec: LedgerSpec, data: bytes) -> dict[str, bytes]:
    ledger = parsed(spec, data)
    return {
        e.entry_key: "".join(ledger.lines[e.line : e.end]).encode("utf-8")
        for e in ledger.entries
        if not e.generated
    }


def test_reconcile_fix_converges_and_never_touches_human_entries(
    db_url: str, make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    ledgers = {
        "build": ledger_bytes(
            SPECS["build"],
            [
                (
                    "BUILD-001",
                    "Human one",
                    "2026-01-05",
                    [("Run", "r1"), ("Status", "✅ COMPLETE")],
                ),
                ("BUILD-002", "Human two", "2026-01-06", [("Status", "Done")]),
            ],
        ),
        "debug": ledger_bytes(SPECS["debug"], [("DBG-001", "Human", "2026-01-07", [])]),
        "decisions": ledger_bytes(SPECS["decisions"], [("DEC-001", "Human", "2026-01-08", [])]),
    }
    runs = [
        ("r1", "DONE_SUCCESS", datetime(2026, 1, 5, 8)),
        ("build002-by-pattern", "DONE_SUCCESS", datetime(2026, 1, 6, 8)),
        ("r2", "DONE_SUCCESS", datetime(2026, 1, 20, 8)),
        ("r3", "DONE_FAILED_ENVIRONMENT", datetime(2026, 1, 21, 8)),
        ("build007-missing", "DONE_SUCCESS", datetime(2026, 1, 22, 8)),
        ("r-waiting", "QUEUED", datetime(2026, 1, 23, 8)),
    ]
    repo = workspace(make_repo, db_url, sot, ledgers, runs)
    paths = {n: repo.path / SPECS[n].path for n in ledgers}
    human = {n: _sections(SPECS[n], paths[n].read_bytes()) for n in ledgers}
    code, out, _ = sot("--repo", repo.path, "--database-url", db_url, "reconcile")
    assert code == 1
    assert sorted(out.splitlines()[:-1]) == text_lines(
        {
            ("+", "run-needs-entry", "r2", "DONE_SUCCESS run has no entry in build"),
            ("+", "run-needs-entry", "r3", "DONE_FAILED_ENVIRONMENT run has no entry in debug"),
            ("+", "run-needs-entry", "build007-missing", "DONE_SUCCESS run has no entry in build"),
        }
    )

    code, out, err = sot("--repo", repo.path, "--database-url", db_url, "reconcile", "--fix")
    assert code == 0, out + err
    assert out == "reconcile: ledgers, mirror and runs agree (6 run(s) checked)\n"
    assert sorted(err.splitlines()) == [
        "added generated entry build/BUILD-007",
        "added generated entry build/BUILD-008",
        "added generated entry debug/DBG-002",
        "synced the mirror: 3 insert(s), 0 update(s), 0 tombstone(s)",
    ]
    # Generated entries: marked, with a **Run**: field naming their run.
    generated: dict[str, str] = {}
    dates: dict[str, str | None] = {}
    for name in ("build", "debug"):
        ledger = parsed(SPECS[name], paths[name].read_bytes())
        for e in ledger.entries:
            if e.generated:
                text = "".join(ledger.lines[e.line : e.end])
                run = re.search(r"<!-- sotsync:generated run=(\S+) -->", text)
                assert run is not None, text
                assert f"**Run**: {run.group(1)}" in text
                generated[run.group(1)] = e.id
                dates[run.group(1)] = e.date
    # build007-missing takes BUILD-007, the id its run id maps to, so the pattern now links it;
    # r2 takes the next id above every id in use or claimed by a run id.
    assert generated == {"build007-missing": "BUILD-007", "r2": "BUILD-008", "r3": "DBG-002"}
    # Dated by their run's creation time (UTC), not by the time of the fix.
    assert dates == {"r2": "2026-01-20", "r3": "2026-01-21", "build007-missing": "2026-01-22"}
    # Human-written entries are byte for byte what they were.
    for name in ledgers:
        assert _sections(SPECS[name], paths[name].read_bytes()) == human[name], name
    for name in ledgers:
        assert lint_ledger(parsed(SPECS[name], paths[name].read_bytes())) == [], name

    after = {n: p.read_bytes() for n, p in paths.items()}
    assert sot("--repo", repo.path, "--database-url", db_url, "reconcile") == (
        0,
        "reconcile: ledgers, mirror and runs agree (6 run(s) checked)\n",
        "",
    )
    # A second --fix has nothing to do and changes nothing.
    code, out, err = sot("--repo", repo.path, "--database-url", db_url, "reconcile", "--fix")
    assert (code, out, err) == (0, AGREE.format(6), "")
    assert {n: p.read_bytes() for n, p in paths.items()} == after
    assert sot("--repo", repo.path, "--database-url", db_url, "check")[0] == 0
    sync_code, sync_out, _ = sot("--repo", repo.path, "--database-url", db_url, "sync")
    assert (sync_code, sync_out) == (0, "")


def test_check_offline_needs_no_database(make_repo: MakeRepo, sot: Callable[..., Result]) -> None:
    repo = make_repo(files={SPECS["build"].path: ledger_bytes(SPECS["build"], BUILD)})
    # The default database (sqlite:///./autopack.db) does not exist: only --offline works.
    assert sot("--repo", repo.path, "check", "--offline") == (
        0,
        "reconcile: ledgers, mirror and runs agree (offline: database not checked)\n",
        "",
    )
    code, out, err = sot("--repo", repo.path, "check")
    assert (code, out) == (3, "")
    assert err.startswith("sotsync: error: database file not found: ")
    assert len(err.splitlines()) == 2 and err.splitlines()[1].startswith("hint: ")
    assert sorted(p.name for p in repo.path.iterdir()) == [".git", "docs"]

    # Lint errors fail the offline check too (exit 1), as text and as annotations.
    build = repo.path / SPECS["build"].path
    build.write_bytes(build.read_bytes() + b"<<<<<<< ours\nmine\n=======\ntheirs\n>>>>>>> b\n")
    code, out, _ = sot("--repo", repo.path, "check", "--offline")
    assert code == 1
    assert re.search(r"^docs/BUILD_HISTORY\.md:\d+:1: SOT002 ", out, re.M)
    code, out, _ = sot("--repo", repo.path, "check", "--offline", "--format", "github")
    assert code == 1
    annotation = r"^::error file=docs/BUILD_HISTORY\.md,line=\d+,col=1,title=SOT002::"
    assert re.search(annotation, out, re.M)


def test_check_github_annotations_and_exit_codes(
    db_url: str, make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    repo = workspace(
        make_repo, db_url, sot, scenario_ledgers(), RUNS, LINKS, f'expect_since = "{SINCE}"\n'
    )
    before = {p: (repo.path / p).read_bytes() for p in (s.path for s in DEFAULT_LEDGERS)}
    code, out, err = sot(
        "--repo", repo.path, "--database-url", db_url, "check", "--format", "github"
    )
    assert (code, err) == (1, "")

    def annotated(sign: str, category: str, key: str, detail: str) -> str:
        # Annotations name the ledger file, so GitHub can place them.
        name = detail.rsplit(" ", 1)[1] if category == "run-needs-entry" else key.split("/")[0]
        path = {s.name: s.path for s in DEFAULT_LEDGERS}[name]
        return f"::error file={path},title=sotsync {category}::{sign} {key} {detail}"

    assert sorted(out.splitlines()) == sorted(annotated(*item) for item in SCENARIO_ITEMS)
    code, out, _ = sot("--repo", repo.path, "--database-url", db_url, "check")
    assert code == 1
    assert sorted(out.splitlines()[:-1]) == text_lines(SCENARIO_ITEMS)
    code, out, _ = sot("--repo", repo.path, "--database-url", db_url, "check", "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["lint"]["findings"] == [] and doc["reconcile"]["clean"] is False
    # check is read-only: the ledgers and the mirror are as they were.
    assert {p: (repo.path / p).read_bytes() for p in before} == before
    # Offline, the same workspace is clean: the drift is all about runs.
    assert sot("--repo", repo.path, "check", "--offline")[0] == 0
    # And an unreachable database is exit 3.
    code, out, err = sot(
        "--repo", repo.path, "--database-url", "postgresql://u:pw@127.0.0.1:1/x", "check"
    )
    assert (code, out) == (3, "")
    assert err.startswith("sotsync: error: cannot connect to postgresql://u:***@127.0.0.1:1/x: ")


def test_reconcile_fix_refuses_to_flood_the_ledgers(
    db_url: str, make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    ledgers = {
        "build": ledger_bytes(SPECS["build"], [("BUILD-001", "Human", "2026-01-05", [])]),
        "debug": ledger_bytes(SPECS["debug"], [("DBG-001", "Human", "2026-01-07", [])]),
        "decisions": ledger_bytes(SPECS["decisions"], [("DEC-001", "Human", "2026-01-08", [])]),
    }
    ledgers["build"] = ledgers["build"].rstrip(b"\n")  # a fixable finding (SOT004) stays put
    runs = [(f"run-{n}", "DONE_SUCCESS", datetime(2026, 1, 10, 8)) for n in range(101)]
    repo = workspace(make_repo, db_url, sot, ledgers, runs)
    before = {n: (repo.path / SPECS[n].path).read_bytes() for n in ledgers}
    code, out, err = sot("--repo", repo.path, "--database-url", db_url, "reconcile", "--fix")
    assert (code, out) == (3, "")
    assert err == (
        "sotsync: error: 101 runs need a ledger entry; reconcile --fix adds at most 100 at once\n"
        "hint: exempt older runs with `sotsync init --adopt` (expect_since), then run again\n"
    )
    assert {n: (repo.path / SPECS[n].path).read_bytes() for n in ledgers} == before
