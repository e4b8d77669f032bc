"""Reliability stress run (SPEC §10): SIGKILL crash injection, concurrency storms and fuzzing.

Usage: ``.venv/bin/python benchmarks/stress.py [--trials 200] [--ops fix,new,...] [--storm |
--no-storm] [--fuzz-seconds 120] [--seed N] [--rows N]``.

Kill trials run the real CLI as a subprocess (its own session, so ``git`` children die with it)
in a real git repository holding the Autopack corpus ledgers and a SQLite database, and SIGKILL
it at a seeded random moment within the measured duration of an unkilled run.  Every trial
starts from the same state, so the state "after" is known from an unkilled run.  After each
kill:

* every ledger byte-equals its state before or after (never partial);
* the database passes ``PRAGMA integrity_check`` and its rows equal the state before or after
  (timestamp columns, ``*_at``, excluded);
* ``git fsck --strict`` is clean and no ``refs/sotsync/`` ref moved (snapshot operations: every
  ref points to a complete snapshot that ``sotsync snapshot verify --all`` accepts);
* the next, unkilled run succeeds and reaches the state after.

Operations: ``fix``, ``new``, ``sync``, ``merge`` (``sotsync merge-driver %O %A %B %P`` on three
files, and ``git merge`` with the driver registered by ``sotsync init``: half the trials each),
``snapshot-create`` and ``snapshot-restore`` (``stress_snapshot.py``'s trials), ``backup`` and
``restore`` (``stress_backup.py``'s trials, reported as "not available" until that module
exists).  Files a kill leaves behind (sotsync's temp files, git's ``index.lock``) are counted
as leftovers, not failures, when the next run is not disturbed by them.

The storm runs 8 processes at once in one clone, mixing ``new``, ``sync``, ``snapshot create``
and ``backup``, then checks: no duplicate ids, every ``new`` that exited 0 has its entry (id
and title), the database passes its integrity check and a final sync writes nothing new,
refs point to complete snapshots, ``git fsck`` is clean.

The fuzz run drives the hypothesis properties of ``tests/test_properties.py`` and
``tests/test_merge.py`` (parse/render round trip, lint never raises, fix idempotent, the merge
keeps every entry added on either side) in seeded batches until ``--fuzz-seconds`` are used.

A table of trials and failures ends the run; the exit code is 1 on any failure.
``tests/test_stress.py`` runs a reduced version in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import inspect
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _table import DEFAULT_CORPUS as CORPUS  # noqa: E402

LEDGERS = {
    "build": "docs/BUILD_HISTORY.md",
    "debug": "docs/DEBUG_LOG.md",
    "decisions": "docs/ARCHITECTURE_DECISIONS.md",
}
PREFIXES = {"build": "BUILD", "debug": "DBG", "decisions": "DEC"}
DB_NAME = "autopack.db"
DEVICE = "stress"
OPERATIONS = (
    "fix",
    "new",
    "sync",
    "merge",
    "snapshot-create",
    "snapshot-restore",
    "backup",
    "restore",
)
STORM_WORKERS = 8
# Examples per hypothesis run: small enough that the time box overshoots by little (the
# slowest property runs about 30 examples a second), large enough to amortise its set-up.
FUZZ_BATCH = 100
# Kill trials per workspace of stress_snapshot / stress_backup (see ``delegated``).
DELEGATED_CHUNK = 50


# --------------------------------------------------------------------------- results


@dataclass
class Outcome:
    """What a batch of trials found (one row of the final table)."""

    operation: str
    trials: int = 0
    killed: int = 0  # kills that landed before the process finished
    failures: list[str] = field(default_factory=list)
    leftovers: int = 0  # trials after which a kill's temp or lock files remained
    leftover_example: str = ""
    unkilled_seconds: float = 0.0
    available: bool = True
    note: str = ""
    seconds: float = 0.0  # wall time of the whole batch
    kind: str = "kill"  # "kill", "storm" (trials = commands) or "fuzz" (trials = examples)
    # What the killed runs left: "before", "after", "mixed" (each file whole, some of each).
    states: Counter[str] = field(default_factory=Counter)

    def fail(self, where: str, what: str) -> None:
        self.failures.append(f"{self.operation} {where}: {what}")

    def leftover(self, names: Sequence[str]) -> None:
        if names:
            self.leftovers += 1
            self.leftover_example = ", ".join(sorted(names)[:3])


def table(outcomes: Sequence[Outcome]) -> str:
    header = (
        "operation",
        "trials",
        "killed",
        "before/after/mixed",
        "failures",
        "leftovers",
        "unkilled s",
        "time s",
    )
    cells = [header]
    for o in outcomes:
        if not o.available:
            cells.append((o.operation, "-", "-", "-", "not available", "-", "-", "-"))
            continue
        cells.append(
            (
                o.operation,
                str(o.trials),
                str(o.killed) if o.kind == "kill" else "-",
                "/".join(str(o.states[k]) for k in ("before", "after", "mixed"))
                if o.kind == "kill" and o.states
                else "-",
                str(len(o.failures)),
                str(o.leftovers) if o.kind == "kill" else "-",
                f"{o.unkilled_seconds:.3f}" if o.kind == "kill" and o.unkilled_seconds else "-",
                f"{o.seconds:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


# --------------------------------------------------------------------------- processes


def sotsync_argv() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m sotsync``."""
    script = Path(sys.executable).parent / "sotsync"
    return [str(script)] if script.exists() else [sys.executable, "-m", "sotsync"]


