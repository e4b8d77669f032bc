"""`sotsync doctor`: every check passes on a healthy workspace and fails (or warns) when broken."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import ONE_ENTRY_LEDGER, GitRepo, Result
from sotsync import api, doctor
from sotsync.api.recover import SOURCES
from sotsync.config import Config
from sotsync.db import connect
from sotsync.recover import RecoveryPoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from genruns import create_autopack_schema, generate_runs

GOOD_ENV = {
    "AUTOPACK_API_HOST": "127.0.0.1",
    "AUTOPACK_API_KEY": "q8Zr3vN0pL5xT2wY7kB4mC9dF1gH6jS0",
    "DEBUG_MODE": "false",
}
NOW = datetime.now(UTC)
BIG = 100 << 30


def _backup_source(config: Config, device: str | None) -> list[RecoveryPoint]:
    """A stand-in for the backup source, so the backups check can pass."""
    return [RecoveryPoint("backup", "b1", NOW - timedelta(hours=3), device, "sqlite", "b1")]


@pytest.fixture
def healthy(
    make_repo: Callable[..., GitRepo], tmp_path: Path, sot: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> GitRepo:  # fmt: skip
    """A workspace on which every check is ok: init'ed with a remote, synced, snapshotted."""
    monkeypatch.setenv("SOTSYNC_DEVICE", "laptop")
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "remote.git")], check=True)
    repo = make_repo(files={"docs/BUILD_HISTORY.md": ONE_ENTRY_LEDGER})
    repo.git("remote", "add", "origin", str(tmp_path / "remote.git"))
    db = connect("sqlite:///autopack.db", repo.path, create=True)
    create_autopack_schema(db)
    generate_runs(db, 400, seed=3)
    db.close()
    for args in (("init", "--adopt"), ("db", "init"), ("sync",), ("snapshot", "create")):
        code, out, err = sot("--repo", repo.path, *args)
        assert code == 0, (args, out, err)
    repo.commit(message="set up")
    return repo


def _checks(repo: GitRepo, **kwargs: Any) -> dict[str, doctor.Check]:
    options: dict[str, Any] = {
        "env": GOOD_ENV,
        "now": lambda: NOW,
        "disk_usage": lambda _path: (BIG, 2 * BIG),
        "sources": (*SOURCES, _backup_source),
    }
    options.update(kwargs)
    return {c.name: c for c in api.doctor(repo.path, **options)}


ALL = [
    "repository", "config", "ledgers", "line-endings", "database", "integrity", "schema", "mirror",
    "hooks", "merge-driver", "refspecs", "snapshots", "backups", "lock", "disk", "env-api-host",
    "env-api-key", "env-debug-mode",
]  # fmt: skip


def test_every_check_passes_on_a_healthy_workspace(healthy: GitRepo) -> None:
    checks = _checks(healthy)
    assert list(checks) == ALL
    assert {n: c.status for n, c in checks.items() if c.status != "ok"} == {}
    assert checks["integrity"].message == "PRAGMA quick_check: ok"
    assert checks["refspecs"].message == "configured on origin"


def _status(checks: Mapping[str, doctor.Check], name: str) -> tuple[str, str, str]:
    check = checks[name]
    return check.status, check.message, check.hint


def test_repository_fails_outside_git(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "BUILD_HISTORY.md").write_text(ONE_ENTRY_LEDGER)
    checks = {c.name: c for c in api.doctor(tmp_path, env={})}
    status, message, hint = _status(checks, "repository")
    assert status == "fail" and "is not in a git repository" in message and "git init" in hint
    assert checks["hooks"].status == "warn" and checks["snapshots"].status == "warn"


def test_config_fails_on_a_bad_configuration(healthy: GitRepo) -> None:
    healthy.write({".sotsync.toml": "ledgers = 3\n"})
    checks = _checks(healthy)
    assert checks["config"].status == "fail"
    assert ".sotsync.toml" in checks["config"].message
    assert "ledgers" not in checks  # nothing that needs the configuration runs on a broken one
    assert checks["env-debug-mode"].status == "ok"


