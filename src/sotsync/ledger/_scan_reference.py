"""Link reference definitions for ``scan.py``: they matter only because they are not paragraphs.

Mirrors markdown-it-py's ``reference`` block rule (the reference in ``mdref``): the label, the
destination and optional title may run over several lines, and a definition whose destination
markdown-it-py rejects (``validateLink``) is a paragraph after all.  The destination and title
parsers and the URL normalisation are markdown-it-py's own helpers, called, not re-implemented;
they are imported only once a ``[label]:`` is found, so that a ledger without one never loads
markdown-it-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sotsync.ledger.scan import _Scanner


def parse_reference(st: _Scanner, start: int) -> int:
    """The line after the definition starting at ``start``, or -1 when there is none."""
    text = st.ref_text(start)
    if not text.startswith("["):
        return -1
    nxt = start + 1
    size = len(text)

    def more() -> bool:
        nonlocal text, size, nxt
        extra = st.next_ref_line(nxt)
        if extra is None:
            return False
        text += extra
        size = len(text)
        nxt += 1
        return True

    label_end = -1
    p = 1
    while p < size:
        ch = text[p]
        if ch == "[":
            return -1
        if ch == "]":
            label_end = p
            break
        if ch == "\n":
            more()
        elif ch == "\\":
            p += 1
            if p < size and text[p] == "\n":
                more()
        p += 1
    if label_end < 0 or text[label_end + 1 : label_end + 2] != ":":
        return -1

    from markdown_it.common.normalize_url import normalizeLink, validateLink
    from markdown_it.common.utils import normalizeReference
    from markdown_it.helpers import parseLinkDestination, parseLinkTitle

    p = label_end + 2
    while p < size:
        ch = text[p]
        if ch == "\n":
            more()
        elif ch != " " and ch != "\t":
            break
        p += 1

    dest = parseLinkDestination(text, p, size)
    if not dest.ok or not validateLink(normalizeLink(dest.str)):
        return -1
    p = dest_end = dest.pos
    dest_line = nxt

    begin = p
    while p < size:
        ch = text[p]
        if ch == "\n":
            more()
        elif ch != " " and ch != "\t":
            break
        p += 1

    title = parseLinkTitle(text, p, size, None)
    while title.can_continue:
        old_size = size
        if not more():
            break
        p = old_size
        title = parseLinkTitle(text, p, size, title)

    has_title = False
    if p < size and begin != p and title.ok:
        has_title = bool(title.str)
        p = title.pos
    else:
        p = dest_end
        nxt = dest_line
    while p < size and text[p] in " \t":
        p += 1
    if p < size and text[p] != "\n" and has_title:
        p = dest_end
        nxt = dest_line
        while p < size and text[p] in " \t":
            p += 1
    if p < size and text[p] != "\n":
        return -1
    if not normalizeReference(text[1:label_end]):
        return -1
    return nxt
