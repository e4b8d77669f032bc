"""Properties of parse / render / lint / fix on arbitrary bytes and on generated ledgers."""

from __future__ import annotations

import re
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sotsync.ledger import lines as lines_module
from sotsync.ledger.blocks import split_lines
from sotsync.ledger.fix import fix_ledger
from sotsync.ledger.lines import DecodeProblem, split_bytes
from sotsync.ledger.lint import lint_ledger
from sotsync.ledger.parse import Ledger, parse_ledger, split_cells

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LEDGER_RUNS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def parse(data: bytes, prefix: str = "BUILD") -> Ledger:
    return parse_ledger(data, "LEDGER.md", prefix)


def row_keys(ledger: Ledger) -> set[str]:
    return {" ".join(" | ".join(r.cells).replace("\\|", "|").split()) for r in ledger.rows}


# --- arbitrary input -------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=2000))
def test_parse_never_raises_on_bytes(data: bytes) -> None:
    ledger = parse(data)
    assert ledger.render() == data
    findings = lint_ledger(ledger)
    try:
        data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        assert ledger.decode_error is not None
        (bad,) = [f for f in findings if f.code == "SOT001"]
        assert data[ledger.decode_error.offset :]  # points inside the data
        assert not bad.fixable
        result = fix_ledger(data, "LEDGER.md", "BUILD")
        assert result.after == data and result.refused
    else:
        assert ledger.decode_error is None
        assert not [f for f in findings if f.code == "SOT001"]


_PIECES = st.sampled_from(
    [
        "# T",
        "## INDEX",
        "### BUILD-001 | 2026-01-01 | x",
        "## BUILD-002: y (2026-01-02)",
        "| Date | ID | Title |",
        "|---|---|---|",
        "| 2026-01-01 | BUILD-001 | a | b |",
        "```",
        "~~~",
        "    code",
        "> quote",
        "- item",
        "<!-- META",
        "Total_Builds: 3",
        "-->",
        "**Summary**: 3 entries",
        "<<<<<<< HEAD",
        "",
        " ",
        "\t",
        "é 😀 →",
    ]
)


@st.composite
def text_documents(draw: st.DrawFn) -> bytes:
    """Markdown-ish text: random lines, random endings (LF, CRLF, CR), maybe a BOM."""
    parts = draw(st.lists(st.one_of(_PIECES, st.text(max_size=40)), max_size=30))
    endings = st.sampled_from(["\n", "\r\n", "\r"])
    text = "".join(p + draw(endings) for p in parts)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    bom = b"\xef\xbb\xbf" if draw(st.integers(0, 4)) == 0 else b""
    return bom + text.encode("utf-8", "surrogatepass")


@FAST
@given(text_documents())
def test_parse_never_raises_on_text(data: bytes) -> None:
    ledger = parse(data)
    assert ledger.render() == data
    findings = lint_ledger(ledger, "lf")
    if ledger.decode_error is None:
        assert not [f for f in findings if f.code == "SOT001"]
    result = fix_ledger(data, "LEDGER.md", "BUILD", "lf")
    assert fix_ledger(result.after, "LEDGER.md", "BUILD", "lf").after == result.after
    assert parse(data).ids() <= parse(result.after).ids()


@FAST
@given(st.text(max_size=300), st.sampled_from(["\n", "\r\n", "\r"]), st.booleans())
def test_round_trip_of_utf8_text(text: str, newline: str, bom: bool) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + text.replace("\n", newline).encode(
        "utf-8", "surrogatepass"
    )
    ledger = parse(data)
    assert ledger.render() == data
    lint_ledger(ledger)


# --- lines held as bytes ----------------------------------------------------------------------

LINE_BYTES = st.lists(
    st.sampled_from([b"a", b"\n", b"\r", b"\r\n", b" ", b"\xc3\xa9", b"\xe2\x9c\x85", b"\xff"])
    | st.binary(max_size=4),
    max_size=40,
).map(b"".join)


