"""Findings: what is wrong with a parsed ledger, as stable SOT codes (SPEC §2).

Pure functions of a ``Ledger`` (plus the line-ending rule from ``.gitattributes``): no I/O, no
printing.  Every finding carries a fingerprint built from its code, entry id and the text it is
about, never its line number, so baselines and ``--new-since`` survive unrelated edits.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sotsync.ledger.gcpause import paused_gc
from sotsync.ledger.parse import Ledger, strip_eol
from sotsync.ledger.repair import repair_cells
from sotsync.models import Entry, Finding, IndexRow


@dataclass(frozen=True, slots=True)
class Code:
    """One catalogue line: the code's severity, whether ``fix`` repairs it, and what it means."""

    code: str
    severity: str
    fixable: str
    summary: str


CATALOGUE: tuple[Code, ...] = (
    Code("SOT001", "error", "no", "file is not valid UTF-8"),
    Code("SOT002", "error", "no", "merge-conflict markers"),
    Code(
        "SOT003", "warning", "yes", "mixed line endings, or endings that contradict .gitattributes"
    ),
    Code("SOT004", "warning", "yes", "no final newline"),
    Code("SOT005", "warning", "no", "empty ledger"),
    Code("SOT006", "warning", "no", "line longer than 1,000,000 characters"),
    Code("SOT007", "warning", "yes", "UTF-8 byte-order mark at the start of the file"),
    Code("SOT010", "error", "no", "one id names two different entries"),
    Code("SOT011", "warning", "yes", "identical duplicate entry"),
    Code("SOT012", "error", "no", "one id has several different INDEX rows"),
    Code("SOT013", "warning", "yes", "identical duplicate INDEX row"),
    Code("SOT020", "error", "yes", "INDEX row outside the INDEX table"),
    Code("SOT021", "error", "yes", "INDEX row glued onto the end of another line"),
    Code("SOT022", "error", "when unambiguous", "INDEX row with the wrong number of cells"),
    Code("SOT023", "info", "no", "INDEX row without an entry section"),
    Code("SOT024", "warning", "yes", "entry section without an INDEX row"),
    Code("SOT025", "warning", "no", "INDEX row and section disagree (date or title)"),
    Code("SOT026", "warning", "no", "no INDEX table"),
    Code("SOT030", "warning", "yes", "summary block count differs from the entries"),
    Code("SOT031", "warning", "yes", "META Total_* differs from the entries"),
    Code("SOT040", "error", "no", "id heading hidden inside a code block"),
    Code("SOT041", "warning", "no", "entry heading without an id"),
    Code("SOT042", "warning", "no", "entries out of order"),
    Code("SOT050", "info", "no", "machine-specific absolute path"),
)
BY_CODE = {c.code: c for c in CATALOGUE}
LONG_LINE = 1_000_000
_CONFLICT = re.compile(r"^(?:<{7}|>{7})(?: |$)")
_ABS_PATH = re.compile(
    r"(?<![\w/.])(?:[A-Za-z]:[\\/](?:dev|Users|users|home|src|work|projects)[\\/][^\s|`'\")\]>]+"
    r"|/home/[A-Za-z0-9._-]+/[^\s|`'\")\]>]*|/Users/[A-Za-z0-9._-]+/[^\s|`'\")\]>]*)"
)
_DRIVE_SEP = re.compile(rb":[/\\]")
_HOME_DIR = re.compile(rb"/(?=(?:home|Users)/)")
_PATH_HINT = re.compile(r":[\\/]|/home/|/Users/")
_WORD = re.compile(r"[a-z0-9]+")


def honest_count(ledger: Ledger) -> int:
    """The count summary and META should state: distinct ids in rows and sections."""
    return len(ledger.ids())


def lint_ledger(ledger: Ledger, eol: str | None = None, newest_first: bool = True) -> list[Finding]:
    """All findings of ``ledger``; ``eol`` is ``"lf"``/``"crlf"`` from ``.gitattributes``."""
    out = _Collector(ledger)
    out.newest_first = newest_first
    with paused_gc():
        _encoding(ledger, eol, out)
        if ledger.decode_error is None and ledger.data:
            _rows(ledger, out)
            _entries(ledger, out)
            _counts(ledger, out)
            _paths(ledger, out)
    out.findings.sort(key=lambda f: (f.line, f.col, f.code))
    return out.findings


