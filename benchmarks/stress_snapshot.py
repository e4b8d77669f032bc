"""Crash-safety stress for `sotsync snapshot create` and `snapshot restore` (SPEC §4, §10).

Runs the real CLI as subprocesses and SIGKILLs them at random moments spread over the duration
of an unkilled run.  After every kill it checks what SPEC §10 promises:

* create: every ref under ``refs/sotsync/`` is unchanged or points to a complete snapshot
  (``git fsck --strict --no-dangling`` clean, ``sotsync snapshot verify`` of each ref's snapshot
  exits 0; ``verify --all`` once at the end), and the next, unkilled create succeeds;
* restore: the target is byte-identical to before or holds exactly the snapshot's rows
  (row count and checksum), ``PRAGMA integrity_check`` = ok, git stays clean, and the next,
  unkilled restore succeeds (sotsync's own scratch files left by the kill are reported).

Usage: ``python benchmarks/stress_snapshot.py [--trials N] [--rows N] [--seed N]``.
``tests/test_snapshot_crash.py`` runs the same functions with a few trials.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEVICE = "laptop"
LEDGER = "# Build History\n\n| Date | ID | Title |\n|---|---|---|\n"
SQLITE_OWN = ("-wal", "-shm")


@dataclass
class Outcome:
    """What a batch of kill trials found."""

    operation: str
    trials: int = 0
    killed: int = 0  # the kill landed before the process finished
    failures: list[str] = field(default_factory=list)
    leftovers: int = 0  # trials after which sotsync's own temp files remained
    leftover_example: str = ""
    # Known bug: a kill inside dulwich's lock-file window leaves ``<ref or object>.lock``, and
    # the next run fails with FileLocked until the lock is removed by hand.
    blocked: list[str] = field(default_factory=list)
    unkilled_seconds: float = 0.0


def clean_env(home: Path) -> dict[str, str]:
    """An environment without the developer's git or sotsync settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "SOTSYNC_")) and k not in ("DATABASE_URL",)
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_SYSTEM="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Stress",
        GIT_AUTHOR_EMAIL="stress@example.com",
        GIT_COMMITTER_NAME="Stress",
        GIT_COMMITTER_EMAIL="stress@example.com",
        GIT_TERMINAL_PROMPT="0",
        SOTSYNC_DEVICE=DEVICE,
        PYTHONPATH=str(ROOT / "src"),
    )
    return env


def git(repo: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, env=dict(env), capture_output=True, text=True, check=False
    )


def make_repo(path: Path, env: Mapping[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "docs").mkdir(exist_ok=True)
    (path / "docs" / "BUILD_HISTORY.md").write_text(LEDGER)
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "initial")):
        proc = git(path, env, *args)
        assert proc.returncode == 0, proc.stderr
    return path


