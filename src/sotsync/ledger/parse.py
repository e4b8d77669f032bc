"""Read a ledger's bytes into its structure without losing a byte.

``parse_ledger`` never raises on content: invalid UTF-8 is decoded with ``surrogateescape`` (and
recorded for SOT001), so ``render`` gives back the input exactly.  Markdown structure comes from
the block scanner, which a differential test holds equal to markdown-it-py; everything above the
block level (INDEX rows, entries, the preamble) is recognised here.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import chain, islice

from sotsync.ledger.blocks import BlockMap, Heading, Table
from sotsync.ledger.gcpause import paused_gc
from sotsync.ledger.lines import DecodeProblem, LineView, split_bytes
from sotsync.ledger.scan import scan_latin1
from sotsync.models import Entry, IndexRow, Preamble

BOM = "\ufeff"
BOM_BYTES = BOM.encode("utf-8")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
GENERATED_MARKERS = ("<!-- sotsync:generated", "This is a stub section generated from INDEX")
# The markers are ASCII: found in an entry's bytes exactly when found in its text.
_GENERATED_BYTES = tuple(marker.encode("ascii") for marker in GENERATED_MARKERS)
_SUMMARY_OPEN = "<!-- AUTO-GENERATED SUMMARY"
_SUMMARY_CLOSE = "<!-- END AUTO-GENERATED SUMMARY"
_META_KEY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s?(.*?)\s*$")
_INT = re.compile(r"\d+")
_TITLE_FIELD = re.compile(r"^\*\*Title\*\*:\s*(.+?)\s*$")
_DATE_FIELD = re.compile(r"^\*\*(?:Date|Completed|Timestamp)\*\*:\s*(\d{4}-\d{2}-\d{2})")
_TITLE_KEYWORDS = ("title", "decision", "phase", "summary")


@dataclass(frozen=True, slots=True)
class Columns:
    """Which INDEX column holds what (0-based); ``count`` is the header's cell count."""

    count: int
    date: int
    id: int
    title: int


@dataclass(frozen=True, slots=True)
class HiddenHeading:
    """An id heading swallowed by a code block (SOT040)."""

    line: int
    id: str
    text: str


@dataclass(frozen=True, eq=False)
class Ledger:
    """A parsed ledger.  ``lines`` keep their endings; indexes are 0-based line numbers.

    ``lines`` is a view of ``data`` that decodes a line when it is read (see ``LineView``).
    """

    path: str
    prefix: str
    data: bytes
    bom: bool
    lines: LineView
    decode_error: DecodeProblem | None
    blocks: BlockMap
    preamble: Preamble
    index_heading: int | None
    index_table: Table | None
    columns: Columns | None
    rows: tuple[IndexRow, ...]
    entries: tuple[Entry, ...]
    idless: tuple[Heading, ...]
    hidden: tuple[HiddenHeading, ...]
    section_breaks: tuple[int, ...]

    def render(self) -> bytes:
        """The ledger's bytes: ``lines`` are a view of ``data``, so they render to it exactly."""
        return self.data

    @property
    def table_rows(self) -> tuple[IndexRow, ...]:
        return tuple(r for r in self.rows if r.in_table and not r.glued)

    @cached_property
    def endings(self) -> Counter[str]:
        """Lines ending in CRLF, LF, CR, or nothing; counted on the bytes, which is fast."""
        data = self.data
        if data.find(b"\r") >= 0:
            return ending_counts(data)
        # No CR at all (one memchr): every line but an unterminated last one ends in LF.
        open_end = 1 if data and not data.endswith(b"\n") else 0
        lines = len(self.lines)
        counts: Counter[str] = Counter(
            {"\r\n": 0, "\n": lines - (open_end if lines else 0), "\r": 0}
        )
        counts[""] = open_end
        return counts

    @property
    def newline(self) -> str:
        """The file's dominant line ending (LF when there is none)."""
        counts = self.endings
        if counts["\r\n"] > counts["\n"] and counts["\r\n"] >= counts["\r"]:
            return "\r\n"
        if counts["\r"] > counts["\n"]:
            return "\r"
        return "\n"

    def ids(self) -> set[str]:
        """Every id the ledger documents, in INDEX rows or in sections."""
        found = {r.id for r in self.rows if r.id is not None}
        found.update(e.id for e in self.entries)
        return found


