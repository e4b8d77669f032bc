"""Performance of ``sotsync lint`` and of starting ``sotsync``, as ratios measured in one run.

Usage: ``.venv/bin/python benchmarks/bench_lint.py [--runs 5] [--quick] [--corpus DIR]``.

Three figures of SPEC §9, each against a baseline measured on the same machine in the same run:

1. ``sotsync lint`` of the three Autopack corpus ledgers, a new process per run (cold), against a
   full markdown-it-py parse (CommonMark + tables) of the same three files inside one process.
   The whole-process variant of that parse is reported as well, for transparency.  Target ≤ 0.5.
2. ``sotsync lint`` of generated ledgers of 5, 20 and 50 MB (``--quick``: 0.5, 2 and 5 MB):
   throughput at the largest size (target ≥ 20 MB/s), peak RSS of the lint process as a multiple
   of the file size (target ≤ 5×) and time per MB at the largest size against the smallest
   (linear growth; target ≤ 1.3).
3. ``sotsync --version`` (the installed console script) against ``python -c pass`` with the same
   interpreter, median of 20 runs each.  Target ≤ 1.5.

Every process is started through a small wrapper process that times it and reads its peak RSS
with ``getrusage(RUSAGE_CHILDREN)``, so measurements never mix.  Each command runs once untimed
first (file cache, bytecode caches), then ``--runs`` times; the table shows medians.  Children run
without ``PYTHONDONTWRITEBYTECODE`` so that bytecode caches are written and used, as on a normal
installation.  Results go to stdout as a table and to ``benchmarks/out/bench_lint.json``;
``measure()`` returns the same rows to ``benchmarks/run``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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
    child_env,
    corpus_paths,
    fmt_seconds,
    median_rss,
    median_seconds,
    missed,
    render_table,
    repeat_measured,
    sotsync_script,
    write_json,
)

OUT = OUT_DIR / "bench_lint.json"
SIZES_MB = (5.0, 20.0, 50.0)
QUICK_SIZES_MB = (0.5, 2.0, 5.0)
STARTUP_RUNS = 20

_MDIT_SCRIPT = """\
import sys
from markdown_it import MarkdownIt
md = MarkdownIt("commonmark").enable("table")
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        md.parse(handle.read().decode("utf-8", "replace"))
"""


def git_workspace(root: Path) -> Path:
    """An empty git repository with a ``docs/`` folder, for ledgers to be copied into."""
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "docs").mkdir()
    return root


def load_generator() -> Callable[..., bytes]:
    spec = importlib.util.spec_from_file_location("genledger", HERE / "genledger.py")
    if spec is None or spec.loader is None:
        raise BenchError("benchmarks/genledger.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules["genledger"] = module  # dataclasses in genledger look their module up
    spec.loader.exec_module(module)
    generate: Callable[..., bytes] = module.generate_ledger
    return generate


# --------------------------------------------------------------------------- figures


def bench_corpus(
    corpus: Path, tmp: Path, sotsync: Path, env: dict[str, str], runs: int
) -> list[Row]:
    from markdown_it import MarkdownIt

    repo = git_workspace(tmp / "corpus")
    paths = []
    for source in corpus_paths(corpus):
        target = repo / "docs" / source.name
        target.write_bytes(source.read_bytes())
        paths.append(target)
    size = sum(p.stat().st_size for p in paths)
    texts = [p.read_bytes().decode("utf-8", "replace") for p in paths]

    command = [str(sotsync), "--repo", str(repo), "lint", "--fail-on", "never"]
    lint = repeat_measured(command, repo, env, runs)

    def parse_all() -> None:
        md = MarkdownIt("commonmark").enable("table")
        for text in texts:
            md.parse(text)

    parse_all()  # warm-up: imports and rule compilation are not part of the in-process figure
    in_process = []
    for _ in range(runs):
        started = time.perf_counter()
        parse_all()
        in_process.append(time.perf_counter() - started)
    whole = repeat_measured([sys.executable, "-c", _MDIT_SCRIPT, *map(str, paths)], repo, env, runs)

    lint_s = median_seconds(lint)
    parse_s = statistics.median(in_process)
    whole_s = median_seconds(whole)
    detail = {
        "bytes": size,
        "lint_seconds": [s.seconds for s in lint],
        "lint_rss": [s.rss for s in lint],
        "markdown_it_in_process_seconds": in_process,
        "markdown_it_whole_process_seconds": [s.seconds for s in whole],
    }
    return [
        Row(
            figure=f"lint corpus ({len(paths)} files, {size / MB:.2f} MB), whole process, cold",
            baseline=f"markdown-it parse, in process {fmt_seconds(parse_s)}",
            value=fmt_seconds(lint_s),
            ratio=lint_s / parse_s,
            target="≤ 0.5",
            met=lint_s / parse_s <= 0.5,
            detail=detail,
        ),
        Row(
            figure="  same, against markdown-it whole process",
            baseline=f"python + markdown-it parse {fmt_seconds(whole_s)}",
            value=fmt_seconds(lint_s),
            ratio=lint_s / whole_s,
            target="(shown only)",
            met=None,
        ),
    ]


def bench_large(
    sizes: Sequence[float], tmp: Path, sotsync: Path, env: dict[str, str], runs: int
) -> list[Row]:
    generate = load_generator()
    rows: list[Row] = []
    per_mb: dict[float, float] = {}
    for size_mb in sizes:
        repo = git_workspace(tmp / f"ledger-{size_mb:g}mb")
        ledger = repo / "docs" / "BUILD_HISTORY.md"
        ledger.write_bytes(generate(int(size_mb * MB), seed=0))
        nbytes = ledger.stat().st_size
        mbytes = nbytes / MB
        command = [str(sotsync), "--repo", str(repo), "lint", "--fail-on", "never"]
        samples = repeat_measured(command, repo, env, runs)
        seconds = median_seconds(samples)
        rss = median_rss(samples)
        per_mb[size_mb] = seconds / mbytes
        largest = size_mb == max(sizes)
        detail = {
            "bytes": nbytes,
            "seconds": [s.seconds for s in samples],
            "rss": [s.rss for s in samples],
        }
        rows.append(
            Row(
                figure=f"lint {size_mb:g} MB ledger: throughput",
                baseline=f"target 20 MB/s ({mbytes:.1f} MB in {fmt_seconds(seconds)})",
                value=f"{mbytes / seconds:.1f} MB/s",
                ratio=mbytes / seconds / 20,
                target="≥ 20 MB/s" if largest else "(shown only)",
                met=mbytes / seconds >= 20 if largest else None,
                detail=detail,
            )
        )
        rows.append(
            Row(
                figure=f"lint {size_mb:g} MB ledger: peak RSS",
                baseline=f"file {mbytes:.1f} MB",
                value=f"{rss / MB:.0f} MB",
                ratio=rss / nbytes,
                target="≤ 5×" if largest else "(shown only)",
                met=rss / nbytes <= 5 if largest else None,
                unit="×",
            )
        )
        ledger.unlink()
    small, large = min(sizes), max(sizes)
    growth = per_mb[large] / per_mb[small]
    rows.append(
        Row(
            figure=f"lint time per MB, {large:g} MB vs {small:g} MB (linear growth)",
            baseline=f"{per_mb[small] * 1000:.1f} ms/MB",
            value=f"{per_mb[large] * 1000:.1f} ms/MB",
            ratio=growth,
            target="≤ 1.3",
            met=growth <= 1.3,
            detail={"seconds_per_mb": {f"{k:g}": v for k, v in per_mb.items()}},
        )
    )
    return rows


def bench_startup(tmp: Path, sotsync: Path, env: dict[str, str], runs: int) -> list[Row]:
    version = repeat_measured([str(sotsync), "--version"], tmp, env, runs)
    bare = repeat_measured([sys.executable, "-c", "pass"], tmp, env, runs)
    version_s, bare_s = median_seconds(version), median_seconds(bare)
    return [
        Row(
            figure="sotsync --version, whole process",
            baseline=f"python -c pass {fmt_seconds(bare_s)}",
            value=fmt_seconds(version_s),
            ratio=version_s / bare_s,
            target="≤ 1.5",
            met=version_s / bare_s <= 1.5,
            unit="×",
            detail={
                "version_seconds": [s.seconds for s in version],
                "python_pass_seconds": [s.seconds for s in bare],
            },
        )
    ]


def measure(
    quick: bool = False,
    repeat: int = 5,
    corpus: Path = DEFAULT_CORPUS,
    startup: bool = True,
) -> list[dict[str, Any]]:
    """Every lint figure (and, with *startup*, ``sotsync --version``) as ``_table`` rows."""
    sotsync = sotsync_script()
    env = child_env()
    sizes = QUICK_SIZES_MB if quick else SIZES_MB
    with tempfile.TemporaryDirectory(prefix="bench-lint-") as name:
        tmp = Path(name)
        rows = bench_corpus(corpus, tmp, sotsync, env, repeat)
        rows += bench_large(sizes, tmp, sotsync, env, repeat)
        if startup:
            rows += bench_startup(tmp, sotsync, env, max(STARTUP_RUNS, repeat))
    return [r.to_dict() for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="ledgers of 0.5/2/5 MB, not 5/20/50")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON result file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    dont_write = os.environ.get("PYTHONDONTWRITEBYTECODE")
    started = time.perf_counter()
    try:
        rows = [Row.from_dict(r) for r in measure(args.quick, args.runs, args.corpus)]
    except BenchError as exc:
        print(f"bench_lint: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started

    print(render_table(rows))
    print()
    print(
        f"medians of {args.runs} runs ({max(STARTUP_RUNS, args.runs)} for startup), each after "
        f"one untimed warm-up run; python {platform.python_version()}, {platform.platform()}"
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
            "startup_runs": max(STARTUP_RUNS, args.runs),
            "quick": args.quick,
            "sizes_mb": list(QUICK_SIZES_MB if args.quick else SIZES_MB),
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
    sys.exit(main())
