"""The runbook's incident "SOT ledgers out of sync with database", end to end (docs/runbook.md).

The database is restored from an older snapshot while the ledgers moved on: the mirror lacks
the newer entries, and a run recorded before the snapshot still has no entry.  `reconcile --fix`
repairs it and `check` then exits 0, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import ONE_ENTRY_LEDGER, GitRepo, Result
from sotsync.db import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from genruns import create_autopack_schema, generate_runs


def test_ledgers_out_of_sync_after_a_restore(
    make_repo: Callable[..., GitRepo], db_url: str, sot: Callable[..., Result]
) -> None:
    repo = make_repo(files={"docs/BUILD_HISTORY.md": ONE_ENTRY_LEDGER})
    base = ("--repo", repo.path, "--database-url", db_url, "--device", "prod")
    db = connect(db_url, repo.path, create=True)
    create_autopack_schema(db)
    generate_runs(db, 300, seed=11)
    db.close()
    for args in (("init", "--adopt", "--no-hooks"), ("db", "init"), ("sync",)):
        assert sot(*base, *args)[0] == 0, args
    # A run that failed after adoption: it needs a debug entry that nobody wrote yet.
    later = (datetime.now(UTC) + timedelta(seconds=5)).replace(tzinfo=None)
    db = connect(db_url, repo.path)
    with db.transaction():
        db.execute(
            "INSERT INTO runs (id, state, created_at, updated_at, failure_reason) "
            "VALUES (?, ?, ?, ?, ?)",
            ("autopack-phase3-telemetry", "DONE_FAILED_ENVIRONMENT",
             *(([later.isoformat(" ")] * 2) if db.engine == "sqlite" else [later, later]),
             "CI runner lost connection (exit 137)"),
        )  # fmt: skip
    db.close()
    assert sot(*base, "snapshot", "create", "-m", "nightly", "--tag", "nightly")[0] == 0

    # The ledgers move on and the mirror follows them ...
    for title in ("Cache warm-up", "Deploy probe"):
        assert sot(*base, "new", "build", "--title", title, "--date", "2026-03-04")[0] == 0
    assert sot(*base, "sync")[0] == 0
    # ... then the database is restored from the older snapshot.
    code, out, err = sot(*base, "snapshot", "restore", "tag:nightly", "--force")
    assert code == 0, out + err

    code, out, _err = sot(*base, "check")
    assert code == 1
    assert out.splitlines() == [
        "+ mirror-missing   build/BUILD-003  entry is not in the database mirror",
        "+ mirror-missing   build/BUILD-002  entry is not in the database mirror",
        "+ run-needs-entry  autopack-phase3-telemetry  DONE_FAILED_ENVIRONMENT run has no entry "
        "in debug",
        "reconcile: 2 entries missing from the mirror, 1 runs that need an entry and have none "
        "(301 run(s) checked)",
    ]

    code, out, err = sot(*base, "reconcile", "--fix")
    assert code == 0, out + err
    assert "added generated entry debug/DBG-001" in err
    assert "synced the mirror: 3 insert(s), 0 update(s), 0 tombstone(s)" in err
    assert out == "reconcile: ledgers, mirror and runs agree (301 run(s) checked)\n"
    debug = (repo.path / "docs" / "DEBUG_LOG.md").read_text(encoding="utf-8")
    assert "<!-- sotsync:generated run=autopack-phase3-telemetry -->" in debug

    assert sot(*base, "check")[0] == 0
    ledgers = {p.name: p.read_bytes() for p in (repo.path / "docs").iterdir()}
    code, out, err = sot(*base, "reconcile", "--fix")
    assert (code, err) == (0, "")
    assert {p.name: p.read_bytes() for p in (repo.path / "docs").iterdir()} == ledgers