def _first_bad_utf8(body: bytes, pos: int) -> DecodeProblem | None:
    """The first undecodable byte, found line by line (lines end at CRLF, LF or CR)."""
    for number, raw in enumerate(body.splitlines(keepends=True), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return DecodeProblem(number, exc.start + 1, pos + exc.start)
        pos += len(raw)
    return None


@FAST
@given(LINE_BYTES, st.integers(0, 4), st.integers(1, 12))
def test_split_bytes_agrees_with_decoding_then_splitting(data: bytes, pos: int, chunk: int) -> None:
    pos = min(pos, len(data))
    body = data[pos:]
    old = lines_module._CHUNK, lines_module._VALIDATE
    # Tiny chunks and validation pieces: every cut rule runs.
    lines_module._CHUNK = lines_module._VALIDATE = chunk
    try:
        raw, view, problem = split_bytes(data, pos)
    finally:
        lines_module._CHUNK, lines_module._VALIDATE = old
    pieces = body.splitlines(keepends=True)
    assert [line.encode("latin-1") for line in raw] == pieces
    decoded = split_lines(body.decode("utf-8", "surrogateescape"))
    assert list(view) == decoded and len(view) == len(decoded)
    assert view[:] == tuple(decoded) and view[1::2] == tuple(decoded[1::2])
    if decoded:
        assert view[-1] == decoded[-1] and view[0] == decoded[0]
    assert problem == _first_bad_utf8(body, pos)
    assert view.longest() == max(map(len, pieces), default=0)
    assert view.raw(0, len(view)) == body
    for i, piece in enumerate(pieces):
        assert view.start(i) - pos == sum(map(len, pieces[:i]))
        assert view.line_at(view.start(i)) == i
        assert view.line_at(view.start(i) + len(piece) - 1) == i
        assert view.startswith(i, piece[:2]) and view.contains(piece)
        assert view.raw(i, i + 1) == piece


@FAST
@given(st.text(alphabet="ab\\| \t→", max_size=40))
def test_split_cells_splits_at_unescaped_pipes_like_the_regex(row: str) -> None:
    text = row.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    expected = [cell.strip() for cell in re.split(r"(?<!\\)\|", text)]
    assert split_cells(row) == expected


# --- generated ledgers ------------------------------------------------------------------------

DATES = st.sampled_from(["2026-01-01", "2026-01-02", "2026-01-03", "2025-12-31"])
WORDS = st.lists(
    st.sampled_from(["fix", "queue", "tidy", "lock", "docs", "SOT", "→", "✅", "a-b", "(x)"]),
    min_size=1,
    max_size=4,
).map(" ".join)


@st.composite
def ids(draw: st.DrawFn) -> str:
    number = draw(st.integers(1, 12))
    sub = draw(st.sampled_from(["", "", "", ".1", ".2", ".10"]))
    return f"BUILD-{number:03d}{sub}"


@st.composite
def rows(draw: st.DrawFn, ncols: int) -> str:
    cells = [draw(DATES), draw(ids())]
    for _ in range(ncols - 2):
        value = draw(WORDS)
        kind = draw(st.integers(0, 9))
        if kind == 0:
            value += " | " + draw(WORDS)  # an unescaped pipe
        elif kind == 1:
            value += " \\| " + draw(WORDS)  # an escaped one
        cells.append(value)
    if draw(st.integers(0, 3)) == 0:
        cells[1] = draw(WORDS)  # a row without an id
    end = "" if draw(st.integers(0, 9)) == 0 else " |"
    return "| " + " | ".join(cells) + end


@st.composite
def headings(draw: st.DrawFn) -> str:
    ident = draw(ids())
    title = draw(WORDS)
    date = draw(DATES)
    style = draw(st.integers(0, 6))
    if style == 0:
        return f"### {ident} | {date} | {title}"
    if style == 1:
        return f"### {ident} | {date}T10:00 | Category | {title}"
    if style == 2:
        return f"## {ident}: {title} ({date}) [OK] COMPLETE"
    if style == 3:
        return f"## {ident}"
    if style == 4:
        return f"## {ident} | {title}"
    if style == 5:
        return f"### {title} | {date} | no id"
    return f"### Summary of {title}"


@st.composite
def ledgers(draw: st.DrawFn) -> bytes:
    ncols = draw(st.sampled_from([2, 3, 4, 5]))
    header = ["Timestamp", "BUILD-ID", "Phase", "Summary", "Files Changed"][:ncols]
    lines = [
        "# Build History",
        "",
        "<!-- AUTO-GENERATED SUMMARY - DO NOT EDIT MANUALLY -->",
        f"**Summary**: {draw(st.integers(0, 30))} build entries documented | Last updated: x",
        "<!-- END AUTO-GENERATED SUMMARY -->",
        "",
        "<!-- META",
        f"Total_Builds: {draw(st.integers(0, 30))}",
        "-->",
        "",
    ]
    has_index = draw(st.integers(0, 9)) > 0
    table_rows = draw(st.lists(rows(ncols), max_size=8))
    loose_rows = draw(st.lists(rows(ncols), max_size=3))
    if has_index:
        lines += ["## INDEX", "", "| " + " | ".join(header) + " |"]
        lines += ["|" + "---|" * ncols, *table_rows]
        if table_rows and draw(st.booleans()):
            lines[-1] = lines[-1] + " " + draw(rows(ncols))  # two rows on one line
        lines += [""]
    lines += ["## BUILDS", ""]
    for _ in range(draw(st.integers(0, 6))):
        lines += [draw(headings()), ""]
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.integers(0, 9))
            if kind == 0:
                lines += ["```", f"# {draw(ids())}: inside code", "```"]
            elif kind == 1:
                lines += ["```"]  # maybe unbalanced
            elif kind == 2 and loose_rows:
                lines += ["", loose_rows.pop(), ""]  # a stray row
            elif kind == 3 and loose_rows:
                lines += ["- SHA256: `abc`" + loose_rows.pop()]  # a glued row
            elif kind == 4:
                lines += ["**Title**: " + draw(WORDS)]
            else:
                lines += [draw(WORDS)]
        lines += [""]
    if draw(st.booleans()) and len(lines) > 12:
        # An identical duplicate of some section.
        start = draw(st.integers(12, len(lines) - 1))
        lines += lines[start:]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    odd = draw(st.sets(st.integers(0, len(lines) - 1), max_size=3))
    text = "".join(
        ln + ("\r\n" if i in odd and newline == "\n" else newline) for i, ln in enumerate(lines)
    )
    if draw(st.integers(0, 5)) == 0:
        text = text.rstrip("\r\n")
    bom = b"\xef\xbb\xbf" if draw(st.integers(0, 9)) == 0 else b""
    return bom + text.encode("utf-8")


