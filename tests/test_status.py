"""``sotsync status``: one read-only page of what is set up and what has drifted."""

from __future__ import annotations

import json
import re
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
        "snapshot          none",
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


def test_status_shows_each_devices_last_snapshot_and_the_refspecs(
    tmp_path: Path, make_repo: Callable[..., GitRepo], capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3
    import subprocess

    origin = make_repo("origin", files={"README.md": "x\n"})
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin.path), str(bare)], check=True)
    clones = []
    for name in ("a", "b"):
        subprocess.run(["git", "clone", "-q", str(bare), str(tmp_path / name)], check=True)
        clones.append(GitRepo(tmp_path / name))
    a, b = clones
    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("INSERT INTO t VALUES (1, 'one')")
    conn.commit()
    conn.close()
    url = f"sqlite:///{tmp_path / 'a.db'}"
    snap = ("--database-url", url, "snapshot", "create", "-m", "first")
    assert run(capsys, "--repo", a.path, "--device", "A", *snap)[0] == 0
    assert run(capsys, "--repo", a.path, "--device", "A", "push")[0] == 0
    assert run(capsys, "--repo", b.path, "init", "--no-hooks")[0] == 0
    b.git("fetch", "-q", "origin")
    head = a.git("rev-parse", "refs/sotsync/snapshots/A")

    code, out, err = run(capsys, "--repo", b.path, "status", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert [(s["device"], s["remote"], s["commit"]) for s in doc["snapshots"]] == [
        ("A", "origin", head)
    ]
    assert doc["snapshots"][0]["time"].endswith("Z")
    assert doc["snapshots"][0]["age_seconds"] >= 0
    assert doc["refspecs"] == [{"remote": "origin", "missing": []}]

    code, out, err = run(capsys, "--repo", a.path, "status")
    assert code == 0, err
    lines = out.splitlines()
    shown = [line for line in lines if line.startswith("snapshot ")]
    assert len(shown) == 1
    assert re.fullmatch(rf"snapshot          A: \S+Z, \d+[smhd] ago, {head[:12]}", shown[0])
    assert "refspecs          origin: 3 missing" in lines


def test_age_is_shown_in_its_largest_whole_unit() -> None:
    from sotsync.cli.database import _age

    assert [_age(s) for s in (0, 59, 60, 3599, 3600, 86399, 86400 * 3)] == [
        "0s", "59s", "1m", "59m", "1h", "23h", "3d",
    ]  # fmt: skip
