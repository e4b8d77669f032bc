"""Performance of ``sotsync sync`` and ``sotsync reconcile`` (SPEC §9), measured in one run.

Usage: ``.venv/bin/python benchmarks/bench_db.py [--runs 5] [--quick] [--corpus DIR]
[--pg-url URL]``.

Figures, each the median of ``--runs`` measured processes (after one untimed warm-up run):

1. ``sotsync sync`` of the three Autopack corpus ledgers (copied into a temporary git
   repository) on SQLite, whole process.  *First*: a fresh database, prepared with
   ``sotsync db init`` (not timed) before every run; target ≤ 0.5 s.  *Repeated*: the mirror
   already in sync; target ≤ 0.3 s and zero writes (the ``writes`` field of
   ``sync --format json`` of every measured run).
2. The same on PostgreSQL (a fresh database on ``--pg-url``'s server for every first run, one
   database for the repeated runs), and its ratio to SQLite; target ≤ 2×.
3. ``sotsync reconcile`` of the corpus workspace against 1,000,000 generated runs
   (``benchmarks/genruns.py --runs-only``; ``--quick``: 100,000), on SQLite, with the mirror in
   sync.  Two configurations: the defaults (every run checked against the expect rules: most
   of the million are reported as needing an entry), and an adopted workspace (``expect_since``
   one day before the newest run).  Targets: wall time ≤ 10 s, peak RSS ≤ 500 MB.

The run database is generated once and cached in ``benchmarks/out/runs-<N>.db``; each
benchmark works on a copy.  Every process is started through a small wrapper process that
times it and reads its peak RSS with ``getrusage(RUSAGE_CHILDREN)``.  Children run without
``PYTHONDONTWRITEBYTECODE`` so that bytecode caches are written and used, as on a normal
installation.  Results go to stdout as a table and to ``benchmarks/out/bench_db.json``; the
exit code is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import (
    DEFAULT_CORPUS,
    HERE,
    MB,
    OUT_DIR,
    BenchError,
    Row,
    Sample,
    child_env,
    corpus_paths,
    median_seconds,
    missed,
    missing_row,
    render_table,
    run_measured,
    run_quiet,
    sotsync_script,
    write_json,
)
from _table import fmt_seconds as _fmt_seconds

OUT = OUT_DIR / "bench_db.json"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
RUNS_FULL = 1_000_000
RUNS_QUICK = 100_000
# genruns' default "now" is 2026-02-12T18:00; an adopted workspace exempts older runs.
ADOPTED_SINCE = "2026-02-11T18:00:00Z"


def measure_once(
    argv: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    keep: bool = False,
    ok: Sequence[int] = (0,),
) -> Sample:
    """Run ``argv`` once under the timing wrapper; an exit code outside ``ok`` is fatal."""
    return run_measured(argv, cwd, env, keep=keep, ok=ok)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else _fmt_seconds(seconds)


def writes_of(sample: Sample) -> int:
    """The ``writes`` count reported by ``sotsync sync --format json``."""
    return int(json.loads(sample.stdout)["writes"])


def corpus_workspace(corpus: Path, root: Path, env: dict[str, str]) -> Path:
    """A git repository holding the three corpus ledgers in ``docs/``, committed."""
    sources = corpus_paths(corpus)
    (root / "docs").mkdir(parents=True)
    for source in sources:
        shutil.copyfile(source, root / "docs" / source.name)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    run_quiet(["git", "init", "-q", str(root)], root, env)
    run_quiet([*git, "add", "docs"], root, env)
    run_quiet([*git, "commit", "-q", "-m", "corpus"], root, env)
    return root


# --------------------------------------------------------------------------- PostgreSQL


class Postgres:
    """Fresh databases on one server, created and dropped through an admin connection."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self.admin_url = admin_url
        self._conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
        self._count = 0

    def url_for(self, name: str) -> str:
        base, _sep, _db = self.admin_url.rpartition("/")
        return f"{base}/{name}"

    @contextmanager
    def database(self) -> Iterator[str]:
        self._count += 1
        name = f"sotsync_bench_{os.getpid()}_{self._count}"
        self._conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        self._conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield self.url_for(name)
        finally:
            self._conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self._conn.close()


# --------------------------------------------------------------------------- sync


@dataclass(frozen=True)
class SyncFigures:
    """First and repeated sync samples on one engine."""

    engine: str
    first: list[Sample]
    repeated: list[Sample]

    @property
    def first_s(self) -> float:
        return median_seconds(self.first)

    @property
    def repeated_s(self) -> float:
        return median_seconds(self.repeated)

    def detail(self) -> dict[str, Any]:
        return {
            "first_seconds": [s.seconds for s in self.first],
            "first_writes": [writes_of(s) for s in self.first],
            "first_rss": [s.rss for s in self.first],
            "repeated_seconds": [s.seconds for s in self.repeated],
            "repeated_writes": [writes_of(s) for s in self.repeated],
            "repeated_rss": [s.rss for s in self.repeated],
        }


