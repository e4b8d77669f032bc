"""The entry-aware merge: unit rules, a hypothesis property, and real ``git merge`` runs."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GitRepo
from sotsync.ledger.lint import lint_ledger
from sotsync.ledger.merge import (
    MergeResult,
    alias_note,
    guess_prefix,
    merge_ledgers,
    whole_file_conflict,
)
from sotsync.ledger.new import add_entry, next_id
from sotsync.ledger.parse import Ledger, parse_ledger
from test_ledger_corpus import corpus_dir

PATH = "docs/BUILD_HISTORY.md"

HEAD = """# Build History

<!-- AUTO-GENERATED SUMMARY - DO NOT EDIT MANUALLY -->
**Summary**: {n} build entries documented | Last updated: 2026-01-01
<!-- END AUTO-GENERATED SUMMARY -->

<!-- META
Last_Updated: 2026-01-01T00:00:00Z
Total_Builds: {n}
-->

## INDEX (Chronological - {order})
| Timestamp | BUILD-ID | Summary |
|-----------|----------|---------|
{rows}
## BUILDS

{entries}"""

Item = tuple[int, str, str]  # number, title, body


def row(n: int, title: str) -> str:
    return f"| 2026-01-{n % 28 + 1:02d} | BUILD-{n:03d} | {title} |\n"


def section(n: int, title: str, body: str) -> str:
    return f"### BUILD-{n:03d} | 2026-01-{n % 28 + 1:02d} | {title}\n\n{body}\n\n"


def ledger(
    items: Sequence[Item],
    newline: str = "\n",
    newest_first: bool = True,
    rows_only: Sequence[tuple[int, str]] = (),
) -> bytes:
    """A small ledger; ``rows_only`` are INDEX rows without a section."""
    ordered = sorted(items, key=lambda i: i[0], reverse=newest_first)
    all_rows = sorted(
        [(n, t) for n, t, _ in items] + list(rows_only), key=lambda r: r[0], reverse=newest_first
    )
    text = HEAD.format(
        n=len(all_rows),
        order="Most Recent First" if newest_first else "Oldest First",
        rows="".join(row(n, t) for n, t in all_rows),
        entries="".join(section(*item) for item in ordered),
    )
    return text.replace("\n", newline).encode()


def merge(base: bytes, ours: bytes, theirs: bytes, newest_first: bool = True) -> MergeResult:
    return merge_ledgers(base, ours, theirs, PATH, "BUILD", newest_first)


def parse(data: bytes) -> Ledger:
    return parse_ledger(data, PATH, "BUILD")


def entry_ids(data: bytes) -> list[str]:
    return [e.id for e in parse(data).entries]


def row_ids(data: bytes) -> list[str | None]:
    return [r.id for r in parse(data).table_rows]


def section_text(data: bytes, ident: str) -> str:
    ledger = parse(data)
    entry = next(e for e in ledger.entries if e.id == ident)
    return "".join(ledger.lines[entry.line : entry.end])


BASE = [(1, "first build", "body one"), (2, "second build", "body two")]


# --------------------------------------------------------------------------- additions


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_additions_on_both_sides_are_kept_in_order(newline: str) -> None:
    base = ledger(BASE, newline)
    ours = ledger([*BASE, (3, "third build", "ours three")], newline)
    theirs = ledger([*BASE, (4, "fourth build", "theirs four"), (5, "fifth", "five")], newline)
    result = merge(base, ours, theirs)
    assert result.conflicts == 0 and result.renumbered == ()
    expected = ledger(
        [
            *BASE,
            (3, "third build", "ours three"),
            (4, "fourth build", "theirs four"),
            (5, "fifth", "five"),
        ],
        newline,
    )
    assert result.data == expected


def test_identical_additions_are_kept_once() -> None:
    added = (3, "third build", "the same text")
    base, ours = ledger(BASE), ledger([*BASE, added])
    result = merge(base, ours, ledger([*BASE, added]))
    assert result.conflicts == 0 and result.data == ours


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_same_id_added_differently_renumbers_theirs_with_alias(newline: str) -> None:
    base = ledger(BASE, newline)
    ours = ledger([*BASE, (3, "ours third", "ours text")], newline)
    theirs = ledger([*BASE, (3, "theirs third", "theirs text"), (4, "theirs fourth", "4")], newline)
    result = merge(base, ours, theirs)
    assert result.conflicts == 0
    assert result.renumbered == (("BUILD-003", "BUILD-005"),)
    assert entry_ids(result.data) == [
        "BUILD-005",
        "BUILD-004",
        "BUILD-003",
        "BUILD-002",
        "BUILD-001",
    ]
    assert row_ids(result.data) == entry_ids(result.data)
    moved = section_text(result.data, "BUILD-005")
    assert moved.replace(newline, "\n") == (
        f"### BUILD-005 | 2026-01-04 | theirs third\n\n{alias_note('BUILD-003')}\n\ntheirs text\n\n"
    )
    assert "ours text" in section_text(result.data, "BUILD-003")
    text = result.data.decode()
    assert "| 2026-01-04 | BUILD-005 | theirs third |" in text
    assert "Total_Builds: 5" in text and "**Summary**: 5 build entries" in text
    assert text.count("\r\n") == (text.count("\n") if newline == "\r\n" else 0)
    codes = {f.code for f in lint_ledger(parse(result.data))}
    assert not codes & {"SOT002", "SOT010", "SOT012", "SOT030", "SOT031", "SOT042"}


def test_result_keeps_our_line_endings_when_theirs_differ() -> None:
    base = ledger(BASE, "\r\n")
    ours = ledger([*BASE, (3, "third", "3")], "\r\n")
    theirs = ledger([(1, "first build", "body one!"), BASE[1], (4, "fourth", "4")], "\n")
    result = merge(base, ours, theirs)
    assert result.conflicts == 0
    expected = [(1, "first build", "body one!"), BASE[1], (3, "third", "3"), (4, "fourth", "4")]
    assert result.data == ledger(expected, "\r\n")


# --------------------------------------------------------------------------- changes


def test_change_on_one_side_is_taken() -> None:
    base = ledger(BASE)
    theirs = ledger([(1, "first build", "body one, corrected"), BASE[1]])
    ours = ledger([*BASE, (3, "third", "three")])
    result = merge(base, ours, theirs)
    assert result.conflicts == 0
    assert "body one, corrected" in section_text(result.data, "BUILD-001")
    assert entry_ids(result.data) == ["BUILD-003", "BUILD-002", "BUILD-001"]
    # and the other way round: our change stays when theirs left the entry alone
    result = merge(base, theirs, ours)
    assert result.conflicts == 0
    assert "body one, corrected" in section_text(result.data, "BUILD-001")


def test_row_change_on_one_side_is_taken() -> None:
    base = ledger(BASE)
    theirs = ledger([(1, "first build (done)", "body one"), BASE[1]])
    result = merge(base, ledger([*BASE, (3, "third", "3")]), theirs)
    assert result.conflicts == 0
    assert "| 2026-01-02 | BUILD-001 | first build (done) |" in result.data.decode()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_both_sides_change_one_entry_conflict_around_it_only(newline: str) -> None:
    base = ledger(BASE, newline)
    ours = ledger([BASE[0], (2, "second build", "ours edit"), (3, "third", "3")], newline)
    theirs = ledger([BASE[0], (2, "second build", "theirs edit")], newline)
    result = merge(base, ours, theirs)
    assert result.conflicts == 1
    text = result.data.decode().replace(newline, "\n")
    expected_block = (
        "<<<<<<< ours\n### BUILD-002 | 2026-01-03 | second build\n\nours edit\n"
        "=======\n### BUILD-002 | 2026-01-03 | second build\n\ntheirs edit\n>>>>>>> theirs\n\n"
        "### BUILD-001"
    )
    assert expected_block in text
    assert text.count("<<<<<<<") == 1 and text.count(">>>>>>>") == 1
    assert "### BUILD-003 | 2026-01-04 | third\n\n3\n\n<<<<<<< ours" in text
    assert result.data.count(b"\r\n") == (result.data.count(b"\n") if newline == "\r\n" else 0)


def test_deleted_on_one_side_and_unchanged_on_the_other_is_deleted() -> None:
    base = ledger([*BASE, (3, "third", "3")])
    ours = ledger([*BASE, (3, "third", "3"), (4, "fourth", "4")])
    theirs = ledger(BASE)
    result = merge(base, ours, theirs)
    assert result.conflicts == 0
    assert entry_ids(result.data) == ["BUILD-004", "BUILD-002", "BUILD-001"]
    assert row_ids(result.data) == ["BUILD-004", "BUILD-002", "BUILD-001"]
    # the deletion on our side stands too
    result = merge(base, theirs, ours)
    assert entry_ids(result.data) == ["BUILD-004", "BUILD-002", "BUILD-001"]
    assert "Total_Builds: 3" in result.data.decode()


def test_deleted_on_one_side_and_changed_on_the_other_conflicts() -> None:
    base = ledger([*BASE, (3, "third", "3")])
    ours = ledger([*BASE, (3, "third", "3 changed")])
    result = merge(base, ours, ledger(BASE))
    assert result.conflicts == 1
    assert "<<<<<<< ours\n### BUILD-003 | 2026-01-04 | third\n\n3 changed\n=======\n>>>>>>>" in (
        result.data.decode()
    )
    result = merge(base, ledger(BASE), ours)
    assert result.conflicts == 1
    assert "<<<<<<< ours\n=======\n### BUILD-003 | 2026-01-04 | third\n\n3 changed\n>>>>>>>" in (
        result.data.decode()
    )


def test_row_only_entries_follow_the_same_rules() -> None:
    base = ledger(BASE, rows_only=[(7, "seven")])
    ours = ledger(BASE, rows_only=[(7, "seven"), (8, "eight")])
    theirs = ledger(BASE, rows_only=[(9, "nine")])  # deleted 7, added 9
    result = merge(base, ours, theirs)
    assert result.conflicts == 0
    assert row_ids(result.data) == ["BUILD-009", "BUILD-008", "BUILD-002", "BUILD-001"]
    assert "Total_Builds: 4" in result.data.decode()


def test_oldest_first_ledgers_keep_their_order() -> None:
    base = ledger(BASE, newest_first=False)
    ours = ledger([*BASE, (3, "third", "3")], newest_first=False)
    theirs = ledger([*BASE, (4, "fourth", "4")], newest_first=False)
    result = merge(base, ours, theirs, newest_first=False)
    assert result.conflicts == 0
    assert result.data == ledger([*BASE, (3, "third", "3"), (4, "fourth", "4")], newest_first=False)


def test_ours_without_final_newline_and_entry_added_at_the_end() -> None:
    base = ledger(BASE, newest_first=False).rstrip(b"\n")
    ours = base.replace(b"body one", b"body one!")
    theirs = ledger([*BASE, (3, "third", "3")], newest_first=False)
    result = merge(base, ours, theirs, newest_first=False)
    assert result.conflicts == 0
    assert entry_ids(result.data) == ["BUILD-001", "BUILD-002", "BUILD-003"]
    assert result.data.endswith(b"body two\n\n### BUILD-003 | 2026-01-04 | third\n\n3\n")
    assert b"body one!" in result.data


def test_first_entries_of_an_empty_ledger() -> None:
    base = ledger([])
    result = merge(base, ledger([(1, "one", "1")]), ledger([(2, "two", "2")]))
    assert result.conflicts == 0
    assert result.data == ledger([(1, "one", "1"), (2, "two", "2")])


# --------------------------------------------------------------------------- corpus


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("BUILD_HISTORY", "BUILD"), ("DEBUG_LOG", "DBG"), ("ARCHITECTURE_DECISIONS", "DEC")],
)
def test_corpus_ledgers_merge_new_entries_and_change_nothing_else(name: str, prefix: str) -> None:
    data = (corpus_dir() / f"{name}.md").read_bytes()
    base = parse_ledger(data, name, prefix)
    taken = next_id(prefix, base.ids())
    ours = add_entry(base, taken, "ours entry title", "2026-02-01", [("Status", "done")])
    theirs = add_entry(base, taken, "theirs other title", "2026-02-02", [("Status", "wip")])
    result = merge_ledgers(data, ours, theirs, name, prefix)
    assert result.conflicts == 0
    (old, new), *_ = result.renumbered
    assert old == taken
    merged = parse_ledger(result.data, name, prefix)
    assert merged.ids() == parse_ledger(ours, name, prefix).ids() | {new}
    before = [f.fingerprint for f in lint_ledger(parse_ledger(ours, name, prefix))]
    after = [f.fingerprint for f in lint_ledger(merged)]
    assert sorted(before) == sorted(after)  # counts restated honestly, nothing new
    ours_lines = parse_ledger(ours, name, prefix).lines
    added = [line for line in merged.lines if line not in ours_lines]
    assert any(new in line for line in added) and any(alias_note(taken) in x for x in added)


# --------------------------------------------------------------------------- fallbacks


def test_trivial_merges_take_the_changed_side() -> None:
    base, changed = ledger(BASE), ledger([*BASE, (3, "t", "3")])
    assert merge(base, changed, base).data == changed
    assert merge(base, base, changed).data == changed
    assert merge(base, changed, changed).data == changed


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data.replace(b"body two", b"body \xff two"),
        lambda data: data.replace(b"body two", b"<<<<<<< HEAD\nbody two\n>>>>>>> x"),
    ],
    ids=["invalid-utf8", "conflict-markers"],
)
def test_unparsable_side_gives_one_whole_file_conflict(damage: Callable[[bytes], bytes]) -> None:
    base = ledger(BASE)
    ours = ledger([*BASE, (3, "t", "3")])
    theirs = damage(ledger([*BASE, (4, "f", "4")]))
    result = merge(base, ours, theirs)
    assert result.conflicts == 1
    assert result.data == b"<<<<<<< ours\n" + ours + b"=======\n" + theirs + b">>>>>>> theirs\n"


def test_whole_file_conflict_of_plain_text_and_guess_prefix() -> None:
    assert whole_file_conflict(b"a\n", b"b", b"c\n").data == (
        b"<<<<<<< ours\nb\n=======\nc\n>>>>>>> theirs\n"
    )
    assert guess_prefix(ledger(BASE)) == "BUILD"
    assert guess_prefix(b"# notes\n\nnothing here\n") is None


# --------------------------------------------------------------------------- property


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[bytes, bytes, bytes, list[Item], list[Item], str]:
    words = st.text(alphabet="abcdefgh ", min_size=1, max_size=12).map(lambda s: s.strip() or "x")
    numbers = draw(st.lists(st.integers(1, 30), max_size=6, unique=True))
    base_items = [(n, draw(words), draw(words)) for n in numbers]
    top = max(numbers, default=0)

    def additions() -> list[Item]:
        fresh = draw(st.lists(st.integers(top + 1, top + 6), max_size=4, unique=True))
        return [(n, draw(words), draw(words)) for n in fresh]

    ours_added, theirs_added = additions(), additions()
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return (
        ledger(base_items, newline),
        ledger(base_items + ours_added, newline),
        ledger(base_items + theirs_added, newline),
        ours_added,
        theirs_added,
        newline,
    )


_ALIAS = re.compile(r"\*\*Alias\*\*: was (BUILD-\d+) ")


def _originals(data: bytes) -> set[tuple[str, str]]:
    """(id, body) of every section, renumbered ones under their old id and without the alias."""
    ledger = parse(data)
    found = set()
    for entry in ledger.entries:
        lines = [line.rstrip("\r\n") for line in ledger.lines[entry.line + 1 : entry.end]]
        alias = next((m.group(1) for m in map(_ALIAS.match, lines) if m), None)
        body = "\n".join(x for x in lines if not _ALIAS.match(x)).strip()
        found.add((alias or entry.id, body))
    return found


def _bad(data: bytes) -> set[tuple[str, str | None]]:
    return {
        (f.code, f.entry_id) for f in lint_ledger(parse(data)) if f.code in ("SOT010", "SOT012")
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_merge_keeps_every_addition_and_adds_no_duplicate(
    scenario: tuple[bytes, bytes, bytes, list[Item], list[Item], str],
) -> None:
    base, ours, theirs, ours_added, theirs_added, _newline = scenario
    result = merge(base, ours, theirs)
    assert result.conflicts == 0
    assert merge(base, ours, theirs) == result
    kept = _originals(result.data)
    for n, _title, body in [*ours_added, *theirs_added]:
        assert (f"BUILD-{n:03d}", body) in kept
    assert _bad(result.data) <= _bad(ours) | _bad(theirs)
    merged = parse(result.data)
    ids = [e.id for e in merged.entries]
    assert ids == sorted(ids, key=lambda i: int(i.split("-")[1]), reverse=True)
    assert [r.id for r in merged.table_rows] == ids


# --------------------------------------------------------------------------- real git


def _setup(repo: GitRepo) -> None:
    driver = f"{sys.executable} -m sotsync merge-driver %O %A %B %P"
    repo.git("config", "merge.sotsync.name", "sotsync entry merge")
    repo.git("config", "merge.sotsync.driver", driver)
    repo.commit({".gitattributes": "docs/*.md merge=sotsync\n", PATH: ledger(BASE)}, "base")


def _merge(repo: GitRepo) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "merge", "--no-edit", "feature"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_git_merge_uses_the_driver(make_repo: Callable[..., GitRepo]) -> None:
    repo = make_repo()
    _setup(repo)
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit({PATH: ledger([*BASE, (3, "feature three", "f3"), (4, "feature four", "f4")])})
    repo.git("checkout", "-q", "main")
    repo.commit({PATH: ledger([*BASE, (3, "main three", "m3")])})
    proc = _merge(repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BUILD-003 was added on both sides; theirs is now BUILD-005" in proc.stdout + proc.stderr
    data = (repo.path / PATH).read_bytes()
    assert entry_ids(data) == ["BUILD-005", "BUILD-004", "BUILD-003", "BUILD-002", "BUILD-001"]
    assert row_ids(data) == entry_ids(data)
    assert "m3" in section_text(data, "BUILD-003")
    assert alias_note("BUILD-003") in section_text(data, "BUILD-005")
    assert "f4" in section_text(data, "BUILD-004")
    text = data.decode()
    assert "Total_Builds: 5" in text and "**Summary**: 5 build entries" in text
    assert repo.git("status", "--porcelain") == ""


def test_git_merge_conflicts_around_the_entry_edited_on_both_sides(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    repo = make_repo()
    _setup(repo)
    repo.git("checkout", "-q", "-b", "feature")
    feature = ledger([BASE[0], (2, "second build", "feature edit")])
    repo.commit({PATH: feature})
    repo.git("checkout", "-q", "main")
    main = ledger([BASE[0], (2, "second build", "main edit"), (3, "third", "3")])
    repo.commit({PATH: main})
    proc = _merge(repo)
    assert proc.returncode == 1
    assert f"CONFLICT (content): Merge conflict in {PATH}" in proc.stdout
    text = (repo.path / PATH).read_text()
    assert text.count("<<<<<<< ours") == 1 and text.count(">>>>>>> theirs") == 1
    conflict = text[text.index("<<<<<<<") : text.index(">>>>>>>")]
    assert "main edit" in conflict and "feature edit" in conflict
    assert "BUILD-001" not in conflict and "BUILD-003" not in conflict

    # the driver itself, called as git calls it, exits 1
    base_file, ours_file, theirs_file = (tmp_path / n for n in ("o", "a", "b"))
    base_file.write_bytes(ledger(BASE))
    ours_file.write_bytes(main)
    theirs_file.write_bytes(feature)
    driver = subprocess.run(
        [sys.executable, "-m", "sotsync", "merge-driver", "o", "a", "b", PATH],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert driver.returncode == 1, driver.stderr
    assert driver.stderr == f"sotsync: {PATH}: 1 conflict(s) to resolve\n"
    assert ours_file.read_text() == text


def test_driver_on_a_file_that_is_not_a_ledger(tmp_path: Path) -> None:
    for name, content in (("o", b"one\n"), ("a", b"two\n"), ("b", b"three\n")):
        (tmp_path / name).write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "sotsync", "merge-driver", "o", "a", "b", "notes.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "a").read_bytes() == b"<<<<<<< ours\ntwo\n=======\nthree\n>>>>>>> theirs\n"


def test_a_row_added_on_their_side_when_ours_has_no_index_table_becomes_a_conflict() -> None:
    # Found by the stress fuzzer: this used to fail an internal assertion.
    head = (
        b"\xef\xbb\xbf# Build History\n\n<!-- AUTO-GENERATED SUMMARY - DO NOT EDIT MANUALLY -->\n"
        b"**Summary**: 0 build entries documented | Last updated: x\n"
        b"<!-- END AUTO-GENERATED SUMMARY -->\n\n<!-- META\nTotal_Builds: 0\n-->\n\n"
    )
    table = b"## INDEX\n\n| Timestamp | BUILD-ID |\n|---|---|\n"
    base = (
        head
        + table
        + (
            b"| 2026-01-01 | BUILD-002\n"
            b"| 2026-01-01 | BUILD-001 | 2026-01-01 | BUILD-001\n\n## BUILDS"
        )
    )
    ours = head + b"## BUILDS\n\n### BUILD-001 | 2026-01-01 | fix"  # dropped the table
    theirs = head + table + b"| 2026-01-01 | BUILD-001\n\n## BUILDS"
    result = merge(base, ours, theirs)
    assert result.conflicts == 1
    assert result.data.endswith(
        b"## BUILDS\n\n<<<<<<< ours\n=======\n| 2026-01-01 | BUILD-001\n>>>>>>> theirs\n"
        b"### BUILD-001 | 2026-01-01 | fix"
    )