def render_lines(lines: Sequence[str], bom: bool) -> bytes:
    body = "".join(lines).encode("utf-8", "surrogateescape")
    return (BOM_BYTES + body) if bom else body


def line_ending_counts(lines: Sequence[str]) -> Counter[str]:
    """How many lines end in CRLF, LF, CR, or nothing (only the last line can)."""
    counts: Counter[str] = Counter({"\r\n": 0, "\n": 0, "\r": 0, "": 0})
    counts.update(line[-2:] if line.endswith("\r\n") else line[-1:] for line in lines)
    counts[""] = 1 if lines and not lines[-1].endswith(("\n", "\r")) else 0
    return counts


def ending_counts(data: bytes) -> Counter[str]:
    """``line_ending_counts`` of the lines of ``data`` without splitting it."""
    crlf = data.count(b"\r\n")
    counts: Counter[str] = Counter(
        {"\r\n": crlf, "\n": data.count(b"\n") - crlf, "\r": data.count(b"\r") - crlf}
    )
    counts[""] = 1 if data and not data.endswith((b"\n", b"\r")) else 0
    return counts


def strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


@lru_cache(maxsize=32)
def id_pattern(prefix: str) -> re.Pattern[str]:
    """``PREFIX-NNN`` with optional numeric sub-ids, not followed by more digits or a sub-id."""
    return re.compile(rf"{re.escape(prefix)}-(\d+(?:\.\d+)*)(?!\d)(?!\.\d)", re.ASCII)


@lru_cache(maxsize=32)
def _row_pattern(prefix: str) -> re.Pattern[str]:
    """The start of an INDEX row anywhere in a line: ``| date | PREFIX-N |``."""
    return re.compile(_row_regex(prefix), re.ASCII)


@lru_cache(maxsize=32)
def _row_pattern_bytes(prefix: str) -> re.Pattern[bytes]:
    """``_row_pattern`` for the raw bytes: finds candidate lines without decoding anything."""
    return re.compile(_row_regex(prefix).encode("ascii"))


def _row_regex(prefix: str) -> str:
    return (
        rf"\|[ \t]*[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[^|\r\n]*\|[ \t]*\**{re.escape(prefix)}"
        rf"-[0-9]+(?:\.[0-9]+)*\**[ \t]*\|"
    )


def _candidate_lines(
    lines: LineView, data: bytes, pattern: re.Pattern[bytes], skip: tuple[int, int]
) -> list[int]:
    """0-based numbers of the lines of ``data`` where ``pattern`` matches, in order.

    Bytes ``skip[0]:skip[1]`` (whole lines; ``pattern`` never spans a line break) are not
    searched.
    """
    found: list[int] = []
    matches = chain(pattern.finditer(data, 0, skip[0]), pattern.finditer(data, skip[1]))
    for match in matches:
        line_no = lines.line_at(match.start())
        if not found or found[-1] != line_no:
            found.append(line_no)
    return found


@lru_cache(maxsize=1 << 16)
def canonical_id(prefix: str, digits: str) -> tuple[str, tuple[int, ...]]:
    """``("170.10")`` → ``("BUILD-170.10", (170, 10))``; the main number is zero-padded to 3."""
    numbers = tuple(int(part) for part in digits.split("."))
    text = f"{prefix}-{numbers[0]:03d}" + "".join(f".{n}" for n in numbers[1:])
    return text, numbers


def id_key(ledger_id: str) -> tuple[int, ...]:
    """The numeric sort key of an id such as ``BUILD-170.10``."""
    digits = ledger_id.rsplit("-", 1)[1]
    return tuple(int(part) for part in digits.split("."))


def split_cells(row: str) -> list[str]:
    """Split a table row into cells the GFM way: a ``|`` right after a backslash is no separator."""
    text = row.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    cells = _split_unescaped(text) if "\\|" in text else text.split("|")
    return [cell.strip() for cell in cells]