def test_ledgers_fail_on_conflict_markers_and_warn_on_errors(healthy: GitRepo) -> None:
    path = healthy.path / "docs" / "BUILD_HISTORY.md"
    path.write_text(ONE_ENTRY_LEDGER + "<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> x\n")
    status, message, _hint = _status(_checks(healthy), "ledgers")
    assert status == "fail" and "SOT002" in message
    duplicate = ONE_ENTRY_LEDGER + "\n### BUILD-001 | 2026-01-02 | Other\n\nOther.\n"
    path.write_text(duplicate)
    status, message, hint = _status(_checks(healthy), "ledgers")
    assert (status, message) == ("warn", "build: 1 error finding(s)")
    assert "sotsync fix" in hint


def test_line_endings_warn_on_mixed_endings(healthy: GitRepo) -> None:
    path = healthy.path / "docs" / "BUILD_HISTORY.md"
    path.write_bytes(path.read_bytes().replace(b"Done.\n", b"Done.\r\n"))
    status, message, hint = _status(_checks(healthy), "line-endings")
    assert status == "warn" and "mixed line endings" in message and "sotsync fix" in hint


def test_database_fails_when_missing(healthy: GitRepo, tmp_path: Path) -> None:
    checks = _checks(healthy, url=f"sqlite:///{tmp_path / 'nope.db'}")
    status, message, hint = _status(checks, "database")
    assert status == "fail" and message.startswith("database file not found")
    assert hint.startswith("check DATABASE_URL")
    assert "integrity" not in checks and "schema" not in checks


