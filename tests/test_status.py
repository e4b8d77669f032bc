"""``sotsync status``: one read-only page of what is set up and what has drifted."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import GitRepo
from sotsync import cli

DEMO = Path(__file__).resolve().parents[1] / "examples" / "autopack-demo"


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_of_a_fresh_setup(
    make_repo: Callable[..., GitRepo], capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo()
    assert run(capsys, "--repo", repo.path, "init")[0] == 0
    before = {p: p.read_bytes() for p in (repo.path / "docs").iterdir()}
    code, out, err = run(capsys, "--repo", repo.path, "status")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "ledger build      0 error(s), 0 warning(s), 0 info  (docs/BUILD_HISTORY.md)",
        "ledger debug      0 error(s), 0 warning(s), 0 info  (docs/DEBUG_LOG.md)",
        "ledger decisions  0 error(s), 0 warning(s), 0 info  (docs/ARCHITECTURE_DECISIONS.md)",
        f"database          database file not found: {repo.path}/autopack.db "
        "(sqlite:///./autopack.db)",
        "hooks             pre-commit installed, post-merge installed, post-checkout installed, "
        "post-rewrite installed, pre-push installed",
        "merge driver      configured, 3 ledger(s) marked in .gitattributes",
        "id reservations   none",
        "lock              free",
    ]
    assert {p: p.read_bytes() for p in (repo.path / "docs").iterdir()} == before
    assert not (repo.path / "autopack.db").exists()


def test_status_reports_drift_as_json(
    make_repo: Callable[..., GitRepo], capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo()
    for name in ("docs", ".sotsync.toml", "autopack.db"):
        source = DEMO / name
        if source.is_dir():
            shutil.copytree(source, repo.path / name)
        else:
            shutil.copy2(source, repo.path / name)
    code, out, err = run(capsys, "--repo", repo.path, "status", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert [ledger["errors"] for ledger in doc["ledgers"]] == [4, 3, 0]
    assert doc["database"]["schema_version"] == 2
    assert doc["database"]["mirror"] == {"missing": 2, "changed": 1, "gone": 1}
    assert doc["merge_driver"] == {"configured": False, "ledgers_marked": []}
    assert {h["state"] for h in doc["hooks"]} == {"missing"}
    assert doc["lock"] is None