def clean_env(home: Path) -> dict[str, str]:
    """An environment without the developer's git, database or sotsync settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "SOTSYNC_"))
        and k not in ("DATABASE_URL", "AUTOPACK_REGION", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_SYSTEM=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Stress",
        GIT_AUTHOR_EMAIL="stress@example.com",
        GIT_COMMITTER_NAME="Stress",
        GIT_COMMITTER_EMAIL="stress@example.com",
        GIT_TERMINAL_PROMPT="0",
        SOTSYNC_DEVICE=DEVICE,
        SOTSYNC_LOG_DIR=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False
    )


def must(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    proc = run(argv, cwd, env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def kill_after(argv: Sequence[str], cwd: Path, env: Mapping[str, str], delay: float) -> bool:
    """Start *argv* in its own session; SIGKILL the whole group after *delay* seconds.

    Returns whether the process was still running when the kill landed.
    """
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
    finally:
        with contextlib.suppress(ProcessLookupError):  # children of a finished leader
            os.killpg(proc.pid, signal.SIGKILL)
    return False


def spread(rng: random.Random, duration: float, trials: int) -> list[float]:
    """Kill delays covering [0, duration]: one per stratum, jittered, shuffled."""
    delays = [duration * (i + rng.random()) / trials for i in range(trials)]
    rng.shuffle(delays)
    return delays


# --------------------------------------------------------------------------- state


DbState = tuple[tuple[str, ...], tuple[tuple[str, int, str], ...]]


def db_state(path: Path) -> DbState | None:
    """(integrity_check result, (table, rows, sha256) per table), ``*_at`` columns left out.

    Opening the file rolls back a hot journal, as the next sotsync run would.
    """
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        integrity = tuple(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        tables = []
        for name in names:
            every = [str(r[1]) for r in conn.execute(f'PRAGMA table_info("{name}")')]
            columns = [c for c in every if not c.endswith("_at")]
            select = ", ".join(f'"{c}"' for c in columns) or "1"
            if "deleted_at" in every:
                select += ", deleted_at IS NULL"
            rows = sorted(repr(r) for r in conn.execute(f'SELECT {select} FROM "{name}"'))
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            tables.append((name, len(rows), digest))
        return integrity, tuple(tables)
    finally:
        conn.close()


@dataclass(frozen=True)
class State:
    """What a trial compares: ledger bytes, the database, the refs under refs/sotsync/."""

    ledgers: tuple[tuple[str, bytes | None], ...]
    db: DbState | None
    refs: tuple[tuple[str, str], ...]


def refs_of(repo: Path, env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    argv = ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/sotsync/"]
    pairs = (line.partition(" ") for line in must(argv, repo, env).splitlines())
    return tuple((name, oid) for name, _sep, oid in pairs)


def read_state(repo: Path, env: Mapping[str, str], ledgers: Sequence[str]) -> State:
    found = []
    for rel in ledgers:
        path = repo / rel
        found.append((rel, path.read_bytes() if path.exists() else None))
    return State(tuple(found), db_state(repo / DB_NAME), refs_of(repo, env))


def fsck_problems(repo: Path, env: Mapping[str, str]) -> list[str]:
    fsck = run(["git", "fsck", "--strict", "--no-dangling", "--no-progress"], repo, env)
    if fsck.returncode != 0 or "error" in fsck.stderr.lower():
        return [f"git fsck ({fsck.returncode}): {fsck.stderr.strip()[:400]}"]
    return []


def compare(outcome: Outcome, where: str, now: State, before: State, after: State) -> str:
    """Record every difference from both "before" and "after"; return which one matched.

    Returns "before", "after" or "mixed" (each ledger is one of its two states but not all
    the same one, e.g. ``fix`` killed between two ledgers), or "bad".
    """
    verdicts = set()
    bad = False
    for (rel, data), (_, old), (_, new) in zip(
        now.ledgers, before.ledgers, after.ledgers, strict=True
    ):
        if data == old:
            verdicts.add("before" if old != new else "either")
        elif data == new:
            verdicts.add("after")
        else:
            bad = True
            size = "missing" if data is None else f"{len(data)} bytes"
            outcome.fail(where, f"{rel} is neither before nor after ({size})")
    if now.db is not None and now.db[0] != ("ok",):
        bad = True
        outcome.fail(where, f"integrity_check: {now.db[0][:3]}")
    elif now.db == before.db:
        verdicts.add("before" if before.db != after.db else "either")
    elif now.db == after.db:
        verdicts.add("after")
    else:
        bad = True
        outcome.fail(where, "the database is neither before nor after")
    if now.refs != before.refs:
        bad = True
        outcome.fail(where, f"refs under refs/sotsync/ moved: {now.refs} (was {before.refs})")
    if bad:
        return "bad"
    verdicts.discard("either")
    if not verdicts:
        return "before"
    return verdicts.pop() if len(verdicts) == 1 else "mixed"


# --------------------------------------------------------------------------- the workspace


class Workspace:
    """A git repository with the corpus ledgers, ``sotsync init`` done, and a SQLite database."""

    def __init__(self, base: Path) -> None:
        self.base = base
        home = base / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = clean_env(home)
        self.repo = base / "repo"
        self.cli = sotsync_argv()
        docs = self.repo / "docs"
        docs.mkdir(parents=True)
        for rel in LEDGERS.values():
            shutil.copyfile(CORPUS / Path(rel).name, self.repo / rel)
        self.git("init", "-q", "-b", "main")
        (self.repo / ".git" / "info").mkdir(exist_ok=True)
        with (self.repo / ".git" / "info" / "exclude").open("a") as handle:
            handle.write(f"/{DB_NAME}\n/{DB_NAME}-*\n")
        self.sotsync("init", "--no-hooks")
        self.sotsync("db", "init")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "corpus")

    def git(self, *args: str) -> str:
        return must(["git", *args], self.repo, self.env)

    def sotsync(self, *args: str) -> str:
        return must([*self.cli, *args], self.repo, self.env)

    def files(self) -> dict[str, bytes]:
        """Every work-tree file (``.git`` left out), by relative path."""
        found = {}
        for path in self.repo.rglob("*"):
            rel = path.relative_to(self.repo)
            if rel.parts[0] != ".git" and path.is_file():
                found[str(rel)] = path.read_bytes()
        return found

    def restore_files(self, template: Mapping[str, bytes]) -> list[str]:
        """Put the work tree back to *template*; the names of files that were not in it."""
        extra = []
        for path in sorted(self.repo.rglob("*"), reverse=True):
            rel = path.relative_to(self.repo)
            if rel.parts[0] == ".git" or str(rel) in template:
                continue
            if path.is_file() or path.is_symlink():
                extra.append(str(rel))
                path.unlink()
        for name, data in template.items():
            target = self.repo / name
            if not target.exists() or target.read_bytes() != data:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        return extra


# --------------------------------------------------------------------------- kill trials


@dataclass
class Scenario:
    """One killable command and how to put the workspace back before each trial."""

    argv: list[str]
    cwd: Path
    reset: Callable[[], list[str]]  # restores the start state; returns leftovers found
    state: Callable[[], State]  # what must be before or after
    # The next run after a kill that left "after" (or "mixed"): "state" = it must reach "after"
    # (idempotent commands, or a before_next that restores "before"); "succeeds" = it must
    # exit 0 (``new`` adds one more entry); "skip" (git never reruns a driver on its output).
    from_after: str = "state"
    ok_codes: tuple[int, ...] = (0,)
    # Another verdict ("before"/"after"; None after recording a failure), e.g. where HEAD is.
    extra_check: Callable[[Outcome, str], str | None] | None = None
    # Run before the next, unkilled run: what a user does after a crash (e.g. git's own lock).
    before_next: Callable[[], list[str]] | None = None


def ledger_state(ws: Workspace) -> Callable[[], State]:
    return lambda: read_state(ws.repo, ws.env, list(LEDGERS.values()))


def run_scenario(
    outcome: Outcome, ws: Workspace, sc: Scenario, trials: int, rng: random.Random
) -> None:
    """Measure an unkilled run (three times, from the start state), then kill *trials* runs."""
    sc.reset()
    before = sc.state()
    timings = []
    afters = []
    for _ in range(3):
        sc.reset()
        started = time.perf_counter()
        proc = run(sc.argv, sc.cwd, ws.env)
        timings.append(time.perf_counter() - started)
        if proc.returncode not in sc.ok_codes:
            outcome.fail("unkilled run", f"exited {proc.returncode}: {proc.stderr.strip()[:400]}")
            return
        afters.append(sc.state())
    after = afters[0]
    if any(a != after for a in afters):
        outcome.fail("unkilled runs", "three unkilled runs from one state disagree")
        return
    if after == before:
        outcome.fail("unkilled run", "changed nothing; the trials would prove nothing")
        return
    # The duration estimate is the fastest of the last few unkilled runs (the least disturbed
    # by other load; it follows the load as it changes); kills are spread a quarter past it,
    # so that they also land in slower runs' last writes.
    recent = deque(timings, maxlen=5)
    outcome.unkilled_seconds = max(outcome.unkilled_seconds, min(timings))
    for fraction in spread(rng, 1.25, trials):
        delay = fraction * min(recent)
        outcome.leftover(sc.reset())
        where = f"trial {outcome.trials} (kill at {delay:.3f}s)"
        outcome.trials += 1
        outcome.killed += kill_after(sc.argv, sc.cwd, ws.env, delay)
        verdict = compare(outcome, where, sc.state(), before, after)
        if sc.extra_check is not None:
            extra = sc.extra_check(outcome, where)
            if extra is None:
                verdict = "bad"
            elif verdict in ("before", "after") and extra != verdict:
                verdict = "mixed"
        if verdict != "bad":
            outcome.states[verdict] += 1
        for problem in fsck_problems(ws.repo, ws.env):
            outcome.fail(where, problem)
        check = "state" if verdict == "before" else sc.from_after
        if verdict == "bad" or check == "skip":
            continue
        if sc.before_next is not None:
            outcome.leftover(sc.before_next())
        started = time.perf_counter()
        proc = run(sc.argv, sc.cwd, ws.env)
        recent.append(time.perf_counter() - started)
        if proc.returncode not in sc.ok_codes:
            message = proc.stderr.strip()[:400]
            outcome.fail(where, f"the next run exited {proc.returncode}: {message}")
            continue
        if check != "state":
            continue
        now = sc.state()
        if (now.ledgers, now.db) != (after.ledgers, after.db):
            outcome.fail(where, f"the next run (from {verdict}) did not reach the state after")
    outcome.leftover(sc.reset())


def fix_trials(base: Path, trials: int, rng: random.Random) -> Outcome:
    """``sotsync fix`` of the raw corpus: repairs in all three ledgers."""
    outcome = Outcome("fix")
    ws = Workspace(base)
    template = ws.files()
    sc = Scenario([*ws.cli, "fix"], ws.repo, lambda: ws.restore_files(template), ledger_state(ws))
    run_scenario(outcome, ws, sc, trials, rng)
    return outcome


def new_trials(base: Path, trials: int, rng: random.Random) -> Outcome:
    """``sotsync new`` into the 520 kB build ledger and into the debug ledger."""
    outcome = Outcome("new")
    ws = Workspace(base)
    template = ws.files()
    for ledger, count in (("build", trials - trials // 2), ("debug", trials // 2)):
        argv = [*ws.cli, "new", ledger, "--title", "Stress | entry with a pipe"]
        argv += ["--date", "2026-03-01", "--field", "Status=DONE"]
        sc = Scenario(
            argv,
            ws.repo,
            lambda: ws.restore_files(template),
            ledger_state(ws),
            from_after="succeeds",
        )
        run_scenario(outcome, ws, sc, count, rng)
    return outcome


def sync_trials(base: Path, trials: int, rng: random.Random) -> Outcome:
    """``sotsync sync``: into an empty mirror (inserts), and into a stale one (updates)."""
    outcome = Outcome("sync")
    ws = Workspace(base)
    empty = ws.files()
    ws.sotsync("sync")
    ws.sotsync("fix")
    ws.sotsync("new", "build", "--title", "Stale mirror", "--date", "2026-03-01")
    stale = ws.files()
    for template, count in ((empty, trials - trials // 2), (stale, trials // 2)):

        def reset(template: Mapping[str, bytes] = template) -> list[str]:
            return ws.restore_files(template)

        sc = Scenario([*ws.cli, "sync"], ws.repo, reset, ledger_state(ws))
        run_scenario(outcome, ws, sc, count, rng)
    return outcome


def _merge_sides(ws: Workspace) -> tuple[str, str]:
    """A ``feature`` branch and ``main`` that each add entries (the same ids: a renumbering)."""
    ws.sotsync("fix")
    ws.git("commit", "-q", "-am", "fixed")
    ws.git("checkout", "-q", "-b", "feature")
    for title in ("feature one", "feature two"):
        ws.sotsync("new", "build", "--title", title, "--date", "2026-03-02")
    ws.sotsync("new", "debug", "--title", "feature bug", "--date", "2026-03-02")
    ws.git("commit", "-q", "-am", "feature entries")
    feature = ws.git("rev-parse", "HEAD").strip()
    ws.git("checkout", "-q", "main")
    ws.sotsync("new", "build", "--title", "main one", "--date", "2026-03-03")
    ws.git("commit", "-q", "-am", "main entry")
    return ws.git("rev-parse", "HEAD").strip(), feature


def git_bytes(ws: Workspace, *args: str) -> bytes:
    proc = subprocess.run(["git", *args], cwd=ws.repo, env=ws.env, capture_output=True, check=True)
    return proc.stdout


def merge_trials(base: Path, trials: int, rng: random.Random) -> Outcome:
    """The merge driver called directly on three files, then through ``git merge``."""
    outcome = Outcome("merge")
    ws = Workspace(base)
    main_sha, feature_sha = _merge_sides(ws)
    rel = LEDGERS["build"]

    # 1. sotsync merge-driver %O %A %B %P, as git calls it, on files outside the work tree.
    direct = base / "direct"
    direct.mkdir()
    sides = {
        "O": git_bytes(ws, "show", f"{main_sha}~1:{rel}"),
        "A": git_bytes(ws, "show", f"{main_sha}:{rel}"),
        "B": git_bytes(ws, "show", f"{feature_sha}:{rel}"),
    }

    def reset_direct() -> list[str]:
        extra = [p.name for p in direct.iterdir() if p.name not in sides]
        for path in direct.iterdir():
            path.unlink()
        for name, data in sides.items():
            (direct / name).write_bytes(data)
        return extra

    def direct_state() -> State:
        return State((("%A", (direct / "A").read_bytes()),), None, refs_of(ws.repo, ws.env))

    argv = [*ws.cli, "merge-driver", *(str(direct / n) for n in "OAB"), rel]
    direct_sc = Scenario(argv, ws.repo, reset_direct, direct_state, from_after="skip")
    run_scenario(outcome, ws, direct_sc, trials - trials // 2, rng)

    # 2. git merge, with the driver registered by `sotsync init`; git and the driver die
    # together (one process group).
    def reset_git() -> list[str]:
        found = []
        lock = ws.repo / ".git" / "index.lock"
        if lock.exists():
            found.append(".git/index.lock")
            lock.unlink()
        ws.git("reset", "-q", "--hard", main_sha)
        for path in ws.repo.iterdir():
            if path.name.startswith(".merge_file_") or ".sotsync-tmp-" in path.name:
                found.append(path.name)
                path.unlink()
        return found

    def head_check(out: Outcome, where: str) -> str | None:
        head = ws.git("rev-parse", "HEAD").strip()
        if head == main_sha:
            return "before"
        parents = ws.git("rev-list", "--parents", "-n", "1", head).split()[1:]
        if parents != [main_sha, feature_sha]:
            out.fail(where, f"HEAD {head} is neither main nor the merge (parents {parents})")
            return None
        return "after"

    git_sc = Scenario(
        ["git", "merge", "--no-edit", "-q", "feature"],
        ws.repo,
        reset_git,
        ledger_state(ws),
        extra_check=head_check,
        before_next=reset_git,
    )
    run_scenario(outcome, ws, git_sc, trials // 2, rng)
    return outcome


# --------------------------------------------------------------------------- delegated trials


def _outcome_from(name: str, found: Any) -> Outcome:
    """An Outcome from another module's result object (trials, failures, killed, ...)."""
    outcome = Outcome(name)
    outcome.trials = int(getattr(found, "trials", 0))
    outcome.killed = int(getattr(found, "killed", 0))
    outcome.failures = [f"{name}: {f}" for f in getattr(found, "failures", [])]
    # stress_snapshot's "blocked": the next run was blocked by a stale lock — a failure here.
    outcome.failures += [f"{name}: blocked: {b}" for b in getattr(found, "blocked", [])]
    outcome.leftovers = int(getattr(found, "leftovers", 0))
    outcome.leftover_example = str(getattr(found, "leftover_example", ""))
    outcome.unkilled_seconds = float(getattr(found, "unkilled_seconds", 0.0))
    return outcome


