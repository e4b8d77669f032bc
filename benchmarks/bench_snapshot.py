"""Performance of database snapshots (SPEC §9), measured in one run against their baselines.

Usage: ``.venv/bin/python benchmarks/bench_snapshot.py [--rows 1000000] [--repeat 1]
[--pg-url URL] [--json FILE]``.

On a generated Autopack ``runs`` table (``benchmarks/genruns.py --runs-only``; 1,000,000 rows,
about 280 MB of row data, cached in ``benchmarks/out/runs-<N>.db``), whole processes, each the
median of ``--repeat`` runs:

1. ``sotsync snapshot create`` into a fresh repository vs ``sqlite3 DB ".backup FILE"``;
   target ≤ 3×.
2. The next ``snapshot create`` after 100 rows spread at random over the table were changed:
   its time vs the first's (target ≤ 0.5×), and the bytes it added under ``.git/objects`` vs
   what the first added (target ≤ 2 %).
3. ``sotsync snapshot restore`` into a new SQLite file vs ``sqlite3 NEW ".restore DB"``;
   target ≤ 3×.
4. The same rows loaded (not timed) into a fresh PostgreSQL database on ``--pg-url``'s server:
   ``sotsync snapshot create`` vs ``pg_dump -Fc``; target ≤ 2×.

Each row also records the CPU seconds of the measured processes (the machine may be shared).
``measure(rows)`` returns the result rows as dicts for a consolidated benchmark; ``main``
prints them as a table, optionally writes ``--json FILE``, and exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from _table import (  # noqa: E402
    Row,
    child_env,
    git_child_env,
    missing_row,
    render_table,
    sotsync_script,
    write_json,
)
from bench_db import cached_runs_db  # noqa: E402

DEFAULT_ROWS = 1_000_000
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
CHANGED_ROWS = 100
DEVICE = "bench"
PG_FIGURE = "PostgreSQL snapshot of the same data"


def _timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process; a failure is fatal."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"bench_snapshot: {' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        )
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


def _median(
    repeat: int, prepare: Callable[[], None], argv: Sequence[str], env: dict[str, str], cwd: Path
) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        prepare()
        samples.append(_timed(argv, env, cwd))
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def _objects_bytes(repo: Path) -> int:
    """Bytes of every file under ``.git/objects`` (loose objects, packs and their indexes)."""
    return sum(p.stat().st_size for p in (repo / ".git" / "objects").rglob("*") if p.is_file())


def _fresh_repo(path: Path, env: dict[str, str]) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], env=env, check=True)


def _change_rows(db: Path, count: int, seed: int = 9) -> None:
    """Change *count* rows picked at random over the whole table (one transaction)."""
    conn = sqlite3.connect(db)
    try:
        (top,) = conn.execute("SELECT max(rowid) FROM runs").fetchone()
        picked = random.Random(seed).sample(range(1, int(top) + 1), count)
        conn.executemany(
            "UPDATE runs SET tokens_used = tokens_used + 1, failure_reason = 'bench change' "
            "WHERE rowid = ?",
            [(r,) for r in picked],
        )
        conn.commit()
    finally:
        conn.close()


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _row(
    figure: str,
    baseline: str,
    measured: str,
    ratio: float,
    target: float,
    unit: str,
    detail: dict[str, Any],
) -> Row:
    return Row(
        figure=figure,
        baseline=baseline,
        value=measured,
        ratio=ratio,
        target=f"≤ {target:g}{unit}" if unit != "%" else f"≤ {target:g} %",
        met=ratio <= target,
        unit=unit,
        detail=detail,
    )


def _load_postgres(source: Path, url: str) -> None:
    """Create Autopack's tables in the database at *url* and copy every run into them."""
    import psycopg
    from genruns import create_autopack_schema

    from sotsync.db import connect

    db = connect(url, Path("."))
    try:
        create_autopack_schema(db)
    finally:
        db.close()
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    columns = [r[1] for r in lite.execute("PRAGMA table_info(runs)")]
    names = ", ".join(columns)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY runs ({names}) FROM STDIN") as copy:
            for row in lite.execute(f"SELECT {names} FROM runs"):
                copy.write_row(row)
        cur.execute("ANALYZE runs")
    lite.close()