def make_db(path: Path, rows: int, tag: str = "value") -> str:
    """A one-table SQLite database (rollback journal) of *rows* rows; its URL."""
    for suffix in ("", "-journal", *SQLITE_OWN):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, f REAL, b BLOB)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        ((i, f"{tag} {i}", i / 3, bytes([i % 256]) * 8) for i in range(rows)),
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def fingerprint(path: Path) -> tuple[int, str]:
    """(row count, sha256 of every row in key order) of table ``t``."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        count = 0
        for row in conn.execute("SELECT id, v, f, b FROM t ORDER BY id"):
            digest.update(repr(row).encode())
            count += 1
        return count, digest.hexdigest()
    finally:
        conn.close()


def integrity(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


class Workspace:
    """A repository, a source database and the command line to run sotsync on them."""

    def __init__(self, base: Path, rows: int) -> None:
        self.base = base
        self.env = clean_env(base / "home")
        (base / "home").mkdir(parents=True, exist_ok=True)
        self.repo = make_repo(base / "repo", self.env)
        self.db_path = base / "data" / "source.db"
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.rows = rows
        self.url = make_db(self.db_path, rows)

    def command(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sotsync",
            "--repo",
            str(self.repo),
            "--database-url",
            self.url,
            "snapshot",
            *args,
        ]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, check=False
        )

    def timed(self, *args: str) -> float:
        start = time.perf_counter()
        proc = self.run(*args)
        elapsed = time.perf_counter() - start
        assert proc.returncode == 0, f"unkilled {args[0]} failed: {proc.stderr}"
        return elapsed

    def kill_after(self, delay: float, *args: str) -> bool:
        """Start sotsync, SIGKILL it after *delay* seconds; whether it was still running."""
        proc = subprocess.Popen(
            self.command(*args),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        return False

    def refs(self) -> dict[str, str]:
        out = git(self.repo, self.env, "for-each-ref", "--format=%(refname) %(objectname)")
        found = {}
        for line in out.stdout.splitlines():
            name, oid = line.split()
            if name.startswith("refs/sotsync/"):
                found[name] = oid
        return found

    def git_problems(self) -> list[str]:
        """Problems git itself sees: fsck errors, refs to missing or incomplete snapshots."""
        problems = []
        fsck = git(self.repo, self.env, "fsck", "--strict", "--no-dangling", "--no-progress")
        if fsck.returncode != 0 or "error" in fsck.stderr.lower():
            problems.append(f"git fsck ({fsck.returncode}): {fsck.stderr.strip()[:500]}")
        for name, oid in self.refs().items():
            listing = git(self.repo, self.env, "rev-list", "--objects", "--missing=error", oid)
            if listing.returncode != 0:
                problems.append(f"{name} → {oid}: {listing.stderr.strip()[:300]}")
                continue
            check = subprocess.run(
                ["git", "cat-file", "--batch-check"],
                cwd=self.repo,
                env=self.env,
                input="".join(line.split()[0] + "\n" for line in listing.stdout.splitlines()),
                capture_output=True,
                text=True,
                check=False,
            )
            if check.returncode != 0 or "missing" in check.stdout:
                problems.append(f"{name} → {oid}: objects missing")
            show = git(self.repo, self.env, "cat-file", "-e", f"{oid}:MANIFEST.json")
            if show.returncode != 0:
                problems.append(f"{name} → {oid}: no MANIFEST.json in its tree")
        return problems

    def remove_stale_locks(self) -> list[str]:
        """Delete git's ``*.lock`` files (what a user does after a crash); their names."""
        found = []
        for where in ("objects", "refs"):
            for path in (self.repo / ".git" / where).rglob("*.lock"):
                path.unlink()
                found.append(str(path.relative_to(self.repo / ".git")))
        return found

    def follow_up(self, outcome: Outcome, where: str, *args: str) -> str | None:
        """Run sotsync unkilled; on a stale-lock failure record it, clear the locks, retry.

        Returns the error of the (retried) run, or None when it succeeded.
        """
        proc = self.run(*args)
        if proc.returncode != 0 and "FileLocked" in proc.stderr:
            locks = self.remove_stale_locks()
            outcome.blocked.append(f"{where}: next run blocked by {', '.join(locks)}")
            proc = self.run(*args)
        return None if proc.returncode == 0 else proc.stderr.strip()

    def verify_all(self) -> list[str]:
        proc = self.run("verify", "--all")
        return [] if proc.returncode == 0 else [f"verify --all ({proc.returncode}): {proc.stderr}"]

    def verify_heads(self) -> list[str]:
        """``snapshot verify`` of the snapshot each ref names now.

        After a kill only a ref's newest snapshot can be new: the ones before it were verified
        when they were new, and their objects never change.  (``verify --all`` after every
        trial re-reads the whole history each time, which grows with the trials.)
        """
        problems = []
        for name, oid in sorted(self.refs().items()):
            proc = self.run("verify", oid)
            if proc.returncode != 0:
                problems.append(f"verify {name} ({proc.returncode}): {proc.stderr}")
        return problems


def spread(rng: random.Random, duration: float, trials: int) -> list[float]:
    """Kill delays covering [0, duration]: one per stratum, jittered, shuffled."""
    delays = [duration * (i + rng.random()) / trials for i in range(trials)]
    rng.shuffle(delays)
    return delays


def create_trials(ws: Workspace, trials: int, rng: random.Random) -> Outcome:
    outcome = Outcome("create")

    def change(label: str, third: int) -> None:
        conn = sqlite3.connect(ws.db_path)
        conn.execute("UPDATE t SET v = ? || id WHERE id % 3 = ?", (f"{label} ", third))
        conn.commit()
        conn.close()

    # Measured as a trial runs: a warm repository, a third of the rows changed.
    ws.timed("create", "-m", "warm-up")
    change("measure", 0)
    outcome.unkilled_seconds = ws.timed("create", "-m", "measure")
    for i, delay in enumerate(spread(rng, outcome.unkilled_seconds, trials)):
        # New data every other trial, so that the kill lands while new blobs are written, too.
        if i % 2 == 0:
            change(f"trial {i}", i % 3)
        before = ws.refs()
        outcome.trials += 1
        outcome.killed += ws.kill_after(delay, "create", "-m", f"trial {i}")
        where = f"create trial {i} (kill at {delay:.3f}s)"
        after = ws.refs()
        for name, oid in after.items():
            if before.get(name) != oid and not name.startswith("refs/sotsync/snapshots/"):
                outcome.failures.append(f"{where}: unexpected ref {name} moved")
        problems = ws.git_problems() + ws.verify_heads()
        outcome.failures += [f"{where}: {p}" for p in problems]
        error = ws.follow_up(outcome, where, "create", "-m", f"after trial {i}")
        if error is not None:
            outcome.failures.append(f"{where}: the next create failed: {error}")
        else:
            outcome.failures += [f"{where}, after the next create: {p}" for p in ws.git_problems()]
    outcome.failures += [f"create, at the end: {p}" for p in ws.verify_all()]
    return outcome