def _call_trials(
    module: Any, function: str, base: Path, trials: int, rng: random.Random, rows: int
) -> Any:
    """Call ``module.function`` with (workspace or base, trials, rng).

    The first parameter is a ``Workspace`` of that module when it is named ``ws`` (as in
    ``stress_snapshot``), else the base directory.
    """
    fn = getattr(module, function)
    first = next(iter(inspect.signature(fn).parameters))
    if first == "ws" and hasattr(module, "Workspace"):
        workspace_cls = module.Workspace
        params = inspect.signature(workspace_cls).parameters
        target = workspace_cls(base, rows) if len(params) >= 2 else workspace_cls(base)
        return fn(target, trials, rng)
    return fn(base, trials, rng)


def delegated(
    name: str,
    module_name: str,
    function: str,
    base: Path,
    trials: int,
    rng: random.Random,
    rows: int,
) -> Outcome:
    if not (HERE / f"{module_name}.py").is_file():
        return Outcome(name, available=False, note=f"benchmarks/{module_name}.py is not there yet")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        out = Outcome(name)
        out.fail("import", f"benchmarks/{module_name}.py: {type(exc).__name__}: {exc}")
        return out
    if not hasattr(module, function):
        return Outcome(
            name, available=False, note=f"benchmarks/{module_name}.py has no {function}()"
        )
    total = Outcome(name)
    # Fresh workspaces every DELEGATED_CHUNK trials: those modules verify every snapshot or
    # backup in the workspace after each trial, so one long chain makes a run quadratic.
    for part, start in enumerate(range(0, trials, DELEGATED_CHUNK)):
        count = min(DELEGATED_CHUNK, trials - start)
        try:
            found = _call_trials(module, function, base / f"part{part}", count, rng, rows)
        except Exception as exc:
            total.fail("run", f"{module_name}.{function} raised {type(exc).__name__}: {exc}")
            return total
        piece = _outcome_from(name, found)
        total.trials += piece.trials
        total.killed += piece.killed
        total.failures += piece.failures
        total.leftovers += piece.leftovers
        total.leftover_example = piece.leftover_example or total.leftover_example
        total.unkilled_seconds = max(total.unkilled_seconds, piece.unkilled_seconds)
        shutil.rmtree(base / f"part{part}", ignore_errors=True)
    return total


