"""The reference block structure, straight from markdown-it-py (CommonMark + GFM tables).

Slow but authoritative: the fast scanner in ``scan.py`` is tested against this module on the
corpus and on generated documents.  Only the block level is run; inline parsing would add nothing.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sotsync.ledger.blocks import BlockMap, CodeBlock, Heading, Table

_CONTAINERS = {"blockquote_open", "list_item_open"}
_CONTAINER_ENDS = {"blockquote_close", "list_item_close"}


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table")


def reference_blocks(text: str) -> BlockMap:
    """Parse ``text`` with markdown-it-py and collect headings, code blocks and table rows."""
    md = _parser()
    # The core "normalize" rule is skipped when the block parser runs alone: do its work here.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    tokens = md.block.parse(text, md, {}, [])
    headings: list[Heading] = []
    code: list[CodeBlock] = []
    tables: list[Table] = []
    depth = 0
    table_start: tuple[int, int] | None = None
    rows: list[int] = []
    for i, tok in enumerate(tokens):
        kind = tok.type
        if kind in _CONTAINERS:
            depth += 1
        elif kind in _CONTAINER_ENDS:
            depth -= 1
        elif kind == "heading_open":
            start, end = tok.map
            headings.append(Heading(start, end, int(tok.tag[1]), tokens[i + 1].content, depth > 0))
        elif kind in ("fence", "code_block"):
            start, end = tok.map
            code.append(CodeBlock(start, end, kind == "fence", depth > 0))
        elif kind == "table_open":
            table_start = (tok.map[0], tok.map[1])
            rows = []
        elif kind == "tr_open":
            rows.append(tok.map[0])
        elif kind == "table_close" and table_start is not None:
            tables.append(Table(table_start[0], table_start[1], tuple(rows), depth > 0))
            table_start = None
    return BlockMap(tuple(headings), tuple(code), tuple(tables))