def test_integrity_fails_on_a_corrupted_file(healthy: GitRepo) -> None:
    path = healthy.path / "autopack.db"
    data = bytearray(path.read_bytes())
    for start in range(2 * 4096, len(data) // 2, 3 * 4096):
        data[start : start + 4096] = b"\x5a" * 4096
    path.write_bytes(bytes(data))
    status, _message, hint = _status(_checks(healthy), "integrity")
    assert status == "fail" and hint.startswith("run `sotsync recover integrity`")


def test_schema_fails_without_sotsync_tables(healthy: GitRepo, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    db = connect(url, tmp_path, create=True)
    create_autopack_schema(db)
    db.close()
    checks = _checks(healthy, url=url)
    assert _status(checks, "schema") == (
        "fail",
        f"{url} has no sotsync tables",
        "create them with `sotsync db init`",
    )
    assert "mirror" not in checks


def test_mirror_warns_when_the_ledger_moved_on(
    healthy: GitRepo, sot: Callable[..., Result]
) -> None:
    assert sot("--repo", healthy.path, "new", "build", "--title", "Later")[0] == 0
    status, message, hint = _status(_checks(healthy), "mirror")
    assert (status, message) == (
        "warn",
        "mirror rows: 1 missing, 0 changed, 0 whose entry left the ledgers",
    )
    assert "sotsync sync" in hint


def test_hooks_warn_when_one_is_missing(healthy: GitRepo) -> None:
    (healthy.path / ".git" / "hooks" / "pre-push").unlink()
    status, message, hint = _status(_checks(healthy), "hooks")
    assert (status, message) == ("warn", "missing: pre-push")
    assert hint.startswith("run `sotsync hooks install`")


def test_merge_driver_warns_when_unregistered(healthy: GitRepo) -> None:
    healthy.git("config", "--unset", "merge.sotsync.driver")
    status, message, hint = _status(_checks(healthy), "merge-driver")
    assert (status, message) == ("warn", "merge.sotsync.driver is not configured")
    assert hint.startswith("run `sotsync init`")


def test_refspecs_warn_for_a_remote_without_them(healthy: GitRepo, tmp_path: Path) -> None:
    healthy.git("remote", "add", "backup", str(tmp_path / "remote.git"))
    status, message, _hint = _status(_checks(healthy), "refspecs")
    assert (status, message) == ("warn", "remote(s) without sotsync's fetch refspecs: backup")


def test_snapshots_and_backups_warn_when_old_or_missing(healthy: GitRepo) -> None:
    later = _checks(healthy, now=lambda: NOW + timedelta(days=30))
    assert later["snapshots"].status == "warn" and "old" in later["snapshots"].message
    assert later["backups"].status == "warn"
    fresh = _checks(healthy, sources=SOURCES)
    assert fresh["snapshots"].status == "ok"
    assert _status(fresh, "backups") == (
        "warn",
        "no backup yet",
        "take one with `sotsync backup` (schedule it, e.g. daily)",
    )
    healthy.git("update-ref", "-d", "refs/sotsync/snapshots/laptop")
    assert _checks(healthy)["snapshots"].message == "no snapshot of this device yet"


def test_lock_warns_on_a_stale_record(healthy: GitRepo) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    record = {"host": socket.gethostname(), "pid": gone.pid, "command": "sotsync new",
              "time": "2026-01-01T00:00:00Z"}  # fmt: skip
    (healthy.path / ".git" / "sotsync").mkdir(exist_ok=True)
    (healthy.path / ".git" / "sotsync" / "lock.holder.json").write_text(json.dumps(record))
    status, message, hint = _status(_checks(healthy), "lock")
    assert status == "warn" and message.startswith(f"stale record: pid {gone.pid}")
    assert hint == "run `sotsync unlock` to remove the record"


def test_disk_warns_then_fails_as_space_runs_out(healthy: GitRepo) -> None:
    low = _checks(healthy, disk_usage=lambda _p: (500 << 20, BIG))
    assert low["disk"].status == "warn"
    out = _checks(healthy, disk_usage=lambda _p: (50 << 20, BIG))
    assert out["disk"].status == "fail" and out["disk"].message.startswith("0.0 GiB free of")


@pytest.mark.parametrize(
    ("env", "status", "words"),
    [
        ({"AUTOPACK_API_HOST": "0.0.0.0"}, "fail", "exposes the API beyond this machine"),
        ({"AUTOPACK_API_HOST": "::"}, "fail", "exposes the API"),
        ({"AUTOPACK_API_HOST": "10.0.0.5"}, "fail", "exposes the API"),
        ({"AUTOPACK_API_HOST": "0.0.0.0", "AUTOPACK_ALLOW_REMOTE": "1"}, "ok", "deliberate"),
        ({"AUTOPACK_API_HOST": "0.0.0.0", "AUTOPACK_ALLOW_REMOTE": "0"}, "fail", "exposes"),
        ({"AUTOPACK_API_HOST": "localhost"}, "ok", "(loopback)"),
        ({"AUTOPACK_API_HOST": "::1"}, "ok", "(loopback)"),
        ({}, "ok", "not set"),
    ],
)
def test_env_api_host(env: dict[str, str], status: str, words: str) -> None:
    check = doctor.check_api_host(env)
    assert check.status == status and words in check.message
    if status == "fail":
        assert "AUTOPACK_ALLOW_REMOTE=1" in check.hint


@pytest.mark.parametrize(
    ("key", "status", "message"),
    [
        (None, "warn", "AUTOPACK_API_KEY is not set: the API accepts unauthenticated calls"),
        ("", "fail", "AUTOPACK_API_KEY is empty"),
        ("   ", "fail", "AUTOPACK_API_KEY is empty"),
        ("abc123", "fail", "AUTOPACK_API_KEY is 6 characters, fewer than 32"),
        ("a" * 40, "fail", "AUTOPACK_API_KEY is a guessable value"),
        (GOOD_ENV["AUTOPACK_API_KEY"], "ok", "AUTOPACK_API_KEY set (32 characters)"),
    ],
)
def test_env_api_key(key: str | None, status: str, message: str) -> None:
    check = doctor.check_api_key({} if key is None else {"AUTOPACK_API_KEY": key})
    assert (check.status, check.message) == (status, message)


@pytest.mark.parametrize(
    ("value", "status"),
    [("true", "fail"), ("1", "fail"), ("Yes", "fail"), ("false", "ok"), ("0", "ok"), (None, "ok")],
)
def test_env_debug_mode(value: str | None, status: str) -> None:
    check = doctor.check_debug_mode({} if value is None else {"DEBUG_MODE": value})
    assert check.status == status


def test_env_is_read_from_dotenv_with_the_environment_on_top(healthy: GitRepo) -> None:
    healthy.write(
        {".env": "AUTOPACK_API_HOST=0.0.0.0\nAUTOPACK_API_KEY=''\nDEBUG_MODE=true  # dev\n"}
    )
    checks = _checks(healthy, env={})
    assert [checks[n].status for n in ("env-api-host", "env-api-key", "env-debug-mode")] == [
        "fail", "fail", "fail",
    ]  # fmt: skip
    fixed = _checks(healthy, env={"DEBUG_MODE": "false", "AUTOPACK_ALLOW_REMOTE": "true"})
    assert fixed["env-debug-mode"].status == "ok"
    assert fixed["env-api-host"].status == "ok"


def test_cli_text_json_and_exit_codes(
    healthy: GitRepo, sot: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    code, out, err = sot("--repo", healthy.path, "doctor")
    assert code == 0, out
    assert out.splitlines()[0] == f"ok    repository      git repository {healthy.path}"
    assert "WARN  backups         no backup yet" in out
    assert "                      hint: take one with `sotsync backup`" in out
    assert err == f"doctor: {len(ALL) - 1} ok, 1 warning(s), 0 failed\n"

    monkeypatch.setenv("DEBUG_MODE", "true")
    code, out, err = sot("--repo", healthy.path, "doctor", "--format", "json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["ok"] is False
    assert doc["counts"] == {"ok": len(ALL) - 2, "warn": 1, "fail": 1}
    assert [c["name"] for c in doc["checks"]] == ALL
    debug = next(c for c in doc["checks"] if c["name"] == "env-debug-mode")
    assert debug == {
        "name": "env-debug-mode",
        "status": "fail",
        "message": "DEBUG_MODE=true (tracebacks and internals in API responses)",
        "hint": "set DEBUG_MODE=false (or remove it) outside development",
    }


def test_a_missing_workspace_is_an_error(tmp_path: Path, sot: Callable[..., Result]) -> None:
    code, out, err = sot("--repo", tmp_path / "nowhere", "doctor")
    assert (code, out) == (3, "")
    assert err == (
        f"sotsync: error: --repo {tmp_path / 'nowhere'}: no such directory\n"
        "hint: pass the directory of the repository (or workspace) to work on\n"
    )


def test_age_text() -> None:
    assert [doctor.age_text(timedelta(seconds=s)) for s in (5, 300, 3_900, 200_000)] == [
        "5s", "5m", "1h 5m", "2d 7h",
    ]  # fmt: skip


def test_outside_any_repository_the_current_directory_is_examined(
    tmp_path: Path, sot: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    code, out, _err = sot("doctor")
    assert code == 1
    assert out.startswith(f"FAIL  repository      {tmp_path} is not in a git repository")


def test_backups_pass_after_a_real_backup(healthy: GitRepo) -> None:
    from sotsync.config import find_workspace, load_config

    config = load_config(find_workspace(healthy.path))
    api.backup(config)
    checks = _checks(healthy, sources=SOURCES)
    assert checks["backups"].status == "ok"
    assert checks["backups"].message.startswith("newest backup ")


def test_outside_git_the_recovery_checks_say_why(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "BUILD_HISTORY.md").write_text(ONE_ENTRY_LEDGER)
    checks = {c.name: c for c in api.doctor(tmp_path, env={})}
    assert checks["snapshots"].status == "warn"
    assert checks["snapshots"].message == (
        f"no snapshot of this device found (snapshots need a git repository; {tmp_path} is none)"
    )
