"""``fix_ledger`` on the corpus and on small ledgers, and ``new`` (next id, add entry)."""

from __future__ import annotations

import difflib
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from sotsync.errors import LedgerError, UsageError
from sotsync.ledger.fix import FixResult, fix_ledger
from sotsync.ledger.lint import lint_ledger
from sotsync.ledger.new import add_entry, highest_number, next_id
from sotsync.ledger.parse import Ledger, parse_ledger, split_cells, strip_eol
from sotsync.models import Finding

_DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "autopack"
CORPUS = (
    ("BUILD_HISTORY.md", "BUILD"),
    ("DEBUG_LOG.md", "DBG"),
    ("ARCHITECTURE_DECISIONS.md", "DEC"),
)
ROW_CODES = {"SOT004", "SOT013", "SOT020", "SOT021", "SOT022", "SOT030", "SOT031"}


def corpus_file(name: str) -> bytes:
    candidates = [_DEFAULT_CORPUS]
    if os.environ.get("SOTSYNC_CORPUS"):
        candidates.append(Path(os.environ["SOTSYNC_CORPUS"]))
    for folder in candidates:
        if (folder / name).is_file():
            return (folder / name).read_bytes()
    where = " or ".join(str(c) for c in candidates)
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Autopack corpus is missing ({where}) and CI=true")
    pytest.skip(f"the Autopack corpus is not available ({where}); set SOTSYNC_CORPUS")


def parse(data: bytes, prefix: str = "BUILD") -> Ledger:
    return parse_ledger(data, "LEDGER.md", prefix)


def lint(data: bytes, prefix: str = "BUILD", eol: str | None = None) -> list[Finding]:
    return lint_ledger(parse(data, prefix), eol)


def fix(data: bytes, prefix: str = "BUILD", eol: str | None = None) -> FixResult:
    return fix_ledger(data, "LEDGER.md", prefix, eol)


def codes(findings: list[Finding]) -> Counter[str]:
    return Counter(f.code for f in findings)


def row_key(cells: tuple[str, ...] | list[str]) -> str:
    """A row's text for "is it still there": escaping and spacing do not matter."""
    return " ".join(" | ".join(cells).replace("\\|", "|").split())


def row_multiset(ledger: Ledger) -> Counter[str]:
    return Counter(row_key(r.cells) for r in ledger.rows)


def assert_fixed_properly(data: bytes, prefix: str, eol: str | None) -> FixResult:
    """The invariants every fix must keep (SPEC §2), for any input."""
    before = parse(data, prefix)
    result = fix(data, prefix, eol)
    assert result.before == data
    after = parse(result.after, prefix)
    # Idempotent: a second run changes nothing and repairs nothing.
    again = fix(result.after, prefix, eol)
    assert again.after == result.after
    assert again.repaired == ()
    # Nothing lost: every id and every distinct row survives.
    assert before.ids() <= after.ids()
    old_rows, new_rows = row_multiset(before), row_multiset(after)
    assert set(old_rows) <= set(new_rows), set(old_rows) - set(new_rows)
    # No fixable finding remains.
    remaining = [f for f in lint_ledger(after, eol) if f.fixable]
    assert not remaining, remaining
    return result


