"""The plain pre-commit hook's cost, as git runs it (SPEC §6 and §9).

Builds a temporary repository with the corpus BUILD_HISTORY committed and ``sotsync hooks
install`` done, then times ``.git/hooks/pre-commit`` (the POSIX sh script, which execs the
``sotsync`` console script) in two states, against ``python -c pass`` of the same interpreter:

- no ledger staged (target: at most 1.5 x ``python -c pass``);
- the corpus ledger staged with one new entry (target: at most 300 ms; not a SPEC figure).

Medians of N runs after three warm-up runs (bytecode written: PYTHONDONTWRITEBYTECODE is unset
for the children).  Usage: ``python benchmarks/bench_hooks.py [-n RUNS]``; ``measure()``
returns the same rows to ``benchmarks/run``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import (
    CORPUS_FILES,
    DEFAULT_CORPUS,
    BenchError,
    Row,
    child_env,
    fmt_seconds,
    missed,
    render_table,
    run_measured,
)

BIN = Path(sys.executable).parent
LEDGER_LIMIT_S = 0.3


def hook_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in child_env().items() if not k.startswith(("GIT_", "SOTSYNC_"))}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "HOME": str(home),
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Bench",
            "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "Bench",
            "GIT_COMMITTER_EMAIL": "bench@example.com",
        }
    )
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)


def timed(cmd: list[str], cwd: Path, env: dict[str, str], runs: int) -> list[float]:
    """Three warm-up runs (bytecode, page cache), then ``runs`` measured ones; exit 0 each."""
    for _ in range(3):
        run_measured(cmd, cwd, env, ok=(0,))
    return [run_measured(cmd, cwd, env, ok=(0,)).seconds for _ in range(runs)]


def measure(repeat: int = 30, corpus: Path = DEFAULT_CORPUS) -> list[dict[str, Any]]:
    """The hook figures as ``_table`` rows; *repeat* runs each (at least 10 for the no-ledger
    case, whose cost is a few tens of milliseconds)."""
    runs = max(10, repeat)
    with tempfile.TemporaryDirectory(prefix="sotsync-bench-hooks-") as tmp:
        base = Path(tmp)
        env = hook_env(base)
        repo = base / "repo"
        repo.mkdir()

        def git(*a: str) -> None:
            proc = run(["git", *a], repo, env)
            if proc.returncode:
                raise BenchError(f"git {' '.join(a)}: {proc.stderr.decode()}")

        git("init", "-q", "-b", "main")
        (repo / "docs").mkdir()
        source = corpus / CORPUS_FILES[0]
        (repo / "docs" / source.name).write_bytes(source.read_bytes())
        (repo / "README.md").write_text("bench\n")
        git("add", "-A")
        git("commit", "-q", "--no-verify", "-m", "corpus")
        installed = run(["sotsync", "hooks", "install"], repo, env)
        if installed.returncode:
            raise BenchError(installed.stderr.decode())
        hook = [str(repo / ".git" / "hooks" / "pre-commit")]
        python = [sys.executable, "-c", "pass"]

        (repo / "README.md").write_text("bench, changed\n")
        git("add", "README.md")
        baseline = timed(python, repo, env, runs)
        no_ledger = timed(hook, repo, env, runs)

        made = run(["sotsync", "new", "build", "--title", "Benchmark entry"], repo, env)
        if made.returncode:
            raise BenchError(made.stderr.decode())
        git("add", "docs/BUILD_HISTORY.md")
        ledger = timed(hook, repo, env, max(5, runs // 3))

    base_s, hook_s, ledger_s = map(statistics.median, (baseline, no_ledger, ledger))
    rows = [
        Row(
            figure="pre-commit hook, no ledger staged",
            baseline=f"python -c pass {fmt_seconds(base_s)}",
            value=fmt_seconds(hook_s),
            ratio=hook_s / base_s,
            target="≤ 1.5",
            met=hook_s / base_s <= 1.5,
            unit="×",
            detail={"python_pass_seconds": baseline, "hook_seconds": no_ledger},
        ),
        Row(
            figure="pre-commit hook, corpus ledger staged (one new entry)",
            baseline=f"target {LEDGER_LIMIT_S * 1000:.0f} ms",
            value=fmt_seconds(ledger_s),
            ratio=ledger_s / LEDGER_LIMIT_S,
            target=f"≤ {LEDGER_LIMIT_S * 1000:.0f} ms",
            met=ledger_s <= LEDGER_LIMIT_S,
            notes="a project target (issue 6), not a SPEC §9 figure",
            detail={"hook_seconds": ledger},
        ),
    ]
    return [r.to_dict() for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", "--runs", type=int, default=30)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory")
    args = parser.parse_args(argv)
    try:
        rows = [Row.from_dict(r) for r in measure(args.runs, args.corpus)]
    except BenchError as exc:
        print(f"bench_hooks: {exc}", file=sys.stderr)
        return 2
    print(f"plain pre-commit hook, medians of {max(10, args.runs)} runs ({sys.version.split()[0]})")
    print(render_table(rows))
    lost = missed(rows)
    print(f"targets missed: {'; '.join(lost)}" if lost else "targets met")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
