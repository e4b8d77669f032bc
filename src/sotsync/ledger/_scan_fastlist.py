"""Fast path of ``scan.py``'s list rule: list items made of one plain line (and plain sub-items).

Ledgers are mostly bullet lists whose items are a single line of text, sometimes followed by a
few bullets of a nested list.  markdown-it-py (the reference in ``mdref``) runs a dozen rules on
each such item and finds nothing a ``BlockMap`` records.  ``simple_item_end`` recognises those
items with plain index arithmetic and says where the general item loop of ``list_block`` would
have left ``line``; when in doubt it returns -1 and the general loop runs.  The proof that the
two agree is written next to each condition below; ``tests/test_scan.py`` checks it
differentially, boundaries included.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sotsync.ledger.scan import _Scanner

#: Characters that may open a block (or an indented/empty line): a line that starts its content
#: with anything else can only be a paragraph line, unless the next line is a table delimiter.
NOT_INERT = frozenset("`~>*-_+<#0123456789[ \t")
_BULLETS = frozenset("-*+")
_MARKER = re.compile(r"(?:[*+-]|([0-9]{1,9})[.)])(?=[ \t]|$)")
_EMPHASIS = "*+_-"
_NOT_AFTER_EMPHASIS = frozenset("*+_- \t")
#: ``tokenize`` stops at ``_MAX_NESTING``; the fast path needs room for a nested list and item.
_LEVEL_ROOM = 16


def inert(s: str, pos: int, mx: int) -> bool:
    """Whether content starting at ``pos < mx`` of ``s`` can only start a paragraph.

    True for a first character outside ``NOT_INERT``, and for ``**text``-like starts.  (A table
    needs a delimiter row on the next line: that is the callers' business.)
    """
    c = s[pos]
    if c not in NOT_INERT:
        return True
    # One or two of the same ``*+_-`` then another character (not a space, tab or one of
    # those): no hr (mixed characters), no list marker (no space after the bullet).
    if c not in _EMPHASIS or pos + 1 >= mx:
        return False
    d = s[pos + 1]
    if d == c:
        if pos + 2 >= mx:
            return False
        d = s[pos + 2]
    return d not in _NOT_AFTER_EMPHASIS


def simple_items(st: _Scanner, line: int, after: int, end: int) -> tuple[int, int]:
    """Run the simple items of a list from ``line`` (its marker ends at ``after``) on.

    Returns ``(line, after)`` of the first item the general item loop must run (unchanged when
    the first item is not simple), or ``(line, -1)`` when ``line`` is where the general loop's
    list-continuation checks must run.  A simple item followed by a sibling whose marker (same
    bullet, or same ordered delimiter) is followed by one space and ``inert`` content goes on
    without them: such a line is no fence, blockquote or hr (``ends_list``), and its marker
    matches.
    """
    if st.level > _LEVEL_ROOM:
        return line, after
    L = st.L
    bM = st.bM
    tS = st.tS
    eM = st.eM
    sC = st.sC
    blk = st.blk
    s = L[line]
    marker = s[after - 1]
    bullet = marker in _BULLETS
    if not _simple_start(s, after, eM[line]):
        return line, after
    while True:
        n = line + 1
        if n < end:
            # The usual cases, inlined: the item is followed by a run of simple nested bullets
            # or not, then by a simple sibling item.  These are the conditions of
            # ``simple_item_end`` (``_nested_bullets``, then ``_exit_line``: a marker line in
            # the list's indentation, below the item's content) and of the checks after it
            # (same marker or ordered delimiter, ``_simple_start``) put together; when one
            # fails, the general code below decides, from the same state.
            inner = sC[line] + after - bM[line] - tS[line] + 1
            ind = sC[n]
            t = L[n]
            p = bM[n] + tS[n]
            mx = eM[n]
            simple = True
            if inner <= ind < inner + 4:
                nested = t[p] if p + 2 < mx else ""
                if nested not in _BULLETS:
                    simple = False
                while simple:
                    if not (
                        p + 2 < mx
                        and t[p] == nested
                        and t[p + 1] == " "
                        and (t[p + 2] not in NOT_INERT or inert(t, p + 2, mx))
                    ):
                        simple = False
                        break
                    n += 1
                    if n >= end:
                        simple = False
                        break
                    t = L[n]
                    p = bM[n] + tS[n]
                    mx = eM[n]
                    if sC[n] != ind:
                        ind = sC[n]
                        break
            if simple and blk <= ind < inner and ind - blk < 4 and p + 2 < mx:
                if bullet:
                    nxt_after = p + 1 if t[p] == marker else -1
                else:
                    m = _MARKER.match(t, p, mx)
                    nxt_after = m.end() if m is not None and m.group(1) is not None else -1
                    if nxt_after >= 0 and t[nxt_after - 1] != marker:
                        nxt_after = -1
                if (
                    nxt_after >= 0
                    and nxt_after + 1 < mx
                    and t[nxt_after] == " "
                    and (t[nxt_after + 1] not in NOT_INERT or inert(t, nxt_after + 1, mx))
                ):
                    st.line = n
                    st.parent = "paragraph"
                    line = n
                    after = nxt_after
                    continue
        nxt = simple_item_end(st, line, after, end)
        if nxt < 0:
            return line, after
        st.line = nxt
        st.parent = "paragraph"  # as the item's paragraphs leave it
        if nxt >= end or sC[nxt] < blk or sC[nxt] - blk >= 4:
            return nxt, -1
        s = L[nxt]
        p = bM[nxt] + tS[nxt]
        mx = eM[nxt]
        if bullet:
            after = p + 1
            if s[p] != marker:
                return nxt, -1
        else:
            m = _MARKER.match(s, p, mx)
            if m is None or m.group(1) is None:
                return nxt, -1
            after = m.end()
            if s[after - 1] != marker:
                return nxt, -1
        if not _simple_start(s, after, mx):
            return nxt, -1
        line = nxt


def _simple_start(s: str, after: int, mx: int) -> bool:
    """Whether the marker ending at ``after`` is followed by one space and ``inert`` content."""
    if after + 1 >= mx or s[after] != " ":
        return False
    return s[after + 1] not in NOT_INERT or inert(s, after + 1, mx)


def simple_item_end(st: _Scanner, line: int, after: int, end: int) -> int:
    """Where the list item whose marker ends at ``after`` on ``line`` ends, or -1 (not simple).

    Simple: the marker is followed by one space and ``inert`` content (``_simple_start``, which
    the caller checks), then
    come zero or more nested bullets of one list (same indentation, same bullet, each one space
    and an inert character), then a list marker line outdented below the item, or blank lines.

    Why the general loop agrees:

    * the item's blk is ``inner`` (one space after the marker) and its first line's content
      is inert: ``tokenize`` runs ``paragraph`` on it, directly or after every other rule
      failed (``table_next`` is false: the next line is a marker line or blank, never a
      delimiter row);
    * a nested bullet at ``inner <= ind < inner + 4`` with inert content is no setext underline,
      no hr, and terminates the paragraph (list terminator, bullet, non-empty); ``tokenize``
      then dispatches it to ``list_block``, whose items are single paragraph lines ended by the
      next sibling bullet (not hr, same bullet: the list goes on);
    * the exit line is a list marker at ``0 <= ind < inner`` with ``ind - blk < 4``: it ends
      every open paragraph (the list terminator matches: not "terminating", and the
      ``list_indent`` exclusion needs ``ind - blk >= 4``), then every item and the nested list
      (``ind`` below their blk);
    * or the exit is a blank line: ``tokenize`` skips it and the following blank lines (to
      ``line_max``, only when the line after the first blank is before ``end``), then stops at
      ``end`` or at a line indented below ``inner``.

    No rule on the way records anything, and every array the general loop shifts is restored;
    only ``parent`` is left as ``"paragraph"`` by the paragraphs, which the caller sets.  The
    caller also checks ``level``: the nested list and its items need room below the maximum.
    """
    bM = st.bM
    tS = st.tS
    sC = st.sC
    inner = sC[line] + after - bM[line] - tS[line] + 1
    n = line + 1
    if n >= end:
        return -1
    ind = sC[n]
    if inner <= ind < inner + 4:
        n = _nested_bullets(st, n, ind, end)
        if n < 0:
            return -1
    return _exit_line(st, n, inner, end)


def _nested_bullets(st: _Scanner, n: int, ind: int, end: int) -> int:
    """The line after a run of simple sibling bullets at indentation ``ind``, or -1."""
    L = st.L
    bM = st.bM
    tS = st.tS
    eM = st.eM
    sC = st.sC
    t = L[n]
    p = bM[n] + tS[n]
    if p + 2 >= eM[n]:
        return -1
    bullet = t[p]
    if bullet not in _BULLETS:
        return -1
    while True:
        if p + 2 >= eM[n] or t[p] != bullet or not _simple_start(t, p + 1, eM[n]):
            return -1
        n += 1
        if n >= end:
            return -1
        if sC[n] != ind:
            return n
        t = L[n]
        p = bM[n] + tS[n]


def _exit_line(st: _Scanner, n: int, inner: int, end: int) -> int:
    """``line`` after the item once line ``n`` (< ``end``) ends its last paragraph, or -1."""
    p = st.bM[n] + st.tS[n]
    mx = st.eM[n]
    sC = st.sC
    if p < mx:
        ind = sC[n]
        if ind < 0 or ind >= inner or ind - st.blk >= 4:
            return -1
        s = st.L[n]
        if s[p] in _BULLETS and p + 1 < mx and (s[p + 1] == " " or s[p + 1] == "\t"):
            return n
        return n if _MARKER.match(s, p, mx) is not None else -1
    n += 1
    if n < end:
        bM = st.bM
        tS = st.tS
        eM = st.eM
        lmax = st.line_max
        while n < lmax and bM[n] + tS[n] >= eM[n]:
            n += 1
        if n < end and sC[n] >= inner:
            return -1
    return n
