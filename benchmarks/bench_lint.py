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
installation.  Results go to stdout as a table and to ``benchmarks/out/bench_lint.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "bench_lint.json"
DEFAULT_CORPUS = Path("/work/shared/corpus/autopack")
CORPUS_FILES = ("BUILD_HISTORY.md", "DEBUG_LOG.md", "ARCHITECTURE_DECISIONS.md")
MB = 1_000_000
SIZES_MB = (5.0, 20.0, 50.0)
QUICK_SIZES_MB = (0.5, 2.0, 5.0)
STARTUP_RUNS = 20

# Runs one command, then reports its wall time and peak RSS as one JSON line.  It is a separate
# process so that RUSAGE_CHILDREN describes exactly one child.
_WRAPPER = """\
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
elapsed = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
rss = rss if sys.platform == "darwin" else rss * 1024
err = proc.stderr.decode("utf-8", "replace")[-2000:]
print(json.dumps({"seconds": elapsed, "rss": rss, "rc": proc.returncode, "stderr": err}))
"""

_MDIT_SCRIPT = """\
import sys
from markdown_it import MarkdownIt
md = MarkdownIt("commonmark").enable("table")
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        md.parse(handle.read().decode("utf-8", "replace"))
"""


@dataclass(frozen=True)
class Sample:
    """One measured process: wall time (s), peak RSS (bytes), exit code."""

    seconds: float
    rss: int
    rc: int


