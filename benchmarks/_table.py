"""What every benchmark module shares: the result row, the table, and measured processes.

A benchmark module (``bench_lint``, ``bench_db``, ``bench_hooks``, ``bench_snapshot``,
``bench_backup``) exposes ``measure(...) -> list[dict]``; each dict is ``Row.to_dict()``:

``figure``    what is measured, e.g. "lint 50 MB ledger: throughput"
``baseline``  what it is compared with, including the baseline's own measurement
              ("python -c pass 21.3 ms"), or "target 10 s" for an absolute target
``value``     the measurement, formatted ("12.3 ms", "310 MB")
``ratio``     value / baseline as a number (``None`` when nothing is compared)
``target``    the SPEC §9 target as text ("≤ 0.5", "≥ 20 MB/s", "(shown only)")
``met``       ``True`` / ``False``, or ``None`` for rows shown for information only
``unit``      appended to the ratio in the table ("×", " MB/s"); may be empty
``notes``     free text shown under the table (e.g. why a figure was not measured)
``detail``    raw samples, written to the JSON file only

``benchmarks/run`` calls every module's ``measure`` with the keyword arguments its signature
names among ``quick``, ``repeat``, ``rows``, ``corpus`` and ``pg_url``, and prints one table.
This module also runs commands under a small wrapper process that reports wall time and peak
RSS (``getrusage(RUSAGE_CHILDREN)`` of exactly one child), so measurements never mix.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_DIR = HERE / "out"
DEFAULT_CORPUS = Path("/work/shared/corpus/autopack")
CORPUS_FILES = ("BUILD_HISTORY.md", "DEBUG_LOG.md", "ARCHITECTURE_DECISIONS.md")
MB = 1_000_000

# Runs one command, then prints its wall time, peak RSS, exit code, stderr tail and (when
# asked) stdout as one JSON line.  A separate process, so RUSAGE_CHILDREN is exactly one child.
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


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One line of the result table (and of the JSON ``results``)."""

    figure: str
    baseline: str
    value: str
    ratio: float | None
    target: str
    met: bool | None
    unit: str = ""
    notes: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Row:
        """A row from a module's dict; unknown keys go to ``detail``, missing ones get defaults."""
        known = {"figure", "baseline", "value", "ratio", "target", "met", "unit", "notes"}
        detail = dict(data.get("detail") or {})
        detail.update({k: v for k, v in data.items() if k not in known | {"detail"}})
        ratio = data.get("ratio")
        met = data.get("met")
        return cls(
            figure=str(data.get("figure", "?")),
            baseline=str(data.get("baseline", "")),
            value=str(data.get("value", data.get("measured", ""))),
            ratio=None if ratio is None else float(ratio),
            target=str(data.get("target", "")),
            met=None if met is None else bool(met),
            unit=str(data.get("unit", "")),
            notes=str(data.get("notes", "")),
            detail=detail,
        )


def missing_row(figure: str, target: str, why: str) -> Row:
    """A figure that could not be measured in this run: shown, and counted as not met."""
    return Row(figure, "-", "not measured", None, target, False, notes=why)


def fmt_ratio(row: Row) -> str:
    if row.ratio is None:
        return "-"
    number = f"{row.ratio:.1f}" if abs(row.ratio) >= 10 else f"{row.ratio:.2f}"
    return number + row.unit


def fmt_met(row: Row) -> str:
    if row.met is None:
        return "-"
    return "yes" if row.met else ("MISSING" if row.value == "not measured" else "NO")


def render_table(rows: Sequence[Row]) -> str:
    """Columns: figure, value, baseline, ratio, target, met?; notes follow, numbered."""
    header = ("figure", "value", "baseline", "ratio", "target", "met?")
    cells = [header]
    notes: list[str] = []
    for row in rows:
        figure = row.figure
        if row.notes:
            if row.notes not in notes:
                notes.append(row.notes)
            figure += f" [{notes.index(row.notes) + 1}]"
        cells.append((figure, row.value, row.baseline, fmt_ratio(row), row.target, fmt_met(row)))
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(line.rstrip() for line in lines)


def missed(rows: Iterable[Row]) -> list[str]:
    return [r.figure.strip() for r in rows if r.met is False]


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Sample:
    """One measured process: wall time (s), peak RSS (bytes), exit code, stdout if kept."""

    seconds: float
    rss: int
    rc: int
    stdout: str = ""


class BenchError(RuntimeError):
    """A command a benchmark depends on failed; the message says which and why."""


def child_env(extra_drop: Iterable[str] = ()) -> dict[str, str]:
    """The environment of measured processes: bytecode caches on (as on a normal install),
    no database variables of the developer's."""
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "DATABASE_URL", "SOTSYNC_DATABASE_URL", *extra_drop):
        env.pop(name, None)
    return env


def git_child_env(home: Path, **extra: str) -> dict[str, str]:
    """``child_env()`` with git pinned to a private home and a fixed identity, for benchmark
    repositories that commit (snapshots, backups) whatever the developer's git config says."""
    env = child_env()
    env.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL="/dev/null",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
        **extra,
    )
    return env


def run_measured(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    *,
    keep: bool = False,
    ok: Sequence[int] = (0, 1),
) -> Sample:
    """Run ``argv`` once under the wrapper; an exit code outside ``ok`` raises BenchError."""
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "keep" if keep else "drop", *argv],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        check=True,
    )
    data = json.loads(proc.stdout)
    if data["rc"] not in ok:
        raise BenchError(f"{' '.join(argv)} exited {data['rc']} in {cwd}:\n{data['stderr']}")
    return Sample(float(data["seconds"]), int(data["rss"]), int(data["rc"]), str(data["stdout"]))


def repeat_measured(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    runs: int,
    *,
    keep: bool = False,
    ok: Sequence[int] = (0, 1),
) -> list[Sample]:
    """One untimed warm-up run (file cache, bytecode), then ``runs`` measured ones."""
    run_measured(argv, cwd, env, keep=keep, ok=ok)
    return [run_measured(argv, cwd, env, keep=keep, ok=ok) for _ in range(runs)]


def run_quiet(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    """An untimed preparation step; its stdout.  Failure raises BenchError."""
    proc = subprocess.run(argv, cwd=cwd, env=dict(env), capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return proc.stdout


def median_seconds(samples: Sequence[Sample]) -> float:
    return statistics.median(s.seconds for s in samples)


def median_rss(samples: Sequence[Sample]) -> float:
    return statistics.median(s.rss for s in samples)


def sotsync_script() -> Path:
    """The installed ``sotsync`` console script beside this interpreter."""
    script = Path(sys.executable).parent / "sotsync"
    if script.exists():
        return script
    found = shutil.which("sotsync")
    if found is None:
        raise BenchError("the sotsync console script is not installed (pip install -e .)")
    return Path(found)


def corpus_paths(corpus: Path) -> list[Path]:
    missing = [name for name in CORPUS_FILES if not (corpus / name).is_file()]
    if missing:
        raise BenchError(f"{corpus} lacks {', '.join(missing)} (use --corpus DIR)")
    return [corpus / name for name in CORPUS_FILES]