# --- the corpus ----------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [None, "lf"])
@pytest.mark.parametrize(("name", "prefix"), CORPUS, ids=[n for n, _ in CORPUS])
def test_fix_corpus(name: str, prefix: str, eol: str | None) -> None:
    data = corpus_file(name)
    before = parse(data, prefix)
    findings = lint_ledger(before, eol)
    result = assert_fixed_properly(data, prefix, eol)
    after = parse(result.after, prefix)
    assert result.refused is None
    assert result.changed

    # The set of ids is identical (fix adds rows for sections, never new ids).
    assert before.ids() == after.ids()

    # Rows: every row before is there after; only exact duplicates were folded, and the only new
    # rows are those of sections without a row (SOT024).
    old_rows, new_rows = row_multiset(before), row_multiset(after)
    for key, count in old_rows.items():
        assert new_rows[key] >= 1, key
        if new_rows[key] < count:
            assert new_rows[key] == 1  # folded identical duplicates into one
    added = new_rows - old_rows
    section_only = {f.entry_id for f in findings if f.code == "SOT024"}
    added_ids = {r.id for r in after.rows if row_key(r.cells) in added}
    assert added_ids == section_only
    assert sum(added.values()) == len(section_only)

    # All rows are now inside the table, on their own lines.
    assert not [r for r in after.rows if not r.in_table or r.glued]
    assert len(after.table_rows) == len(after.rows)
    assert {r.id for r in after.rows} >= {r.id for r in before.rows}

    # Counts are honest.
    honest = len(after.ids())
    assert after.preamble.summary_counts[0] == honest
    assert [v for k, v, _ in after.preamble.meta if k.startswith("Total_")] == [str(honest)]

    # Entries keep their keys; those without a repaired line keep their content.
    assert [e.entry_key for e in before.entries] == [e.entry_key for e in after.entries]
    touched = {f.line - 1 for f in findings if f.code in ROW_CODES}
    for old, new in zip(before.entries, after.entries, strict=True):
        if not any(old.line <= t < old.end for t in touched):
            assert old.content_hash == new.content_hash, old.entry_key

    # The line-ending style: the file's own, or the .gitattributes one.
    if eol == "lf":
        assert b"\r" not in result.after
    else:
        assert (b"\r\n" in result.after) == (b"\r\n" in data)
        if b"\r\n" in data:
            assert result.after.count(b"\n") == result.after.count(b"\r\n")

    assert_only_repaired_lines_changed(before, after, findings)

    # Non-fixable findings are not touched by fix.
    for code in ("SOT010", "SOT040", "SOT041", "SOT050"):
        assert codes(lint_ledger(after, eol))[code] == codes(findings)[code], code


def assert_only_repaired_lines_changed(
    before: Ledger, after: Ledger, findings: list[Finding]
) -> None:
    """Every line the fix removed or rewrote is one a finding was about."""
    allowed = {
        strip_eol(before.lines[f.line - 1]) for f in findings if f.code in ROW_CODES and f.line > 0
    }
    for f in findings:
        if f.code == "SOT011":
            entry = next(e for e in before.entries if e.line == f.line - 1)
            allowed.update(strip_eol(x) for x in before.lines[entry.line : entry.end])
    digits = {re.sub(r"\d+", "#", x) for x in allowed}
    old = [strip_eol(x) for x in before.lines]
    new = [strip_eol(x) for x in after.lines]
    rewrote_endings = any(f.code == "SOT003" for f in findings)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            if not rewrote_endings:
                assert before.lines[i1:i2] == after.lines[j1:j2]
            continue
        for line in old[i1:i2]:
            assert line in allowed, f"line {line[:80]!r} changed but no finding was about it"
        for offset, line in enumerate(new[j1:j2]):
            is_row = any(r.line == j1 + offset and r.col == 0 for r in after.rows)
            is_piece = any(line and a.startswith(line) for a in allowed)
            is_count = re.sub(r"\d+", "#", line) in digits
            assert is_row or is_piece or is_count, f"unexpected new line {line[:80]!r}"


# --- hand-written ledgers -------------------------------------------------------------------

BASE = """\
# Build History

<!-- AUTO-GENERATED SUMMARY - DO NOT EDIT MANUALLY -->
**Summary**: 3 build entries documented | Last updated: 2026-01-03
<!-- END AUTO-GENERATED SUMMARY -->

<!-- META
Last_Updated: 2026-01-03T00:00:00Z
Total_Builds: 3
Format_Version: 2.0
-->

## INDEX

| Timestamp | BUILD-ID | Title | Status |
|-----------|----------|-------|--------|
| 2026-01-03 | BUILD-003 | Third build | Done |
| 2026-01-02 | BUILD-002 | Second build | Done |
| 2026-01-01 | BUILD-001 | First build | Done |

## BUILDS (Reverse Chronological)

### BUILD-003 | 2026-01-03 | Third build

Body three.

### BUILD-002 | 2026-01-02 | Second build

Body two.

### BUILD-001 | 2026-01-01 | First build

Body one.
"""