def _scratch_files(target: Path) -> list[Path]:
    allowed = {target.name, *(target.name + s for s in SQLITE_OWN)}
    return sorted(p for p in target.parent.iterdir() if p.name not in allowed)


def restore_trials(ws: Workspace, trials: int, rng: random.Random) -> Outcome:
    outcome = Outcome("restore")
    created = ws.run("create", "-m", "restore source")
    assert created.returncode == 0, created.stderr
    commit = ws.refs()[f"refs/sotsync/snapshots/{DEVICE}"]
    expected = fingerprint(ws.db_path)
    target_dir = ws.base / "target"
    target_dir.mkdir(exist_ok=True)
    target = target_dir / "target.db"
    # The target holds other data, so that "before" and "restored" are told apart.
    make_db(target, ws.rows // 2, tag="old")
    pristine = target.read_bytes()
    old = fingerprint(target)
    assert old != expected
    restore = ("restore", commit, "--to", f"sqlite:///{target}", "--force")

    def reset() -> None:
        for path in target_dir.iterdir():
            path.unlink()
        target.write_bytes(pristine)

    reset()
    outcome.unkilled_seconds = ws.timed(*restore)
    for i, delay in enumerate(spread(rng, outcome.unkilled_seconds, trials)):
        reset()
        outcome.trials += 1
        outcome.killed += ws.kill_after(delay, *restore)
        where = f"restore trial {i} (kill at {delay:.3f}s)"
        if not target.exists():
            outcome.failures.append(f"{where}: the target is gone")
            continue
        if Path(f"{target}-journal").exists():
            outcome.failures.append(f"{where}: a hot journal beside the target")
        same = target.read_bytes() == pristine
        if not same:
            checked = integrity(target)
            if checked != ["ok"]:
                outcome.failures.append(f"{where}: integrity_check {checked}")
            elif fingerprint(target) != expected:
                outcome.failures.append(f"{where}: the target is neither before nor restored")
        problems = ws.git_problems()
        outcome.failures += [f"{where}: {p}" for p in problems]
        leftover = _scratch_files(target)
        if leftover:
            outcome.leftovers += 1
            outcome.leftover_example = ", ".join(p.name for p in leftover)
        error = ws.follow_up(outcome, where, *restore)
        if error is not None:
            outcome.failures.append(f"{where}: the next restore failed: {error}")
        elif integrity(target) != ["ok"] or fingerprint(target) != expected:
            outcome.failures.append(f"{where}: the next restore did not restore the snapshot")
    outcome.failures += [f"restore, at the end: {p}" for p in ws.verify_all()]
    return outcome


def table(outcomes: list[Outcome]) -> str:
    lines = [
        f"{'operation':<10} {'unkilled s':>10} {'trials':>7} {'killed':>7} "
        f"{'leftovers':>9} {'blocked':>8} {'failures':>9}"
    ]
    for o in outcomes:
        lines.append(
            f"{o.operation:<10} {o.unkilled_seconds:>10.3f} {o.trials:>7} {o.killed:>7} "
            f"{o.leftovers:>9} {len(o.blocked):>8} {len(o.failures):>9}"
        )
    return "\n".join(lines)


def standalone(
    argv: list[str] | None,
    description: str,
    trials: dict[str, Callable[[Any, int, random.Random], Outcome]],
    workspace: Callable[[Path, int], Any],
    default_rows: int,
) -> int:
    """The command line of a stress script: kill trials per operation, a table, exit 1 on failure.

    Shared by this script and ``stress_backup.py``; ``benchmarks/stress.py`` calls the trial
    functions directly.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--trials", type=int, default=200, help="kill trials per operation")
    parser.add_argument("--rows", type=int, default=default_rows, help="rows in the database")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--only", choices=tuple(trials), default=None)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    outcomes = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sotsync-stress-") as tmp:
        for operation, run in trials.items():
            if args.only not in (None, operation):
                continue
            outcomes.append(run(workspace(Path(tmp) / operation, args.rows), args.trials, rng))
    print(table(outcomes))
    print(f"total {time.perf_counter() - started:.1f}s, seed {args.seed}, rows {args.rows}")
    for o in outcomes:
        if o.leftover_example:
            print(f"{o.operation}: files a kill left behind, e.g. {o.leftover_example}")
    for blocked in [b for o in outcomes for b in o.blocked][:20]:
        print("BLOCKED (stale lock)", blocked)
    failures = [f for o in outcomes for f in o.failures]
    for failure in failures[:50]:
        print("FAIL", failure)
    return 1 if failures or any(o.blocked for o in outcomes) else 0


def main(argv: list[str] | None = None) -> int:
    trials = {"create": create_trials, "restore": restore_trials}
    return standalone(argv, __doc__.split("\n\n")[0], trials, Workspace, 30_000)


if __name__ == "__main__":
    sys.exit(main())