def _split_unescaped(text: str) -> list[str]:
    """Split ``text`` at each ``|`` not right after a backslash (GFM's escaped pipe).

    The same as splitting with the look-behind regex ``(?<!\\\\)\\|``, several times faster
    on long rows.  A piece that ends in a backslash had its ``|`` escaped; the cell built so far
    ends with the character right before the next ``|`` (a ``|`` when the piece is empty).
    """
    pieces = text.split("|")
    cells = [pieces[0]]
    for piece in islice(pieces, 1, None):
        if cells[-1].endswith("\\"):
            cells[-1] += "|" + piece
        else:
            cells.append(piece)
    return cells


def parse_ledger(data: bytes, path: str, prefix: str) -> Ledger:
    """Parse ``data`` as the ledger at ``path`` whose ids start with ``prefix``."""
    with paused_gc():
        return _parse(data, path, prefix)


def _parse(data: bytes, path: str, prefix: str) -> Ledger:
    bom = data.startswith(BOM_BYTES)
    raw, lines, problem = split_bytes(data, len(BOM_BYTES) if bom else 0)
    lf_only = data.find(b"\r") < 0  # a memchr: most files have no CR at all
    blocks = scan_latin1(raw, lf_only)
    del raw  # the largest object of a parse; nothing below needs it
    top = [h for h in blocks.headings if not h.nested]
    index_heading = next((h for h in top if h.text.upper().startswith("INDEX")), None)
    table = _index_table(blocks, top, index_heading)
    columns = _columns(lines, table) if table is not None else None
    rows = _rows(data, lines, blocks, table, columns, prefix)
    entries, idless, breaks = _entries(lines, top, prefix, crlf=not lf_only)
    end = index_heading.line if index_heading else (entries[0].line if entries else len(lines))
    return Ledger(
        path=path,
        prefix=prefix,
        data=data,
        bom=bom,
        lines=lines,
        decode_error=problem,
        blocks=blocks,
        preamble=_preamble(lines, top, min(end, len(lines))),
        index_heading=index_heading.line if index_heading else None,
        index_table=table,
        columns=columns,
        rows=rows,
        entries=entries,
        idless=idless,
        hidden=_hidden(lines, blocks, prefix),
        section_breaks=breaks,
    )


def _index_table(blocks: BlockMap, top: list[Heading], heading: Heading | None) -> Table | None:
    if heading is None:
        return None
    following = [h.line for h in top if h.line > heading.line]
    limit = following[0] if following else None
    for table in blocks.tables:
        if table.nested or table.start < heading.line:
            continue
        if limit is not None and table.start > limit:
            return None
        return table
    return None


def _columns(lines: LineView, table: Table) -> Columns:
    header = [c.lower() for c in split_cells(strip_eol(lines[table.rows[0]]))]
    id_col = next((i for i, c in enumerate(header) if re.search(r"\bid\b", c)), 1)
    date_col = next((i for i, c in enumerate(header) if "date" in c or "time" in c), 0)
    title_col = -1
    for keyword in _TITLE_KEYWORDS:
        title_col = next((i for i, c in enumerate(header) if keyword in c and i != id_col), -1)
        if title_col >= 0:
            break
    if title_col < 0:
        title_col = min(id_col + 1, len(header) - 1)
    return Columns(len(header), date_col, min(id_col, len(header) - 1), title_col)


def _make_row(
    line_no: int,
    line: str,
    start: int,
    end: int,
    columns: Columns | None,
    prefix: str,
    *,
    in_table: bool,
    glued: bool,
) -> IndexRow:
    cells = tuple(split_cells(line[start:end]))
    id_col = columns.id if columns else 1
    date_col = columns.date if columns else 0
    row_id = None
    if id_col < len(cells):
        match = id_pattern(prefix).fullmatch(cells[id_col].strip("* "))
        if match:
            row_id = canonical_id(prefix, match.group(1))[0]
    date = None
    if date_col < len(cells):
        found = DATE.search(cells[date_col])
        date = found.group(0) if found else None
    return IndexRow(line_no, start, end, cells, row_id, date, in_table, glued)


def _fragments(line: str, prefix: str) -> list[tuple[int, int]]:
    """Row spans in one line: the row at the start (if any) and every glued-on row after it."""
    body = line.rstrip("\r\n")
    starts = [m.start() for m in _row_pattern(prefix).finditer(body)]
    spans = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(body)
        spans.append((start, len(body[:end].rstrip())))
    return spans


