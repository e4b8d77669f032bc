"""The benchmark ledger generator is deterministic, sized, and parses as it claims."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from genledger import generate_ledger, generate_ledger_with_stats

TARGET = 200_000
_ID_HEADING = re.compile(r"^(BUILD-\d+(?:\.\d+)*)\b")


def _id_key(entry_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in entry_id.split("-", 1)[1].split("."))


def _parse(data: bytes) -> tuple[list[str], list[int]]:
    """Return (ids of id headings, cell count of each INDEX body row) per markdown-it-py."""
    tokens = MarkdownIt("commonmark").enable("table").parse(data.decode("utf-8"))
    heading_ids: list[str] = []
    index_row_cells: list[int] = []
    in_index = False
    seen_index_table = False
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            content = tokens[i + 1].content
            in_index = content.startswith("INDEX")
            match = _ID_HEADING.match(content)
            if match:
                heading_ids.append(match.group(1))
        elif tok.type == "table_open" and in_index and not seen_index_table:
            seen_index_table = True
            j = i
            in_body = False
            while tokens[j].type != "table_close":
                if tokens[j].type == "tbody_open":
                    in_body = True
                elif tokens[j].type == "tr_open" and in_body:
                    index_row_cells.append(0)
                elif tokens[j].type == "td_open":
                    index_row_cells[-1] += 1
                j += 1
    return heading_ids, index_row_cells


def test_deterministic_and_seed_sensitive() -> None:
    first = generate_ledger(TARGET)
    assert generate_ledger(TARGET) == first
    assert generate_ledger(TARGET, seed=0) == first
    assert generate_ledger(TARGET, seed=1) != first


def test_size_close_to_target() -> None:
    for target in (50_000, TARGET, 500_000):
        data = generate_ledger(target, seed=3)
        assert abs(len(data) - target) <= target // 100


def test_parses_with_expected_headings_and_rows() -> None:
    data, stats = generate_ledger_with_stats(TARGET, seed=0)
    assert len(data) == stats.bytes
    text = data.decode("utf-8")
    assert "\r" not in text
    assert text.startswith("# Build History - Implementation Log\n")
    assert f"Total_Builds: {stats.entries}\n" in text
    assert f"**Summary**: {stats.entries} build entries" in text

    heading_ids, row_cells = _parse(data)
    assert stats.entries > 20
    assert len(heading_ids) == stats.entries == len(stats.ids)
    assert heading_ids == stats.ids
    assert len(set(heading_ids)) == len(heading_ids)
    keys = [_id_key(entry_id) for entry_id in heading_ids]
    assert keys == sorted(keys, reverse=True)  # newest first, BUILD-7.10 above BUILD-7.9
    assert len(row_cells) == stats.index_rows == stats.entries
    assert set(row_cells) == {5}  # escaped \| never splits a cell

    # The shapes the generator promises are actually there.
    assert stats.code_blocks > 0 and stats.code_hash_lines > 0
    assert stats.tables_in_entries > 0
    assert stats.escaped_pipe_rows > 0 and "\\|" in text
    assert len(stats.heading_styles) >= 5
    # `# BUILD-NNN: ...` comments inside code blocks look like headings but are not entries.
    lines = text.split("\n")
    assert any(re.match(r"# BUILD-\d+: ", line) for line in lines)
    assert sum(1 for line in lines if re.match(r"#{2,3} BUILD-\d", line)) == len(heading_ids)


@pytest.mark.parametrize("seed", [0, 5])
def test_crlf_variant(seed: int) -> None:
    data, stats = generate_ledger_with_stats(60_000, seed=seed, crlf=True)
    lf = generate_ledger(60_000, seed=seed, crlf=False)
    text = data.decode("utf-8")
    assert text.count("\n") == text.count("\r\n") == stats.lines
    assert abs(len(data) - 60_000) <= 600
    heading_ids, row_cells = _parse(data)
    assert heading_ids == stats.ids
    assert len(row_cells) == stats.entries
    # Same content modulo line endings (the byte budget may change where generation stops).
    lf_ids, _ = _parse(lf)
    common = min(len(lf_ids), len(heading_ids))
    assert lf_ids[-common:] == heading_ids[-common:]
