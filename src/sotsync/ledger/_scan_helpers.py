"""Leaf helpers for ``scan.py``: text preparation, trimming, HTML-block patterns, table cells.

Everything here mirrors a detail of markdown-it-py's block rules (the reference in ``mdref``);
``scan.py`` owns the block algorithm itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: What markdown-it-py's ``mdTrim`` strips: its CommonMark whitespace set, not ``str.isspace``.
#: This table and the two below are copies of markdown-it-py's (``common.utils.MD_TRIM_CHARS``,
#: ``common.html_blocks.block_names``, ``common.html_re.HTML_OPEN_CLOSE_TAG_STR``), kept here so
#: that linting never imports markdown-it-py (tens of milliseconds per process);
#: ``tests/test_scan.py`` holds them equal to the installed version's.
TRIM_CHARS = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

#: The tag names of HTML block kind 6 (CommonMark's list, as markdown-it-py has it).
BLOCK_NAMES = (
    "address",
    "article",
    "aside",
    "base",
    "basefont",
    "blockquote",
    "body",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "iframe",
    "legend",
    "li",
    "link",
    "main",
    "menu",
    "menuitem",
    "nav",
    "noframes",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "search",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
)

_ATTR_NAME = "[a-zA-Z_:][a-zA-Z0-9:._-]*"
_ATTR_VALUE = "(?:[^\"'=<>`\\x00-\\x20]+|'[^']*'|\"[^\"]*\")"
_ATTRIBUTE = "(?:\\s+" + _ATTR_NAME + "(?:\\s*=\\s*" + _ATTR_VALUE + ")?)"
_OPEN_TAG = "<[A-Za-z][A-Za-z0-9\\-]*" + _ATTRIBUTE + "*\\s*\\/?>"
_CLOSE_TAG = "<\\/[A-Za-z][A-Za-z0-9\\-]*\\s*>"
#: An open or close tag alone (HTML block kind 7).
HTML_OPEN_CLOSE_TAG_STR = "^(?:" + _OPEN_TAG + "|" + _CLOSE_TAG + ")"


#: A delimiter-row candidate (GFM tables): only ``|``, ``-``, ``:``, space and tab.
DELIM_CELL = re.compile(r":?-+:?")

# HTML block kinds 1-7: (start pattern, end pattern, ends on a blank line, can interrupt).
_NAMES = "|".join(BLOCK_NAMES)
HTML_KINDS: tuple[tuple[re.Pattern[str], re.Pattern[str] | None, bool], ...] = (
    (
        re.compile(r"<(?a:(?:script|pre|style|textarea))(?=\s|>|$)", re.IGNORECASE),
        re.compile(r"</(?a:(?:script|pre|style|textarea))>", re.IGNORECASE),
        True,
    ),
    (re.compile(r"<!--"), re.compile(r"-->"), True),
    (re.compile(r"<\?"), re.compile(r"\?>"), True),
    (re.compile(r"<![A-Za-z]"), re.compile(r">"), True),
    (re.compile(r"<!\[CDATA\["), re.compile(r"\]\]>"), True),
    (re.compile(r"</?(?a:(?:" + _NAMES + r"))(?=\s|/?>|$)", re.IGNORECASE), None, True),
    (re.compile(HTML_OPEN_CLOSE_TAG_STR + r"\s*$"), None, False),
)


def prepare(lines: Sequence[str]) -> list[str]:
    """A mutable copy of ``lines`` as markdown-it-py numbers them.

    ``split_lines`` already splits where markdown-it-py does (LF, CRLF, CR); the endings are kept
    and NUL is left alone (callers replace it by U+FFFD where text is compared or returned).  A
    last line made only of spaces and tabs, with no line break, is dropped: markdown-it-py gives
    it no line marker.
    """
    out = list(lines)
    if out:
        last = out[-1]
        if last[-1] not in "\r\n" and not last.strip(" \t"):
            out.pop()
    return out


def denul(text: str) -> str:
    """``text`` with NUL replaced by U+FFFD, as markdown-it-py's normalisation does."""
    return text.replace("\0", "\ufffd") if "\0" in text else text


def cell_count(text: str) -> int:
    """Number of cells markdown-it-py's ``escapedSplit`` finds in a trimmed table line."""
    if not text:
        return 0
    n = text.count("|") - text.count("\\|") + 1
    if text[0] == "|":
        n -= 1
    if text[-1] == "|" and (len(text) < 2 or text[-2] != "\\") and n > 0:
        n -= 1
    return n


def html_kind(text: str) -> tuple[re.Pattern[str] | None, bool] | None:
    """Match the start of an HTML block: (end pattern or None for a blank line, can_interrupt)."""
    for start, end, interrupts in HTML_KINDS:
        if start.match(text):
            return end, interrupts
    return None