# --------------------------------------------------------------------------- storm


def storm(base: Path, workers: int, ops_each: int, rng: random.Random) -> Outcome:
    """*workers* processes at once in one clone, each running *ops_each* random commands."""
    outcome = Outcome(f"storm ({workers} procs)", kind="storm")
    ws = Workspace(base)
    ws.sotsync("sync")
    backup_ok = run([*ws.cli, "backup", "--help"], ws.repo, ws.env).returncode == 0
    choices = ["new", "new", "new", "sync", "snapshot-create"] + (["backup"] if backup_ok else [])
    if not backup_ok:
        outcome.note = "backup not available: storm mixes new, sync and snapshot create"
    from sotsync.ledger.parse import parse_ledger

    def entries_of(ledger: str) -> list[tuple[str, str]]:
        rel = LEDGERS[ledger]
        parsed = parse_ledger((ws.repo / rel).read_bytes(), rel, PREFIXES[ledger])
        return [(e.id, e.title) for e in parsed.entries]

    before = {name: Counter(i for i, _ in entries_of(name)) for name in ("build", "debug")}
    plans = [[rng.choice(choices) for _ in range(ops_each)] for _ in range(workers)]
    results: list[tuple[str, str, list[str], subprocess.CompletedProcess[str]]] = []
    guard = threading.Lock()

    def worker(w: int) -> None:
        for i, op in enumerate(plans[w]):
            if op == "new":
                ledger = "build" if (w + i) % 3 else "debug"
                argv = ["new", ledger, "--title", f"storm w{w} op{i}", "--date", "2026-03-04"]
            elif op == "sync":
                argv = ["sync"]
            elif op == "snapshot-create":
                argv = ["snapshot", "create", "-m", f"storm w{w} op{i}"]
            else:
                argv = ["backup", "--dest", str(base / "backups")]
            proc = run([*ws.cli, *argv], ws.repo, ws.env)
            with guard:
                results.append((f"w{w} op{i} {op}", op, argv, proc))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcome.unkilled_seconds = time.perf_counter() - started
    outcome.trials = len(results)

    lock_waits = 0
    made: dict[str, list[tuple[str, str]]] = {"build": [], "debug": []}
    for where, op, argv, proc in results:
        if proc.returncode == 3 and "lock" in proc.stderr.lower():
            lock_waits += 1
            continue
        if proc.returncode != 0:
            outcome.fail(where, f"exited {proc.returncode}: {proc.stderr.strip()[:300]}")
            continue
        if op == "new":
            words = proc.stdout.split()
            made[argv[1]].append((words[0] if words else "?", argv[3]))
    done = Counter(op for _, op, _, proc in results if proc.returncode == 0)
    outcome.states = done  # for a storm: successful commands per kind
    summary = ", ".join(f"{count} {op}" for op, count in sorted(done.items())) + " succeeded"
    if lock_waits:
        summary += f"; {lock_waits} gave up waiting for the workspace lock (exit 3)"
    outcome.note = f"{outcome.note}; {summary}" if outcome.note else summary
    for ledger, created in made.items():
        _check_storm_ledger(outcome, ledger, before[ledger], entries_of(ledger), created)
    _check_storm_end(outcome, ws)
    return outcome


