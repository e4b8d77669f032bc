"""Deterministic generator of large, realistic BUILD_HISTORY-style ledgers.

The output mirrors the shape of Autopack's ``docs/BUILD_HISTORY.md`` (see
``shared/corpus/autopack/``), scaled up: a preamble (title, auto-generated summary block,
``<!-- META -->`` block), an ``## INDEX`` table with one row per entry (long summary cells,
some with escaped ``\\|``), then ``## BUILDS (Reverse Chronological)`` with one section per
entry, newest first, in several heading styles::

    ### BUILD-812 | 2031-04-02 | title
    ### BUILD-811 | 2031-04-01T09:30 | Category | title
    ## BUILD-810: title (2031-03-30) ✅ COMPLETE
    ## BUILD-809: title                      (date in a **Date**: line)
    ## BUILD-808                             (title in a **Title**: line)
    ## BUILD-807 | title
    ### BUILD-806 Phase B P4.x | 2031-03-27 | title

Sections carry ``**Field**:`` lines, bullet and numbered lists, sub-headings (``### Summary``
under ``##`` entries, ``####`` under ``###`` entries), fenced code blocks (some with ``#``
lines, including ``# BUILD-NNN: ...`` comments that are not headings) and occasional tables.
Sub-ids (``BUILD-57.1`` ... ``BUILD-57.12``) follow some entries, so ``.10`` sorts above
``.9``. The generated ledger is well formed: counts are right, every entry has exactly one
INDEX row, ids are unique and descend.

The same ``(target_bytes, seed, crlf)`` always gives the same bytes, and the size is within a
few bytes of the target (filler bullets are added to the oldest entry to close the gap).

Usage::

    python benchmarks/genledger.py --mb 50 --out /tmp/BUILD_HISTORY.md [--seed N] [--crlf]

``--mb`` counts decimal megabytes (1 MB = 1,000,000 bytes). From Python::

    from genledger import generate_ledger, generate_ledger_with_stats
    data = generate_ledger(200_000, seed=1)
    data, stats = generate_ledger_with_stats(200_000, seed=1)
    stats.entries, stats.index_rows, stats.sub_ids, ...
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PREFIX", "LedgerStats", "generate_ledger", "generate_ledger_with_stats", "main"]

PREFIX = "BUILD"
_MB = 1_000_000

# --------------------------------------------------------------------------- vocabulary

_AREAS = (
    "Scheduler",
    "Blob Store",
    "Mirror Sync",
    "Executor",
    "Telemetry",
    "Auth",
    "Upload Path",
    "Index Compaction",
    "Config Loader",
    "CI Pipeline",
    "Dashboard",
    "Retry Queue",
    "Lease Manager",
    "Metrics Exporter",
    "Storage Optimizer",
    "Doc Link Checker",
    "Tidy System",
    "Release Tooling",
    "Webhook Relay",
    "Search Index",
    "Rate Limiter",
    "Audit Log",
    "Plugin Loader",
    "Cache Layer",
)
_WORKS = (
    "Hardening",
    "Rework",
    "Consolidation",
    "Follow-up",
    "Polish",
    "Migration",
    "Cleanup",
    "Performance Pass",
    "Contract Tests",
    "Observability",
    "Safety Rails",
    "Determinism Fixes",
    "Drift Detection",
    "Portability Fix",
    "Backpressure",
    "Idempotency",
    "Schema Upgrade",
)
_STATUS_SUFFIX = (
    "(100% COMPLETE ✅)",
    "(100% COMPLETE)",
    "(COMPLETE ✅)",
    "(PARTIAL 🔄)",
    "✅",
    "",
    "- Phase 1",
    "- Phases 0-3 (100% COMPLETE ✅)",
)
_CATEGORIES = ("Tooling", "Hotfix", "Feature", "Prevention", "System", "Planning", "Refactor")
_PHASE_SUFFIXES = ("Phase A P17.x", "Follow-up", "Phase B P4.x", "Hotfix", "P1.3", "Wave 2")
_STATUS_LINES = (
    "✅ COMPLETE",
    "✅ Implemented",
    "100% Complete [OK]",
    "✅ Complete",
    "🔄 IN PROGRESS",
    "✅ Implemented (manual)",
    "100% COMPLETE ✅",
)
_FOCI = (
    "Stop duplicate work after restarts",
    "Bound memory growth under load",
    "Make the nightly job deterministic",
    "Remove workstation-specific paths",
    "Fail fast on schema drift",
    "Cut CI wall time",
    "Keep ledgers and database in agreement",
)
_SUBHEADINGS = (
    "Summary",
    "Problem Statement",
    "Problem",
    "Solution",
    "Changes",
    "Implementation",
    "Validation",
    "Files Modified",
    "Design",
    "Root Cause",
    "Migration",
    "Follow-ups",
)
_BOLD_LEADS = (
    "Root Cause",
    "Fix",
    "Impact",
    "Evidence",
    "Changes",
    "Key Changes",
    "Validation",
    "Implementation Summary",
    "Design Principle",
    "Deliverables",
    "Notes",
)
_NOUNS = (
    "scheduler",
    "worker",
    "lease",
    "queue",
    "manifest",
    "blob",
    "index",
    "upstream",
    "token",
    "migration",
    "sweeper",
    "exporter",
    "snapshot",
    "checksum",
    "retry budget",
    "heartbeat",
    "config key",
    "fixture",
    "contract test",
    "webhook",
    "cache entry",
    "run",
    "phase",
    "tier",
    "ledger",
    "summary block",
    "INDEX row",
    "database row",
    "workflow",
    "artifact",
)
_VERBS = (
    "now rejects",
    "no longer drops",
    "re-queues",
    "persists",
    "validates",
    "streams",
    "deduplicates",
    "caps",
    "retries",
    "logs",
    "hashes",
    "normalises",
    "reconciles",
    "batches",
    "skips",
    "records",
    "exposes",
    "checks",
    "migrates",
    "compacts",
)
_QUALIFIERS = (
    "after a restart",
    "under load",
    "on Windows runners",
    "when the lease expired",
    "in dry-run mode",
    "with exponential backoff (5min → 24hr)",
    "per upstream",
    "inside one transaction",
    "before the swap",
    "at most once per hour",
    "for legacy runs",
    "with a 24h grace period",
    "without touching the work tree",
    "across devices",
)
_NUMBERS = ("3", "5", "8", "12", "16", "31", "48", "64", "100", "200", "512", "1,024", "18,400")
_PATHS = (
    "src/harbor/scheduler/planner.py",
    "src/harbor/gc/sweep.py",
    "src/harbor/api/uploads.py",
    "tests/scheduler/test_leases.py",
    "scripts/migrate_jobs_v3.py",
    "config/mirrors.toml",
    "docs/BUILD_HISTORY.md",
    ".github/workflows/ci.yml",
    "src/harbor/telemetry/exporter.py",
    "tests/gc/test_sweep.py",
    "deploy/k8s/harbor.yaml",
    "scripts/tidy/consolidate.py",
)
_LANGS = ("python", "bash", "yaml", "sql", "text", "")
_ASCII_WORDS = (
    "retry",
    "lease",
    "queue",
    "sweep",
    "index",
    "mirror",
    "upload",
    "token",
    "worker",
    "batch",
    "config",
    "ledger",
    "summary",
    "checksum",
    "snapshot",
    "restart",
    "window",
    "budget",
    "slot",
)


@dataclass
class LedgerStats:
    """What a generated ledger contains (everything counted as CommonMark sees it)."""

    entries: int = 0
    """Entry sections = id headings outside code blocks (one per id, ids unique)."""
    index_rows: int = 0
    """Body rows of the ``## INDEX`` table (one per entry)."""
    sub_ids: int = 0
    """Entries whose id has a ``.N`` part."""
    code_blocks: int = 0
    code_hash_lines: int = 0
    """Lines starting with ``#`` inside fenced code blocks (not headings)."""
    tables_in_entries: int = 0
    escaped_pipe_rows: int = 0
    """INDEX rows whose cells contain an escaped ``\\|``."""
    heading_styles: dict[str, int] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    """Entry ids in file order (newest first)."""
    filler_bytes: int = 0
    bytes: int = 0
    lines: int = 0
    crlf: bool = False
    seed: int = 0


