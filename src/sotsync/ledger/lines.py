"""A ledger's lines held as its bytes plus line offsets, decoded only when one is read.

A 50 MB ledger has about 800,000 lines; one ``str`` per line costs more memory than the file
itself, four bytes a character on every line with an emoji, and most lines are never read as
text: the block scanner only looks at a few ASCII characters of each.  So the parser keeps the
bytes it has anyway and an array of line offsets (``LineView``), and decodes a line (UTF-8 with
``surrogateescape``, so invalid bytes survive a round trip) when someone reads it.

``split_bytes`` finds the lines and, in the same pass over the bytes, makes what the scanner reads:
each line's bytes as a Latin-1 ``str``, one character a byte.  In UTF-8 every byte of a non-ASCII
character is >= 0x80, so each ASCII character (all Markdown syntax is ASCII) sits at the same
position and means the same thing as in the decoded line; ``latin1_text`` turns such a slice
back into real text where the scanner returns or trims text.  Line breaks are CRLF, LF and CR,
as in CommonMark.  This module must not interpret Markdown.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, count, islice, repeat
from operator import not_
from typing import overload

_CHUNK = 1 << 20
_VALIDATE = 1 << 16


@dataclass(frozen=True, slots=True)
class DecodeProblem:
    """Where the first invalid UTF-8 byte sits (1-based line and column, 0-based byte offset)."""

    line: int
    col: int
    offset: int


class LineView(Sequence[str]):
    """The lines of ``data[starts[0]:]``, endings kept, decoded on access.

    ``starts`` holds each line's byte offset in ``data`` and, last, ``len(data)``.  Slices are
    tuples, so code written for a tuple of lines keeps working.
    """

    __slots__ = ("_data", "_longest", "_starts")

    def __init__(self, data: bytes, starts: array[int], longest: int) -> None:
        self._data = data
        self._starts = starts
        self._longest = longest

    def __len__(self) -> int:
        return len(self._starts) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        if isinstance(index, slice):
            return tuple(map(self._line, range(*index.indices(len(self)))))
        count = len(self._starts) - 1
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("line index out of range")
        return self._line(index)

    def __iter__(self) -> Iterator[str]:
        return map(self._line, range(len(self)))

    def _line(self, index: int) -> str:
        starts = self._starts
        return self._data[starts[index] : starts[index + 1]].decode("utf-8", "surrogateescape")

    def start(self, line: int) -> int:
        """The byte offset in the ledger's bytes where ``line`` starts (``len(self)``: the end)."""
        return self._starts[line]

    def raw(self, start: int, stop: int) -> bytes:
        """The bytes of lines ``[start, stop)``, endings included."""
        return self._data[self._starts[start] : self._starts[stop]]

    def line_at(self, offset: int) -> int:
        """The line holding byte ``offset`` of the ledger's bytes (a BOM belongs to line 0)."""
        return max(bisect_right(self._starts, offset) - 1, 0)

    def startswith(self, line: int, prefix: bytes) -> bool:
        """Whether the bytes of ``line`` start with ``prefix``, without decoding or copying it."""
        return self._data.startswith(prefix, self._starts[line], self._starts[line + 1])

    def contains(self, needle: bytes) -> bool:
        """Whether ``needle`` occurs in the lines' bytes (one ``bytes.find``, nothing decoded)."""
        return self._data.find(needle, self._starts[0]) >= 0

    def longest(self) -> int:
        """The length in bytes of the longest line, ending included (an upper bound on chars)."""
        return self._longest


def split_bytes(data: bytes, pos: int) -> tuple[list[str], LineView, DecodeProblem | None]:
    """The lines of ``data[pos:]`` as Latin-1 strings, as a ``LineView``, and the first bad UTF-8.

    One chunk at a time (cut after a line break, so that CRLF pairs and characters stay whole),
    so that no second copy of a large file is ever held.
    """
    lines: list[str] = []
    starts = array("q", [pos])
    problem: DecodeProblem | None = None
    longest = 0
    size = len(data)
    while pos < size:
        end = _chunk_end(data, pos)
        chunk = data[pos:end]
        ascii_only = chunk.isascii()
        pieces = chunk.splitlines(keepends=True)
        del chunk
        first = len(lines)
        lines += map(bytes.decode, pieces, repeat("latin-1"))
        lengths = list(map(len, pieces))
        longest = max(longest, max(lengths))
        starts += array("q", islice(accumulate(lengths, initial=pos), 1, None))
        if problem is None and not ascii_only and not _valid_utf8(data, pos, end):
            problem = _first_problem(pieces, starts, first)
        pos = end
    return lines, LineView(data, starts, longest), problem


def _valid_utf8(data: bytes, start: int, end: int) -> bool:
    """Whether ``data[start:end]`` (cut at line breaks: no character is split) is valid UTF-8.

    Decoding a few lines at once is far cheaper than looking at lines one by one; only a chunk
    that fails is searched line by line for where.  Pieces of about ``_VALIDATE`` bytes, cut
    after an ASCII byte (never inside a character), keep the decoded text small enough for the
    allocator to reuse its memory: megabyte-sized strings cost fresh pages (system time) each.
    """
    while start < end:
        stop = end
        if end - start > _VALIDATE:
            cut = max(
                data.rfind(b"\n", start, start + _VALIDATE),
                data.rfind(b" ", start, start + _VALIDATE),
            )
            if cut >= 0:
                stop = cut + 1
        try:
            data[start:stop].decode("utf-8")
        except UnicodeDecodeError:
            return False
        start = stop
    return True


def _first_problem(pieces: list[bytes], starts: array[int], first: int) -> DecodeProblem | None:
    """Where the first invalid UTF-8 byte of ``pieces`` (lines from line ``first`` on) sits.

    Only lines with a non-ASCII byte are decoded: cheaper than decoding the whole chunk.
    """
    for k in compress(count(), map(not_, map(bytes.isascii, pieces))):
        try:
            pieces[k].decode("utf-8")
        except UnicodeDecodeError as exc:
            return DecodeProblem(first + k + 1, exc.start + 1, starts[first + k] + exc.start)
    return None


def _chunk_end(data: bytes, pos: int) -> int:
    """Where the chunk starting at ``pos`` ends: just after a line break, about ``_CHUNK`` on."""
    end = pos + _CHUNK
    if end >= len(data):
        return len(data)
    cut = data.rfind(b"\n", pos, end)
    if cut < 0:
        # No LF in the window, so a CR before its last byte is a whole line break.
        cut = data.rfind(b"\r", pos, end - 1)
    return _next_break(data, end) if cut < 0 else cut + 1


def _next_break(data: bytes, pos: int) -> int:
    lf = data.find(b"\n", pos)
    cr = data.find(b"\r", pos)
    found = [p for p in (lf, cr) if p >= 0]
    if not found:
        return len(data)
    cut = min(found)
    if data[cut : cut + 2] == b"\r\n":
        cut += 1
    return cut + 1


def latin1_text(raw: str) -> str:
    """The real text of a slice of a Latin-1 line from ``split_bytes``."""
    if raw.isascii():
        return raw
    return raw.encode("latin-1").decode("utf-8", "surrogateescape")


def same_text(text: str) -> str:
    """``latin1_text`` for lines that are text already."""
    return text