@dataclass
class Row:
    """One line of the result table (and of the JSON ``results``)."""

    figure: str
    measured: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    unit: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def child_env() -> dict[str, str]:
    """The environment of measured processes: bytecode caches on."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> Sample:
    """Run ``argv`` once under the wrapper; exit codes other than 0 and 1 are fatal."""
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=True,
    )
    data = json.loads(proc.stdout)
    if data["rc"] not in (0, 1):
        raise SystemExit(
            f"bench_lint: {' '.join(argv)} exited {data['rc']} in {cwd}:\n{data['stderr']}"
        )
    return Sample(float(data["seconds"]), int(data["rss"]), int(data["rc"]))


def repeat(argv: Sequence[str], cwd: Path, env: dict[str, str], runs: int) -> list[Sample]:
    """One untimed warm-up run, then ``runs`` measured ones."""
    measure(argv, cwd, env)
    return [measure(argv, cwd, env) for _ in range(runs)]


def median_seconds(samples: Sequence[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def median_rss(samples: Sequence[Sample]) -> float:
    return statistics.median(s.rss for s in samples)


def git_workspace(root: Path) -> Path:
    """An empty git repository with a ``docs/`` folder, for ledgers to be copied into."""
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "docs").mkdir()
    return root


def sotsync_script() -> Path:
    """The installed ``sotsync`` console script beside this interpreter."""
    script = Path(sys.executable).parent / "sotsync"
    if not script.exists():
        found = shutil.which("sotsync")
        if found is None:
            raise SystemExit("bench_lint: the sotsync console script is not installed")
        script = Path(found)
    return script


def load_generator() -> Callable[..., bytes]:
    spec = importlib.util.spec_from_file_location("genledger", HERE / "genledger.py")
    if spec is None or spec.loader is None:
        raise SystemExit("bench_lint: benchmarks/genledger.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules["genledger"] = module  # dataclasses in genledger look their module up
    spec.loader.exec_module(module)
    generate: Callable[..., bytes] = module.generate_ledger
    return generate


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


# --------------------------------------------------------------------------- figures


def bench_corpus(
    corpus: Path, tmp: Path, sotsync: Path, env: dict[str, str], runs: int
) -> list[Row]:
    from markdown_it import MarkdownIt

    missing = [name for name in CORPUS_FILES if not (corpus / name).is_file()]
    if missing:
        raise SystemExit(f"bench_lint: {corpus} lacks {', '.join(missing)} (use --corpus DIR)")
    repo = git_workspace(tmp / "corpus")
    paths = []
    for name in CORPUS_FILES:
        target = repo / "docs" / name
        target.write_bytes((corpus / name).read_bytes())
        paths.append(target)
    size = sum(p.stat().st_size for p in paths)
    texts = [p.read_bytes().decode("utf-8", "replace") for p in paths]

    command = [str(sotsync), "--repo", str(repo), "lint", "--fail-on", "never"]
    lint = repeat(command, repo, env, runs)

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
    whole = repeat([sys.executable, "-c", _MDIT_SCRIPT, *map(str, paths)], repo, env, runs)

    lint_s = median_seconds(lint)
    parse_s = statistics.median(in_process)
    whole_s = median_seconds(whole)
    label = f"lint corpus ({len(paths)} files, {size / MB:.2f} MB), whole process, cold"
    detail = {
        "bytes": size,
        "lint_seconds": [s.seconds for s in lint],
        "lint_rss": [s.rss for s in lint],
        "markdown_it_in_process_seconds": in_process,
        "markdown_it_whole_process_seconds": [s.seconds for s in whole],
    }
    return [
        Row(
            label,
            fmt_seconds(lint_s),
            f"markdown-it parse, in process {fmt_seconds(parse_s)}",
            lint_s / parse_s,
            "≤ 0.5",
            lint_s / parse_s <= 0.5,
            detail=detail,
        ),
        Row(
            "  same, against markdown-it whole process",
            fmt_seconds(lint_s),
            f"python + markdown-it parse {fmt_seconds(whole_s)}",
            lint_s / whole_s,
            "(shown only)",
            None,
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
        samples = repeat(
            [str(sotsync), "--repo", str(repo), "lint", "--fail-on", "never"], repo, env, runs
        )
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
                f"lint {size_mb:g} MB ledger: throughput",
                f"{fmt_seconds(seconds)}",
                f"{mbytes:.1f} MB",
                mbytes / seconds,
                "≥ 20 MB/s" if largest else "(shown only)",
                mbytes / seconds >= 20 if largest else None,
                unit=" MB/s",
                detail=detail,
            )
        )
        rows.append(
            Row(
                f"lint {size_mb:g} MB ledger: peak RSS",
                f"{rss / MB:.0f} MB",
                f"file {mbytes:.1f} MB",
                rss / nbytes,
                "≤ 5×" if largest else "(shown only)",
                rss / nbytes <= 5 if largest else None,
                unit="×",
            )
        )
        ledger.unlink()
    small, large = min(sizes), max(sizes)
    growth = per_mb[large] / per_mb[small]
    rows.append(
        Row(
            f"lint time per MB, {large:g} MB vs {small:g} MB",
            f"{per_mb[large] * 1000:.1f} ms/MB",
            f"{per_mb[small] * 1000:.1f} ms/MB",
            growth,
            "≤ 1.3",
            growth <= 1.3,
            detail={"seconds_per_mb": {f"{k:g}": v for k, v in per_mb.items()}},
        )
    )
    return rows


def bench_startup(tmp: Path, sotsync: Path, env: dict[str, str], runs: int) -> list[Row]:
    version = repeat([str(sotsync), "--version"], tmp, env, runs)
    bare = repeat([sys.executable, "-c", "pass"], tmp, env, runs)
    version_s, bare_s = median_seconds(version), median_seconds(bare)
    return [
        Row(
            "sotsync --version, whole process",
            fmt_seconds(version_s),
            f"python -c pass {fmt_seconds(bare_s)}",
            version_s / bare_s,
            "≤ 1.5",
            version_s / bare_s <= 1.5,
            detail={
                "version_seconds": [s.seconds for s in version],
                "python_pass_seconds": [s.seconds for s in bare],
            },
        )
    ]


# --------------------------------------------------------------------------- output


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return "-"
    number = f"{row.ratio:.1f}" if row.ratio >= 10 else f"{row.ratio:.2f}"
    return number + row.unit


def _met(row: Row) -> str:
    return "-" if row.met is None else ("yes" if row.met else "NO")


def render_table(rows: Sequence[Row]) -> str:
    header = ("figure", "measured", "baseline", "ratio", "target", "met?")
    cells = [header] + [
        (r.figure, r.measured, r.baseline, _ratio(r), r.target, _met(r)) for r in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="ledgers of 0.5/2/5 MB, not 5/20/50")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON result file")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    sotsync = sotsync_script()
    env = child_env()
    sizes = QUICK_SIZES_MB if args.quick else SIZES_MB
    dont_write = os.environ.get("PYTHONDONTWRITEBYTECODE")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-lint-") as name:
        tmp = Path(name)
        rows = bench_corpus(args.corpus, tmp, sotsync, env, args.runs)
        rows += bench_large(sizes, tmp, sotsync, env, args.runs)
        rows += bench_startup(tmp, sotsync, env, max(STARTUP_RUNS, args.runs))
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
    missed = [r.figure.strip() for r in rows if r.met is False]
    print(f"targets missed: {'; '.join(missed)}" if missed else "all targets met")

    doc = {
        "version": 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": args.runs,
        "startup_runs": max(STARTUP_RUNS, args.runs),
        "quick": args.quick,
        "sizes_mb": list(sizes),
        "corpus": str(args.corpus),
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
    sys.exit(main())