def _check_storm_ledger(
    outcome: Outcome,
    ledger: str,
    before: Counter[str],
    entries: list[tuple[str, str]],
    created: list[tuple[str, str]],
) -> None:
    """No duplicate ids, every successful ``new`` has its entry, nothing else changed."""
    now = Counter(ident for ident, _ in entries)
    titles: dict[str, list[str]] = {}
    for ident, title in entries:
        titles.setdefault(ident, []).append(title)
    for ident, count in Counter(ident for ident, _ in created).items():
        if count > 1:
            outcome.fail(ledger, f"{ident} was given to {count} `new` runs")
    for ident, title in created:
        if before[ident]:
            outcome.fail(ledger, f"{ident} ({title!r}) was already taken before the storm")
        if now[ident] != 1:
            outcome.fail(ledger, f"{ident} ({title!r}) appears {now[ident]} times, not once")
        elif not any(title in t for t in titles[ident]):
            outcome.fail(ledger, f"the entry {title!r} ({ident}) is lost: {titles[ident]}")
    for ident, count in before.items():
        if now[ident] != count:
            outcome.fail(ledger, f"the old {ident} now appears {now[ident]}×, was {count}×")
    extra = sum(now.values()) - sum(before.values()) - len(created)
    if extra:
        outcome.fail(ledger, f"{extra} entries appeared that no successful `new` reports")