def sync_sqlite(repo: Path, sotsync: Path, env: dict[str, str], runs: int) -> SyncFigures:
    db_file = repo / "autopack.db"
    sync = [str(sotsync), "--repo", str(repo), "sync", "--format", "json"]
    init = [str(sotsync), "--repo", str(repo), "db", "init"]

    def fresh() -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        run_quiet(init, repo, env)

    first = []
    for i in range(runs + 1):  # the first one is the warm-up
        fresh()
        sample = measure_once(sync, repo, env, keep=True)
        if i:
            first.append(sample)
    measure_once(sync, repo, env, keep=True)  # warm-up of the repeated figure
    repeated = [measure_once(sync, repo, env, keep=True) for _ in range(runs)]
    return SyncFigures("sqlite", first, repeated)


def sync_postgres(
    pg: Postgres, repo: Path, sotsync: Path, env: dict[str, str], runs: int
) -> SyncFigures:
    def commands(url: str) -> tuple[list[str], list[str]]:
        base = [str(sotsync), "--repo", str(repo), "--database-url", url]
        return [*base, "db", "init"], [*base, "sync", "--format", "json"]

    first = []
    for i in range(runs + 1):
        with pg.database() as url:
            init, sync = commands(url)
            run_quiet(init, repo, env)
            sample = measure_once(sync, repo, env, keep=True)
            if i:
                first.append(sample)
    with pg.database() as url:
        init, sync = commands(url)
        run_quiet(init, repo, env)
        measure_once(sync, repo, env, keep=True)  # the first sync fills the mirror
        measure_once(sync, repo, env, keep=True)  # warm-up
        repeated = [measure_once(sync, repo, env, keep=True) for _ in range(runs)]
    return SyncFigures("postgresql", first, repeated)


def sync_rows(lite: SyncFigures, pg: SyncFigures | None, pg_error: str | None) -> list[Row]:
    entries = writes_of(lite.first[0])
    lite_writes = sum(writes_of(s) for s in lite.repeated)
    rows = [
        Row(
            f"sync corpus, SQLite, first run ({entries} rows written)",
            "target 0.5 s",
            fmt_seconds(lite.first_s),
            lite.first_s / 0.5,
            "≤ 0.5 s",
            lite.first_s <= 0.5,
            detail=lite.detail(),
        ),
        Row(
            f"sync corpus, SQLite, repeated run ({lite_writes} writes)",
            "target 0.3 s, 0 writes",
            fmt_seconds(lite.repeated_s),
            lite.repeated_s / 0.3,
            "≤ 0.3 s, 0 writes",
            lite.repeated_s <= 0.3 and lite_writes == 0,
        ),
    ]
    if pg is None:
        for which in ("first", "repeated"):
            rows.append(
                missing_row(
                    f"sync corpus, PostgreSQL, {which} run",
                    "≤ 2× SQLite",
                    f"PostgreSQL not reachable: {pg_error}",
                )
            )
        return rows
    pg_writes = sum(writes_of(s) for s in pg.repeated)
    rows += [
        Row(
            f"sync corpus, PostgreSQL, first run ({writes_of(pg.first[0])} rows written)",
            f"SQLite {fmt_seconds(lite.first_s)}",
            fmt_seconds(pg.first_s),
            pg.first_s / lite.first_s,
            "≤ 2× SQLite",
            pg.first_s <= 2 * lite.first_s,
            unit="×",
            detail=pg.detail(),
        ),
        Row(
            f"sync corpus, PostgreSQL, repeated run ({pg_writes} writes)",
            f"SQLite {fmt_seconds(lite.repeated_s)}",
            fmt_seconds(pg.repeated_s),
            pg.repeated_s / lite.repeated_s,
            "≤ 2× SQLite, 0 writes",
            pg.repeated_s <= 2 * lite.repeated_s and pg_writes == 0,
            unit="×",
        ),
    ]
    return rows


# --------------------------------------------------------------------------- reconcile


def cached_runs_db(n_runs: int, env: dict[str, str]) -> tuple[Path, bool]:
    """``benchmarks/out/runs-<N>.db``, generated by genruns on first use; (path, generated)."""
    path = OUT_DIR / f"runs-{n_runs}.db"
    if path.is_file():
        return path, False
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.unlink(missing_ok=True)
    print(f"generating {n_runs:,} runs into {path} (cached for later runs) ...", file=sys.stderr)
    run_quiet(
        [
            sys.executable,
            str(HERE / "genruns.py"),
            "--url",
            f"sqlite:///{partial}",
            "--runs",
            str(n_runs),
            "--runs-only",
            "--create",
        ],
        HERE,
        env,
    )
    os.replace(partial, path)
    return path, True


