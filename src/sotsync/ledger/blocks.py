"""The Markdown block structure a ledger parser needs: headings, code blocks, tables.

Two producers fill these types: ``scan.scan_blocks`` (fast, line-based) and
``mdref.reference_blocks`` (markdown-it-py, the reference).  A differential test holds them equal,
so the parser may use the fast one everywhere.  Line numbers are 0-based indexes into the list of
lines produced by ``split_lines`` (CommonMark line endings: CRLF, CR or LF).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

_OTHER_BREAK_CHARS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


class Heading(NamedTuple):
    """An ATX or setext heading; ``line`` is its first line, ``end`` is exclusive.

    A ``NamedTuple`` rather than a frozen dataclass: a large ledger has tens of thousands of
    headings, and a tuple is several times cheaper to build.
    """

    line: int
    end: int
    level: int
    text: str
    nested: bool


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """A fenced or indented code block spanning lines ``[start, end)`` (fences included)."""

    start: int
    end: int
    fenced: bool
    nested: bool


@dataclass(frozen=True, slots=True)
class Table:
    """A GFM table spanning ``[start, end)``; ``rows`` has every row's line, header first."""

    start: int
    end: int
    rows: tuple[int, ...]
    nested: bool


@dataclass(frozen=True, slots=True)
class BlockMap:
    """What a ledger needs from a Markdown parse of one document."""

    headings: tuple[Heading, ...]
    code_blocks: tuple[CodeBlock, ...]
    tables: tuple[Table, ...]


def split_lines(text: str) -> list[str]:
    """Split ``text`` into lines that keep their endings, so ``"".join(lines) == text``."""
    # str.splitlines is fast but also breaks at \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029;
    # CommonMark does not, so those rare texts take the regex.
    if not any(char in text for char in _OTHER_BREAK_CHARS):
        return text.splitlines(keepends=True)
    return _LINE.findall(text)
