"""Repairs that need judgement: which cell of a ragged INDEX row holds the stray ``|``.

A row with too many cells is repaired only when exactly one reading fits: every other column
keeps the kind of value it holds in the well-formed rows (a date, an id, a number, one of a few
status words), and, when the id has a section, the title cell equals the section's title.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from sotsync.ledger.parse import DATE, Ledger, id_pattern
from sotsync.models import IndexRow

_NUMBER = re.compile(r"\d+")
_ENUM_MAX_VALUES = 20
_ENUM_MAX_LEN = 40
_MAJORITY = 0.9
_kinds_cache: weakref.WeakKeyDictionary[Ledger, tuple[_Kind, ...]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class _Kind:
    """What one INDEX column holds: ``text`` accepts anything."""

    name: str
    vocabulary: frozenset[str] = frozenset()
    max_len: int = 1 << 30

    def accepts(self, value: str, prefix: str) -> bool:
        if self.name == "date":
            return DATE.match(value) is not None
        if self.name == "id":
            return id_pattern(prefix).fullmatch(value.strip("* ")) is not None
        if self.name == "number":
            return value == "" or _NUMBER.fullmatch(value) is not None
        if self.name == "enum":
            return value in self.vocabulary
        return len(value) <= self.max_len


def _infer_kinds(ledger: Ledger) -> tuple[_Kind, ...]:
    cached = _kinds_cache.get(ledger)
    if cached is not None:
        return cached
    columns = ledger.columns
    assert columns is not None
    good = [r.cells for r in ledger.rows if len(r.cells) == columns.count]
    kinds = []
    for col in range(columns.count):
        values = [cells[col] for cells in good]
        kinds.append(_kind_of(values, ledger.prefix, col == columns.title))
    result = tuple(kinds)
    _kinds_cache[ledger] = result
    return result


def _kind_of(values: Sequence[str], prefix: str, is_title: bool) -> _Kind:
    """The kind at least 90 % of a column's values share (a few legacy rows may deviate)."""
    if not values:
        return _Kind("text")
    if not is_title:
        for name in ("date", "id", "number"):
            kind = _Kind(name)
            if sum(kind.accepts(v, prefix) for v in values) >= _MAJORITY * len(values):
                return kind
        distinct = set(values)
        if (
            len(distinct) <= _ENUM_MAX_VALUES
            and len(values) >= 3 * len(distinct)
            and all(len(v) <= _ENUM_MAX_LEN for v in distinct)
        ):
            return _Kind("enum", frozenset(distinct))
    # A merged cell far longer than any cell of its column is not a plausible reading.
    return _Kind("text", max_len=2 * max(len(v) for v in values) + 20)


def repair_cells(ledger: Ledger, row: IndexRow) -> tuple[str, ...] | None:
    """The row's cells with the extra ``|`` escaped, or None when that is not unambiguous."""
    columns = ledger.columns
    if columns is None or len(row.cells) <= columns.count:
        return None
    kinds = _infer_kinds(ledger)
    extra = len(row.cells) - columns.count
    candidates = []
    for col in range(columns.count):
        if kinds[col].name not in ("text", "number"):
            continue
        merged = " \\| ".join(row.cells[col : col + extra + 1])
        cells = (*row.cells[:col], merged, *row.cells[col + extra + 1 :])
        if any(cells[i] != row.cells[i] for i in (columns.id, columns.date)):
            continue  # the row's id and date stay where they were read from
        if all(kinds[i].accepts(cells[i], ledger.prefix) for i in range(columns.count)):
            candidates.append(cells)
    if len(candidates) > 1 and row.id is not None:
        titles = {_norm(e.title) for e in ledger.entries if e.id == row.id}
        candidates = [c for c in candidates if _norm(c[columns.title]) in titles]
    return candidates[0] if len(candidates) == 1 else None


def _norm(text: str) -> str:
    return " ".join(text.replace("\\|", "|").split()).casefold()