def doc(text: str = BASE, newline: str = "\n") -> bytes:
    return text.replace("\n", newline).encode("utf-8")


def lines_of(data: bytes) -> list[str]:
    return [strip_eol(x) for x in parse(data).lines]


def test_base_ledger_is_clean() -> None:
    for newline in ("\n", "\r\n"):
        data = doc(newline=newline)
        assert lint(data) == []
        result = fix(data)
        assert not result.changed and result.repaired == () and result.refused is None


@pytest.mark.parametrize(
    ("dominant", "odd"), [("\n", "\r\n"), ("\r\n", "\n"), ("\n", "\r"), ("\r\n", "\r")]
)
def test_sot003_mixed_endings_become_dominant(dominant: str, odd: str) -> None:
    lines = doc(newline=dominant).decode().splitlines(keepends=True)
    lines[3] = strip_eol(lines[3]) + odd
    lines[16] = strip_eol(lines[16]) + odd  # not before a blank line: "\r" + "\n" is CRLF
    data = "".join(lines).encode()
    (finding,) = [f for f in lint(data) if f.code == "SOT003"]
    assert finding.line == 4 and finding.fixable
    result = assert_fixed_properly(data, "BUILD", None)
    assert result.after == doc(newline=dominant)
    assert dict(result.repaired) == {"SOT003": 2}


def test_sot003_gitattributes_eol() -> None:
    crlf = doc(newline="\r\n")
    assert not lint(crlf)
    assert codes(lint(crlf, eol="lf")) == Counter({"SOT003": 1})
    result = assert_fixed_properly(crlf, "BUILD", "lf")
    assert result.after == doc()
    lf = doc()
    result = assert_fixed_properly(lf, "BUILD", "crlf")
    assert result.after == crlf
    # Mixed endings with eol=lf: everything becomes LF, not the CRLF majority.
    mixed = crlf.replace(b"Body two.\r\n", b"Body two.\n")
    assert assert_fixed_properly(mixed, "BUILD", "lf").after == lf


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_sot004_final_newline(newline: str) -> None:
    data = doc(newline=newline)[: -len(newline)]
    (finding,) = lint(data)
    assert finding.code == "SOT004" and finding.line == len(lines_of(data))
    result = assert_fixed_properly(data, "BUILD", None)
    assert result.after == doc(newline=newline)


def test_sot007_bom_removed() -> None:
    data = b"\xef\xbb\xbf" + doc()
    ledger = parse(data)
    assert ledger.bom and ledger.render() == data
    assert codes(lint(data)) == Counter({"SOT007": 1})
    result = assert_fixed_properly(data, "BUILD", None)
    assert result.after == doc()


def test_sot011_identical_duplicate_entry_removed() -> None:
    # The repeated section is identical to the first one, trailing blank line included.
    text = BASE.replace(
        "### BUILD-001 | 2026-01-01 | First build",
        "### BUILD-002 | 2026-01-02 | Second build\n\nBody two.\n\n"
        "### BUILD-001 | 2026-01-01 | First build",
    )
    data = doc(text)
    found = lint(data)
    assert [f.code for f in found if f.code.startswith("SOT01")] == ["SOT011"]
    result = assert_fixed_properly(data, "BUILD", None)
    assert result.after == doc()
    assert dict(result.repaired) == {"SOT011": 1}


