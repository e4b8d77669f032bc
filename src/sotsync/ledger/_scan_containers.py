"""Container rules of ``scan.py``: blockquotes and lists, as markdown-it-py runs them.

Both shift the per-line start/indent arrays of the scanner for the lines they own, run the block
loop on them, then restore the arrays, exactly like markdown-it-py's ``blockquote`` and ``list``
rules (the reference in ``mdref``), so every quirk of theirs (lazy lines, hard termination,
outdented lines, empty items) is reproduced.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sotsync.ledger._scan_fastlist import simple_items

if TYPE_CHECKING:
    from sotsync.ledger.scan import _Scanner


_MARKER = re.compile(r"(?:[*+-]|([0-9]{1,9})[.)])(?=[ \t]|$)")


def _quote_line(st: _Scanner, line: int) -> tuple[int, int, int, int, int, bool]:
    """Strip the ``>`` marker of ``line``; return the old (bM, bsC, sC, tS) and new last-empty."""
    bM = st.bM
    s = st.L[line]
    pos = bM[line] + st.tS[line] + 1
    mx = st.eM[line]
    old_sc = st.sC[line]
    old_bs = st.bsC[line]
    initial = offset = old_sc + 1
    second = s[pos] if pos < len(s) else ""
    adjust = 0
    space_after = 0
    if second == " ":
        pos += 1
        initial += 1
        offset += 1
        space_after = 1
    elif second == "\t":
        space_after = 1
        if (old_bs + offset) % 4 == 3:
            pos += 1
            initial += 1
            offset += 1
        else:
            adjust = 1
    old_bm = bM[line]
    old_ts = st.tS[line]
    bM[line] = pos
    while pos < mx:
        ch = s[pos]
        if ch == " ":
            offset += 1
        elif ch == "\t":
            offset += 4 - (offset + old_bs + adjust) % 4
        else:
            break
        pos += 1
    st.bsC[line] = old_sc + 1 + space_after
    st.sC[line] = offset - initial
    st.tS[line] = pos - bM[line]
    return old_bm, old_bs, old_sc, old_ts, line, pos >= mx


def blockquote(st: _Scanner, start: int, end: int) -> None:
    """markdown-it-py's ``blockquote`` rule (not silent; the caller checked the ``>``)."""
    old_lmax = st.line_max
    saved: list[tuple[int, int, int, int, int, bool]] = [_quote_line(st, start)]
    last_empty = saved[0][5]
    old_parent = st.parent
    st.parent = "blockquote"
    L = st.L
    bM = st.bM
    tS = st.tS
    eM = st.eM
    sC = st.sC
    nxt = start + 1
    while nxt < end:
        outdented = sC[nxt] < st.blk
        pos = bM[nxt] + tS[nxt]
        if pos >= eM[nxt]:
            break
        if L[nxt][pos] == ">" and not outdented:
            saved.append(_quote_line(st, nxt))
            last_empty = saved[-1][5]
            nxt += 1
            continue
        if last_empty:
            break
        if st.ends_blockquote(nxt, end):
            st.line_max = nxt
            if st.blk != 0:
                saved.append((bM[nxt], st.bsC[nxt], sC[nxt], tS[nxt], nxt, False))
                sC[nxt] -= st.blk
            break
        saved.append((bM[nxt], st.bsC[nxt], sC[nxt], tS[nxt], nxt, False))
        sC[nxt] = -1  # a lazy continuation line
        nxt += 1
    old_indent = st.blk
    st.blk = 0
    st.level += 1
    st.depth += 1
    st.tokenize(start, nxt)
    st.level -= 1
    st.depth -= 1
    st.line_max = old_lmax
    st.parent = old_parent
    for bm, bs, sc, ts, line, _ in saved:
        bM[line] = bm
        st.bsC[line] = bs
        sC[line] = sc
        tS[line] = ts
    st.blk = old_indent


def _marker(st: _Scanner, line: int) -> re.Match[str] | None:
    """A list marker (``-``, ``+``, ``*``, or 1-9 digits and ``.``/``)``) then space or end."""
    return _MARKER.match(st.L[line], st.bM[line] + st.tS[line], st.eM[line])


def list_block(st: _Scanner, start: int, end: int, silent: bool) -> bool:
    """markdown-it-py's ``list`` rule."""
    sC = st.sC
    blk = st.blk
    if sC[start] - blk >= 4:
        return False
    if st.list_indent >= 0 and sC[start] - st.list_indent >= 4 and sC[start] < blk:
        return False
    terminating = silent and st.parent == "paragraph" and sC[start] >= blk
    L = st.L
    eM = st.eM
    m = _marker(st, start)
    if m is None:
        return False
    after = m.end()
    number = m.group(1)
    ordered = number is not None
    if terminating and ordered and int(number) != 1:
        return False
    if terminating and not L[start][after : eM[start]].strip(" \t"):
        return False
    marker = L[start][after - 1]
    if silent:
        return True

    st.level += 1
    old_parent = st.parent
    st.parent = "list"
    nxt = start
    while nxt < end:
        nxt, after = simple_items(st, nxt, after, end)
        if after >= 0:
            _item(st, nxt, after, end)
            nxt = st.line
        if nxt >= end:
            break
        if sC[nxt] < st.blk or sC[nxt] - st.blk >= 4:
            break
        if st.ends_list(nxt, end):
            break
        m = _marker(st, nxt)
        if m is None or (m.group(1) is not None) != ordered:
            break
        after = m.end()
        if L[nxt][after - 1] != marker:
            break
    st.level -= 1
    st.line = nxt
    st.parent = old_parent
    return True


def _item(st: _Scanner, nxt: int, after: int, end: int) -> None:
    """One list item (marker ending at ``after`` on line ``nxt``): the general path."""
    L = st.L
    bM = st.bM
    tS = st.tS
    eM = st.eM
    sC = st.sC
    s = L[nxt]
    pos = after
    mx = eM[nxt]
    initial = offset = sC[nxt] + after - (bM[nxt] + tS[nxt])
    bs = st.bsC[nxt]
    while pos < mx:
        ch = s[pos]
        if ch == "\t":
            offset += 4 - (offset + bs) % 4
        elif ch == " ":
            offset += 1
        else:
            break
        pos += 1
    content = pos
    gap = 1 if content >= mx else offset - initial
    if gap > 4:
        gap = 1
    old_ts = tS[nxt]
    old_sc = sC[nxt]
    old_list_indent = st.list_indent
    st.list_indent = st.blk
    st.blk = initial + gap
    tS[nxt] = content - bM[nxt]
    sC[nxt] = offset
    st.level += 1
    st.depth += 1
    if content >= mx and st.is_empty(nxt + 1):
        st.line = min(st.line + 2, end)
    else:
        st.tokenize(nxt, end)
    st.level -= 1
    st.depth -= 1
    st.blk = st.list_indent
    st.list_indent = old_list_indent
    tS[nxt] = old_ts
    sC[nxt] = old_sc