class _Collector:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.findings: list[Finding] = []
        self.newest_first = True

    def add(
        self,
        code: str,
        line: int,
        message: str,
        *,
        col: int = 0,
        entry_id: str | None = None,
        subject: str | None = None,
        fixable: bool | None = None,
    ) -> None:
        info = BY_CODE[code]
        if subject is None:
            lines = self.ledger.lines
            subject = strip_eol(lines[line]).strip() if 0 <= line < len(lines) else ""
        digest = hashlib.sha256(
            "\0".join((code, entry_id or "", subject)).encode("utf-8", "surrogateescape")
        ).hexdigest()[:20]
        self.findings.append(
            Finding(
                path=self.ledger.path,
                line=line + 1,
                col=col + 1,
                code=code,
                severity=info.severity,
                message=message,
                entry_id=entry_id,
                fixable=info.fixable == "yes" if fixable is None else fixable,
                fingerprint=digest,
            )
        )


def _encoding(ledger: Ledger, eol: str | None, out: _Collector) -> None:
    if not ledger.data:
        out.add("SOT005", 0, "ledger is empty", subject="")
        return
    problem = ledger.decode_error
    if problem is not None:
        out.add(
            "SOT001",
            problem.line - 1,
            f"file is not valid UTF-8 (byte offset {problem.offset})",
            col=problem.col - 1,
            subject=str(problem.offset),
        )
    if ledger.bom:
        out.add("SOT007", 0, "file starts with a UTF-8 byte-order mark", subject="bom")
    data = ledger.data
    if b"<<<<<<<" in data or b">>>>>>>" in data:
        for i, line in enumerate(ledger.lines):
            if _CONFLICT.match(line):
                out.add("SOT002", i, f"merge-conflict marker {line[:7]!r}")
    # A line's length in bytes bounds its length in characters: most files decode nothing here.
    if len(data) > LONG_LINE and ledger.lines.longest() > LONG_LINE:
        for i, line in enumerate(ledger.lines):
            length = len(strip_eol(line))
            if length > LONG_LINE:
                out.add("SOT006", i, f"line is {length:,} characters long", subject=str(length))
    _line_endings(ledger, eol, out)
    if ledger.lines and not ledger.lines[-1].endswith(("\n", "\r")):
        out.add("SOT004", len(ledger.lines) - 1, "no newline at end of file", subject="eof")


def _line_endings(ledger: Ledger, eol: str | None, out: _Collector) -> None:
    counts = ledger.endings
    names = {"\r\n": "CRLF", "\n": "LF", "\r": "CR"}
    used = [e for e in ("\r\n", "\n", "\r") if counts[e]]
    if len(used) > 1:
        dominant = ledger.newline
        first = next(
            i
            for i, ln in enumerate(ledger.lines)
            if ln.endswith(tuple(used)) and _ending(ln) != dominant
        )
        detail = ", ".join(f"{counts[e]} {names[e]}" for e in used)
        out.add("SOT003", first, f"mixed line endings ({detail})", subject=detail)
        return
    if eol is None or not used:
        return
    wanted = "\r\n" if eol == "crlf" else "\n"
    if used[0] != wanted:
        out.add(
            "SOT003",
            0,
            f"line endings are {names[used[0]]} but .gitattributes says eol={eol}",
            subject=f"{names[used[0]]}->{eol}",
        )


def _ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith("\n"):
        return "\n"
    return "\r" if line.endswith("\r") else ""


