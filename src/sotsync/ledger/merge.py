"""Three-way merge of a ledger by entry: the logic behind ``sotsync merge-driver`` (SPEC §6).

``merge_ledgers`` keeps the layout of ``ours`` (preamble, INDEX table, entries section, trailer)
and merges the entry sections and INDEX rows one by one, as units keyed by id (plus occurrence):
additions from either side are kept (identical ones once), a change on one side wins, a change on
both sides becomes a conflict around that unit only.  An id added on both sides with different
content is renumbered on the incoming side (``theirs``) before the merge, with an alias note.
Anything that does not parse as a ledger falls back to one conflict over the whole file.
Pure: bytes in, bytes out; no I/O, no git.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sotsync.ledger.fix import refresh_counts
from sotsync.ledger.new import highest_number
from sotsync.ledger.parse import (
    Ledger,
    canonical_id,
    id_key,
    id_pattern,
    parse_ledger,
    render_lines,
    strip_eol,
)
from sotsync.models import Entry, IndexRow

OURS_MARKER = "<<<<<<< ours"
SEPARATOR = "======="
THEIRS_MARKER = ">>>>>>> theirs"
_CONFLICT = re.compile(r"^(?:<{7}|>{7})(?: |$)", re.MULTILINE)
_ID_HINT = re.compile(
    rb"(?m)^(?:\|[ \t]*\d{4}-\d{2}-\d{2}[^|\r\n]*\|[ \t]*|#{1,6}[ \t]+)([A-Z][A-Z0-9_]*)-\d+"
)


@dataclass(frozen=True)
class MergeResult:
    """The merged bytes, how many conflicts they hold, and the ids renumbered (old, new)."""

    data: bytes
    conflicts: int
    renumbered: tuple[tuple[str, str], ...] = ()


def alias_note(old_id: str) -> str:
    return f"**Alias**: was {old_id} on the merged branch (renumbered by sotsync merge)"


def guess_prefix(data: bytes) -> str | None:
    """The id prefix of the first ``| date | PREFIX-N |`` row or ``# PREFIX-N`` heading."""
    match = _ID_HINT.search(data[: 1 << 20])
    return match.group(1).decode("ascii") if match else None


def whole_file_conflict(base: bytes, ours: bytes, theirs: bytes) -> MergeResult:
    """What git does without a merge driver, at file granularity: trivial cases merge cleanly."""
    if theirs in (base, ours):
        return MergeResult(ours, 0)
    if ours == base:
        return MergeResult(theirs, 0)
    newline = b"\r\n" if ours.count(b"\r\n") * 2 > ours.count(b"\n") else b"\n"

    def side(data: bytes) -> bytes:
        return data if not data or data.endswith((b"\n", b"\r")) else data + newline

    data = (
        OURS_MARKER.encode() + newline + side(ours) + SEPARATOR.encode() + newline
        + side(theirs) + THEIRS_MARKER.encode() + newline
    )  # fmt: skip
    return MergeResult(data, 1)


def merge_ledgers(
    base: bytes, ours: bytes, theirs: bytes, path: str, prefix: str, newest_first: bool = True
) -> MergeResult:
    """Merge ``theirs`` into ``ours`` (common ancestor ``base``) entry by entry."""
    if theirs in (base, ours) or ours == base:
        return whole_file_conflict(base, ours, theirs)
    sides = [parse_ledger(data, path, prefix) for data in (base, ours, theirs)]
    if not all(_mergeable(ledger) for ledger in sides):
        return whole_file_conflict(base, ours, theirs)
    old, mine, other = sides
    other, renumbered = _renumber_collisions(old, mine, other)
    merger = _Merger(old, mine, other, newest_first)
    if merger.impossible:
        return whole_file_conflict(base, ours, theirs)
    lines, conflicts = merger.run()
    data = refresh_counts(render_lines(lines, mine.bom), path, prefix)
    return MergeResult(data, conflicts, renumbered)


def _mergeable(ledger: Ledger) -> bool:
    if ledger.decode_error is not None:
        return False
    if ledger.index_table is None and not ledger.entries and ledger.data.strip():
        return False
    text = ledger.data.decode("utf-8", "replace")
    return _CONFLICT.search(text) is None


# --------------------------------------------------------------------------- units


def _body(lines: Iterable[str]) -> list[str]:
    """The unit's lines without its trailing blank lines."""
    body = list(lines)
    while body and not body[-1].strip():
        body.pop()
    return body


def _norm(lines: Iterable[str]) -> str:
    return "\n".join(strip_eol(line).rstrip() for line in _body(lines))


def _entry_lines(ledger: Ledger, entry: Entry) -> list[str]:
    return list(ledger.lines[entry.line : entry.end])


def _table_rows(ledger: Ledger) -> list[IndexRow]:
    return [r for r in ledger.table_rows if r.id is not None]


def _row_text(ledger: Ledger, row: IndexRow) -> str:
    return strip_eol(ledger.lines[row.line])[row.col : row.end_col].strip()


def _keyed(items: Iterable[tuple[str, object]]) -> Iterator[tuple[str, int]]:
    seen: dict[str, int] = defaultdict(int)
    for ident, _ in items:
        seen[ident] += 1
        yield ident, seen[ident]