def test_sot010_different_duplicate_entry_is_kept() -> None:
    text = BASE.replace("Body one.\n", "Body one.\n\n### BUILD-002 | 2026-01-02 | Other\n\nNew.\n")
    data = doc(text)
    (finding,) = [f for f in lint(data) if f.code == "SOT010"]
    assert not finding.fixable and finding.entry_id == "BUILD-002"
    result = fix(data)
    assert "### BUILD-002 | 2026-01-02 | Other" in result.after.decode()
    assert [e.entry_key for e in parse(result.after).entries] == [
        "BUILD-003",
        "BUILD-002",
        "BUILD-001",
        "BUILD-002#2",
    ]


def test_sot013_identical_duplicate_row_folded() -> None:
    row = "| 2026-01-02 | BUILD-002 | Second build | Done |\n"
    data = doc(BASE.replace(row, row + row))
    found = lint(data)
    assert [f.code for f in found] == ["SOT013"]
    assert found[0].line == 19 and found[0].entry_id == "BUILD-002"
    result = assert_fixed_properly(data, "BUILD", None)
    assert result.after == doc()


def test_sot012_different_rows_kept() -> None:
    row = "| 2026-01-02 | BUILD-002 | Second build | Done |\n"
    other = "| 2026-01-02 | BUILD-002 | Second build, again | Done |\n"
    data = doc(BASE.replace(row, row + other))
    assert [f.code for f in lint(data)] == ["SOT012"]
    assert fix(data).after == data


def test_sot020_stray_row_moved_into_table() -> None:
    stray = "| 2026-01-04 | BUILD-004 | Fourth build | Done |"
    text = BASE.replace("Body two.\n", f"Body two.\n\n{stray}\n")
    text = text.replace("Total_Builds: 3", "Total_Builds: 4").replace("3 build", "4 build")
    data = doc(text)
    found = lint(data)
    assert [(f.code, f.line) for f in found if f.code != "SOT023"] == [("SOT020", 31)]
    result = assert_fixed_properly(data, "BUILD", None)
    out = lines_of(result.after)
    assert out[16] == stray  # newest first: above BUILD-003
    assert out.count(stray) == 1
    assert "Body two." in out
    # A stray row in the middle of the range lands between its neighbours.
    stray2 = "| 2026-01-02 | BUILD-002.1 | Hotfix | Done |"
    text = BASE.replace("Body one.\n", f"Body one.\n\n{stray2}\n")
    text = text.replace("Total_Builds: 3", "Total_Builds: 4").replace("3 build", "4 build")
    out = lines_of(assert_fixed_properly(doc(text), "BUILD", None).after)
    assert out[16:20] == [
        "| 2026-01-03 | BUILD-003 | Third build | Done |",
        stray2,
        "| 2026-01-02 | BUILD-002 | Second build | Done |",
        "| 2026-01-01 | BUILD-001 | First build | Done |",
    ]


def test_sot020_stray_copy_of_a_table_row_is_dropped() -> None:
    row = "| 2026-01-01 | BUILD-001 | First build | Done |"
    data = doc(BASE + f"\n{row}\n")
    assert [f.code for f in lint(data)] == ["SOT020"]
    result = assert_fixed_properly(data, "BUILD", None)
    assert lines_of(result.after).count(row) == 1
    assert result.after == doc(BASE + "\n")


def test_sot020_without_index_table_is_not_fixable() -> None:
    data = b"# T\n\n| 2026-01-01 | BUILD-001 | x |\n\n### BUILD-001 | 2026-01-01 | x\n"
    found = lint(data)
    assert {f.code: f.fixable for f in found} == {"SOT026": False, "SOT020": False}
    result = fix(data)
    assert result.after == data


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_sot021_glued_row_split_and_moved(newline: str) -> None:
    glued = "| 2026-01-04 | BUILD-004 | Fourth build | Done |"
    text = BASE.replace("Body two.\n", f"- SHA256: `abc`{glued}\n")
    text = text.replace("Total_Builds: 3", "Total_Builds: 4").replace("3 build", "4 build")
    data = doc(text, newline)
    found = lint(data)
    (finding,) = [f for f in found if f.code == "SOT021"]
    assert (finding.line, finding.col) == (29, len("- SHA256: `abc`") + 1)
    result = assert_fixed_properly(data, "BUILD", None)
    out = lines_of(result.after)
    assert "- SHA256: `abc`" in out
    assert out[16] == glued
    assert result.after.count(b"\r\n") == (result.after.count(b"\n") if newline == "\r\n" else 0)


