"""The fast block scanner: headings, code blocks and tables of a Markdown document, line by line.

``scan_blocks`` owns the production ``BlockMap`` of a ledger.  It must agree EXACTLY with
``mdref.reference_blocks`` (markdown-it-py, CommonMark + GFM tables, block level) on every input:
a differential test (``tests/test_scan.py``) holds them equal on the corpus and on generated text.

It is a line-based re-implementation of markdown-it-py's block algorithm (same rule order, same
container bookkeeping: per-line start, indent and column arrays that blockquotes and list items
shift and restore), specialised to what a ``BlockMap`` needs: no tokens are built, rules are
dispatched on the first character of a line, and paragraph continuation lines are skipped with a
cheap first-character test.  Where markdown-it-py deviates from the CommonMark spec, this module
follows markdown-it-py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import compress, count, repeat
from operator import sub

from sotsync.ledger._scan_containers import blockquote, list_block
from sotsync.ledger._scan_fastlist import NOT_INERT, inert
from sotsync.ledger._scan_helpers import TRIM_CHARS, denul, html_kind, prepare
from sotsync.ledger._scan_paragraph import paragraph, table
from sotsync.ledger._scan_reference import parse_reference
from sotsync.ledger.blocks import BlockMap, CodeBlock, Heading, Table
from sotsync.ledger.gcpause import paused_gc
from sotsync.ledger.lines import latin1_text, same_text

_MAX_NESTING = 20  # markdown-it-py's ``maxNesting`` in the commonmark preset
_MAX_AUTOCOMPLETED_CELLS = 0x10000
_SP = " \t"
_SP_TUPLE = (" ", "\t")
_DIGITS = frozenset("0123456789")
# First characters with which a line may start a block that interrupts a paragraph (the table
# rule is checked separately: it depends on the next line).
_PARA_TERM = frozenset("`~>*-_+<#0123456789")
_LIST_TERM = frozenset("`~>*-_")
_DELIM_START = frozenset("|-:")
_DELIM_CHARS = frozenset("|-: \t")
_DELIM_NOSP = frozenset("|-:")
# First characters for which a rule other than lheading/paragraph may match.
_BLOCK_START = _PARA_TERM | {"["}
_HR = re.compile(r"(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,}")


def scan_blocks(lines: Sequence[str]) -> BlockMap:
    """Headings, code blocks and tables of the document made of ``lines`` (from ``split_lines``)."""
    return _scan(prepare(lines), same_text)


def scan_latin1(lines: list[str], lf_only: bool = False) -> BlockMap:
    """``scan_blocks`` of the UTF-8 document whose lines ``split_bytes`` gave as Latin-1 text.

    Block structure depends on ASCII characters only, which sit at the same positions in those
    strings; text the scanner returns or trims by Unicode rules is decoded first.  ``lines`` is
    used in place (no copy of a large ledger's line list) and left as it was.  ``lf_only`` says
    that the document has no CR at all, which makes finding where each line's content ends cheap.
    """
    tail = None
    if lines:
        last = lines[-1]
        if last[-1] not in "\r\n" and not last.strip(" \t"):
            tail = lines.pop()  # as ``prepare`` does
    try:
        return _scan(lines, latin1_text, lf_only)
    finally:
        lines.pop()  # the fake last line
        if tail is not None:
            lines.append(tail)


def _scan(lines: list[str], text: Callable[[str], str], lf_only: bool = False) -> BlockMap:
    with paused_gc():
        scanner = _Scanner(lines, text, lf_only)
        scanner.tokenize(0, scanner.line_max)
    return BlockMap(tuple(scanner.headings), tuple(scanner.code), tuple(scanner.tables))


def _columns(s: str, pos: int) -> int:
    """The column reached by the leading spaces and tabs ``s[:pos]`` (tab stops every 4)."""
    off = 0
    for ch in s[:pos]:
        off += 1 if ch == " " else 4 - off % 4
    return off


class _Scanner:
    """markdown-it-py's ``StateBlock`` reduced to what the block rules read, plus the results."""

    __slots__ = (
        "L",
        "bM",
        "blk",
        "bsC",
        "code",
        "depth",
        "eM",
        "headings",
        "level",
        "line",
        "line_max",
        "list_indent",
        "parent",
        "sC",
        "tS",
        "tables",
        "text",
    )

    def __init__(self, lines: list[str], text: Callable[[str], str], lf_only: bool) -> None:
        # ``lines`` keep their CommonMark endings (LF, CRLF or CR), which is exactly
        # markdown-it-py's line split after it normalises them to LF.  ``eM`` is where a line's
        # content ends; the character there (if any) is the line ending.
        n = len(lines)
        self.L = lines
        lines.append("")  # the fake last line markdown-it-py adds
        em: list[int]
        if lf_only:  # every line but the last two ends in one LF: no stripped copies needed
            em = list(map(sub, map(len, lines), repeat(1)))
            em[n] = 0
            if n and not lines[n - 1].endswith("\n"):
                em[n - 1] += 1
        else:
            em = list(map(len, map(str.rstrip, lines, repeat("\r\n"))))
        self.bM = [0] * (n + 1)
        self.eM = em
        ts = [0] * (n + 1)
        sc = [0] * (n + 1)
        for i in compress(count(), map(str.startswith, lines, repeat(_SP_TUPLE))):
            s = lines[i]
            pos = len(s) - len(s.lstrip(_SP))
            ts[i] = pos if pos < em[i] else em[i]
            sc[i] = pos if s.find("\t", 0, pos) < 0 else _columns(s, pos)
        self.tS = ts
        self.sC = sc
        self.bsC = [0] * (n + 1)
        self.blk = 0
        self.list_indent = -1
        self.parent = "root"
        self.line = 0
        self.line_max = n
        self.level = 0
        self.depth = 0
        self.headings: list[Heading] = []
        self.code: list[CodeBlock] = []
        self.tables: list[Table] = []
        #: Real text of a slice of a line: identity, or ``latin1_text`` (see ``scan_latin1``).
        self.text = text

    # -- small state helpers ------------------------------------------------------------------

    def is_empty(self, line: int) -> bool:
        return self.bM[line] + self.tS[line] >= self.eM[line]

    def content(self, line: int) -> str:
        return self.text(self.L[line][self.bM[line] + self.tS[line] : self.eM[line]])

    # -- the block loop -------------------------------------------------------------------------

    def tokenize(self, start: int, end: int) -> None:
        line = start
        L = self.L
        bM = self.bM
        tS = self.tS
        eM = self.eM
        sC = self.sC
        while line < end:
            lmax = self.line_max
            while line < lmax and bM[line] + tS[line] >= eM[line]:
                line += 1
            self.line = line
            if line >= end:
                break
            blk = self.blk
            if sC[line] < blk:
                break
            if self.level >= _MAX_NESTING:
                self.line = end
                break
            s = L[line]
            pos = bM[line] + tS[line]
            # ``table_next(line + 1, end)``, inlined: this runs once per block.
            nxt = line + 1
            tbl = False
            if nxt < end:
                p = bM[nxt] + tS[nxt]
                if p + 1 < eM[nxt]:
                    t = L[nxt]
                    d = t[p]
                    if d == "-":
                        tbl = t[p + 1] in _DELIM_NOSP
                    else:
                        tbl = (d == "|" or d == ":") and t[p + 1] in _DELIM_CHARS
            c = s[pos]
            if sC[line] - blk >= 4 or tbl or (c in NOT_INERT and not inert(s, pos, eM[line])):
                self.dispatch(line, end, c, blk, tbl)
            else:  # only lheading and paragraph can match
                paragraph(self, line, end)
            line = self.line
            if line < end and bM[line] + tS[line] >= eM[line]:
                line += 1
                self.line = line

    def dispatch(self, line: int, end: int, c: str, blk: int, tbl: bool) -> None:
        """Run markdown-it-py's block rules, in order, on a non-empty ``line``.

        ``tbl`` is ``table_next(line + 1, end)``.  After the table and indented-code rules,
        the first character ``c`` selects the only rules that can match, in their order.
        """
        if tbl and table(self, line, end, False):
            return
        if self.sC[line] - blk >= 4:
            self.code_block(line, end)
            return
        if c == "#":
            if not self.heading(line):
                paragraph(self, line, end)
            return
        if (c == "`" or c == "~") and self.fence(line, end, False):
            return
        if c == ">":
            blockquote(self, line, end)
            return
        if (c == "*" or c == "-" or c == "_") and self.hr(line):
            self.line = line + 1
            return
        if (c in "*-+" or c in _DIGITS) and list_block(self, line, end, False):
            return
        if c == "[" and self.reference(line):
            return
        if c == "<" and self.html_block(line, end, False):
            return
        paragraph(self, line, end)

    # -- terminators ----------------------------------------------------------------------------

    def table_next(self, nxt: int, end: int) -> bool:
        """Cheap necessary condition for the table rule: line ``nxt`` may be a delimiter row."""
        if nxt >= end:
            return False
        t = self.L[nxt]
        pos = self.bM[nxt] + self.tS[nxt]
        if pos + 1 >= self.eM[nxt]:
            return False
        c = t[pos]
        if c == "-":
            return t[pos + 1] in _DELIM_NOSP
        return (c == "|" or c == ":") and t[pos + 1] in _DELIM_CHARS

    def ends_paragraph(self, line: int, end: int) -> bool:
        """Whether a rule of the "paragraph" (= "reference") terminator list matches ``line``."""
        # The paragraph list is the blockquote list with a table in front.
        if self.table_next(line + 1, end) and table(self, line, end, True):
            return True
        return self.ends_blockquote(line, end)

    def ends_blockquote(self, line: int, end: int) -> bool:
        """The "blockquote" terminator list: fence, blockquote, hr, list, html_block, heading."""
        if self.sC[line] - self.blk >= 4:
            return False
        s = self.L[line]
        pos = self.bM[line] + self.tS[line]
        c = s[pos] if pos < len(s) else ""
        if c not in _PARA_TERM:
            return False
        if c == "`" or c == "~":
            return self.fence(line, end, True)
        if c == ">":
            return True
        if c == "#":
            return self.heading(line, True)
        if c == "<":
            return self.html_block(line, end, True)
        return self.hr(line) or list_block(self, line, end, True)

    def ends_list(self, line: int, end: int) -> bool:
        """The "list" terminator list: fence, blockquote, hr."""
        if self.sC[line] - self.blk >= 4:
            return False
        s = self.L[line]
        pos = self.bM[line] + self.tS[line]
        c = s[pos] if pos < len(s) else ""
        if c not in _LIST_TERM:
            return False
        if c == "`" or c == "~":
            return self.fence(line, end, True)
        if c == ">":
            return True
        return _HR.fullmatch(s, pos, self.eM[line]) is not None

    # -- leaf rules -----------------------------------------------------------------------------

    def code_block(self, start: int, end: int) -> None:
        last = nxt = start + 1
        blk4 = self.blk + 4
        sC = self.sC
        while nxt < end:
            if self.is_empty(nxt):
                nxt += 1
            elif sC[nxt] >= blk4:
                nxt += 1
                last = nxt
            else:
                break
        self.line = last
        self.code.append(CodeBlock(start, last, False, self.depth > 0))

    def fence(self, start: int, end: int, silent: bool) -> bool:
        s = self.L[start]
        pos = self.bM[start] + self.tS[start]
        mx = self.eM[start]
        if self.sC[start] - self.blk >= 4 or pos + 3 > mx:
            return False
        marker = s[pos]
        if marker != "`" and marker != "~":
            return False
        mem = pos
        while pos < mx and s[pos] == marker:
            pos += 1
        length = pos - mem
        if length < 3:
            return False
        if marker == "`" and "`" in s[pos:mx]:
            return False
        if silent:
            return True
        L = self.L
        bM = self.bM
        tS = self.tS
        eM = self.eM
        sC = self.sC
        blk = self.blk
        closing = marker * length
        found = False
        nxt = start
        while True:
            nxt += 1
            if nxt >= end:
                break
            t = L[nxt]
            p = bM[nxt] + tS[nxt]
            m = eM[nxt]
            if p < m and sC[nxt] < blk:
                break
            if p >= len(t):
                break
            if t[p] != marker:
                continue
            if sC[nxt] - blk >= 4:
                continue
            if not t.startswith(closing, p):
                continue
            if t[p:m].lstrip(marker).strip(_SP):
                continue
            found = True
            break
        self.line = nxt + 1 if found else nxt
        self.code.append(CodeBlock(start, self.line, True, self.depth > 0))
        return True

    def hr(self, line: int) -> bool:
        if self.sC[line] - self.blk >= 4:
            return False
        return _HR.fullmatch(self.L[line], self.bM[line] + self.tS[line], self.eM[line]) is not None

    def heading(self, line: int, silent: bool = False) -> bool:
        if self.sC[line] - self.blk >= 4:
            return False
        s = self.L[line]
        pos = self.bM[line] + self.tS[line]
        mx = self.eM[line]
        if pos >= mx or s[pos] != "#":
            return False
        level = 1
        pos += 1
        while pos < mx and s[pos] == "#" and level <= 6:
            level += 1
            pos += 1
        if level > 6 or (pos < mx and s[pos] != " " and s[pos] != "\t"):
            return False
        if silent:
            return True
        body = s[pos:mx].rstrip(_SP)
        stripped = body.rstrip("#")
        if len(stripped) < len(body) and stripped and stripped[-1] in _SP:
            body = stripped
        self.line = line + 1
        if not body.isascii() or "\0" in body:
            body = denul(self.text(body))
        text = body.strip(TRIM_CHARS)  # neither NUL nor U+FFFD is trimmed: the order is free
        self.headings.append(Heading(line, line + 1, level, text, self.depth > 0))
        return True

    def html_block(self, start: int, end: int, silent: bool) -> bool:
        if self.sC[start] - self.blk >= 4:
            return False
        text = self.content(start)
        if not text.startswith("<"):
            return False
        text = text.replace("\0", "\ufffd")
        kind = html_kind(text)
        if kind is None:
            return False
        close, interrupts = kind
        if silent:
            return interrupts
        nxt = start + 1
        if close is None or not close.search(text):
            blk = self.blk
            sC = self.sC
            while nxt < end:
                if sC[nxt] < blk and (close is None or not self.is_empty(nxt)):
                    break
                text = self.content(nxt).replace("\0", "\ufffd")
                if close is None:
                    if not text:
                        break
                elif close.search(text):
                    nxt += 1
                    break
                nxt += 1
        self.line = nxt
        return True

    # -- reference definitions ------------------------------------------------------------------

    def reference(self, start: int) -> bool:
        if self.sC[start] - self.blk >= 4:
            return False
        end = parse_reference(self, start)
        if end < 0:
            return False
        self.line = end
        return True

    def next_ref_line(self, nxt: int) -> str | None:
        """markdown-it-py's ``reference.getNextLine``."""
        lmax = self.line_max
        if nxt >= lmax or self.is_empty(nxt):
            return None
        if not (self.sC[nxt] - self.blk >= 4 or self.sC[nxt] < 0):
            old = self.parent
            self.parent = "reference"
            stop = self.ends_paragraph(nxt, lmax)
            self.parent = old
            if stop:
                return None
        return self.ref_text(nxt)

    def ref_text(self, line: int) -> str:
        """``src[pos:max + 1]`` of the reference rule: the content and a normalised line end."""
        s = self.L[line]
        em = self.eM[line]
        text = self.text(s[self.bM[line] + self.tS[line] : em])
        if em < len(s):
            text += "\n"
        return text.replace("\0", "\ufffd")