def reconcile_rows(
    repo: Path, runs_db: Path, sotsync: Path, env: dict[str, str], runs: int, n_runs: int
) -> list[Row]:
    shutil.copyfile(runs_db, repo / "autopack.db")
    run_quiet([str(sotsync), "--repo", str(repo), "db", "init"], repo, env)
    run_quiet([str(sotsync), "--repo", str(repo), "sync"], repo, env)
    command = [str(sotsync), "--repo", str(repo), "reconcile"]
    summary = [*command, "--format", "json"]
    rows = []
    config = repo / ".sotsync.toml"
    for since in (None, ADOPTED_SINCE):
        config.unlink(missing_ok=True)
        if since is not None:
            config.write_text(f'expect_since = "{since}"\n', encoding="utf-8")
        report = json.loads(measure_once(summary, repo, env, keep=True, ok=(0, 1)).stdout)
        samples = [measure_once(command, repo, env, ok=(0, 1)) for _ in range(runs)]
        seconds = median_seconds(samples)
        rss = statistics.median(s.rss for s in samples)
        flagged = report["counts"]["run-needs-entry"]
        what = "default rules" if since is None else "expect_since = newest - 1 day"
        detail = {
            "config": what,
            "expect_since": since,
            "runs_checked": report["runs_checked"],
            "counts": report["counts"],
            "seconds": [s.seconds for s in samples],
            "rss": [s.rss for s in samples],
            "exit_codes": [s.rc for s in samples],
        }
        head = f"reconcile {n_runs:,} runs, {what} ({flagged:,} flagged)"
        rows.append(
            Row(
                f"{head}: time",
                "target 10 s",
                fmt_seconds(seconds),
                seconds / 10,
                "≤ 10 s",
                seconds <= 10,
                detail=detail,
            )
        )
        rows.append(
            Row(
                f"{head}: peak RSS",
                "target 500 MB",
                f"{rss / MB:.0f} MB",
                rss / (500 * MB),
                "≤ 500 MB",
                rss <= 500 * MB,
            )
        )
    config.unlink(missing_ok=True)
    return rows


# --------------------------------------------------------------------------- entry points


def measure(
    quick: bool = False,
    repeat: int = 5,
    corpus: Path = DEFAULT_CORPUS,
    pg_url: str = DEFAULT_PG,
    info: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Sync (SQLite, PostgreSQL) and reconcile figures as ``_table`` rows.

    *info*, when given, receives what the JSON document records about the run (run database,
    PostgreSQL error).
    """
    sotsync = sotsync_script()
    env = child_env()
    n_runs = RUNS_QUICK if quick else RUNS_FULL
    pg: Postgres | None = None
    pg_error: str | None = None
    try:
        pg = Postgres(pg_url)
    except Exception as exc:  # psycopg missing or server unreachable: reported, not fatal
        pg_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    runs_db, generated = cached_runs_db(n_runs, env)
    with tempfile.TemporaryDirectory(prefix="bench-db-") as name:
        tmp = Path(name)
        repo = corpus_workspace(corpus, tmp / "corpus", env)
        lite = sync_sqlite(repo, sotsync, env, repeat)
        pg_figures = None
        if pg is not None:
            try:
                pg_figures = sync_postgres(pg, repo, sotsync, env, repeat)
            finally:
                pg.close()
        rows = sync_rows(lite, pg_figures, pg_error)
        big = corpus_workspace(corpus, tmp / "reconcile", env)
        rows += reconcile_rows(big, runs_db, sotsync, env, repeat, n_runs)
    if info is not None:
        info.update(
            reconcile_runs=n_runs,
            runs_db=str(runs_db),
            runs_db_generated=generated,
            postgres=None if pg_error else pg_url,
            postgres_error=pg_error,
        )
    return [r.to_dict() for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per figure (median)")
    parser.add_argument(
        "--quick", action="store_true", help=f"reconcile against {RUNS_QUICK:,} runs, not 1M"
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory")
    parser.add_argument(
        "--pg-url", default=DEFAULT_PG, help="PostgreSQL server (a database to connect to)"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="JSON result file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    dont_write = os.environ.get("PYTHONDONTWRITEBYTECODE")
    started = time.perf_counter()
    info: dict[str, Any] = {}
    try:
        rows = [
            Row.from_dict(r) for r in measure(args.quick, args.runs, args.corpus, args.pg_url, info)
        ]
    except BenchError as exc:
        print(f"bench_db: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started

    print(render_table(rows))
    print()
    print(
        f"medians of {args.runs} runs, whole processes, each figure after one untimed warm-up "
        f"run; run database {info['runs_db']}"
        f"{' (generated now)' if info['runs_db_generated'] else ' (cached)'}; "
        f"python {platform.python_version()}, {platform.platform()}"
    )
    if dont_write:
        print(
            f"note: PYTHONDONTWRITEBYTECODE={dont_write} is set here; it was removed from the "
            "measured processes' environment so that bytecode caches are written and used"
        )
    lost = missed(rows)
    print(f"targets missed: {'; '.join(lost)}" if lost else "all targets met")

    write_json(
        args.out,
        {
            "version": 2,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runs": args.runs,
            "quick": args.quick,
            **info,
            "corpus": str(args.corpus),
            "python": sys.version,
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "pythondontwritebytecode_in_parent": dont_write,
            "elapsed_seconds": elapsed,
            "results": [r.to_dict() for r in rows],
        },
    )
    print(f"wrote {args.out}")
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