def test_sot021_two_rows_on_one_line_in_the_table() -> None:
    row3 = "| 2026-01-03 | BUILD-003 | Third build | Done |\n"
    data = doc(BASE.replace(row3, "| 2026-01-04 | BUILD-004 | Fourth build | Done " + row3))
    data = data.replace(b"Total_Builds: 3", b"Total_Builds: 4").replace(b"3 build e", b"4 build e")
    assert codes(lint(data))["SOT021"] == 1
    result = assert_fixed_properly(data, "BUILD", None)
    out = lines_of(result.after)
    assert out[16:18] == [
        "| 2026-01-04 | BUILD-004 | Fourth build | Done",
        "| 2026-01-03 | BUILD-003 | Third build | Done |",
    ]


def test_sot022_unambiguous_pipe_escaped() -> None:
    # Enough rows for "Status" to be recognised as a closed set of values: only "Title" can
    # hold the extra `|`.
    row = "| 2026-01-02 | BUILD-002 | Second build | Done |"
    older = "| 2025-12-31 | BUILD-000.2 | Older | Done |\n| 2025-12-30 | BUILD-000.1 | Old | Done |"
    text = BASE.replace("| First build | Done |", "| First build | Done |\n" + older)
    text = text.replace("Total_Builds: 3", "Total_Builds: 5").replace("3 build e", "5 build e")
    data = doc(text.replace(row, "| 2026-01-02 | BUILD-002 | Second | build | Done |"))
    (finding,) = [f for f in lint(data) if f.code == "SOT022"]
    assert finding.code == "SOT022" and finding.fixable
    result = assert_fixed_properly(data, "BUILD", None)
    out = lines_of(result.after)
    assert out[17] == "| 2026-01-02 | BUILD-002 | Second \\| build | Done |"
    assert split_cells(out[17]) == ["2026-01-02", "BUILD-002", "Second \\| build", "Done"]
    assert lines_of(result.after)[:17] == lines_of(data)[:17]
    assert lines_of(result.after)[18:] == lines_of(data)[18:]


NOTES = """\
# Build History

## INDEX

| Date | ID | Title | Notes |
|------|----|-------|-------|
| 2026-01-03 | BUILD-003 | Clean title | note a | note b |
| 2026-01-02 | BUILD-002 | Second build | plain |
| 2026-01-01 | BUILD-001 | First build | plain |

## BUILDS

### BUILD-003 | 2026-01-03 | {title}

Body three.

### BUILD-002 | 2026-01-02 | Second build

Body two.

### BUILD-001 | 2026-01-01 | First build

Body one.
"""


def test_sot022_ambiguous_left_alone() -> None:
    data = doc(NOTES.format(title="Something else entirely here"))
    found = [f for f in lint(data) if f.code == "SOT022"]
    assert len(found) == 1 and not found[0].fixable
    assert "ambiguous" in found[0].message
    result = fix(data)
    assert result.after == data
    assert [f for f in lint_ledger(parse(result.after)) if f.fixable] == []


def test_sot022_ambiguity_resolved_by_the_section_title() -> None:
    data = doc(NOTES.format(title="Clean title"))
    (finding,) = [f for f in lint(data) if f.code == "SOT022"]
    assert finding.fixable
    result = assert_fixed_properly(data, "BUILD", None)
    assert (
        lines_of(result.after)[6] == "| 2026-01-03 | BUILD-003 | Clean title | note a \\| note b |"
    )