def _rows(
    data: bytes,
    lines: LineView,
    blocks: BlockMap,
    table: Table | None,
    columns: Columns | None,
    prefix: str,
) -> tuple[IndexRow, ...]:
    rows: list[IndexRow] = []
    table_lines: set[int] = set()
    # The table's body rows are consecutive lines: the stray-row search below skips their bytes.
    skip = (0, 0)
    if table is not None:
        table_lines.update(table.rows[1:])
        if len(table.rows) > 1:
            skip = (lines.start(table.rows[1]), lines.start(table.rows[-1] + 1))
        for line_no in table.rows[1:]:
            line = lines[line_no]
            spans = _fragments(line, prefix)
            lead = len(line) - len(line.lstrip())
            if not spans or spans[0][0] > lead:
                first_end = spans[0][0] if spans else len(strip_eol(line))
                spans.insert(0, (0, len(line[:first_end].rstrip())))
            for i, (start, end) in enumerate(spans):
                rows.append(
                    _make_row(
                        line_no, line, start, end, columns, prefix, in_table=True, glued=i > 0
                    )
                )
    excluded = _excluded_lines(blocks, table)
    pattern = _row_pattern(prefix)
    for line_no in _candidate_lines(lines, data, _row_pattern_bytes(prefix), skip):
        if line_no in table_lines or line_no >= len(lines) or _is_excluded(excluded, line_no):
            continue
        line = lines[line_no]
        if pattern.search(line) is None:
            continue
        lead = len(line) - len(line.lstrip(" "))
        for start, end in _fragments(line, prefix):
            glued = start > lead or lead > 3
            rows.append(
                _make_row(line_no, line, start, end, columns, prefix, in_table=False, glued=glued)
            )
    rows.sort(key=lambda r: (r.line, r.col))
    return tuple(rows)


def _excluded_lines(blocks: BlockMap, index: Table | None) -> list[tuple[int, int]]:
    """Line ranges where row-like text is not a stray row: code blocks and other tables."""
    spans = [(c.start, c.end) for c in blocks.code_blocks]
    spans += [(t.start, t.end) for t in blocks.tables if t is not index]
    spans.sort()
    return spans


def _is_excluded(spans: list[tuple[int, int]], line_no: int) -> bool:
    i = bisect_right(spans, (line_no, 1 << 62)) - 1
    return i >= 0 and spans[i][0] <= line_no < spans[i][1]


def _entries(
    lines: LineView, top: list[Heading], prefix: str, crlf: bool = True
) -> tuple[tuple[Entry, ...], tuple[Heading, ...], tuple[int, ...]]:
    """Entry sections: from an id heading to the next id heading or the next ``##`` section.

    ``crlf=False`` promises that the file has no CR, so bodies need no CRLF normalisation.
    """
    pattern = id_pattern(prefix)
    starts: list[tuple[Heading, str, tuple[int, ...], int]] = []
    breaks: list[int] = []
    idless: list[Heading] = []
    for heading in top:
        match = pattern.match(heading.text)
        if match:
            ident, key = canonical_id(prefix, match.group(1))
            starts.append((heading, ident, key, match.end()))
        elif heading.level <= 2:
            breaks.append(heading.line)
        elif _looks_like_entry(heading.text):
            idless.append(heading)
    boundaries = sorted([s[0].line for s in starts] + breaks + [len(lines)])
    seen: Counter[str] = Counter()
    entries = []
    # What the file lacks, no entry has: one search each instead of one per entry.
    markers = tuple(m for m in _GENERATED_BYTES if lines.contains(m))
    for heading, ident, key, id_end in starts:
        end = boundaries[bisect_right(boundaries, heading.line)]
        body = lines.raw(heading.line, end)
        title, date = _title_and_date(heading.text[id_end:], lines, heading.end, end)
        seen[ident] += 1
        entries.append(
            Entry(  # positional: a NamedTuple is built faster without keywords
                ident,
                key,
                seen[ident],
                heading.line,
                end,
                heading.level,
                heading.text,
                title,
                date,
                _content_hash(body.replace(b"\r\n", b"\n") if crlf else body),
                bool(markers) and any(marker in body for marker in markers),
            )
        )
    return tuple(entries), tuple(idless), tuple(breaks)