def _postgres_rows(
    source: Path, pg_url: str, tmp: Path, sotsync: Path, env: dict[str, str], repeat: int
) -> list[Row]:
    import psycopg

    name = f"sotsync_bench_snapshot_{os.getpid()}"
    base = pg_url.rpartition("/")[0]
    url = f"{base}/{name}"
    try:
        admin = psycopg.connect(pg_url, autocommit=True, connect_timeout=5)
    except Exception as exc:  # no server: reported in the table, not fatal
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [missing_row(PG_FIGURE, "≤ 2×", f"no PostgreSQL server: {first}")]
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        _load_postgres(source, url)
        dump = tmp / "bench.dump"
        dump_wall, dump_cpu = _median(
            repeat,
            lambda: dump.unlink(missing_ok=True),
            ["pg_dump", "-Fc", "-f", str(dump), url],
            env,
            tmp,
        )
        repo = tmp / "pg-repo"
        create = [str(sotsync), "--repo", str(repo), "--database-url", url, "snapshot", "create"]
        wall, cpu = _median(repeat, lambda: _fresh_repo(repo, env), create, env, tmp)
        return [
            _row(
                PG_FIGURE,
                f"pg_dump -Fc {_seconds(dump_wall)}",
                _seconds(wall),
                wall / dump_wall,
                2,
                "×",
                {
                    "seconds": wall,
                    "cpu_seconds": cpu,
                    "baseline_seconds": dump_wall,
                    "baseline_cpu_seconds": dump_cpu,
                    "dump_bytes": dump.stat().st_size,
                    "objects_bytes": _objects_bytes(repo),
                },
            )
        ]
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def measure(
    rows: int = DEFAULT_ROWS,
    repeat: int = 1,
    pg_url: str | None = DEFAULT_PG,
) -> list[dict[str, Any]]:
    """Run every figure on a *rows*-row runs table; the result rows as dicts (see ``Row``)."""
    sotsync = sotsync_script()
    source, _generated = cached_runs_db(rows, child_env())
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as name:
        tmp = Path(name)
        (tmp / "home").mkdir()
        env = git_child_env(tmp / "home", SOTSYNC_DEVICE=DEVICE)
        db = tmp / "runs.db"
        shutil.copyfile(source, db)
        url = f"sqlite:///{db}"
        found: list[Row] = []

        backup = tmp / "backup.db"
        backup_wall, backup_cpu = _median(
            repeat,
            lambda: backup.unlink(missing_ok=True),
            ["sqlite3", str(db), f".backup {backup}"],
            env,
            tmp,
        )
        repo = tmp / "repo"
        create = [str(sotsync), "--repo", str(repo), "--database-url", url, "snapshot", "create"]
        first_wall, first_cpu = _median(repeat, lambda: _fresh_repo(repo, env), create, env, tmp)
        first_bytes = _objects_bytes(repo)
        found.append(
            _row(
                f"snapshot of a {rows:,}-row SQLite DB",
                f"sqlite3 .backup {_seconds(backup_wall)}",
                _seconds(first_wall),
                first_wall / backup_wall,
                3,
                "×",
                {
                    "seconds": first_wall,
                    "cpu_seconds": first_cpu,
                    "baseline_seconds": backup_wall,
                    "baseline_cpu_seconds": backup_cpu,
                    "database_bytes": db.stat().st_size,
                    "objects_bytes": first_bytes,
                },
            )
        )

        _change_rows(db, CHANGED_ROWS)
        before = _objects_bytes(repo)
        next_wall, next_cpu = _timed(create, env, tmp)
        added = _objects_bytes(repo) - before
        detail = {
            "seconds": next_wall,
            "cpu_seconds": next_cpu,
            "first_seconds": first_wall,
            "first_cpu_seconds": first_cpu,
            "new_object_bytes": added,
            "first_object_bytes": first_bytes,
        }
        found.append(
            _row(
                f"next snapshot after {CHANGED_ROWS} changed rows: time",
                f"first snapshot {_seconds(first_wall)}",
                _seconds(next_wall),
                next_wall / first_wall,
                0.5,
                "×",
                detail,
            )
        )
        found.append(
            _row(
                f"next snapshot after {CHANGED_ROWS} changed rows: new object bytes",
                f"first snapshot {first_bytes / 1e6:.1f} MB",
                f"{added / 1e6:.2f} MB",
                100 * added / first_bytes,
                2,
                "%",
                detail,
            )
        )

        restored = tmp / "restored.db"
        baseline_restore = tmp / "sqlite-restored.db"

        def clear(path: Path) -> Callable[[], None]:
            def run() -> None:
                for suffix in ("", "-journal", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

            return run

        restore_wall, restore_cpu = _median(
            repeat,
            clear(baseline_restore),
            ["sqlite3", str(baseline_restore), f".restore {db}"],
            env,
            tmp,
        )
        restore = [
            str(sotsync),
            "--repo",
            str(repo),
            "snapshot",
            "restore",
            DEVICE,
            "--to",
            f"sqlite:///{restored}",
        ]
        wall, cpu = _median(repeat, clear(restored), restore, env, tmp)
        found.append(
            _row(
                "snapshot restore",
                f"sqlite3 .restore {_seconds(restore_wall)}",
                _seconds(wall),
                wall / restore_wall,
                3,
                "×",
                {
                    "seconds": wall,
                    "cpu_seconds": cpu,
                    "baseline_seconds": restore_wall,
                    "baseline_cpu_seconds": restore_cpu,
                },
            )
        )
        if pg_url is not None:
            found += _postgres_rows(db, pg_url, tmp, sotsync, env, repeat)
    return [r.to_dict() for r in found]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the runs table")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (median)")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server to use")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL figure")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.rows < CHANGED_ROWS or args.repeat < 1:
        parser.error(f"--rows must be at least {CHANGED_ROWS} and --repeat at least 1")
    started = time.perf_counter()
    results = measure(args.rows, args.repeat, None if args.no_pg else args.pg_url)
    rows = [Row.from_dict(r) for r in results]
    print(render_table(rows))
    print()
    load = os.getloadavg()
    print(
        f"{args.rows:,} rows; medians of {args.repeat} run(s), whole processes; "
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"python {platform.python_version()}; {time.perf_counter() - started:.0f} s in all"
    )
    missed = [r.figure for r in rows if r.met is False]
    print(f"targets missed: {'; '.join(missed)}" if missed else "all targets met")
    if args.json is not None:
        doc = {
            "version": 1,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rows": args.rows,
            "repeat": args.repeat,
            "cpu_count": os.cpu_count(),
            "load_average": load,
            "results": results,
        }
        write_json(args.json, doc)
        print(f"wrote {args.json}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
