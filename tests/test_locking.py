from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from sotsync.config import Workspace, find_workspace
from sotsync.errors import LockError
from sotsync.locking import (
    Holder,
    break_lock,
    holder_path,
    is_stale,
    lock_path,
    read_holder,
    workspace_lock,
)

MakeRepo = Callable[..., Any]
T0 = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)


def _host() -> str:
    return "testhost"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


HOLD = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from sotsync.config import find_workspace
from sotsync.locking import workspace_lock

ws = find_workspace(repo=Path(sys.argv[1]))
clock = lambda: datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
with workspace_lock(ws, "sotsync new", hostname=lambda: "otherhost", clock=clock):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@contextmanager
def _held_by_other_process(root: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def test_lock_lives_in_the_common_git_dir_shared_by_worktrees(make_repo: MakeRepo) -> None:
    repo = make_repo(files={"a": "a"})
    repo.git("worktree", "add", "-q", str(repo.path.parent / "wt"))
    main = find_workspace(cwd=repo.path)
    other = find_workspace(cwd=repo.path.parent / "wt")
    assert lock_path(main) == lock_path(other) == repo.path / ".git" / "sotsync" / "lock"
    with (
        workspace_lock(other, "sotsync fix", timeout=0),
        pytest.raises(LockError),
        workspace_lock(main, "sotsync new", timeout=0),
    ):
        pass


def test_lock_without_git_uses_the_root(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, None, None, None)
    assert lock_path(ws) == tmp_path / ".sotsync" / "lock"
    with workspace_lock(ws, "sotsync fix"):
        assert (tmp_path / ".sotsync").is_dir()


def test_holder_record_while_held_and_removed_after(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, None, None, None)
    plus_one = timezone(timedelta(hours=1))
    clock = lambda: datetime(2026, 2, 3, 5, 5, 6, tzinfo=plus_one)  # noqa: E731
    with workspace_lock(ws, "sotsync new", hostname=_host, clock=clock):
        record = json.loads(holder_path(ws).read_text())
        assert record == {
            "host": "testhost",
            "pid": __import__("os").getpid(),
            "command": "sotsync new",
            "time": "2026-02-03T04:05:06Z",
        }
        assert read_holder(ws) == Holder("testhost", record["pid"], "sotsync new", record["time"])
    assert not holder_path(ws).exists()
    assert read_holder(ws) is None


def test_lock_released_when_the_body_raises(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, None, None, None)
    with pytest.raises(ZeroDivisionError), workspace_lock(ws, "sotsync new"):
        1 / 0  # noqa: B018
    assert not holder_path(ws).exists()
    with workspace_lock(ws, "sotsync new", timeout=0):
        pass


def test_timeout_names_the_holder(make_repo: MakeRepo) -> None:
    repo = make_repo()
    ws = find_workspace(cwd=repo.path)
    with (
        _held_by_other_process(repo.path) as proc,
        pytest.raises(LockError) as info,
        workspace_lock(ws, "sotsync fix", timeout=0.2, hostname=_host),
    ):
        pass
    assert info.value.message == (
        f"workspace lock held by pid {proc.pid} on host otherhost"
        " (sotsync new, since 2026-02-03T04:05:06Z)"
    )
    assert info.value.hint == (
        "wait for the other sotsync process, or run `sotsync unlock` if it is gone"
    )
    assert info.value.exit_code == 3
    # the holder exited: the lock is free again
    with workspace_lock(ws, "sotsync fix", timeout=5):
        pass


def test_timeout_reports_a_stale_holder(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, None, None, None)
    holder_path(ws).parent.mkdir()
    dead = _dead_pid()
    holder_path(ws).write_text(
        json.dumps({"host": "testhost", "pid": dead, "command": "sotsync sync", "time": "T"})
    )
    # Another lock instance holds the lock (flock: another open file, so it blocks us too).
    with (
        FileLock(str(lock_path(ws))),
        pytest.raises(LockError) as info,
        workspace_lock(ws, "sotsync new", timeout=0.1, hostname=_host),
    ):
        pass
    assert info.value.message == (
        f"workspace lock held by pid {dead} on host testhost (sotsync sync, since T);"
        " that process is gone (stale lock)"
    )
    assert info.value.hint == "run `sotsync unlock` to break the stale lock"


def test_timeout_without_a_holder_record(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, None, None, None)
    holder_path(ws).parent.mkdir()
    with (
        FileLock(str(lock_path(ws))),
        pytest.raises(LockError) as info,
        workspace_lock(ws, "sotsync new", timeout=0),
    ):
        pass
    assert info.value.message == f"workspace lock {lock_path(ws)} is held by another process"


def test_lock_directory_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / ".sotsync").write_text("not a directory")
    ws = Workspace(tmp_path, None, None, None)
    with pytest.raises(LockError) as info, workspace_lock(ws, "sotsync new"):
        pass
    assert info.value.message == (
        f"cannot create the lock directory {tmp_path / '.sotsync'}: File exists"
    )


COUNT = """
import sys, time
from pathlib import Path
from sotsync.config import Workspace
from sotsync.locking import workspace_lock

root = Path(sys.argv[1])
ws = Workspace(root, None, None, None)
counter = root / "counter"
for _ in range(10):
    with workspace_lock(ws, "sotsync new", timeout=30):
        value = int(counter.read_text())
        time.sleep(0.002)
        counter.write_text(str(value + 1))
"""


def test_mutual_exclusion_across_processes(tmp_path: Path) -> None:
    (tmp_path / "counter").write_text("0")
    procs = [subprocess.Popen([sys.executable, "-c", COUNT, str(tmp_path)]) for _ in range(4)]
    assert [proc.wait(timeout=60) for proc in procs] == [0, 0, 0, 0]
    assert (tmp_path / "counter").read_text() == "40"


def test_is_stale() -> None:
    import os

    assert not is_stale(Holder("testhost", os.getpid(), "x", "T"), _host)
    dead = _dead_pid()
    assert is_stale(Holder("testhost", dead, "x", "T"), _host)
    assert not is_stale(Holder("elsewhere", dead, "x", "T"), _host)  # cannot tell: not stale
    assert is_stale(Holder("testhost", 0, "x", "T"), _host)


def test_read_holder_ignores_bad_records(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, None, None, None)
    assert read_holder(ws) is None
    holder_path(ws).parent.mkdir()
    for text in ("not json", "[1]", '{"host": "h", "pid": "12", "command": "c", "time": "t"}'):
        holder_path(ws).write_text(text)
        assert read_holder(ws) is None


def test_break_lock(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, None, None, None)
    assert break_lock(ws) is None  # never locked
    holder_path(ws).parent.mkdir()
    dead = _dead_pid()
    holder_path(ws).write_text(
        json.dumps({"host": "testhost", "pid": dead, "command": "sotsync sync", "time": "T"})
    )
    assert break_lock(ws) == Holder("testhost", dead, "sotsync sync", "T")
    assert not holder_path(ws).exists()
    assert break_lock(ws) is None


def test_break_lock_refuses_a_live_holder(make_repo: MakeRepo) -> None:
    repo = make_repo()
    ws = find_workspace(cwd=repo.path)
    with _held_by_other_process(repo.path) as proc:
        with pytest.raises(LockError) as info:
            break_lock(ws)
        assert info.value.message == (
            f"workspace lock is held by a running process (record: pid {proc.pid} on host"
            " otherhost (sotsync new, since 2026-02-03T04:05:06Z)); not breaking it"
        )
        assert holder_path(ws).exists()
