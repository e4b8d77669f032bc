"""Plain values shared across sotsync's layers: ledger structure and findings.

Everything here is an immutable value (a frozen dataclass, or a ``NamedTuple`` for the values a
parse makes once per entry or row: cheaper to build) with no behaviour beyond small derived
properties, so that any layer may import it without pulling in I/O or third-party packages.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NamedTuple

SEVERITIES = ("info", "warning", "error")


def severity_rank(severity: str) -> int:
    """Order severities so that ``--fail-on`` can compare them."""
    return SEVERITIES.index(severity)


def content_hash(text: str) -> str:
    """SHA-256 of ``text`` with CRLF normalised to LF (the entry hash of SPEC §2)."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8", "surrogateescape")).hexdigest()


class IndexRow(NamedTuple):
    """One INDEX row wherever it was found: in the table, stray in the text, or glued mid-line.

    ``line`` is 0-based; ``col`` is the 0-based character offset of the row's first ``|``;
    ``end_col`` is the offset just past the row (the line ending excluded).
    """

    line: int
    col: int
    end_col: int
    cells: tuple[str, ...]
    id: str | None
    date: str | None
    in_table: bool
    glued: bool

    @property
    def text_key(self) -> tuple[str, ...]:
        """Cells normalised for "is this the same row" comparisons."""
        return tuple(" ".join(c.split()) for c in self.cells)


class Entry(NamedTuple):
    """An entry section: an id heading and everything up to the next entry (``end`` exclusive)."""

    id: str
    key: tuple[int, ...]
    occurrence: int
    line: int
    end: int
    level: int
    heading: str
    title: str
    date: str | None
    content_hash: str
    generated: bool

    @property
    def entry_key(self) -> str:
        """The id, plus ``#n`` for the n-th section of a repeated id (SPEC §2)."""
        return self.id if self.occurrence == 1 else f"{self.id}#{self.occurrence}"


@dataclass(frozen=True, slots=True)
class Preamble:
    """What the head of a ledger claims about itself."""

    title: str | None
    summary_line: int | None
    summary_text: str | None
    summary_counts: tuple[int, ...]
    meta_start: int | None
    meta_end: int | None
    meta: tuple[tuple[str, str, int], ...]

    def meta_value(self, key: str) -> str | None:
        for name, value, _line in self.meta:
            if name == key:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint result.  ``line`` and ``col`` are 1-based; ``fingerprint`` ignores line numbers."""

    path: str
    line: int
    col: int
    code: str
    severity: str
    message: str
    entry_id: str | None = None
    fixable: bool = False
    fingerprint: str = field(default="", compare=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "entry_id": self.entry_id,
            "fixable": self.fixable,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True, slots=True)
class Run:
    """The columns of a run that reconcile reads (``created_at`` as the database returns it)."""

    id: str
    state: str
    created_at: object
