"""Leaf helpers for ``scan.py``: text preparation, trimming, HTML-block patterns, table cells.

Everything here mirrors a detail of markdown-it-py's block rules (the reference in ``mdref``);
``scan.py`` owns the block algorithm itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it.common.html_blocks import block_names
from markdown_it.common.html_re import HTML_OPEN_CLOSE_TAG_STR

#: What markdown-it-py's ``mdTrim`` strips (its CommonMark whitespace set, not ``str.isspace``).
TRIM_CHARS: str
try:
    from markdown_it.common.utils import MD_TRIM_CHARS

    TRIM_CHARS = MD_TRIM_CHARS
except ImportError:  # pragma: no cover - a markdown-it-py that strips with str.strip()
    TRIM_CHARS = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


#: A delimiter-row candidate (GFM tables): only ``|``, ``-``, ``:``, space and tab.
DELIM_CELL = re.compile(r":?-+:?")

# HTML block kinds 1-7: (start pattern, end pattern, ends on a blank line, can interrupt).
_NAMES = "|".join(block_names)
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
