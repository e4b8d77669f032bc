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
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"
OUT = OUT_DIR / "bench_db.json"
DEFAULT_CORPUS = Path("/work/shared/corpus/autopack")
CORPUS_FILES = ("BUILD_HISTORY.md", "DEBUG_LOG.md", "ARCHITECTURE_DECISIONS.md")
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
MB = 1_000_000
RUNS_FULL = 1_000_000
RUNS_QUICK = 100_000
# genruns' default "now" is 2026-02-12T18:00; an adopted workspace exempts older runs.
ADOPTED_SINCE = "2026-02-11T18:00:00Z"

# Runs one command, then reports its wall time, peak RSS and (when asked) its stdout as one
# JSON line.  It is a separate process so that RUSAGE_CHILDREN describes exactly one child.
_WRAPPER = """\
import json, resource, subprocess, sys, time
keep = sys.argv[1] == "keep"
t0 = time.perf_counter()
proc = subprocess.run(
    sys.argv[2:], stdout=subprocess.PIPE if keep else subprocess.DEVNULL, stderr=subprocess.PIPE
)
elapsed = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
rss = rss if sys.platform == "darwin" else rss * 1024
out = proc.stdout.decode("utf-8", "replace") if keep else ""
err = proc.stderr.decode("utf-8", "replace")[-2000:]
print(json.dumps({"seconds": elapsed, "rss": rss, "rc": proc.returncode, "stdout": out,
                  "stderr": err}))
"""


@dataclass(frozen=True)
class Sample:
    """One measured process: wall time (s), peak RSS (bytes), exit code, stdout if kept."""

    seconds: float
    rss: int
    rc: int
    stdout: str = ""


@dataclass
class Row:
    """One line of the result table (and of the JSON ``results``)."""

    figure: str
    baseline: str
    measured: str
    ratio: float | None
    target: str
    met: bool | None
    unit: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def child_env() -> dict[str, str]:
    """The environment of measured processes: bytecode caches on, no database variables."""
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "DATABASE_URL", "SOTSYNC_DATABASE_URL"):
        env.pop(name, None)
    return env


def measure(
    argv: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    keep: bool = False,
    ok: Sequence[int] = (0,),
) -> Sample:
    """Run ``argv`` once under the wrapper; an exit code outside ``ok`` is fatal."""
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "keep" if keep else "drop", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=True,
    )
    data = json.loads(proc.stdout)
    if data["rc"] not in ok:
        raise SystemExit(
            f"bench_db: {' '.join(argv)} exited {data['rc']} in {cwd}:\n{data['stderr']}"
        )
    return Sample(float(data["seconds"]), int(data["rss"]), int(data["rc"]), str(data["stdout"]))


