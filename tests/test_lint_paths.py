"""SOT050: machine-specific absolute paths, found by substring search and confirmed by regex."""

from __future__ import annotations

import pytest

from sotsync.ledger.lint import lint_ledger
from sotsync.ledger.parse import parse_ledger


def paths(body: str, newline: str = "\n") -> list[tuple[int, int, str]]:
    data = body.replace("\n", newline).encode("utf-8")
    findings = lint_ledger(parse_ledger(data, "docs/BUILD_HISTORY.md", "BUILD"))
    return [(f.line, f.col, f.message) for f in findings if f.code == "SOT050"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_each_kind_of_path_with_its_line_and_column(newline: str) -> None:
    body = (
        "# Build History\n"
        "see C:/dev/Autopack/src/a.py for details\n"
        "https://example.com/home/page is a URL\n"
        "- log in C:\\Users\\ann\\app.log\n"
        "ok: /home/ann/work/x.py and /Users/bob/y.py\n"
        "plain text with no path: ratio 3:/4\n"
    )
    assert paths(body, newline) == [
        (2, 5, "machine-specific absolute path 'C:/dev/Autopack/src/a.py'"),
        (4, 10, "machine-specific absolute path 'C:\\\\Users\\\\ann\\\\app.log'"),
        (5, 5, "machine-specific absolute path '/home/ann/work/x.py'"),
    ]


def test_urls_and_words_are_not_paths() -> None:
    body = "# T\nhttps://host/x and sftp://h/home and xC:/dev/a and é.C:/dev\n"
    assert paths(body) == []


def test_one_finding_per_line_and_non_ascii_before_the_path() -> None:
    body = "# T\n✅ C:/dev/a.py then C:/dev/b.py\n"
    assert paths(body) == [(2, 3, "machine-specific absolute path 'C:/dev/a.py'")]