def _rows(ledger: Ledger, out: _Collector) -> None:
    if ledger.index_table is None:
        line = ledger.index_heading if ledger.index_heading is not None else 0
        out.add(
            "SOT026",
            line,
            "no INDEX table (expected a `## INDEX` heading and a table)",
            subject="no-index",
        )
    by_id: dict[str, list[IndexRow]] = defaultdict(list)
    for row in ledger.rows:
        if row.id is not None:
            by_id[row.id].append(row)
        label = row.id or "(no id)"
        if row.glued:
            out.add(
                "SOT021",
                row.line,
                f"INDEX row for {label} glued onto the end of a line",
                col=row.col,
                entry_id=row.id,
                subject=_row_subject(ledger, row),
            )
        elif not row.in_table:
            out.add(
                "SOT020",
                row.line,
                f"INDEX row for {label} outside the INDEX table",
                col=row.col,
                entry_id=row.id,
                subject=_row_subject(ledger, row),
                fixable=ledger.index_table is not None,  # no table to move it into
            )
        columns = ledger.columns
        if columns is not None and len(row.cells) != columns.count:
            repaired = repair_cells(ledger, row)
            if repaired is not None:
                how = ""
            elif len(row.cells) < columns.count:
                how = " (cells are missing; not repairable)"
            else:
                how = " (ambiguous: which cell holds the extra `|`?)"
            out.add(
                "SOT022",
                row.line,
                f"INDEX row for {label} has {len(row.cells)} cells, the header has "
                f"{columns.count}{how}",
                col=row.col,
                entry_id=row.id,
                subject=_row_subject(ledger, row),
                fixable=repaired is not None,
            )
    sections = {e.id for e in ledger.entries}
    for ident, rows in by_id.items():
        distinct = {r.text_key for r in rows} if len(rows) > 1 else ()
        if len(distinct) > 1:
            where = ", ".join(str(r.line + 1) for r in rows)
            out.add(
                "SOT012",
                rows[1].line,
                f"{ident} has {len(distinct)} different INDEX rows (lines {where})",
                col=rows[1].col,
                entry_id=ident,
                subject=_row_subject(ledger, rows[1]),
            )
        elif len(rows) > 1:
            for row in rows[1:]:
                if row.in_table and not row.glued:
                    out.add(
                        "SOT013",
                        row.line,
                        f"identical duplicate INDEX row for {ident}",
                        col=row.col,
                        entry_id=ident,
                        subject=_row_subject(ledger, row),
                    )
        if ident not in sections and ledger.entries:
            out.add(
                "SOT023",
                rows[0].line,
                f"INDEX row for {ident} has no entry section",
                col=rows[0].col,
                entry_id=ident,
                subject=ident,  # stable when fix rewrites or moves the row
            )
    _disagreements(ledger, by_id, out)


def _row_subject(ledger: Ledger, row: IndexRow) -> str:
    return strip_eol(ledger.lines[row.line])[row.col : row.end_col].strip()


def _disagreements(ledger: Ledger, by_id: dict[str, list[IndexRow]], out: _Collector) -> None:
    columns = ledger.columns
    for entry in ledger.entries:
        if entry.occurrence != 1 or entry.id not in by_id:
            continue
        row = by_id[entry.id][0]
        if row.date and entry.date and row.date != entry.date:
            out.add(
                "SOT025",
                entry.line,
                f"{entry.id}: INDEX row dated {row.date}, section dated {entry.date}",
                entry_id=entry.id,
                subject=f"date:{row.date}:{entry.date}",
            )
        if columns is None or columns.title >= len(row.cells) or not entry.title:
            continue
        if not similar_titles(row.cells[columns.title], entry.title):
            out.add(
                "SOT025",
                entry.line,
                f"{entry.id}: INDEX row title {_clip(row.cells[columns.title])!r} does not match "
                f"section title {_clip(entry.title)!r}",
                entry_id=entry.id,
                subject=f"title:{row.cells[columns.title]}:{entry.title}",
            )


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def similar_titles(a: str, b: str) -> bool:
    """Loose title match: most words of the shorter title appear in the longer one.

    A one- or two-word cell (``Hotfix``, ``N/A``) is a category, not a title: it matches anything.
    """
    if a == b:  # the usual case, and the answer below for equal word sets
        return True
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    if len(wa) < 3 or len(wb) < 3:
        return True
    small = min(len(wa), len(wb))
    return len(wa & wb) / small >= 0.5


def _entries(ledger: Ledger, out: _Collector) -> None:
    groups: dict[str, list[Entry]] = defaultdict(list)
    for entry in ledger.entries:
        groups[entry.id].append(entry)
    for ident, entries in groups.items():
        first = entries[0]
        for later in entries[1:]:
            if later.content_hash == first.content_hash:
                out.add(
                    "SOT011",
                    later.line,
                    f"{ident} repeats the entry at line {first.line + 1} word for word",
                    entry_id=ident,
                    subject=later.content_hash,
                )
            elif any(e.content_hash == later.content_hash for e in entries[: entries.index(later)]):
                continue
            else:
                out.add(
                    "SOT010",
                    later.line,
                    f"{ident} names {len({e.content_hash for e in entries})} different entries "
                    f"(lines {', '.join(str(e.line + 1) for e in entries)})",
                    entry_id=ident,
                    subject=later.content_hash,
                )
    has_row = {r.id for r in ledger.rows if r.id is not None}
    if ledger.index_table is not None:
        for entry in ledger.entries:
            if entry.id not in has_row and entry.occurrence == 1:
                out.add(
                    "SOT024",
                    entry.line,
                    f"{entry.id} has an entry section but no INDEX row",
                    entry_id=entry.id,
                )
    for hidden in ledger.hidden:
        block = next(c for c in ledger.blocks.code_blocks if c.start < hidden.line < c.end)
        out.add(
            "SOT040",
            hidden.line,
            f"heading for {hidden.id} is hidden inside a code block opened at line "
            f"{block.start + 1} (an unbalanced ``` fence?)",
            entry_id=hidden.id,
        )
    for heading in ledger.idless:
        out.add("SOT041", heading.line, f"entry heading without an id: {_clip(heading.text)!r}")
    order = "newest first" if out.newest_first else "oldest first"
    for entry in out_of_order(ledger.entries, newest_first=out.newest_first):
        out.add(
            "SOT042",
            entry.line,
            f"{entry.id} is out of order (entries are {order})",
            entry_id=entry.id,
            subject=entry.heading,
        )


