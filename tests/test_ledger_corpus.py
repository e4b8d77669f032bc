"""The ledger engine against the real Autopack ledgers (shared/corpus/autopack/README.md).

Every count and line number below comes from the corpus README; each is checked on the files as
they are and again after swapping LF and CRLF (line numbers do not move when endings change).
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from sotsync.ledger.blocks import split_lines
from sotsync.ledger.lint import lint_ledger
from sotsync.ledger.parse import Ledger, line_ending_counts, parse_ledger, strip_eol
from sotsync.models import Finding, content_hash

_DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "autopack"


def corpus_dir() -> Path:
    """The corpus folder; skip (or, under CI=true, fail) when it is absent."""
    candidates = [_DEFAULT_CORPUS]
    if os.environ.get("SOTSYNC_CORPUS"):
        candidates.append(Path(os.environ["SOTSYNC_CORPUS"]))
    for candidate in candidates:
        if (candidate / "BUILD_HISTORY.md").is_file():
            return candidate
    where = " or ".join(str(c) for c in candidates)
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Autopack corpus is missing ({where}) and CI=true")
    pytest.skip(f"the Autopack corpus is not available ({where}); set SOTSYNC_CORPUS")


@dataclass(frozen=True)
class Expected:
    name: str
    prefix: str
    table_rows: int
    table_rows_with_id: int
    stray_lines: tuple[int, ...]
    glued_lines: tuple[int, ...]
    duplicated_row_ids: frozenset[str]
    entry_headings: int
    hidden: tuple[tuple[str, int], ...]
    distinct_entry_ids: int
    duplicated_entry_ids: frozenset[str]
    idless_lines: tuple[int, ...]
    section_only: frozenset[str]
    index_only: int
    distinct_ids: int
    stated: int
    crlf: bool


BUILD = Expected(
    name="BUILD_HISTORY.md",
    prefix="BUILD",
    table_rows=212,
    table_rows_with_id=210,
    stray_lines=(2522, 2523, 2525, 3785),
    glued_lines=(61, 2271),
    duplicated_row_ids=frozenset({"BUILD-166", "BUILD-151"}),
    entry_headings=108,
    hidden=(),
    distinct_entry_ids=104,
    duplicated_entry_ids=frozenset({"BUILD-145", "BUILD-146", "BUILD-159", "BUILD-160"}),
    idless_lines=(385,),
    section_only=frozenset({"BUILD-153.2", "BUILD-156", "BUILD-157.1", "BUILD-167"}),
    index_only=114,
    distinct_ids=218,
    stated=214,
    crlf=True,
)
DEBUG = Expected(
    name="DEBUG_LOG.md",
    prefix="DBG",
    table_rows=84,
    table_rows_with_id=84,
    stray_lines=(1965, 1967),
    glued_lines=(1964,),
    duplicated_row_ids=frozenset({"DBG-080", "DBG-081", "DBG-083"}),
    entry_headings=81,
    hidden=(),
    distinct_entry_ids=81,
    duplicated_entry_ids=frozenset(),
    idless_lines=(),
    section_only=frozenset(),
    index_only=3,
    distinct_ids=84,
    stated=86,
    crlf=False,
)
DECISIONS = Expected(
    name="ARCHITECTURE_DECISIONS.md",
    prefix="DEC",
    table_rows=49,
    table_rows_with_id=49,
    stray_lines=(),
    glued_lines=(),
    duplicated_row_ids=frozenset(),
    entry_headings=51,
    hidden=(("DEC-013", 1651),),
    distinct_entry_ids=51,
    duplicated_entry_ids=frozenset(),
    idless_lines=(),
    section_only=frozenset({"DEC-034", "DEC-035", "DEC-036"}),
    # The README counts lines and sees DEC-013's heading; under CommonMark it is code, so DEC-013
    # has a row and no (visible) section.
    index_only=1,
    distinct_ids=52,
    stated=49,
    crlf=True,
)
LEDGERS = (BUILD, DEBUG, DECISIONS)
IDS = [e.name for e in LEDGERS]


def swap_endings(data: bytes) -> bytes:
    """LF ↔ CRLF for a file that uses one of them throughout."""
    lf = data.replace(b"\r\n", b"\n")
    return lf if b"\r\n" in data else lf.replace(b"\n", b"\r\n")


def read_corpus(name: str) -> bytes:
    return (corpus_dir() / name).read_bytes()


@functools.lru_cache(maxsize=8)
def _parsed(name: str, prefix: str, data: bytes) -> Ledger:
    return parse_ledger(data, name, prefix)


@pytest.fixture(params=["as-is", "swapped"])
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def load(expected: Expected, variant: str) -> tuple[bytes, Ledger]:
    data = read_corpus(expected.name)
    if variant == "swapped":
        data = swap_endings(data)
    return data, _parsed(expected.name, expected.prefix, data)


def by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


# --- the files themselves -------------------------------------------------------------------


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_files_are_the_documented_ones(expected: Expected) -> None:
    data = read_corpus(expected.name)
    assert not data.startswith(b"\xef\xbb\xbf")
    data.decode("utf-8")  # valid UTF-8
    lines = data.split(b"\n")
    if expected.crlf:
        assert all(line.endswith(b"\r") for line in lines[:-1])
    else:
        assert b"\r" not in data


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_render_round_trips_byte_for_byte(expected: Expected, variant: str) -> None:
    data, ledger = load(expected, variant)
    assert ledger.render() == data
    assert "".join(ledger.lines).encode("utf-8") == data
    assert ledger.decode_error is None
    assert not ledger.bom


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_lines_and_hashes_are_those_of_the_decoded_text(expected: Expected, variant: str) -> None:
    # Lines are decoded on demand and entries hashed on their bytes: both must give what the
    # decoded text gives.
    data, ledger = load(expected, variant)
    text = split_lines(data.decode("utf-8"))
    assert list(ledger.lines) == text and len(ledger.lines) == len(text)
    assert ledger.endings == line_ending_counts(text)
    for entry in ledger.entries:
        assert entry.content_hash == content_hash("".join(text[entry.line : entry.end]))


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_swapped_endings_change_nothing_but_endings(expected: Expected) -> None:
    _, original = load(expected, "as-is")
    _, swapped = load(expected, "swapped")
    assert [strip_eol(x) for x in original.lines] == [strip_eol(x) for x in swapped.lines]
    assert original.rows == swapped.rows
    assert [e.id for e in original.entries] == [e.id for e in swapped.entries]
    assert [e.content_hash for e in original.entries] == [e.content_hash for e in swapped.entries]
    assert original.newline == ("\r\n" if expected.crlf else "\n")
    assert swapped.newline == ("\n" if expected.crlf else "\r\n")


# --- counts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_index_rows(expected: Expected, variant: str) -> None:
    _, ledger = load(expected, variant)
    table = ledger.table_rows
    assert len(table) == expected.table_rows
    assert sum(r.id is not None for r in table) == expected.table_rows_with_id
    stray = [r for r in ledger.rows if not r.in_table and not r.glued]
    assert tuple(r.line + 1 for r in stray) == expected.stray_lines
    glued = [r for r in ledger.rows if r.glued]
    assert tuple(r.line + 1 for r in glued) == expected.glued_lines
    counts = Counter(r.id for r in ledger.rows if r.id is not None)
    assert {i for i, n in counts.items() if n > 1} == expected.duplicated_row_ids


def test_index_row_details() -> None:
    _, build = load(BUILD, "as-is")
    stray = {r.line + 1: r.id for r in build.rows if not r.in_table and not r.glued}
    assert stray == {2522: "BUILD-153", 2523: "BUILD-153.1", 2525: "BUILD-154", 3785: "BUILD-169"}
    glued = {r.line + 1: (r.id, r.in_table) for r in build.rows if r.glued}
    assert glued == {61: ("BUILD-166", True), 2271: ("BUILD-151", False)}
    # l.61 holds two rows: an unterminated BUILD-166 row at the start, a second one glued on.
    on_61 = [r for r in build.rows if r.line == 60]
    assert [(r.id, r.col == 0, r.glued) for r in on_61] == [
        ("BUILD-166", True, False),
        ("BUILD-166", False, True),
    ]
    host = strip_eol(build.lines[2270])
    assert host.startswith("- SHA256: `")
    assert host[next(r for r in build.rows if r.line == 2270).col] == "|"
    idless = sorted({r.cells[1] for r in build.table_rows if r.id is None})
    assert idless[0] == "OPTION-B"
    assert idless[1].startswith("P0 Reliability Track")

    _, debug = load(DEBUG, "as-is")
    outside = {r.line + 1: (r.id, r.glued) for r in debug.rows if not r.in_table}
    assert outside == {1964: ("DBG-080", True), 1965: ("DBG-081", False), 1967: ("DBG-083", False)}
    assert len(debug.lines) == 1967
    last = strip_eol(debug.lines[-1])
    assert last.startswith("| 2026-01-03 | DBG-083 |") and not last.endswith("|")


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_entries(expected: Expected, variant: str) -> None:
    _, ledger = load(expected, variant)
    assert len(ledger.entries) == expected.entry_headings
    assert tuple((h.id, h.line + 1) for h in ledger.hidden) == expected.hidden
    ids = Counter(e.id for e in ledger.entries)
    assert len(ids) == expected.distinct_entry_ids
    assert {i for i, n in ids.items() if n > 1} == expected.duplicated_entry_ids
    assert tuple(h.line + 1 for h in ledger.idless) == expected.idless_lines
    row_ids = {r.id for r in ledger.rows if r.id is not None}
    assert set(ids) - row_ids == expected.section_only
    assert len(row_ids - set(ids)) == expected.index_only
    assert len(ledger.ids()) == expected.distinct_ids
    # Entries are in file order, do not overlap, and occurrences number repeated ids.
    for before, after in zip(ledger.entries, ledger.entries[1:], strict=False):
        assert before.line < before.end <= after.line
    for entry in ledger.entries:
        wanted = 1 if entry.id not in expected.duplicated_entry_ids else entry.occurrence
        assert entry.occurrence == wanted
        assert entry.entry_key == (entry.id if entry.occurrence == 1 else f"{entry.id}#2")


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_summary_and_meta_values(expected: Expected, variant: str) -> None:
    _, ledger = load(expected, variant)
    pre = ledger.preamble
    assert pre.summary_counts[0] == expected.stated
    totals = [value for key, value, _ in pre.meta if key.startswith("Total_")]
    # DEC-006 carries a nested META block saying 19: it is not the preamble's.
    assert totals == [str(expected.stated)]
    if expected is BUILD:
        assert pre.summary_counts[:2] == (214, 187)
    assert pre.title is not None and pre.title.strip()


def test_heading_styles_of_build_history() -> None:
    _, ledger = load(BUILD, "as-is")
    at = {e.line + 1: e for e in ledger.entries}
    styles = {
        234: ("BUILD-208", 3, "2026-01-16", "ROAD Framework Complete"),  # ### ID | date | title
        498: ("BUILD-138", 3, "2025-12-28", "Telemetry Collection Validation"),  # + category
        2058: ("BUILD-146", 3, "2026-01-01", "Phase A P17.x"),  # ### ID suffix | date | title
        4012: ("BUILD-178", 2, "2026-01-06", "Pivot Intentions v2"),  # ## ID: title (date)
        2322: ("BUILD-145", 2, "2026-01-02", "Follow-up: Persistent Queue"),  # ## ID suffix: ...
        2781: ("BUILD-157.1", 2, "2026-01-03", "Queue Improvements"),  # ## ID: title
        3448: ("BUILD-160", 2, "2026-01-03", "Tidy Performance"),  # bare ## ID + **Title**:
        4754: ("BUILD-147", 2, "2026-01-01", "SOT Memory Integration"),  # ## ID | title
    }
    for line, (ident, level, date, title) in styles.items():
        entry = at[line]
        assert (entry.id, entry.level) == (ident, level), line
        assert entry.title.startswith(title), (line, entry.title)
        assert entry.date == date, (line, entry.date)
    assert strip_eol(ledger.lines[3447]).strip() == "## BUILD-160"
    # An entry under a ``##`` heading keeps its ``###`` sub-headings: it ends at the next id.
    entry = at[4012]
    following = ledger.entries[ledger.entries.index(entry) + 1]
    assert entry.end == following.line
    subs = [h for h in ledger.blocks.headings if entry.line < h.line < entry.end]
    assert any(h.level == 3 for h in subs)


def test_code_block_hash_lines_are_not_headings() -> None:
    _, ledger = load(BUILD, "as-is")
    headings = {h.line for h in ledger.blocks.headings}
    inside = []
    for block in ledger.blocks.code_blocks:
        for i in range(block.start + 1, block.end):
            if ledger.lines[i].startswith("#"):
                inside.append(i)
    assert len(inside) == 30
    assert not headings & set(inside)
    entry_lines = {e.line for e in ledger.entries}
    assert not entry_lines & set(inside)
    assert ledger.lines[1489].startswith("# BUILD-040:")
    assert 1489 in inside
    assert any(b.start < 1489 < b.end and b.fenced for b in ledger.blocks.code_blocks)


def test_debug_log_stubs() -> None:
    _, ledger = load(DEBUG, "as-is")
    assert sum(e.generated for e in ledger.entries) == 30


def test_hidden_heading_of_decisions() -> None:
    _, ledger = load(DECISIONS, "as-is")
    assert ledger.lines[1650].startswith("### DEC-013 | 2026-01-02 |")
    assert "DEC-013" not in {e.id for e in ledger.entries}
    assert "DEC-013" in {r.id for r in ledger.table_rows}
    block = next(b for b in ledger.blocks.code_blocks if b.start < 1650 < b.end)
    assert block.start + 1 == 1647
    assert block.end == 1697  # runs to l.1697 (the closing fence is line 1697, exclusive end)


# --- findings ---------------------------------------------------------------------------------


def _lint(expected: Expected, variant: str, eol: str | None = None) -> list[Finding]:
    _, ledger = load(expected, variant)
    return lint_ledger(ledger, eol)


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_row_placement_findings(expected: Expected, variant: str) -> None:
    found = _lint(expected, variant)
    assert tuple(f.line for f in by_code(found, "SOT020")) == expected.stray_lines
    assert tuple(f.line for f in by_code(found, "SOT021")) == expected.glued_lines
    assert all(f.fixable and f.severity == "error" for f in by_code(found, "SOT020"))
    assert all(f.fixable for f in by_code(found, "SOT021"))
    assert {f.entry_id for f in by_code(found, "SOT012")} == expected.duplicated_row_ids
    assert len(by_code(found, "SOT012")) == len(expected.duplicated_row_ids)
    assert not by_code(found, "SOT013")


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_entry_findings(expected: Expected, variant: str) -> None:
    found = _lint(expected, variant)
    assert Counter(f.entry_id for f in by_code(found, "SOT010")) == Counter(
        expected.duplicated_entry_ids
    )
    assert not by_code(found, "SOT011")
    assert tuple(f.line for f in by_code(found, "SOT041")) == expected.idless_lines
    assert {f.entry_id for f in by_code(found, "SOT024")} == expected.section_only
    assert len(by_code(found, "SOT023")) == expected.index_only
    hidden = by_code(found, "SOT040")
    assert tuple((f.entry_id, f.line) for f in hidden) == expected.hidden
    for code in ("SOT001", "SOT002", "SOT003", "SOT004", "SOT005", "SOT007", "SOT026"):
        assert not by_code(found, code), code


def test_sot010_lines_of_build_history(variant: str) -> None:
    found = by_code(_lint(BUILD, variant), "SOT010")
    assert {(f.entry_id, f.line) for f in found} == {
        ("BUILD-146", 2128),
        ("BUILD-145", 2322),
        ("BUILD-160", 3448),
        ("BUILD-159", 4596),
    }
    assert all(f.severity == "error" and not f.fixable for f in found)


def test_sot040_points_at_the_fence(variant: str) -> None:
    (finding,) = by_code(_lint(DECISIONS, variant), "SOT040")
    assert finding.line == 1651
    assert finding.entry_id == "DEC-013"
    assert "1647" in finding.message
    assert finding.severity == "error" and not finding.fixable


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_count_findings(expected: Expected, variant: str) -> None:
    found = _lint(expected, variant)
    (summary,) = by_code(found, "SOT030")
    (meta,) = by_code(found, "SOT031")
    assert summary.line == 5 and meta.line == 10
    assert summary.fixable and meta.fixable
    assert str(expected.distinct_ids) in summary.message
    assert str(expected.stated) in meta.message


def test_sot025_disagreements(variant: str) -> None:
    found = by_code(_lint(BUILD, variant), "SOT025")
    titles = {f.entry_id for f in found if "title" in f.message}
    assert {"BUILD-147", "BUILD-176"} <= titles
    assert all(not f.fixable for f in found)


def test_sot042_order(variant: str) -> None:
    debug = {f.entry_id: f.line for f in by_code(_lint(DEBUG, variant), "SOT042")}
    assert debug["DBG-084"] == 140
    assert debug["DBG-070"] == 572
    assert "DBG-085" not in debug
    decisions = {f.entry_id for f in by_code(_lint(DECISIONS, variant), "SOT042")}
    assert {"DEC-043", "DEC-044"} & decisions
    assert "DEC-014" in decisions


def test_sot050_machine_paths(variant: str) -> None:
    found = by_code(_lint(BUILD, variant), "SOT050")
    near = [f for f in found if 378 <= f.line <= 382]
    assert near
    assert any("C:/dev/Autopack-road-i/" in f.message for f in near)
    assert all(f.severity == "info" and not f.fixable for f in found)


@pytest.mark.parametrize("expected", LEDGERS, ids=IDS)
def test_sot003_with_gitattributes(expected: Expected, variant: str) -> None:
    assert not by_code(_lint(expected, variant), "SOT003")
    is_crlf = expected.crlf == (variant == "as-is")
    assert not by_code(_lint(expected, variant, "crlf" if is_crlf else "lf"), "SOT003")
    lf = by_code(_lint(expected, variant, "lf"), "SOT003")
    crlf = by_code(_lint(expected, variant, "crlf"), "SOT003")
    assert len(lf) == (1 if is_crlf else 0)
    assert len(crlf) == (0 if is_crlf else 1)
    for finding in lf + crlf:
        assert finding.fixable and finding.severity == "warning"
        assert "gitattributes" in finding.message


def test_findings_are_sorted_and_fingerprinted(variant: str) -> None:
    for expected in LEDGERS:
        found = _lint(expected, variant)
        assert found == sorted(found, key=lambda f: (f.line, f.col, f.code))
        assert all(re.fullmatch(r"[0-9a-f]{20}", f.fingerprint) for f in found)
        assert all(f.path == expected.name for f in found)


def test_fingerprints_ignore_line_endings() -> None:
    for expected in LEDGERS:
        a = {f.fingerprint for f in _lint(expected, "as-is")}
        b = {f.fingerprint for f in _lint(expected, "swapped")}
        assert a == b