def test_sot022_missing_cells_not_fixable() -> None:
    row = "| 2026-01-02 | BUILD-002 | Second build | Done |"
    data = doc(BASE.replace(row, "| 2026-01-02 | BUILD-002 | Second build |"))
    (finding,) = lint(data)
    assert finding.code == "SOT022" and not finding.fixable
    assert fix(data).after == data


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_sot024_row_added(newline: str) -> None:
    text = BASE.replace("| 2026-01-02 | BUILD-002 | Second build | Done |\n", "")
    data = doc(text, newline)
    (finding,) = lint(data)
    assert (finding.code, finding.entry_id) == ("SOT024", "BUILD-002")
    result = assert_fixed_properly(data, "BUILD", None)
    out = lines_of(result.after)
    assert out[17] == "| 2026-01-02 | BUILD-002 | Second build |  |"
    assert parse(result.after).table_rows[1].id == "BUILD-002"
    assert result.after.count(b"\r\n") == (result.after.count(b"\n") if newline == "\r\n" else 0)


def test_sot024_title_with_pipe_and_narrow_table() -> None:
    text = """\
# T

## INDEX

| Date | ID |
|---|---|
| 2026-01-01 | BUILD-001 |

## BUILDS

### BUILD-002 | 2026-01-02 | two

x

### BUILD-001 | 2026-01-01 | one

y
"""
    result = assert_fixed_properly(doc(text), "BUILD", None)
    rows = parse(result.after).table_rows
    assert [r.id for r in rows] == ["BUILD-002", "BUILD-001"]
    assert dict(result.repaired) == {"SOT024": 1}


def test_sot030_sot031_counts_recomputed() -> None:
    text = BASE.replace("Total_Builds: 3", "Total_Builds: 7")
    text = text.replace("3 build entries", "5 build entries (4 unique builds)")
    data = doc(text, "\r\n")
    found = lint(data)
    assert [(f.code, f.line) for f in found] == [("SOT030", 4), ("SOT031", 9)]
    result = assert_fixed_properly(data, "BUILD", None)
    out = lines_of(result.after)
    assert out[3].startswith("**Summary**: 3 build entries (3 unique builds) documented |")
    assert out[3].endswith("Last updated: 2026-01-03")
    assert out[8] == "Total_Builds: 3"
    assert out[:3] == lines_of(data)[:3] and out[9:] == lines_of(data)[9:]
    assert result.after.count(b"\n") == result.after.count(b"\r\n")


def test_counts_are_distinct_ids_after_the_other_repairs() -> None:
    # A glued copy of a table row, plus a section-only id: 4 distinct ids.
    text = BASE.replace(
        "Body one.\n", "Body one.| 2026-01-02 | BUILD-002 | Second build | Done |\n"
    )
    text = text.replace(
        "Body two.\n", "Body two.\n\n### BUILD-002.1 | 2026-01-02 | Hotfix\n\nFix.\n"
    )
    result = assert_fixed_properly(doc(text), "BUILD", None)
    after = parse(result.after)
    assert after.preamble.summary_counts == (4,)
    assert after.preamble.meta_value("Total_Builds") == "4"


@pytest.mark.parametrize(
    ("bad", "code", "reason"),
    [
        (b"Body two. \xff\xfe\n", "SOT001", "UTF-8"),
        (b"<<<<<<< HEAD\nBody two.\n=======\nBody 2.\n>>>>>>> other\n", "SOT002", "conflict"),
    ],
)
def test_refusals_leave_bytes_unchanged(bad: bytes, code: str, reason: str) -> None:
    # Many fixable problems as well, so that a refusal is visible as "nothing changed".
    data = doc(BASE.replace("Total_Builds: 3", "Total_Builds: 9"), "\r\n").replace(
        b"Body two.\r\n", bad
    )
    found = lint(data)
    assert code in codes(found)
    assert any(f.fixable for f in found)
    result = fix(data)
    assert result.after == data
    assert not result.changed
    assert result.repaired == ()
    assert result.refused is not None and reason in result.refused


