"""Throughput of ``scan_blocks`` against ``reference_blocks`` (markdown-it-py).

Usage: ``.venv/bin/python benchmarks/bench_scan.py [--times 20] [--ledger-mb 50]``.  Prints MB/s of
both on the corpus concatenated ``--times`` times, the ratio, and, when ``benchmarks/genledger.py``
is importable, the scanner's MB/s on a generated ledger.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import CORPUS_FILES, DEFAULT_CORPUS

from sotsync.ledger.blocks import split_lines
from sotsync.ledger.mdref import reference_blocks
from sotsync.ledger.scan import scan_blocks


def _read(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--times", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ledger-mb", type=float, default=50.0)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="corpus directory")
    args = ap.parse_args(argv)

    text = "".join(_read(args.corpus / n) for n in sorted(CORPUS_FILES))
    text *= args.times
    mb = len(text.encode()) / 1e6
    lines = split_lines(text)
    fast = mb / _best(lambda: scan_blocks(lines), args.repeat)
    ref = mb / _best(lambda: reference_blocks(text), 1)
    print(
        f"corpus x{args.times} ({mb:.1f} MB): scan_blocks {fast:.1f} MB/s, "
        f"reference_blocks {ref:.1f} MB/s, ratio {fast / ref:.1f}x"
    )
    split = mb / _best(lambda: split_lines(text), args.repeat)
    print(f"  (split_lines alone: {split:.1f} MB/s)")

    try:
        from genledger import generate_ledger  # type: ignore[import-not-found]
    except ImportError:
        print("benchmarks/genledger.py not available: generated ledger skipped")
        return 0
    for crlf in (False, True):
        data = generate_ledger(int(args.ledger_mb * 1e6), seed=0, crlf=crlf).decode("utf-8")
        gmb = len(data.encode()) / 1e6
        glines = split_lines(data)
        speed = gmb / _best(lambda: scan_blocks(glines), args.repeat)  # noqa: B023
        print(f"generated ledger ({gmb:.1f} MB, crlf={crlf}): scan_blocks {speed:.1f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
