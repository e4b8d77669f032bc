"""Repair every fixable finding, touching only the lines a repair is about.

``fix_ledger`` works in passes: lint, apply one kind of repair to fresh line numbers, re-parse,
until no fixable finding remains.  Each repair keeps every id and every INDEX row (identical
duplicates are folded into one); a file with invalid UTF-8 or conflict markers is left alone.
Pure: bytes in, bytes out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sotsync.ledger.lint import honest_count, lint_ledger
from sotsync.ledger.parse import Ledger, parse_ledger, render_lines, strip_eol
from sotsync.ledger.repair import repair_cells
from sotsync.models import Finding, IndexRow

MAX_PASSES = 12
_REFUSE = {"SOT001": "it is not valid UTF-8", "SOT002": "it has merge-conflict markers"}


@dataclass(frozen=True)
class FixResult:
    """What ``fix`` did to one ledger: its bytes before and after and repairs per code."""

    path: str
    before: bytes
    after: bytes
    repaired: tuple[tuple[str, int], ...]
    refused: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


Lines = list[str]
Repair = Callable[[Ledger, list[Finding], Lines, str | None], int]


def fix_ledger(
    data: bytes, path: str, prefix: str, eol: str | None = None, newest_first: bool = True
) -> FixResult:
    """Apply every safe repair to ``data`` and return the result (idempotent)."""
    ledger = parse_ledger(data, path, prefix)
    findings = lint_ledger(ledger, eol, newest_first)
    refusals = [_REFUSE[f.code] for f in findings if f.code in _REFUSE]
    if refusals:
        return FixResult(path, data, data, (), f"left unchanged: {refusals[0]}")
    done: Counter[str] = Counter()
    for _ in range(MAX_PASSES):
        fixable = [f for f in findings if f.fixable]
        if not fixable:
            break
        progressed = False
        for code, repair in _REPAIRS:
            selected = [f for f in fixable if f.code == code]
            if not selected:
                continue
            lines = list(ledger.lines)
            bom = ledger.bom and code != "SOT007"
            count = repair(ledger, selected, lines, eol)
            if count == 0:
                continue
            updated = render_lines(lines, bom)
            if updated == ledger.render():
                continue
            done[code] += count
            ledger = parse_ledger(updated, path, prefix)
            findings = lint_ledger(ledger, eol, newest_first)
            progressed = True
            break
        if not progressed:
            break
    return FixResult(path, data, ledger.render(), tuple(sorted(done.items())), None)


def _target_newline(ledger: Ledger, eol: str | None) -> str:
    if eol == "lf":
        return "\n"
    if eol == "crlf":
        return "\r\n"
    return ledger.newline


def _with_ending(text: str, newline: str) -> str:
    return strip_eol(text) + newline


def _bom(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    return 1  # the caller drops the BOM when rendering


def _endings(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    newline = _target_newline(ledger, eol)
    changed = 0
    for i, line in enumerate(lines):
        if (line.endswith(("\n", "\r")) and not line.endswith(newline)) or (
            newline == "\n" and line.endswith("\r\n")
        ):
            lines[i] = _with_ending(line, newline)
            changed += 1
    return changed


def _final_newline(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    lines[-1] = lines[-1] + ledger.newline
    return 1


def _split_glued(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    newline = ledger.newline
    glued: dict[int, list[IndexRow]] = {}
    for row in ledger.rows:
        if row.glued:
            glued.setdefault(row.line, []).append(row)
    for line_no in sorted(glued, reverse=True):
        body = strip_eol(lines[line_no])
        ending = lines[line_no][len(body) :] or newline
        cuts = [r.col for r in glued[line_no]]
        pieces = [body[: cuts[0]].rstrip()]
        pieces += [body[a:b].rstrip() for a, b in zip(cuts, [*cuts[1:], len(body)], strict=True)]
        pieces = [p for p in pieces if p]
        replacement = [p + newline for p in pieces[:-1]] + [pieces[-1] + ending]
        lines[line_no : line_no + 1] = replacement
    return sum(len(v) for v in glued.values())


def _insert_position(ledger: Ledger, key: tuple[int, ...]) -> int:
    """Where a row with id ``key`` belongs in the newest-first INDEX table."""
    table_rows = [r for r in ledger.table_rows]
    for row in table_rows:
        if row.id is not None and _key(row.id) < key:
            return row.line
    return table_rows[-1].line + 1 if table_rows else ledger.index_table.end  # type: ignore[union-attr]


def _key(ledger_id: str) -> tuple[int, ...]:
    return tuple(int(p) for p in ledger_id.rsplit("-", 1)[1].split("."))


def _move_stray(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    if ledger.index_table is None:
        return 0
    newline = ledger.newline
    in_table = {r.text_key for r in ledger.table_rows}
    stray = [r for r in ledger.rows if not r.in_table and not r.glued]
    inserts: list[tuple[int, tuple[int, ...], str]] = []
    removed = {row.line for row in stray}
    for row in stray:
        if row.text_key in in_table:
            continue  # an identical row is already in the table
        in_table.add(row.text_key)
        text = strip_eol(lines[row.line]).strip()
        key = _key(row.id) if row.id else (0,)
        position = _insert_position(ledger, key)
        shift = sum(1 for r in removed if r < position)
        inserts.append((position - shift, key, text + newline))
    # Remove from the bottom up, then insert into the table.
    for line_no in sorted(removed, reverse=True):
        del lines[line_no]
    _insert_rows(lines, inserts)
    return len(stray)


def _insert_rows(lines: Lines, inserts: list[tuple[int, tuple[int, ...], str]]) -> None:
    """Insert rows bottom-up; rows for one position go in newest first (highest id on top)."""
    for position, _, text in sorted(inserts, key=lambda item: (-item[0], item[1])):
        lines.insert(position, text)


def _dedupe_rows(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    doomed = sorted({f.line - 1 for f in findings}, reverse=True)
    for line_no in doomed:
        del lines[line_no]
    return len(doomed)


def _dedupe_entries(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    starts = {f.line - 1 for f in findings}
    doomed = [e for e in ledger.entries if e.line in starts]
    for entry in sorted(doomed, key=lambda e: e.line, reverse=True):
        del lines[entry.line : entry.end]
    return len(doomed)


def _escape_pipes(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    targets = {(f.line - 1, f.col - 1) for f in findings}
    rows = [r for r in ledger.rows if (r.line, r.col) in targets]
    count = 0
    for row in sorted(rows, key=lambda r: (r.line, r.col), reverse=True):
        cells = repair_cells(ledger, row)
        if cells is None:
            continue
        line = lines[row.line]
        lines[row.line] = line[: row.col] + "| " + " | ".join(cells) + " |" + line[row.end_col :]
        count += 1
    return count


def _add_rows(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    columns = ledger.columns
    if columns is None or ledger.index_table is None:
        return 0
    wanted = {f.entry_id for f in findings}
    inserts: list[tuple[int, tuple[int, ...], str]] = []
    for entry in ledger.entries:
        if entry.id not in wanted or entry.occurrence != 1:
            continue
        cells = [""] * columns.count
        # The id goes last: a narrow header may give the title (or date) the id's column.
        cells[columns.title] = escape_cell(entry.title)
        cells[columns.date] = entry.date or ""
        cells[columns.id] = entry.id
        text = "| " + " | ".join(cells) + " |"
        inserts.append((_insert_position(ledger, entry.key), entry.key, text + ledger.newline))
    _insert_rows(lines, inserts)
    return len(inserts)


def escape_cell(text: str) -> str:
    """Make ``text`` safe as one table cell: escape ``|`` and fold line breaks."""
    text = " ".join(text.split())
    return re.sub(r"(?<!\\)\|", r"\\|", text)


def _counts(ledger: Ledger, findings: list[Finding], lines: Lines, eol: str | None) -> int:
    honest = str(honest_count(ledger))
    count = 0
    for finding in findings:
        i = finding.line - 1
        body = strip_eol(lines[i])
        ending = lines[i][len(body) :]
        if finding.code == "SOT030":
            head, sep, tail = body.partition("|")
            # The first two numbers are the stated counts ("214 entries (187 unique)").
            head = re.sub(r"\d+", honest, head, count=2)
            lines[i] = head + sep + tail + ending
        else:
            lines[i] = (
                re.sub(r"^(\s*Total_\w+\s*:\s?)(.*?)(\s*)$", rf"\g<1>{honest}\g<3>", body) + ending
            )
        count += 1
    return count


def refresh_counts(data: bytes, path: str, prefix: str) -> bytes:
    """``data`` with summary and META counts stating the ids it documents (SOT030/SOT031).

    ``sotsync new`` calls this so that adding an entry never leaves the counts stale.
    """
    ledger = parse_ledger(data, path, prefix)
    stale = [f for f in lint_ledger(ledger) if f.code in ("SOT030", "SOT031")]
    if not stale:
        return data
    lines = list(ledger.lines)
    _counts(ledger, stale, lines, None)
    return render_lines(lines, ledger.bom)


_REPAIRS: tuple[tuple[str, Repair], ...] = (
    ("SOT007", _bom),
    ("SOT003", _endings),
    ("SOT004", _final_newline),
    ("SOT021", _split_glued),
    ("SOT020", _move_stray),
    ("SOT013", _dedupe_rows),
    ("SOT011", _dedupe_entries),
    ("SOT022", _escape_pipes),
    ("SOT024", _add_rows),
    ("SOT030", _counts),
    ("SOT031", _counts),
)