def test_sot001_reports_line_and_offset() -> None:
    data = doc().replace(b"Body two.", b"Body \xff two.")
    (finding,) = [f for f in lint(data) if f.code == "SOT001"]
    assert finding.line == 29
    assert finding.col == len("Body ") + 1
    assert str(data.index(b"\xff")) in finding.message
    assert parse(data).render() == data


# --- new: next_id and add_entry --------------------------------------------------------------


def test_next_id_counts_sub_ids_and_duplicates() -> None:
    assert next_id("BUILD", {"BUILD-170.10", "BUILD-170", "BUILD-169"}) == "BUILD-171"
    assert next_id("BUILD", ["BUILD-170.10", "BUILD-170.10"], ["BUILD-012"]) == "BUILD-171"
    assert next_id("BUILD", ["BUILD-009"], ["BUILD-200"], []) == "BUILD-201"
    assert next_id("BUILD") == "BUILD-001"
    assert next_id("BUILD", ["DBG-999", "BUILD-x", "BUILD-1000x"]) == "BUILD-001"
    assert next_id("BUILD", ["BUILD-999"]) == "BUILD-1000"
    assert next_id("DBG", ["DBG-084", "DBG-085", "DBG-070"]) == "DBG-086"
    assert highest_number("BUILD", ["BUILD-170.10"]) == 170


def test_next_id_on_the_corpus() -> None:
    data = corpus_file("BUILD_HISTORY.md")
    ledger = parse(data, "BUILD")
    assert max(int(i.split("-")[1].split(".")[0]) for i in ledger.ids()) < int(
        next_id("BUILD", ledger.ids()).split("-")[1]
    )


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_add_entry_row_and_section_at_the_top(newline: str) -> None:
    data = doc(newline=newline)
    ledger = parse(data)
    new_id = next_id("BUILD", ledger.ids())
    assert new_id == "BUILD-004"
    out = add_entry(ledger, new_id, "Fourth | build", "2026-01-04", [("Status", "Done")])
    lines = lines_of(out)
    assert lines[16] == "| 2026-01-04 | BUILD-004 | Fourth \\| build | Done |"
    assert lines[17] == "| 2026-01-03 | BUILD-003 | Third build | Done |"
    assert lines[23] == "### BUILD-004 | 2026-01-04 | Fourth \\| build"
    assert "**Status**: Done" in lines[24:29]
    after = parse(out)
    assert after.entries[0].id == "BUILD-004"
    assert after.entries[0].title == "Fourth | build"
    assert after.table_rows[0].id == "BUILD-004"
    assert len(after.table_rows[0].cells) == 4
    # In the file's own line endings, and nothing else changed.
    if newline == "\r\n":
        assert out.count(b"\n") == out.count(b"\r\n")
    else:
        assert b"\r" not in out
    matcher = difflib.SequenceMatcher(None, lines_of(data), lines, autojunk=False)
    for tag, i1, i2, _j1, _j2 in matcher.get_opcodes():
        assert tag in ("equal", "insert") or all(
            re.match(r"\*\*Summary\*\*:|Total_Builds:", line) for line in lines_of(data)[i1:i2]
        )
    # The summary and META counts follow the new entry (no SOT030/SOT031 left behind).
    assert not {"SOT030", "SOT031"} & set(codes(lint(out)))
    assert "3 build entries" not in out.decode()


def test_add_entry_field_never_replaces_the_title() -> None:
    ledger = parse(doc())
    out = add_entry(ledger, "BUILD-004", "Fourth build", "2026-01-04", [("Title", "P1")])
    row = parse(out).table_rows[0]
    assert row.id == "BUILD-004"
    assert "Fourth build" in row.cells


def test_add_entry_oldest_first() -> None:
    ledger = parse(doc())
    out = add_entry(ledger, "BUILD-004", "Fourth", "2026-01-04", newest_first=False)
    lines = lines_of(out)
    assert lines[19] == "| 2026-01-04 | BUILD-004 | Fourth |  |"
    assert parse(out).entries[-1].id == "BUILD-004"