def out_of_order(entries: Iterable[Entry], newest_first: bool) -> Iterator[Entry]:
    """Entries outside the longest correctly ordered run (so one misplaced entry is one finding)."""
    items = list(entries)
    # A -1 sentinel makes BUILD-009.1 sort above BUILD-009 even after negation.
    keys = [(*e.key, -1) if newest_first else tuple(-k for k in (*e.key, -1)) for e in items]
    # Longest non-increasing subsequence, O(n log n), via patience sorting on negated keys.
    tails: list[tuple[int, ...]] = []
    tail_index: list[int] = []
    parent = [-1] * len(items)
    negated = [tuple(-k for k in key) for key in keys]
    for i, key in enumerate(negated):
        pos = bisect_right(tails, key)
        if pos == len(tails):
            tails.append(key)
            tail_index.append(i)
        else:
            tails[pos] = key
            tail_index[pos] = i
        parent[i] = tail_index[pos - 1] if pos > 0 else -1
    keep: set[int] = set()
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        keep.add(i)
        i = parent[i]
    return (e for n, e in enumerate(items) if n not in keep)


def _counts(ledger: Ledger, out: _Collector) -> None:
    honest = honest_count(ledger)
    pre = ledger.preamble
    if (
        pre.summary_line is not None
        and pre.summary_counts
        and any(n != honest for n in pre.summary_counts[:2])
    ):
        stated = " / ".join(str(n) for n in pre.summary_counts[:2])
        out.add(
            "SOT030",
            pre.summary_line,
            f"summary says {stated}, the ledger documents {honest} distinct ids",
            subject=f"{stated}->{honest}",
        )
    for key, value, line in pre.meta:
        if key.startswith("Total_") and value.strip() != str(honest):
            out.add(
                "SOT031",
                line,
                f"META {key} is {value.strip()}, the ledger documents {honest} distinct ids",
                subject=f"{key}:{value}->{honest}",
            )


def _paths(ledger: Ledger, out: _Collector) -> None:
    data = ledger.data
    reported: set[int] = set()
    for offset in _path_candidates(data):
        line_no = ledger.lines.line_at(offset)
        if line_no in reported or line_no >= len(ledger.lines):
            continue
        line = ledger.lines[line_no]
        for candidate in _PATH_HINT.finditer(line):
            begin = candidate.start() - 1 if line[candidate.start()] == ":" else candidate.start()
            match = _ABS_PATH.match(line, max(begin, 0))
            if match is not None:
                reported.add(line_no)
                out.add(
                    "SOT050",
                    line_no,
                    f"machine-specific absolute path {_clip(match.group(0), 50)!r}",
                    col=match.start(),
                    subject=match.group(0),
                )
                break


def _path_candidates(data: bytes) -> list[int]:
    """Byte offsets where a machine-specific path may start, found by two cheap scans.

    Each pattern starts with one literal byte, which ``re`` looks for with a fast search (a
    pattern with alternatives up front would test every byte); URLs (``https://``) are dropped by
    looking at the byte before the drive letter.  ``/home/`` and ``/Users/`` are matched by a
    lookahead, so overlapping occurrences are all found.
    """
    found: list[int] = []
    for match in _DRIVE_SEP.finditer(data, 1):
        pos = match.start()
        drive = data[pos - 1 : pos]
        before = data[pos - 2 : pos - 1] if pos >= 2 else b""
        if drive.isalpha() and not (before.isalnum() or before in (b"_", b"/", b".")):
            found.append(pos - 1)
    found += [match.start() for match in _HOME_DIR.finditer(data)]
    found.sort()
    return found