# --------------------------------------------------------------------------- generator


class _Gen:
    """Stateful text generator; all randomness comes from one seeded ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        # Pre-built pools keep the per-entry cost low (50 MB must take seconds, not minutes).
        self.sentences = [self._sentence() for _ in range(1500)]
        self.ascii_sentences = [
            " ".join(rng.choice(_ASCII_WORDS) for _ in range(rng.randint(6, 14)))
            for _ in range(200)
        ]
        self.code_pools: dict[str, list[str]] = {
            "python": [
                "def reconcile(session, run_id):",
                '    rows = session.execute(query, {"run_id": run_id}).fetchall()',
                "    if not rows:",
                "        return None",
                "    lease = Lease(owner=worker_id, ttl=timedelta(seconds=60))",
                'logger.info("[Scheduler] claimed %s jobs", len(jobs))',
                "for attempt in range(MAX_ATTEMPTS):",
                "    backoff = min(2 ** attempt * 300, 86400)",
                "result = planner.plan(upstreams, now=clock())",
                'assert result.inserted == 0, "second run must be a no-op"',
            ],
            "bash": [
                "harbor gc --dry-run --grace 24h",
                "harbor gc --grace 24h --max-delete 5000",
                "python scripts/migrate_jobs_v3.py --database-url sqlite:///./harbor.db",
                "pytest tests/scheduler -q",
                "git log --oneline -5",
                "harbor metrics dump --format json > metrics.json",
            ],
            "yaml": [
                "strategy:",
                "  matrix:",
                '    python: ["3.11", "3.12"]',
                "retry:",
                "  max_attempts: 5",
                "  backoff_seconds: 300",
                "jobs:",
                "  test:",
                "    runs-on: ubuntu-latest",
            ],
            "sql": [
                "ALTER TABLE jobs ADD COLUMN lease_owner TEXT;",
                "UPDATE jobs SET lease_owner = NULL WHERE lease_expires_at < now();",
                "SELECT id, state FROM runs WHERE state LIKE 'DONE_%' ORDER BY created_at;",
                "CREATE INDEX IF NOT EXISTS ix_jobs_due ON jobs (due_at);",
            ],
            "text": [
                "acme        18402",
                "globex         77",
                "t0      blob written (unreferenced)",
                "t0+5m   manifest committed",
                "PASSED tests/gc/test_sweep.py::test_grace_period",
                "FAILED tests/scheduler/test_leases.py::test_skew - AssertionError",
            ],
            "": ["phase 1 ........ ok", "phase 2 ........ ok", "phase 3 ........ FAILED"],
        }

    # ---- small pieces

    def _sentence(self) -> str:
        rng = self.rng
        n1, n2 = rng.choice(_NOUNS), rng.choice(_NOUNS)
        s = f"The {n1} {rng.choice(_VERBS)} the {n2} {rng.choice(_QUALIFIERS)}"
        r = rng.random()
        if r < 0.15:
            s += f" (`{rng.choice(_PATHS)}`)"
        elif r < 0.25:
            s += f", {rng.choice(_NUMBERS)} tests passing"
        elif r < 0.3:
            s += f" → {rng.choice(_NUMBERS)} ms p95"
        return s + "."

    def text(self, lo: int, hi: int) -> str:
        rng = self.rng
        return " ".join(rng.choice(self.sentences) for _ in range(rng.randint(lo, hi)))

    def title(self) -> str:
        rng = self.rng
        t = f"{rng.choice(_AREAS)} {rng.choice(_WORKS)}"
        if rng.random() < 0.3:
            t += f" + {rng.choice(_AREAS)} {rng.choice(_WORKS)}"
        suffix = rng.choice(_STATUS_SUFFIX)
        return f"{t} {suffix}" if suffix else t

    def summary_cell(self) -> tuple[str, bool]:
        """A long INDEX summary cell; returns (cell, has_escaped_pipe)."""
        rng = self.rng
        parts = [f"**{rng.choice(_AREAS)} {rng.choice(_WORKS).lower()}**: {self.text(1, 3)}"]
        for i in range(rng.randint(0, 4)):
            parts.append(f"**Part {i + 1} - {rng.choice(_BOLD_LEADS)}**: {self.text(1, 3)}")
        escaped = False
        if rng.random() < 0.12:
            parts.append(f"Output formats: `--format text\\|json` ({rng.choice(_NOUNS)})")
            escaped = True
        return " ".join(parts), escaped

    def files_cell(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return ""
        if r < 0.8:
            return str(self.rng.randint(1, 40))
        return ", ".join(self.rng.sample(_PATHS, 2))

    def bullets(self, out: list[str], n: int, nested: bool = True) -> None:
        rng = self.rng
        for _ in range(n):
            if rng.random() < 0.4:
                out.append(f"- **{rng.choice(_BOLD_LEADS)}**: {rng.choice(self.sentences)}")
            else:
                out.append(f"- {rng.choice(self.sentences)}")
            if nested and rng.random() < 0.15:
                for _ in range(rng.randint(1, 3)):
                    out.append(f"   - {rng.choice(self.sentences)}")

    def numbered(self, out: list[str]) -> None:
        rng = self.rng
        for i in range(rng.randint(2, 5)):
            out.append(
                f"{i + 1}. **{rng.choice(_AREAS)}** ({rng.choice(_PATHS)}): "
                f"{rng.choice(self.sentences)}"
            )
            if rng.random() < 0.5:
                for _ in range(rng.randint(1, 3)):
                    out.append(f"   - {rng.choice(self.sentences)}")

    def code_block(self, out: list[str], stats: LedgerStats, max_id: int) -> None:
        rng = self.rng
        lang = rng.choice(_LANGS)
        pool = self.code_pools[lang]
        out.append(f"```{lang}")
        for _ in range(rng.randint(2, 9)):
            r = rng.random()
            if r < 0.15 and lang in ("python", "bash", "yaml", "text", ""):
                if rng.random() < 0.3:
                    out.append(
                        f"# {PREFIX}-{rng.randint(1, max(1, max_id))}: "
                        f"{rng.choice(_AREAS).lower()} {rng.choice(_WORKS).lower()}"
                    )
                else:
                    out.append(f"# {rng.choice(self.ascii_sentences)}")
                stats.code_hash_lines += 1
            elif r < 0.2 and lang == "sql":
                out.append(f"-- {rng.choice(self.ascii_sentences)}")
            else:
                out.append(rng.choice(pool))
        out.append("```")
        stats.code_blocks += 1

    def table(self, out: list[str], stats: LedgerStats) -> None:
        rng = self.rng
        kind = rng.random()
        if kind < 0.5:
            out.append("| Metric | Before | After |")
            out.append("|--------|--------|-------|")
            for _ in range(rng.randint(2, 5)):
                out.append(
                    f"| {rng.choice(_NOUNS)} {rng.choice(('p95', 'count', 'RSS', 'lag'))} "
                    f"| {rng.choice(_NUMBERS)} | {rng.choice(_NUMBERS)} |"
                )
        else:
            out.append("| Item | Tests | Status |")
            out.append("|------|-------|--------|")
            for _ in range(rng.randint(2, 5)):
                out.append(
                    f"| {rng.choice(_AREAS)}: {rng.choice(_WORKS).lower()} "
                    f"| {rng.choice(_NUMBERS)} tests | {rng.choice(_STATUS_LINES)} |"
                )
        stats.tables_in_entries += 1

    # ---- one entry

    def entry(self, eid: str, date: dt.date, title: str, num: int, stats: LedgerStats) -> str:
        rng = self.rng
        out: list[str] = []
        ds = date.isoformat()
        style = rng.choices(
            ("pipe", "datetime", "colon_date", "colon", "bare", "pipe_title", "suffix"),
            weights=(34, 16, 14, 10, 8, 6, 6),
        )[0]
        stats.heading_styles[style] = stats.heading_styles.get(style, 0) + 1
        level2 = style in ("colon_date", "colon", "bare", "pipe_title")
        stub = rng.random() < 0.08

        if style == "pipe":
            out.append(f"### {eid} | {ds} | {title}")
        elif style == "datetime":
            hhmm = f"{rng.randint(0, 23):02d}:{rng.choice((0, 15, 30, 45)):02d}"
            out.append(f"### {eid} | {ds}T{hhmm} | {rng.choice(_CATEGORIES)} | {title}")
        elif style == "suffix":
            out.append(f"### {eid} {rng.choice(_PHASE_SUFFIXES)} | {ds} | {title}")
        elif style == "colon_date":
            out.append(f"## {eid}: {title} ({ds}) {rng.choice(('✅ COMPLETE', '[OK] COMPLETE'))}")
        elif style == "colon":
            out.append(f"## {eid}: {title}")
        elif style == "bare":
            out.append(f"## {eid}")
        else:
            out.append(f"## {eid} | {title}")

        if style not in ("datetime", "suffix"):
            out.append("")
        if style == "bare" or rng.random() < 0.5:
            out.append(f"**Title**: {title}")
        out.append(f"**Status**: {rng.choice(_STATUS_LINES)}")
        if style in ("colon", "bare", "pipe_title") or rng.random() < 0.4:
            out.append(f"**Date**: {ds}" if rng.random() < 0.5 else f"**Completed**: {ds}")
        if style == "datetime" or rng.random() < 0.2:
            out.append(f"**Category**: {rng.choice(_CATEGORIES)} / {rng.choice(_AREAS)}")
        if rng.random() < 0.4:
            out.append(f"**Focus**: {rng.choice(_FOCI)}")
        if rng.random() < 0.25:
            out.append(f"**Run ID**: build{num:03d}-{rng.getrandbits(32):08x}")
        if rng.random() < 0.3:
            out.append(f"**Commit**: {rng.getrandbits(32):08x}")

        if stub:
            out.append("")
            out.append(f"**Summary**: {self.text(1, 3)}")
            return "\n".join(out) + "\n"

        sub = "###" if level2 else "####"
        for _ in range(rng.randint(1, 6)):
            out.append("")
            r = rng.random()
            if r < 0.55:
                out.append(f"{sub} {rng.choice(_SUBHEADINGS)}")
            else:
                out.append(f"**{rng.choice(_BOLD_LEADS)}**:")
            if rng.random() < 0.6:
                out.append(self.text(1, 5))
                out.append("")
            kind = rng.random()
            if kind < 0.45:
                self.bullets(out, rng.randint(2, 8))
            elif kind < 0.65:
                self.numbered(out)
            elif kind < 0.85:
                self.code_block(out, stats, num)
            else:
                if out[-1]:
                    out.append("")
                self.table(out, stats)
            if rng.random() < 0.2:
                out.append("")
                out.append(self.text(1, 4))
        if rng.random() < 0.3:
            out.append("")
            out.append(f"**Dependencies**: {PREFIX}-{max(1, num - rng.randint(1, 9)):03d}")
        return "\n".join(out) + "\n"

    def filler(self, nbytes: int, crlf: bool) -> str:
        """ASCII text of exactly ``nbytes`` encoded bytes (after CRLF conversion), or ''."""
        eol = 2 if crlf else 1
        head = "\n**Notes**:\n"  # blank line + label line
        head_len = len(head) + (2 if crlf else 0)
        if nbytes < head_len + 4 + eol:
            return ""
        out = [head]
        left = nbytes - head_len
        rng = self.rng
        while left > 0:
            line = "- " + rng.choice(self.ascii_sentences)
            if len(line) + eol + (4 + eol) > left:
                # last line: exactly the bytes left (at least "- x.")
                want = left - eol
                line = (line + " " + rng.choice(self.ascii_sentences))[:want]
                line = line.rstrip() + "." * (want - len(line.rstrip()))
                out.append(line + "\n")
                left = 0
            else:
                out.append(line + ".\n")
                left -= len(line) + 1 + eol
        return "".join(out)


def _blen(s: str, crlf: bool) -> int:
    n = len(s.encode("utf-8"))
    return n + s.count("\n") if crlf else n


def _preamble(count: int, last: dt.date, seed: int) -> str:
    stamp = f"{last.isoformat()} 17:42:09"
    return (
        "# Build History - Implementation Log\n"
        "\n"
        "\n"
        "<!-- AUTO-GENERATED SUMMARY - DO NOT EDIT MANUALLY -->\n"
        f"**Summary**: {count} build entries ({count} unique builds) documented"
        f" | Last updated: {stamp}\n"
        "<!-- END AUTO-GENERATED SUMMARY -->\n"
        "\n"
        "<!-- META\n"
        f"Last_Updated: {last.isoformat()}T17:42:09.000000Z\n"
        f"Total_Builds: {count}\n"
        "Format_Version: 2.0\n"
        "Auto_Generated: False\n"
        f"Sources: CONSOLIDATED files, archive/, manual updates, genledger seed {seed}\n"
        "-->\n"
        "\n"
        "## INDEX (Chronological - Most Recent First)\n"
        "| Timestamp | BUILD-ID | Phase | Summary | Files Changed |\n"
        "|-----------|----------|-------|---------|---------------|\n"
    )


_ENTRIES_HEADING = "\n## BUILDS (Reverse Chronological)\n\n"
_SEPARATOR = "\n---\n\n"


def generate_ledger_with_stats(
    target_bytes: int, seed: int = 0, crlf: bool = False
) -> tuple[bytes, LedgerStats]:
    """Generate a ledger of about ``target_bytes`` bytes; return it with its statistics.

    Deterministic in ``(target_bytes, seed, crlf)``. The result always has at least one entry;
    for targets above a few kilobytes its size is within a few bytes of the target.
    """
    if target_bytes <= 0:
        raise ValueError("target_bytes must be positive")
    gen = _Gen(seed)
    rng = gen.rng
    stats = LedgerStats(crlf=crlf, seed=seed)

    # Fixed costs, with a preamble estimate that is an upper bound for realistic counts.
    fixed = _blen(_preamble(9_999_999, dt.date(2099, 12, 31), seed), crlf) + _blen(
        _ENTRIES_HEADING, crlf
    )
    sep_len = _blen(_SEPARATOR, crlf)

    rows: list[str] = []  # oldest first
    sections: list[str] = []  # oldest first
    ids: list[str] = []
    date = dt.date(2024, 1, 2)
    total = fixed
    num = 0
    pending_subs: list[int] = []
    parent = 0
    while True:
        if pending_subs:
            sub = pending_subs.pop(0)
            eid = f"{PREFIX}-{parent:03d}.{sub}"
            is_sub = True
        else:
            num += 1
            parent = num
            eid = f"{PREFIX}-{num:03d}"
            is_sub = False
            if rng.random() < 0.05:
                k = rng.choice((1, 1, 2, 2, 3, 4, 11))
                pending_subs = list(range(1, k + 1))
        if rng.random() < 0.4:
            date += dt.timedelta(days=rng.randint(1, 3))
        title = gen.title()
        cell, escaped = gen.summary_cell()
        row = f"| {date.isoformat()} | {eid} | {title} | {cell} | {gen.files_cell()} |\n"
        section = gen.entry(eid, date, title, parent, stats)
        cost = _blen(row, crlf) + _blen(section, crlf) + (sep_len if sections else 0)
        if sections and total + cost > target_bytes:
            break
        total += cost
        rows.append(row)
        sections.append(section)
        ids.append(eid)
        stats.sub_ids += is_sub
        stats.escaped_pipe_rows += escaped

    count = len(sections)
    rows.reverse()
    sections.reverse()
    ids.reverse()
    preamble = _preamble(count, date, seed)
    total += _blen(preamble, crlf) - fixed + _blen(_ENTRIES_HEADING, crlf)
    filler = gen.filler(target_bytes - total, crlf)
    if filler:
        sections[-1] += filler
    text = preamble + "".join(rows) + _ENTRIES_HEADING + _SEPARATOR.join(sections)
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")

    stats.entries = count
    stats.index_rows = len(rows)
    stats.ids = ids
    stats.filler_bytes = _blen(filler, crlf)
    stats.bytes = len(data)
    stats.lines = text.count("\n")
    return data, stats


def generate_ledger(target_bytes: int, seed: int = 0, crlf: bool = False) -> bytes:
    """Generate a BUILD_HISTORY-style ledger of about ``target_bytes`` bytes (deterministic)."""
    return generate_ledger_with_stats(target_bytes, seed=seed, crlf=crlf)[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a large, realistic BUILD_HISTORY-style ledger (deterministic)."
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--mb", type=float, help="target size in MB (1 MB = 1,000,000 bytes)")
    size.add_argument("--bytes", type=int, help="target size in bytes")
    parser.add_argument("--out", type=Path, required=True, help="output file ('-' for stdout)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--crlf", action="store_true", help="CRLF line endings on every line")
    args = parser.parse_args(argv)

    target = args.bytes if args.bytes is not None else round(args.mb * _MB)
    started = time.perf_counter()
    data, stats = generate_ledger_with_stats(target, seed=args.seed, crlf=args.crlf)
    elapsed = time.perf_counter() - started
    if str(args.out) == "-":
        sys.stdout.buffer.write(data)
    else:
        args.out.write_bytes(data)
    print(
        f"genledger: {stats.bytes:,} bytes (target {target:,}), {stats.entries:,} entries "
        f"({stats.sub_ids:,} sub-ids), {stats.lines:,} lines, {stats.code_blocks:,} code blocks, "
        f"{stats.tables_in_entries:,} tables, seed {args.seed}, "
        f"{'CRLF' if args.crlf else 'LF'}, {elapsed:.2f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