def test_add_entry_without_index_raises() -> None:
    text = "# Build History\n\n## BUILDS\n\n### BUILD-001 | 2026-01-01 | one\n\nx\n"
    with pytest.raises(LedgerError):
        add_entry(parse(doc(text)), "BUILD-002", "two", "2026-01-02")
    with pytest.raises(LedgerError):
        add_entry(parse(doc().replace(b"Body", b"\xff")), "BUILD-004", "x", "2026-01-04")
    with pytest.raises(UsageError):
        add_entry(parse(doc()), "BUILD-004", "   ", "2026-01-04")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_add_entry_to_a_skeleton(newline: str) -> None:
    skeleton = """\
# Build History

## INDEX

| Timestamp | BUILD-ID | Title | Status |
|-----------|----------|-------|--------|

## BUILDS (Reverse Chronological)
"""
    out = add_entry(parse(doc(skeleton, newline)), "BUILD-001", "First", "2026-01-01")
    lines = lines_of(out)
    assert lines[6] == "| 2026-01-01 | BUILD-001 | First |  |"
    heading = lines.index("## BUILDS (Reverse Chronological)")
    assert lines[heading + 1] == ""
    assert lines[heading + 2] == "### BUILD-001 | 2026-01-01 | First"
    after = parse(out)
    assert [e.id for e in after.entries] == ["BUILD-001"]
    assert [r.id for r in after.table_rows] == ["BUILD-001"]
    if newline == "\r\n":
        assert out.count(b"\n") == out.count(b"\r\n")
    # With blank lines after the heading and a trailer, the entry goes below the heading.
    trailer = skeleton + "\n\n---\nfooter\n"
    lines = lines_of(add_entry(parse(doc(trailer, newline)), "BUILD-001", "First", "2026-01-01"))
    heading = lines.index("## BUILDS (Reverse Chronological)")
    assert lines.index("### BUILD-001 | 2026-01-01 | First") < lines.index("---")
    assert lines.index("### BUILD-001 | 2026-01-01 | First") > heading


def test_add_entry_to_a_file_without_final_newline() -> None:
    data = doc(newline="\r\n")[:-2]
    out = add_entry(parse(data), "BUILD-004", "Fourth", "2026-01-04", newest_first=False)
    assert out.endswith(b"\r\n")
    assert out.count(b"\n") == out.count(b"\r\n")
    lines = lines_of(out)
    assert "Body one." in lines
    assert lines[lines.index("Body one.") + 1] == ""
    assert lines[lines.index("Body one.") + 2] == "### BUILD-004 | 2026-01-04 | Fourth"
    after = parse(out)
    assert after.entries[-1].id == "BUILD-004"
    assert [e.id for e in after.entries].count("BUILD-001") == 1


def test_add_entry_narrow_table_keeps_the_id() -> None:
    text = "# T\n\n## INDEX\n\n| Date | ID |\n|---|---|\n| 2026-01-01 | BUILD-001 |\n\n## B\n\n"
    text += "### BUILD-001 | 2026-01-01 | one\n\ny\n"
    out = add_entry(parse(doc(text)), "BUILD-002", "two", "2026-01-02")
    assert [r.id for r in parse(out).table_rows] == ["BUILD-002", "BUILD-001"]


def test_add_entry_on_the_corpus() -> None:
    data = corpus_file("DEBUG_LOG.md")
    ledger = parse(data, "DBG")
    new_id = next_id("DBG", ledger.ids())
    assert new_id == "DBG-086"
    out = add_entry(ledger, new_id, "A | B", "2026-02-05", [("Severity", "LOW")])
    after = parse(out, "DBG")
    assert after.table_rows[0].id == "DBG-086"
    assert after.table_rows[0].cells[:4] == ("2026-02-05", "DBG-086", "LOW", "A \\| B")
    assert after.entries[0].id == "DBG-086"
    assert after.entries[0].line < ledger.entries[0].line + 2
    assert after.ids() == ledger.ids() | {"DBG-086"}
