"""Paragraphs (with setext headings) and GFM tables for ``scan.py``: most ledger lines.

They are markdown-it-py's ``lheading``/``paragraph`` and ``table`` rules (the reference in
``mdref``), with the per-line work of their loops inlined: a paragraph line whose content is
``inert`` (see ``_scan_fastlist``) can only be interrupted by a table, which needs the next line
to look like a delimiter row, so the terminator rules run only when one of those holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sotsync.ledger._scan_fastlist import NOT_INERT, inert
from sotsync.ledger._scan_helpers import DELIM_CELL, TRIM_CHARS, cell_count, denul
from sotsync.ledger.blocks import Heading, Table

if TYPE_CHECKING:
    from sotsync.ledger.scan import _Scanner

_MAX_AUTOCOMPLETED_CELLS = 0x10000
_SP = " \t"
_DELIM_START = frozenset("|-:")
_DELIM_CHARS = frozenset("|-: \t")
_DELIM_NOSP = frozenset("|-:")
_PARA_TERM = frozenset("`~>*-_+<#0123456789")


# -- tables ------------------------------------------------------------------------------------


def table(st: _Scanner, start: int, end: int, silent: bool) -> bool:
    if start + 2 > end:
        return False
    nxt = start + 1
    blk = st.blk
    sC = st.sC
    if sC[nxt] < blk or sC[nxt] - blk >= 4:
        return False
    s = st.L[nxt]
    pos = st.bM[nxt] + st.tS[nxt]
    mx = st.eM[nxt]
    if pos + 1 >= mx:
        return False
    c1 = s[pos]
    c2 = s[pos + 1]
    if c1 not in _DELIM_START or c2 not in _DELIM_CHARS:
        return False
    if c1 == "-" and (c2 == " " or c2 == "\t"):
        return False
    delim = s[pos:mx]
    if delim.strip("|-: \t"):
        return False
    columns = delim.split("|")
    last = len(columns) - 1
    aligns = 0
    for i, col in enumerate(columns):
        t = col.strip(TRIM_CHARS)
        if not t:
            if i == 0 or i == last:
                continue
            return False
        if not DELIM_CELL.fullmatch(t):
            return False
        aligns += 1
    header = st.content(start).strip(TRIM_CHARS)
    if "|" not in header or sC[start] - blk >= 4:
        return False
    count = cell_count(header)
    if count == 0 or count != aligns:
        return False
    if silent:
        return True
    old_parent = st.parent
    st.parent = "table"
    rows = [start]
    autocompleted = 0
    nxt = start + 2
    L = st.L
    bM = st.bM
    tS = st.tS
    eM = st.eM
    while nxt < end:
        if sC[nxt] < blk:
            break
        s = L[nxt]
        pos = bM[nxt] + tS[nxt]
        mx = eM[nxt]
        # ends_blockquote is false unless the first character is in _PARA_TERM.
        if pos < mx and s[pos] in _PARA_TERM and st.ends_blockquote(nxt, end):
            break
        text = s[pos:mx]
        # A row between two ``|`` (the usual kind) has nothing to trim, and its cells are
        # counted on ASCII characters alone: it needs no decoding.
        if not text or text[0] != "|" or text[-1] != "|":
            if not text.isascii():
                text = st.text(text)
            text = text.strip(TRIM_CHARS)
        if not text or sC[nxt] - blk >= 4:
            break
        autocompleted += count - cell_count(text)
        if autocompleted > _MAX_AUTOCOMPLETED_CELLS:
            break
        rows.append(nxt)
        nxt += 1
    st.parent = old_parent
    st.line = nxt
    st.tables.append(Table(start, nxt, tuple(rows), st.depth > 0))
    return True


# -- paragraphs and setext headings ------------------------------------------------------------


def paragraph(st: _Scanner, start: int, end: int) -> None:
    """markdown-it-py's ``lheading`` then ``paragraph`` rules, in one pass."""
    L = st.L
    bM = st.bM
    tS = st.tS
    eM = st.eM
    sC = st.sC
    blk = st.blk
    lmax = st.line_max
    old_parent = st.parent
    st.parent = "paragraph"  # left so when no underline is found, as markdown-it-py does
    nxt = start + 1
    while nxt < lmax:
        s = L[nxt]
        pos = bM[nxt] + tS[nxt]
        if pos >= eM[nxt]:
            break
        ind = sC[nxt]
        if ind - blk > 3:
            nxt += 1
            continue
        c = s[pos]
        if nxt < end and ind >= blk and (c == "=" or c == "-"):
            body = s[pos : eM[nxt]].rstrip(_SP)
            if not body.strip(c):
                setext(st, start, nxt, 1 if c == "=" else 2)
                st.parent = old_parent
                return
        if ind < 0:
            nxt += 1
            continue
        # lheading checks terminators against ``end`` and paragraph against lineMax: they
        # differ only for a table whose delimiter row is line ``end``, after which lheading
        # has no line left to look at.
        if c in NOT_INERT and not inert(s, pos, eM[nxt]):
            stop = st.ends_paragraph(nxt, lmax)
        else:  # only a table can interrupt: ``table_next(nxt + 1, lmax)``, inlined
            n1 = nxt + 1
            stop = False
            if n1 < lmax:
                t = L[n1]
                p = bM[n1] + tS[n1]
                stop = (
                    p + 1 < eM[n1]
                    and (
                        t[p + 1] in _DELIM_NOSP
                        if t[p] == "-"
                        else (t[p] == "|" or t[p] == ":") and t[p + 1] in _DELIM_CHARS
                    )
                    and st.ends_paragraph(nxt, lmax)
                )
        if stop:
            break
        nxt += 1
    st.line = nxt


def setext(st: _Scanner, start: int, under: int, level: int) -> None:
    text = denul(st.text(get_lines(st, start, under, st.blk)).strip(TRIM_CHARS))
    st.line = under + 1
    st.headings.append(Heading(start, under + 1, level, text, st.depth > 0))


def get_lines(st: _Scanner, begin: int, end: int, indent: int) -> str:
    """markdown-it-py's ``getLines(begin, end, indent, keepLastLF=False)``."""
    out: list[str] = []
    for line in range(begin, end):
        s = st.L[line]
        first = start = st.bM[line]
        last = st.eM[line]
        col = 0
        ts = st.tS[line]
        bs = st.bsC[line]
        while first < last and col < indent:
            ch = s[first]
            if ch == "\t":
                col += 4 - (col + bs) % 4
            elif ch == " " or first - start < ts:
                col += 1
            else:
                break
            first += 1
        if col > indent:
            out.append(" " * (col - indent) + s[first:last])
        else:
            out.append(s[first:last])
    return "\n".join(out)