@LEDGER_RUNS
@given(ledgers(), st.sampled_from([None, "lf", "crlf"]))
def test_fix_is_idempotent_and_loses_nothing(data: bytes, eol: str | None) -> None:
    before = parse(data)
    assert before.render() == data
    result = fix_ledger(data, "LEDGER.md", "BUILD", eol)
    assert result.refused is None
    after = parse(result.after)
    again = fix_ledger(result.after, "LEDGER.md", "BUILD", eol)
    assert again.after == result.after
    assert again.repaired == ()
    assert before.ids() <= after.ids()
    assert row_keys(before) <= row_keys(after)
    assert Counter(e.entry_key for e in after.entries) <= Counter(
        e.entry_key for e in before.entries
    )
    assert {e.id for e in after.entries} == {e.id for e in before.entries}
    remaining = [f for f in lint_ledger(after, eol) if f.fixable]
    assert not remaining, remaining


@FAST
@given(text_documents(), st.data())
def test_invalid_utf8_is_sot001_at_its_offset(data: bytes, choice: st.DataObject) -> None:
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    at = choice.draw(st.integers(start, len(data)))
    # Never inside a multi-byte character: back up to a character boundary.
    while at > start and (data[at - 1 : at] or b"\0")[0] & 0xC0 == 0x80:
        at -= 1
    while at > start and data[at - 1] >= 0xC0:
        at -= 1
    bad = data[:at] + b"\xff" + data[at:]
    ledger = parse(bad)
    assert ledger.render() == bad
    assert ledger.decode_error is not None
    assert ledger.decode_error.offset == at
    (finding,) = [f for f in lint_ledger(ledger) if f.code == "SOT001"]
    # Lines end at LF, CRLF or a lone CR (CommonMark), as everywhere else in the findings.
    assert finding.line == len(re.findall(rb"\r\n|\r|\n", bad[:at])) + 1
    assert finding.severity == "error" and not finding.fixable
    result = fix_ledger(bad, "LEDGER.md", "BUILD")
    assert result.after == bad and result.refused is not None