def _content_hash(body: bytes) -> str:
    """``models.content_hash`` of an entry, taken on its bytes (CRLF already turned into LF).

    The text is those bytes decoded with ``surrogateescape``, which encodes back to the same
    bytes: hashing them directly skips decoding and re-encoding every entry of the ledger.
    """
    return hashlib.sha256(body).hexdigest()


_ANY_ID = re.compile(r"^[A-Z][A-Z0-9_]*-\d")
_PIPE_DATE = re.compile(r"\|\s*\d{4}-\d{2}-\d{2}")


def _looks_like_entry(text: str) -> bool:
    """A ``### title | date | ...`` heading with no id at all (SOT041)."""
    return bool(_PIPE_DATE.search(text)) and not _ANY_ID.match(text)


def _title_and_date(
    rest: str, lines: LineView, body_start: int, end: int
) -> tuple[str, str | None]:
    if "\\|" in rest:
        parts = [p.strip().replace("\\|", "|") for p in _split_unescaped(rest)]
    else:
        parts = [p.strip() for p in rest.split("|")]
    suffix = parts[0].strip(" :-–—")
    date = None
    title_parts: list[str] = []
    for part in parts[1:]:
        if date is None and DATE.match(part):
            date = DATE.match(part).group(0)  # type: ignore[union-attr]
        else:
            title_parts.append(part)
    if len(title_parts) > 1:
        title_parts = title_parts[-1:]
    title = " ".join(p for p in [suffix, *title_parts] if p)
    if date is None:
        found = re.search(r"\((\d{4}-\d{2}-\d{2})\)", rest)
        date = found.group(1) if found else None
    # Both fields start with ``**``: other lines are not decoded.
    if date is None:
        for i in range(body_start, min(end, body_start + 15)):
            field = _DATE_FIELD.match(strip_eol(lines[i])) if lines.startswith(i, b"**") else None
            if field:
                date = field.group(1)
                break
    if not title:
        for i in range(body_start, min(end, body_start + 12)):
            field = _TITLE_FIELD.match(strip_eol(lines[i])) if lines.startswith(i, b"**") else None
            if field:
                title = field.group(1)
                break
    return title, date


def _preamble(lines: LineView, top: list[Heading], end: int) -> Preamble:
    title = next((h.text for h in top if h.level == 1 and h.line < end), None)
    summary_line: int | None = None
    summary_text: str | None = None
    meta_start: int | None = None
    meta_end: int | None = None
    meta: list[tuple[str, str, int]] = []
    in_summary = False
    for i in range(end):
        line = strip_eol(lines[i]).strip()
        if line.startswith(_SUMMARY_OPEN):
            in_summary = True
        elif line.startswith(_SUMMARY_CLOSE):
            in_summary = False
        elif in_summary and summary_line is None and line:
            summary_line, summary_text = i, line
        elif meta_start is None and line.startswith("<!-- META"):
            meta_start = i
            for j in range(i + 1, end):
                inner = strip_eol(lines[j])
                if inner.strip().startswith("-->"):
                    meta_end = j
                    break
                field = _META_KEY.match(inner)
                if field:
                    meta.append((field.group(1), field.group(2), j))
    counts: tuple[int, ...] = ()
    if summary_text is not None:
        head = summary_text.split("|", 1)[0]
        counts = tuple(int(n) for n in _INT.findall(head))
    return Preamble(title, summary_line, summary_text, counts, meta_start, meta_end, tuple(meta))


def _hidden(lines: LineView, blocks: BlockMap, prefix: str) -> tuple[HiddenHeading, ...]:
    """Entry-style headings (``##``/``###`` + id) that a code block turned into code.

    Only code lines starting with ``##`` are decoded and matched.
    """
    pattern = re.compile(rf"^(#{{2,3}})[ \t]+{re.escape(prefix)}-(\d+(?:\.\d+)*)(?!\d)(?!\.\d)")
    found = []
    for block in blocks.code_blocks:
        if not block.fenced:
            continue
        for i in range(block.start + 1, block.end):
            if not lines.startswith(i, b"##"):
                continue
            text = strip_eol(lines[i])
            match = pattern.match(text)
            if match:
                found.append(HiddenHeading(i, canonical_id(prefix, match.group(2))[0], text))
    return tuple(found)