def run_quiet(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
    """An untimed preparation step; its failure is fatal."""
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(
            f"bench_db: {' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        )


def writes_of(sample: Sample) -> int:
    """The ``writes`` count reported by ``sotsync sync --format json``."""
    return int(json.loads(sample.stdout)["writes"])


def median_seconds(samples: Sequence[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def sotsync_script() -> Path:
    """The installed ``sotsync`` console script beside this interpreter."""
    script = Path(sys.executable).parent / "sotsync"
    if not script.exists():
        found = shutil.which("sotsync")
        if found is None:
            raise SystemExit("bench_db: the sotsync console script is not installed")
        script = Path(found)
    return script


def corpus_workspace(corpus: Path, root: Path, env: dict[str, str]) -> Path:
    """A git repository holding the three corpus ledgers in ``docs/``, committed."""
    missing = [name for name in CORPUS_FILES if not (corpus / name).is_file()]
    if missing:
        raise SystemExit(f"bench_db: {corpus} lacks {', '.join(missing)} (use --corpus DIR)")
    (root / "docs").mkdir(parents=True)
    for name in CORPUS_FILES:
        shutil.copyfile(corpus / name, root / "docs" / name)
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
        sample = measure(sync, repo, env, keep=True)
        if i:
            first.append(sample)
    measure(sync, repo, env, keep=True)  # warm-up of the repeated figure
    repeated = [measure(sync, repo, env, keep=True) for _ in range(runs)]
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
            sample = measure(sync, repo, env, keep=True)
            if i:
                first.append(sample)
    with pg.database() as url:
        init, sync = commands(url)
        run_quiet(init, repo, env)
        measure(sync, repo, env, keep=True)  # the first sync fills the mirror
        measure(sync, repo, env, keep=True)  # warm-up
        repeated = [measure(sync, repo, env, keep=True) for _ in range(runs)]
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
                Row(
                    f"sync corpus, PostgreSQL, {which} run",
                    "SQLite",
                    f"not measured: {pg_error}",
                    None,
                    "≤ 2× SQLite",
                    False,
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
        report = json.loads(measure(summary, repo, env, keep=True, ok=(0, 1)).stdout)
        samples = [measure(command, repo, env, ok=(0, 1)) for _ in range(runs)]
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


# --------------------------------------------------------------------------- output


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return "-"
    return f"{row.ratio:.2f}{row.unit}"


def _met(row: Row) -> str:
    return "-" if row.met is None else ("yes" if row.met else "NO")


def render_table(rows: Sequence[Row]) -> str:
    header = ("figure", "baseline/target", "measured", "ratio", "met?")
    cells = [header] + [(r.figure, r.baseline, r.measured, _ratio(r), _met(r)) for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


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

    sotsync = sotsync_script()
    env = child_env()
    n_runs = RUNS_QUICK if args.quick else RUNS_FULL
    dont_write = os.environ.get("PYTHONDONTWRITEBYTECODE")
    started = time.perf_counter()
    pg: Postgres | None = None
    pg_error: str | None = None
    try:
        pg = Postgres(args.pg_url)
    except Exception as exc:  # psycopg missing or server unreachable: reported, not fatal
        pg_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    runs_db, generated = cached_runs_db(n_runs, env)
    with tempfile.TemporaryDirectory(prefix="bench-db-") as name:
        tmp = Path(name)
        repo = corpus_workspace(args.corpus, tmp / "corpus", env)
        lite = sync_sqlite(repo, sotsync, env, args.runs)
        pg_figures = None
        if pg is not None:
            try:
                pg_figures = sync_postgres(pg, repo, sotsync, env, args.runs)
            finally:
                pg.close()
        rows = sync_rows(lite, pg_figures, pg_error)
        big = corpus_workspace(args.corpus, tmp / "reconcile", env)
        rows += reconcile_rows(big, runs_db, sotsync, env, args.runs, n_runs)
    elapsed = time.perf_counter() - started

    print(render_table(rows))
    print()
    print(
        f"medians of {args.runs} runs, whole processes, each figure after one untimed warm-up "
        f"run; run database {runs_db}{' (generated now)' if generated else ' (cached)'}; "
        f"python {platform.python_version()}, {platform.platform()}"
    )
    if dont_write:
        print(
            f"note: PYTHONDONTWRITEBYTECODE={dont_write} is set here; it was removed from the "
            "measured processes' environment so that bytecode caches are written and used"
        )
    missed = [r.figure.strip() for r in rows if r.met is False]
    print(f"targets missed: {'; '.join(missed)}" if missed else "all targets met")

    doc = {
        "version": 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": args.runs,
        "quick": args.quick,
        "reconcile_runs": n_runs,
        "runs_db": str(runs_db),
        "corpus": str(args.corpus),
        "postgres": None if pg_error else args.pg_url,
        "postgres_error": pg_error,
        "sotsync": str(sotsync),
        "python": sys.version,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "pythondontwritebytecode_in_parent": dont_write,
        "elapsed_seconds": elapsed,
        "results": [asdict(r) for r in rows],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
