"""Performance of `sotsync backup` (issue 5), measured in one run against its baseline.

Usage: ``.venv/bin/python benchmarks/bench_backup.py [--rows 1000000] [--repeat 3]
[--corpus DIR] [--json FILE]``.

On a generated Autopack ``runs`` table (``benchmarks/genruns.py --runs-only``; 1,000,000 rows,
about 300 MB, cached in ``benchmarks/out/runs-<N>.db``) in a workspace holding the three corpus
ledgers, whole processes, each the median of ``--repeat`` runs after one warm-up:

1. ``sotsync backup`` (a full backup: SQLite online backup, the ledgers, the manifest with the
   sha256 of every file) vs the runbook's copy done right by hand: ``sqlite3 DB ".backup FILE"``
   plus ``cp`` of the three ledgers (the two processes' times added); target ≤ 1.5×.
2. ``sotsync backup --incremental`` after one ledger entry was added (shown only).

``measure(rows)`` returns the rows as dicts for the consolidated runner (``benchmarks/run``);
``main`` prints them as a table, optionally writes ``--json FILE``, and exits 1 when a target
is missed.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _table import (  # noqa: E402
    DEFAULT_CORPUS,
    BenchError,
    Row,
    child_env,
    corpus_paths,
    fmt_seconds,
    git_child_env,
    missing_row,
    render_table,
    run_measured,
    run_quiet,
    sotsync_script,
    write_json,
)
from bench_db import cached_runs_db  # noqa: E402

DEFAULT_ROWS = 1_000_000
TARGET = 1.5
FIGURE = "full backup of the generated SQLite DB + ledgers"


def _median(runs: int, once: Callable[[], float]) -> tuple[float, list[float]]:
    once()  # warm-up: file cache, bytecode
    samples = [once() for _ in range(runs)]
    return statistics.median(samples), samples


def _workspace(root: Path, corpus: Path, source: Path, env: dict[str, str]) -> Path:
    repo = root / "repo"
    (repo / "docs").mkdir(parents=True)
    for path in corpus_paths(corpus):
        shutil.copyfile(path, repo / "docs" / path.name)
    run_quiet(["git", "init", "-q", "-b", "main", str(repo)], root, env)
    run_quiet(["git", "-C", str(repo), "add", "docs"], root, env)
    run_quiet(["git", "-C", str(repo), "commit", "-q", "-m", "corpus"], root, env)
    shutil.copyfile(source, repo / "autopack.db")
    return repo


def measure(
    rows: int = DEFAULT_ROWS, repeat: int = 3, corpus: Path = DEFAULT_CORPUS
) -> list[dict[str, Any]]:
    """The backup figures as ``Row`` dicts (see ``_table``)."""
    sqlite3_cli = shutil.which("sqlite3")
    if sqlite3_cli is None:
        why = "the sqlite3 command-line shell is not installed"
        return [missing_row(FIGURE, f"≤ {TARGET}× sqlite3 .backup + cp", why).to_dict()]
    source, _generated = cached_runs_db(rows, child_env())
    sotsync = str(sotsync_script())
    with tempfile.TemporaryDirectory(prefix="sotsync-bench-backup-") as tmp:
        root = Path(tmp)
        (root / "home").mkdir()
        env = git_child_env(root / "home")
        repo = _workspace(root, corpus, source, env)
        dest = root / "backups"
        ledgers = sorted(str(p) for p in (repo / "docs").iterdir())

        def baseline() -> float:
            out = root / "baseline"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            copy = run_measured([sqlite3_cli, str(repo / "autopack.db"), f".backup {out}/db"],
                                root, env, ok=(0,))  # fmt: skip
            files = run_measured(["cp", *ledgers, str(out)], root, env, ok=(0,))
            return copy.seconds + files.seconds

        def full() -> float:
            shutil.rmtree(dest, ignore_errors=True)
            argv = [sotsync, "--repo", str(repo), "backup", "--dest", str(dest)]
            return run_measured(argv, root, env, ok=(0,)).seconds

        base_s, base_samples = _median(repeat, baseline)
        full_s, full_samples = _median(repeat, full)
        size = (repo / "autopack.db").stat().st_size

        def incremental() -> float:
            ledger = repo / "docs" / "BUILD_HISTORY.md"
            ledger.write_bytes(ledger.read_bytes() + b"\n### BUILD-999 | 2026-02-01 | bench\n")
            argv = [sotsync, "--repo", str(repo), "backup", "--dest", str(dest), "--incremental"]
            return run_measured(argv, root, env, ok=(0,)).seconds

        incr_s, incr_samples = _median(repeat, incremental)
    ratio = full_s / base_s
    rows_out = [
        Row(
            f"{FIGURE} ({size / 1e6:.0f} MB, {rows:,} runs)",
            f"sqlite3 .backup + cp ledgers {fmt_seconds(base_s)}",
            fmt_seconds(full_s),
            ratio,
            f"≤ {TARGET}×",
            ratio <= TARGET,
            unit="×",
            detail={"backup_s": full_samples, "baseline_s": base_samples, "db_bytes": size},
        ),
        Row(
            "incremental backup after one new ledger entry",
            f"full backup {fmt_seconds(full_s)}",
            fmt_seconds(incr_s),
            incr_s / full_s,
            "(shown only)",
            None,
            unit="×",
            detail={"incremental_s": incr_samples},
        ),
    ]
    return [r.to_dict() for r in rows_out]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="runs in the database")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per figure")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    try:
        found = measure(args.rows, args.repeat, args.corpus)
    except BenchError as exc:
        print(f"bench_backup: {exc}", file=sys.stderr)
        return 2
    rows = [Row.from_dict(r) for r in found]
    print(render_table(rows))
    print(f"python {platform.python_version()}, {platform.machine()}, rows {args.rows:,}")
    if args.json is not None:
        write_json(args.json, {"benchmark": "bench_backup", "results": found})
    return 1 if any(r.met is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