def _check_storm_end(outcome: Outcome, ws: Workspace) -> None:
    """Database integrity, a final sync then nothing to write, complete refs, git fsck."""
    state = db_state(ws.repo / DB_NAME)
    if state is None or state[0] != ("ok",):
        outcome.fail("database", f"integrity_check: {state and state[0]}")
    for attempt in ("final sync", "second sync"):
        proc = run([*ws.cli, "sync", "--format", "json"], ws.repo, ws.env)
        if proc.returncode != 0:
            outcome.fail(attempt, f"exited {proc.returncode}: {proc.stderr.strip()[:300]}")
            return
    writes = json.loads(proc.stdout).get("writes")
    if writes != 0:
        outcome.fail("second sync", f"still wrote {writes} row(s)")
    verify = run([*ws.cli, "snapshot", "verify", "--all"], ws.repo, ws.env)
    if verify.returncode != 0:
        message = verify.stderr.strip()[:300]
        outcome.fail("refs", f"snapshot verify --all exited {verify.returncode}: {message}")
    for problem in fsck_problems(ws.repo, ws.env):
        outcome.fail("git", problem)


# --------------------------------------------------------------------------- fuzz


FUZZ_PROPERTIES = ("bytes", "text", "fix", "merge", "merge-any")
# The generated-input promises of SPEC §10; "merge-any" (the merge of three arbitrary generated
# ledgers never raises) goes further: the driver survives a raising merge by falling back to a
# whole-file conflict, but then it merges nothing by entry.
SPEC_PROPERTIES = ("bytes", "text", "fix", "merge")


