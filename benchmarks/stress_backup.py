"""Crash-safety stress for `sotsync backup` and `sotsync restore` (SPEC §5, §10).

Runs the real CLI as subprocesses and SIGKILLs them at seeded random moments spread over the
duration of an unkilled run.  After every kill it checks:

* backup: every backup that ``backup list`` shows passes ``backup verify`` (a killed backup
  leaves at most a hidden ``.<name>.partial-*`` directory), and the next, unkilled backup
  succeeds with the next sequence number;
* restore: if the kill left any workspace file changed, a safety backup already exists; after
  the next sotsync backup command (which finishes or undoes the interrupted restore) the
  workspace, database included, holds exactly the old state or exactly the backup's state,
  never a mix, the database passes ``PRAGMA integrity_check``, and no staged file is left.

Usage: ``python benchmarks/stress_backup.py [--trials N] [--rows N] [--seed N]``.
``tests/test_backup_crash.py`` runs the same functions with fewer trials.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stress_snapshot import (  # noqa: E402
    Outcome,
    clean_env,
    fingerprint,
    git,
    integrity,
    make_db,
    spread,
    standalone,
)

LEDGER = "# Build History\n\n| Date | ID | Title |\n|---|---|---|\n"
FILES_OLD = {
    "docs/BUILD_HISTORY.md": LEDGER + "| 2026-01-01 | BUILD-001 | old |\n",
    "docs/DEBUG_LOG.md": "# Debug Log\n\nold\n",
    "config/app.yaml": "mode: old\n",
}
FILES_NEW = {
    "docs/BUILD_HISTORY.md": LEDGER + "| 2026-01-02 | BUILD-002 | new |\r\n",
    "docs/DEBUG_LOG.md": "# Debug Log\n\nnew, no final newline",
    "config/app.yaml": "mode: new\n",
}


class Workspace:
    """A repository with ledgers, ``config/`` and an SQLite database, and sotsync to run on it."""

    def __init__(self, base: Path, rows: int) -> None:
        self.base = base
        (base / "home").mkdir(parents=True, exist_ok=True)
        self.env = clean_env(base / "home")
        self.repo = base / "repo"
        self.repo.mkdir(parents=True, exist_ok=True)
        self.rows = rows
        self.db_path = self.repo / "autopack.db"
        self.dest = base / "backups"
        self.put(FILES_OLD, "old")
        for args in (("init", "-q", "-b", "main"), ("add", "docs", "config")):
            assert git(self.repo, self.env, *args).returncode == 0
        assert git(self.repo, self.env, "commit", "-q", "-m", "initial").returncode == 0

    def put(self, files: dict[str, str], tag: str) -> None:
        """Make the workspace hold *files* and the database of *tag* (generated once, copied)."""
        for rel, text in files.items():
            path = self.repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode())
        template = self.base / f"{tag}.db"
        if not template.exists():
            make_db(template, self.rows, tag=tag)
        for suffix in ("-journal", "-wal", "-shm"):
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(template, self.db_path)

    def startup(self) -> float:
        """Seconds sotsync takes to start and do nothing much: kills before it only hit imports."""
        empty = str(self.base / "none")
        return min(self.timed("backup", "list", "--dest", empty) for _ in range(2))

    def delays(self, rng: random.Random, duration: float, trials: int) -> list[float]:
        """Kill delays spread over the run after start-up (with a little of start-up itself)."""
        offset = min(0.8 * self.startup(), 0.8 * duration)
        return [offset + d for d in spread(rng, duration - offset, trials)]

    def state(self) -> tuple[dict[str, bytes], tuple[int, str]]:
        files = {rel: (self.repo / rel).read_bytes() for rel in FILES_OLD}
        return files, fingerprint(self.db_path)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "sotsync", "--repo", str(self.repo), *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, check=False
        )

    def timed(self, *args: str) -> float:
        start = time.perf_counter()
        proc = self.run(*args)
        elapsed = time.perf_counter() - start
        assert proc.returncode == 0, f"unkilled {' '.join(args)} failed: {proc.stderr}"
        return elapsed

    def kill_after(self, delay: float, *args: str) -> bool:
        """Start sotsync, SIGKILL it after *delay* seconds; whether it was still running."""
        proc = subprocess.Popen(
            self.command(*args), env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        return False

    def listed(self, dest: Path) -> list[dict[str, object]]:
        proc = self.run("backup", "list", "--dest", str(dest), "--format", "json")
        assert proc.returncode == 0, proc.stderr
        backups: list[dict[str, object]] = json.loads(proc.stdout)["backups"]
        return backups

    def staged_leftovers(self) -> list[str]:
        return sorted(str(p.relative_to(self.repo)) for p in self.repo.rglob(".*.sotsync-restore"))


def backup_trials(ws: Workspace, trials: int, rng: random.Random) -> Outcome:
    """Kill `sotsync backup` (full and incremental, every other with --archive)."""
    outcome = Outcome("backup")
    dest = ws.dest / "kill"
    outcome.unkilled_seconds = ws.timed("backup", "--dest", str(dest))
    known = len(ws.listed(dest))
    archives = set(dest.glob("*.tar.gz"))
    for i, delay in enumerate(ws.delays(rng, outcome.unkilled_seconds, trials)):
        (ws.repo / "docs" / "DEBUG_LOG.md").write_text(f"# Debug Log\n\ntrial {i}\n")
        args = ["backup", "--dest", str(dest)]
        if i % 3 == 1:
            args.append("--incremental")
        if i % 2 == 0:
            args.append("--archive")
        outcome.trials += 1
        outcome.killed += ws.kill_after(delay, *args)
        where = f"backup trial {i} (kill at {delay:.3f}s)"
        listed = ws.listed(dest)
        if len(listed) not in (known, known + 1):
            outcome.failures.append(f"{where}: {known} backups before, {len(listed)} after")
        verify = ws.run("backup", "verify", "--dest", str(dest))
        if verify.returncode != 0:
            outcome.failures.append(f"{where}: verify: {verify.stderr.strip()[:400]}")
        for archive in sorted(set(dest.glob("*.tar.gz")) - archives):
            check = ws.run("backup", "verify", str(archive))
            if check.returncode != 0:
                outcome.failures.append(f"{where}: {archive.name}: {check.stderr.strip()[:300]}")
        follow = ws.run(*args, "--format", "json")
        if follow.returncode != 0:
            outcome.failures.append(f"{where}: the next backup failed: {follow.stderr.strip()}")
        elif json.loads(follow.stdout)["backup"]["sequence"] != len(listed) + 1:
            outcome.failures.append(f"{where}: the next backup did not take the next sequence")
        known = len(listed) + 1
        archives = set(dest.glob("*.tar.gz"))
        partial = [p.name for p in dest.iterdir() if ".partial-" in p.name]
        if partial:
            outcome.leftovers += 1
            outcome.leftover_example = ", ".join(partial)
    return outcome


def restore_trials(ws: Workspace, trials: int, rng: random.Random) -> Outcome:
    """Kill `sotsync restore` of a full + incremental chain over a workspace in another state."""
    outcome = Outcome("restore")
    source = ws.dest / "source"
    ws.put(FILES_NEW, "value")
    assert ws.run("backup", "--dest", str(source)).returncode == 0
    (ws.repo / "docs" / "BUILD_HISTORY.md").write_text(FILES_NEW["docs/BUILD_HISTORY.md"] + "x\n")
    assert ws.run("backup", "--dest", str(source), "--incremental").returncode == 0
    new = ws.state()
    chain = sorted(p for p in source.iterdir() if p.is_dir())
    ws.put(FILES_OLD, "old")
    old = ws.state()
    assert old != new
    safety = ws.repo / ".git" / "sotsync" / "backups"
    restore = ("restore", str(chain[-1]), "--yes")

    def reset() -> None:
        ws.put(FILES_OLD, "old")
        shutil.rmtree(safety, ignore_errors=True)

    outcome.unkilled_seconds = ws.timed(*restore)
    if ws.state() != new:
        outcome.failures.append("the unkilled restore did not restore the backup")
    for i, delay in enumerate(ws.delays(rng, outcome.unkilled_seconds, trials)):
        reset()
        outcome.trials += 1
        outcome.killed += ws.kill_after(delay, *restore)
        where = f"restore trial {i} (kill at {delay:.3f}s)"
        touched = any((ws.repo / rel).read_bytes() != data for rel, data in old[0].items())
        touched = touched or fingerprint(ws.db_path) != old[1]
        if touched and not any(safety.glob("*-full/MANIFEST.json")):
            outcome.failures.append(f"{where}: the workspace changed before a safety backup")
        finish = ws.run("backup", "list")  # finishes or undoes the interrupted restore
        if finish.returncode != 0:
            outcome.failures.append(f"{where}: backup list failed: {finish.stderr.strip()}")
            continue
        checked = integrity(ws.db_path)
        if checked != ["ok"]:
            outcome.failures.append(f"{where}: integrity_check {checked}")
            continue
        if ws.state() not in (old, new):
            outcome.failures.append(f"{where}: the workspace is a mix of old and new")
        journal = ws.repo / ".git" / "sotsync" / "restore-journal.json"
        if ws.staged_leftovers() or journal.exists():
            outcome.leftovers += 1
            outcome.leftover_example = ", ".join(ws.staged_leftovers()) or "journal"
        follow = ws.run(*restore)
        if follow.returncode != 0:
            outcome.failures.append(f"{where}: the next restore failed: {follow.stderr.strip()}")
        elif ws.state() != new:
            outcome.failures.append(f"{where}: the next restore did not restore the backup")
    return outcome


def main(argv: list[str] | None = None) -> int:
    trials = {"backup": backup_trials, "restore": restore_trials}
    return standalone(argv, __doc__.split("\n\n")[0], trials, Workspace, 200_000)


if __name__ == "__main__":
    sys.exit(main())