def _rows_by_key(ledger: Ledger) -> dict[tuple[str, int], IndexRow]:
    rows = _table_rows(ledger)
    keys = _keyed((r.id or "", r) for r in rows)
    return dict(zip(keys, rows, strict=True))


def _entries_by_key(ledger: Ledger) -> dict[tuple[str, int], Entry]:
    return {(e.id, e.occurrence): e for e in ledger.entries}


# --------------------------------------------------------------------------- renumbering


def _bundle(ledger: Ledger, ident: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    sections = tuple(_norm(_entry_lines(ledger, e)) for e in ledger.entries if e.id == ident)
    rows = tuple(r.text_key for r in _table_rows(ledger) if r.id == ident)
    return sections, rows


def _renumber_collisions(
    base: Ledger, ours: Ledger, theirs: Ledger
) -> tuple[Ledger, tuple[tuple[str, str], ...]]:
    """``theirs`` with every id that both sides added differently moved to the next free id."""
    known = base.ids()
    both = (ours.ids() - known) & (theirs.ids() - known)
    clashing = sorted((i for i in both if _bundle(ours, i) != _bundle(theirs, i)), key=id_key)
    if not clashing:
        return theirs, ()
    prefix = theirs.prefix
    top = max(highest_number(prefix, ledger.ids()) for ledger in (base, ours, theirs))
    lines = list(theirs.lines)
    newline = theirs.newline
    pattern = id_pattern(prefix)
    moves: list[tuple[str, str]] = []
    inserts: list[tuple[int, list[str]]] = []
    for old in clashing:
        top += 1
        new = f"{prefix}-{top:03d}"
        moves.append((old, new))
        for entry in theirs.entries:
            if entry.id != old:
                continue
            lines[entry.line] = _replace_id(lines[entry.line], pattern, prefix, old, new, 0)
            heading_end = next(
                (h.end for h in theirs.blocks.headings if h.line == entry.line), entry.line + 1
            )
            inserts.append((heading_end, [newline, alias_note(old) + newline]))
        for row in _table_rows(theirs):
            if row.id == old:
                lines[row.line] = _replace_id(lines[row.line], pattern, prefix, old, new, row.col)
    for position, added in sorted(inserts, key=lambda item: -item[0]):
        lines[position:position] = added
    data = render_lines(lines, theirs.bom)
    return parse_ledger(data, theirs.path, prefix), tuple(moves)


def _replace_id(
    line: str, pattern: re.Pattern[str], prefix: str, old: str, new: str, start: int
) -> str:
    for match in pattern.finditer(line, start):
        if canonical_id(prefix, match.group(1))[0] == old:
            return line[: match.start()] + new + line[match.end() :]
    return line


# --------------------------------------------------------------------------- the merge


class _Merger:
    """Edits to ``ours``' lines: replacements of line ranges and insertions before a line."""

    def __init__(self, base: Ledger, ours: Ledger, theirs: Ledger, newest_first: bool) -> None:
        self.base, self.ours, self.theirs = base, ours, theirs
        self.newest_first = newest_first
        self.newline = ours.newline
        self.replace: dict[int, tuple[int, list[str]]] = {}
        self.insert: dict[int, list[tuple[tuple[int, ...], list[str], bool]]] = defaultdict(list)
        self.conflicts = 0
        added_rows = set(_rows_by_key(theirs)) - set(_rows_by_key(base)) - set(_rows_by_key(ours))
        self.impossible = ours.index_table is None and bool(added_rows)

    # ----- helpers

    def _convert(self, lines: Iterable[str]) -> list[str]:
        """``theirs``' lines in ``ours``' line-ending style."""
        return [strip_eol(line) + self.newline for line in lines]

    def _closed(self, lines: list[str]) -> list[str]:
        """``lines`` with a line ending on the last one."""
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines = [*lines[:-1], lines[-1] + self.newline]
        return lines

    def _conflict(self, mine: list[str], other: list[str]) -> list[str]:
        self.conflicts += 1
        nl = self.newline
        return [
            OURS_MARKER + nl,
            *self._closed(mine),
            SEPARATOR + nl,
            *self._closed(other),
            THEIRS_MARKER + nl,
        ]

    def _before(self, existing: tuple[int, ...], new: tuple[int, ...]) -> bool:
        """Whether ``new`` goes above ``existing`` in the file's order."""
        return existing < new if self.newest_first else existing > new

    # ----- entries

    def _entry_position(self, key: tuple[int, ...]) -> int:
        ours = self.ours
        for entry in ours.entries:
            if self._before(entry.key, key):
                return entry.line
        if ours.entries:
            return ours.entries[-1].end
        table = ours.index_table
        after = [b for b in ours.section_breaks if table is None or b > table.start]
        if not after:
            return len(ours.lines)
        position = after[0] + 1
        while position < len(ours.lines) and not ours.lines[position].strip():
            position += 1
        return position

    def merge_entries(self) -> None:
        base, ours, theirs = (_entries_by_key(x) for x in (self.base, self.ours, self.theirs))
        for key, mine in ours.items():
            old, other = base.get(key), theirs.get(key)
            mine_lines = _entry_lines(self.ours, mine)
            other_lines = None if other is None else _entry_lines(self.theirs, other)
            old_lines = None if old is None else _entry_lines(self.base, old)
            result = self._three_way(mine_lines, old_lines, other_lines)
            if result is not None:
                self.replace[mine.line] = (mine.end, result)
        for key, other in theirs.items():
            if key in ours:
                continue
            other_lines = _entry_lines(self.theirs, other)
            old = base.get(key)
            if old is not None and _norm(_entry_lines(self.base, old)) == _norm(other_lines):
                continue  # deleted on our side, unchanged on theirs
            body = self._convert(_body(other_lines))
            if old is not None:
                body = self._conflict([], body)  # deleted on our side, changed on theirs
            position = self._entry_position(other.key)
            self.insert[position].append((other.key, [*body, self.newline], True))

    def _three_way(
        self, mine: list[str], old: list[str] | None, other: list[str] | None
    ) -> list[str] | None:
        """The replacement for our unit, or None to keep it as it is."""
        trail = mine[len(_body(mine)) :]
        if old is None:
            if other is None or _norm(other) == _norm(mine):
                return None
            return self._conflict(_body(mine), self._convert(_body(other))) + trail
        if other is None:
            if _norm(mine) == _norm(old):
                return []
            return self._conflict(_body(mine), []) + trail
        if _norm(other) in (_norm(mine), _norm(old)):
            return None
        if _norm(mine) == _norm(old):
            taken = self._convert(_body(other))
            if not trail and taken and not mine[-1].endswith(("\n", "\r")):
                taken[-1] = strip_eol(taken[-1])  # our entry ended the file without a newline
            return taken + trail
        return self._conflict(_body(mine), self._convert(_body(other))) + trail

    # ----- rows

    def _row_position(self, key: tuple[int, ...]) -> int:
        rows = _table_rows(self.ours)
        for row in rows:
            if row.id is not None and self._before(id_key(row.id), key):
                return row.line
        if rows:
            return max(r.line for r in self.ours.table_rows) + 1
        table = self.ours.index_table
        if table is None:  # ours has no INDEX table: the row waits above the first entry
            entries = self.ours.entries
            return entries[0].line if entries else len(self.ours.lines)
        return table.rows[0] + 2

    def merge_rows(self) -> None:
        base, ours, theirs = (_rows_by_key(x) for x in (self.base, self.ours, self.theirs))
        for key, mine in ours.items():
            old, other = base.get(key), theirs.get(key)
            if other is not None and (
                other.text_key == mine.text_key
                or (old is not None and other.text_key == old.text_key)
            ):
                continue
            if old is None and other is None:
                continue
            line = self.ours.lines[mine.line]
            if old is not None and old.text_key == mine.text_key:
                if other is None:
                    new_line = (line[: mine.col] + line[mine.end_col :]).strip()
                    result = [] if not new_line else [line[: mine.col] + line[mine.end_col :]]
                else:
                    text = _row_text(self.theirs, other)
                    result = [line[: mine.col] + text + line[mine.end_col :]]
            else:
                other_line = [] if other is None else [_row_text(self.theirs, other)]
                result = self._conflict([line], self._convert(other_line))
            self.replace[mine.line] = (mine.line + 1, self._closed(result))
        for key, other in theirs.items():
            if key in ours:
                continue
            old = base.get(key)
            if old is not None and old.text_key == other.text_key:
                continue
            added = [_row_text(self.theirs, other) + self.newline]
            if old is not None or self.ours.index_table is None:
                # A changed row, or a new one with no table on our side to put it in: the
                # person resolving the conflict decides; the row is kept either way.
                added = self._conflict([], added)
            assert other.id is not None
            self.insert[self._row_position(id_key(other.id))].append(
                (id_key(other.id), added, False)
            )

    # ----- output

    def run(self) -> tuple[list[str], int]:
        self.merge_rows()
        self.merge_entries()
        source = self.ours.lines
        out: list[str] = []
        i = 0
        while i <= len(source):
            pending = self.insert.get(i)
            if pending:
                self._emit(out, pending, at_end=i == len(source))
            if i == len(source):
                break
            if i in self.replace:
                end, lines = self.replace[i]
                out.extend(lines)
                i = end
            else:
                out.append(source[i])
                i += 1
        return out, self.conflicts

    def _emit(
        self, out: list[str], pending: list[tuple[tuple[int, ...], list[str], bool]], at_end: bool
    ) -> None:
        """Append inserted blocks; at the end of the file they go above its trailing blank lines."""
        trail: list[str] = []
        while at_end and out and not out[-1].strip():
            trail.insert(0, out.pop())
        if out and not out[-1].endswith(("\n", "\r")):
            out[-1] += self.newline
        for _key, block, is_entry in sorted(
            pending, key=lambda item: item[0], reverse=self.newest_first
        ):
            if is_entry and out and out[-1].strip():
                out.append(self.newline)  # a blank line between two entries
            out.extend(block)
        if at_end:
            while out and not out[-1].strip():
                out.pop()
            out.extend(trail)
