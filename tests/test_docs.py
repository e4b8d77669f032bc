"""The documentation covers every finding code and every command (and agrees with the catalogue)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sotsync.cli import cli
from sotsync.ledger.lint import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FINDINGS = ROOT / "docs" / "findings.md"
CODES = [code.code for code in CATALOGUE]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("code", CODES)
def test_every_code_is_in_the_readme(code: str) -> None:
    assert re.search(rf"\b{code}\b", _text(README)), f"{code} is missing from README.md"


@pytest.mark.parametrize("code", CODES)
def test_every_code_has_a_section_in_findings_md(code: str) -> None:
    text = _text(FINDINGS)
    assert re.search(rf"\b{code}\b", text), f"{code} is missing from docs/findings.md"
    assert re.search(rf"^#+ {code}\b", text, re.M), f"docs/findings.md has no heading for {code}"


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_is_in_the_readme(name: str) -> None:
    assert f"sotsync {name}" in _text(README), f"`sotsync {name}` is missing from README.md"


def test_no_unknown_codes_in_the_docs() -> None:
    known = set(CODES)
    for path in (README, FINDINGS):
        mentioned = set(re.findall(r"\bSOT\d{3}\b", _text(path)))
        assert mentioned <= known, f"{path.name} mentions unknown codes {sorted(mentioned - known)}"


def test_readme_findings_table_matches_the_catalogue() -> None:
    rows = {
        match.group(1): (match.group(2).strip(), match.group(3).strip())
        for match in re.finditer(
            r"^\| (SOT\d{3}) \|.*\| (error|warning|info) \| ([^|]+) \|$", _text(README), re.M
        )
    }
    assert sorted(rows) == sorted(CODES)
    for code in CATALOGUE:
        severity, fixable = rows[code.code]
        assert severity == code.severity, code.code
        assert fixable.startswith(code.fixable), f"{code.code}: README says {fixable!r}"


def test_findings_md_summary_table_matches_the_catalogue() -> None:
    rows = {
        match.group(1): (match.group(2), match.group(3).strip())
        for match in re.finditer(
            r"^\| \[(SOT\d{3})\]\(#sot\d{3}\) \| (error|warning|info) \| ([^|]+) \|$",
            _text(FINDINGS),
            re.M,
        )
    }
    assert sorted(rows) == sorted(CODES)
    for code in CATALOGUE:
        assert rows[code.code] == (code.severity, code.fixable), code.code