def fuzz(seconds: float, seed: int, names: Sequence[str] = FUZZ_PROPERTIES) -> list[Outcome]:
    """The named hypothesis properties, in seeded batches until *seconds* are used up."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    sys.path.insert(0, str(ROOT / "tests"))
    import test_merge  # type: ignore[import-not-found]
    import test_properties  # type: ignore[import-not-found]
    from sotsync.ledger.merge import merge_ledgers
    from sotsync.ledger.parse import parse_ledger

    def merge_never_raises(base: bytes, ours: bytes, theirs: bytes) -> None:
        result = merge_ledgers(base, ours, theirs, "docs/BUILD_HISTORY.md", "BUILD", True)
        parsed = parse_ledger(result.data, "docs/BUILD_HISTORY.md", "BUILD")
        assert parsed.render() == result.data

    def inner(test: Any) -> Callable[..., None]:
        found: Callable[..., None] = test.hypothesis.inner_test
        return found

    ledgers = test_properties.ledgers()
    every: list[tuple[str, str, Callable[..., None], tuple[Any, ...]]] = [
        (
            "bytes",
            "parse: render(parse(bytes)) == bytes, lint",
            inner(test_properties.test_parse_never_raises_on_bytes),
            (st.binary(max_size=4000),),
        ),
        (
            "text",
            "parse/lint/fix of text documents",
            inner(test_properties.test_parse_never_raises_on_text),
            (test_properties.text_documents(),),
        ),
        (
            "fix",
            "fix idempotent, loses nothing",
            inner(test_properties.test_fix_is_idempotent_and_loses_nothing),
            (ledgers, st.sampled_from([None, "lf", "crlf"])),
        ),
        (
            "merge",
            "merge keeps every addition",
            inner(test_merge.test_merge_keeps_every_addition_and_adds_no_duplicate),
            (test_merge.scenarios(),),
        ),
        (
            "merge-any",
            "merge of any ledgers never raises",
            merge_never_raises,
            (ledgers, ledgers, ledgers),
        ),
    ]
    properties = [
        (label, body, strategies) for key, label, body, strategies in every if key in names
    ]
    rng = random.Random(seed)
    budget = seconds / len(properties)
    outcomes = []
    for name, body, strategies in properties:
        outcome = Outcome(f"fuzz: {name}", kind="fuzz")
        counted = _Counted(body)
        target = counted.with_arity(len(strategies))
        started = time.perf_counter()
        while time.perf_counter() - started < budget:
            batch_seed = rng.getrandbits(64)
            config = settings(
                max_examples=FUZZ_BATCH,
                deadline=None,
                database=None,
                phases=(Phase.generate, Phase.shrink),
                suppress_health_check=list(HealthCheck),
                print_blob=True,
            )
            generate: Any = given(*strategies)
            test = cast(Callable[[], None], hypothesis_seed(batch_seed)(config(generate(target))))
            try:
                test()
            except Exception as exc:
                notes = "\n".join(getattr(exc, "__notes__", []))
                outcome.failures.append(
                    f"{outcome.operation} (hypothesis seed {batch_seed}): "
                    f"{type(exc).__name__}: {str(exc)[:300]}\n{notes[:1500]}"
                )
                break
        outcome.trials = counted.count
        outcome.seconds = time.perf_counter() - started
        outcomes.append(outcome)
    return outcomes


class _Counted:
    """A property body that counts its examples, with a fixed arity (hypothesis maps
    positional strategies onto named parameters)."""

    def __init__(self, body: Callable[..., None]) -> None:
        self.body = body
        self.count = 0

    def __call__(self, *args: Any) -> None:
        self.count += 1
        self.body(*args)

    def with_arity(self, n: int) -> Callable[..., None]:
        if n == 1:
            return lambda a: self(a)
        if n == 2:
            return lambda a, b: self(a, b)
        if n == 3:
            return lambda a, b, c: self(a, b, c)
        raise ValueError(f"no property of {n} arguments")


# --------------------------------------------------------------------------- main


KILL_TRIALS: dict[str, Callable[[Path, int, random.Random], Outcome]] = {
    "fix": fix_trials,
    "new": new_trials,
    "sync": sync_trials,
    "merge": merge_trials,
}
DELEGATED = {
    "snapshot-create": ("stress_snapshot", "create_trials"),
    "snapshot-restore": ("stress_snapshot", "restore_trials"),
    "backup": ("stress_backup", "backup_trials"),
    "restore": ("stress_backup", "restore_trials"),
}


def run_stress(
    ops: Sequence[str],
    trials: int,
    seed: int,
    rows: int,
    storm_ops: int,
    fuzz_seconds: float,
    fuzz_properties: Sequence[str] = FUZZ_PROPERTIES,
    workers: int = STORM_WORKERS,
    progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Every requested part; one Outcome per table row."""
    say = progress or (lambda _message: None)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="sotsync-stress-") as tmp:
        for op in ops:
            say(f"{op}: {trials} kill trials ...")
            rng = random.Random(f"{seed}-{op}")
            started = time.perf_counter()
            base = Path(tmp) / op
            if op in KILL_TRIALS:
                try:
                    outcome = KILL_TRIALS[op](base, trials, rng)
                except Exception as exc:
                    outcome = Outcome(op)
                    outcome.fail("setup", f"{type(exc).__name__}: {exc}")
            else:
                module, function = DELEGATED[op]
                outcome = delegated(op, module, function, base, trials, rng, rows)
            outcome.seconds = time.perf_counter() - started
            outcomes.append(outcome)
            shutil.rmtree(base, ignore_errors=True)
        if storm_ops > 0:
            say(f"storm: {workers} processes × {storm_ops} commands ...")
            started = time.perf_counter()
            rng = random.Random(f"{seed}-storm")
            try:
                outcome = storm(Path(tmp) / "storm", workers, storm_ops, rng)
            except Exception as exc:
                outcome = Outcome(f"storm ({workers} procs)", kind="storm")
                outcome.fail("setup", f"{type(exc).__name__}: {exc}")
            outcome.seconds = time.perf_counter() - started
            outcomes.append(outcome)
    if fuzz_seconds > 0:
        say(f"fuzz: {fuzz_seconds:g} s ...")
        outcomes += fuzz(fuzz_seconds, seed, fuzz_properties)
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=200, help="kill trials per operation")
    parser.add_argument(
        "--ops",
        default=",".join(OPERATIONS),
        help=f"comma-separated operations to kill (default: all of {','.join(OPERATIONS)})",
    )
    parser.add_argument(
        "--storm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"run the concurrency storm ({STORM_WORKERS} processes; default on)",
    )
    parser.add_argument(
        "--storm-ops", type=int, default=12, help="commands per storm process (default 12)"
    )
    parser.add_argument(
        "--fuzz-seconds", type=float, default=120.0, help="time box of the fuzz run (0: skip)"
    )
    parser.add_argument(
        "--fuzz-properties",
        default=",".join(FUZZ_PROPERTIES),
        help=f"comma-separated properties to fuzz (default: all of {','.join(FUZZ_PROPERTIES)})",
    )
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument(
        "--rows", type=int, default=30_000, help="database rows of the snapshot trials"
    )
    args = parser.parse_args(argv)
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    unknown = sorted(set(ops) - set(OPERATIONS))
    if unknown:
        parser.error(f"unknown operation(s) {', '.join(unknown)}")
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    fuzz_properties = [n.strip() for n in args.fuzz_properties.split(",") if n.strip()]
    if set(fuzz_properties) - set(FUZZ_PROPERTIES) or not fuzz_properties:
        parser.error(f"--fuzz-properties: choose from {','.join(FUZZ_PROPERTIES)}")

    started = time.perf_counter()
    outcomes = run_stress(
        ops,
        args.trials,
        args.seed,
        args.rows,
        args.storm_ops if args.storm else 0,
        args.fuzz_seconds,
        fuzz_properties,
        progress=lambda message: print(f"stress: {message}", file=sys.stderr, flush=True),
    )
    print(table(outcomes))
    print(
        f"total {time.perf_counter() - started:.0f} s; seed {args.seed}; "
        f"{args.trials} kill trials per operation; snapshot rows {args.rows}"
    )
    for o in outcomes:
        if not o.available:
            print(f"NOT AVAILABLE {o.operation}: {o.note}")
        elif o.note:
            print(f"note {o.operation}: {o.note}")
        if o.leftover_example:
            print(f"leftovers {o.operation}: e.g. {o.leftover_example}")
    failures = [f for o in outcomes for f in o.failures]
    for failure in failures[:60]:
        print("FAIL", failure)
    if len(failures) > 60:
        print(f"... and {len(failures) - 60} more failures")
    print(f"{len(failures)} failure(s)" if failures else "no failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
