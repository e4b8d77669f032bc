"""The plain pre-commit hook's cost, as git runs it (SPEC §6, issue 6).

Builds a temporary repository with the corpus BUILD_HISTORY committed and ``sotsync hooks
install`` done, then times ``.git/hooks/pre-commit`` (the POSIX sh script, which execs the
``sotsync`` console script) in two states, against ``python -c pass`` of the same interpreter:

- no ledger staged (target: at most 1.5 x ``python -c pass``);
- the corpus ledger staged with one new entry (target: at most 300 ms).

Medians of N runs after a warm-up (bytecode written: PYTHONDONTWRITEBYTECODE is unset for the
children).  Usage: ``python benchmarks/bench_hooks.py [-n RUNS]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "autopack" / "BUILD_HISTORY.md"
BIN = Path(sys.executable).parent


def child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SOTSYNC_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
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


def median_ms(cmd: list[str], cwd: Path, env: dict[str, str], runs: int, expect: int = 0) -> float:
    for _ in range(3):  # warm-up: bytecode, page cache
        run(cmd, cwd, env)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = run(cmd, cwd, env)
        times.append(time.perf_counter() - start)
        if proc.returncode != expect:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()}")
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sotsync-bench-hooks-") as tmp:
        base = Path(tmp)
        env = child_env(base)
        repo = base / "repo"
        repo.mkdir()

        def git(*a: str) -> None:
            proc = run(["git", *a], repo, env)
            if proc.returncode:
                raise SystemExit(f"git {' '.join(a)}: {proc.stderr.decode()}")

        git("init", "-q", "-b", "main")
        (repo / "docs").mkdir()
        (repo / "docs" / "BUILD_HISTORY.md").write_bytes(CORPUS.read_bytes())
        (repo / "README.md").write_text("bench\n")
        git("add", "-A")
        git("commit", "-q", "--no-verify", "-m", "corpus")
        installed = run(["sotsync", "hooks", "install"], repo, env)
        if installed.returncode:
            raise SystemExit(installed.stderr.decode())
        hook = [str(repo / ".git" / "hooks" / "pre-commit")]
        python = [sys.executable, "-c", "pass"]

        (repo / "README.md").write_text("bench, changed\n")
        git("add", "README.md")
        baseline = median_ms(python, repo, env, args.runs)
        no_ledger = median_ms(hook, repo, env, args.runs)

        made = run(["sotsync", "new", "build", "--title", "Benchmark entry"], repo, env)
        if made.returncode:
            raise SystemExit(made.stderr.decode())
        git("add", "docs/BUILD_HISTORY.md")
        ledger = median_ms(hook, repo, env, max(5, args.runs // 3))

    ratio = no_ledger / baseline
    rows = [
        ("python -c pass", f"{baseline:.1f} ms", "", ""),
        ("pre-commit, no ledger staged", f"{no_ledger:.1f} ms", f"{ratio:.2f}x", "<= 1.50x"),
        ("pre-commit, corpus ledger staged", f"{ledger:.1f} ms", "", "<= 300 ms"),
    ]
    print(f"plain pre-commit hook, medians of {args.runs} runs ({sys.version.split()[0]})")
    print(f"{'case':<34} {'median':>10} {'ratio':>7} {'target':>10}")
    for case, median, rel, target in rows:
        print(f"{case:<34} {median:>10} {rel:>7} {target:>10}")
    ok = ratio <= 1.5 and ledger <= 300
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
