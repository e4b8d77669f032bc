"""``scan_blocks`` must give exactly the ``BlockMap`` of ``reference_blocks`` (markdown-it-py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sotsync.ledger.blocks import BlockMap, split_lines
from sotsync.ledger.lines import split_bytes
from sotsync.ledger.mdref import reference_blocks
from sotsync.ledger.scan import scan_blocks, scan_latin1

CORPUS = Path("/work/shared/corpus/autopack")
NAMES = ["ARCHITECTURE_DECISIONS.md", "BUILD_HISTORY.md", "DEBUG_LOG.md"]


def _read(name: str) -> str:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus file {path} missing")
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _reference(text: str) -> BlockMap:
    if not text:  # markdown-it-py's block parser returns no token list for ""
        return BlockMap((), (), ())
    return reference_blocks(text)


def check(text: str) -> None:
    expected = _reference(text)
    assert scan_blocks(split_lines(text)) == expected
    # The production path: the UTF-8 bytes' lines as Latin-1 text, with and without the
    # no-CR shortcut (when it applies), and the line list left as it was.
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form
        return
    raw = split_bytes(data, 0)[0]
    kept = list(raw)
    for lf_only in {False, "\r" not in text}:
        assert scan_latin1(raw, lf_only) == expected
        assert raw == kept


def _swap_endings(text: str) -> str:
    lf = text.replace("\r\n", "\n")
    return lf if "\r\n" in text else lf.replace("\n", "\r\n")


# -- corpus ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_corpus(name: str) -> None:
    check(_read(name))


@pytest.mark.parametrize("name", NAMES)
def test_corpus_swapped_endings(name: str) -> None:
    check(_swap_endings(_read(name)))


def test_corpus_concatenated() -> None:
    check("".join(_read(n) for n in NAMES))


def test_known_corpus_facts() -> None:
    arch = scan_blocks(split_lines(_read("ARCHITECTURE_DECISIONS.md")))
    fence = [c for c in arch.code_blocks if c.start == 1646]
    assert len(fence) == 1 and fence[0].end == 1697 and fence[0].fenced
    lines = split_lines(_read("ARCHITECTURE_DECISIONS.md"))
    assert lines[1650].startswith("### DEC-013")
    assert all(h.line != 1650 for h in arch.headings)

    build = scan_blocks(split_lines(_read("BUILD_HISTORY.md")))
    index = [t for t in build.tables if t.start == 16]
    assert len(index) == 1
    assert len(index[0].rows) == 213
    assert index[0].rows[0] == 16


# -- explicit cases and regressions ---------------------------------------------------------------

CASES = [
    "",
    " ",
    "\t\n",
    "a\n   ",
    "# x",
    "# BUILD-12 | 2025-01-01 | title ##\n",
    "#5 not\n####### seven\n# #\n#\ttab #\n",
    "Title\n=====\n\nSub\n---\n",
    "a\nb\n  ===  \n",
    "---\n***\n___\n- - -\n",
    "```python\ncode\n# not\n```\n",
    "~~~\n# hidden\n",
    "``` a`b\n# seen\n",
    "   ```\n    ```\n```\n",
    "    indented\n\n    more\n\n\nnext\n",
    "para\n    lazy\n",
    "| a | b |\n|---|:-:|\n| 1 | 2 |\nx | y\n\nafter\n",
    "| a \\| b |\n|---|\n| c |\n",
    "a | b\n-- | --\n",
    "para\n| a | b |\n|---|---|\n",
    "| a |\n|---|---|\n",
    "<!-- comment\n# hidden\n-->\n# shown\n",
    "<div>\n# hidden\n\n# shown\n",
    # Non-ASCII text: trimmed by Unicode rules, matched by Unicode regexes, decoded once.
    "# a\u00a0\n#\u00a0x\n##  \u2003é ✅ \u3000##\u00a0\n",
    "Tïtle\u00a0\n===\n\n\u00a0Sub\u2028\n---\n",
    "| é | ✅ |\u00a0\n|---|---|\n| \u00a0 | b\u2003|\n|\u00a0\n\u00a0|\n",
    "\u00a0| a |\n|---|\n",
    "| a |\n|---|\n| b \\|\n| c |é|\n|é|\n|\u00a0|\n| \\|\n|\n",
    "<div\u00a0x\n# hidden?\n\n<pre\u0085\n# x\n</pre>\n# y\n",
    "<a\u00a0href=x>\n# z\n\n<b>\u00a0\n# w\n",
    '[é]: /ü "t\u00a0"\n# h\n\n[\u00a0]: x\n',
    "# \x00x\n\x00\n===\n| \x00 |\n|---|\n",
    "> # é\u00a0\n> - ## ✅ \u2028\n",
    "\u0085# not a heading\n\u00a0   # nor this\n",
    "para\n<span>\n# x\n",
    "<span>\n# hidden\n\n# shown\n",
    "> # quoted\n> more\nlazy\n",
    "> ```\n> code\nlazy\n",
    "- item\n  # nested heading\n- ```\n  code\n  ```\n",
    "1. one\n2. two\n   ## h\n",
    "para\n2. not a list\n",
    "para\n1. list\n",
    "-\n\n  foo\n",
    "- a\n - b\n  - c\n   - d\n    - e\n",
    "[ref]: /url 'title'\n===\n",
    '[ref]:\n/url\n"title"\n# h\n',
    "[ref]: javascript:alert(1)\n===\n",
    ">\n\nfoo\n",
    "> ```\n>",
    "a\r\nb\r\n===\r\n",
    "\0# nul\n",
    "\t# tab\n\t\tcode\n",
    "> > > deep\n",
    "- " * 30 + "deep\n",
]


@pytest.mark.parametrize("text", CASES)
def test_cases(text: str) -> None:
    check(text)


# -- generated documents --------------------------------------------------------------------------

IDS = st.sampled_from(["BUILD-12", "DBG-080", "DEC-013", "BUILD-129.3", "x"])
INDENT = st.sampled_from(["", " ", "  ", "   ", "    ", "     ", "\t", " \t", "\t\t"])
TAIL = st.sampled_from(["", " ", "  ", "\t", " #", " ##  "])

LINE = st.one_of(
    st.builds(
        lambda i, h, x, t: f"{i}{'#' * h} {x} | 2025-01-0{h}{t}",
        INDENT,
        st.integers(1, 7),
        IDS,
        TAIL,
    ),
    st.sampled_from(["===", "---", "  ===  ", "-- -", "==", "= =", "***", "___", "* * *"]),
    st.builds(
        lambda i, f, info: f"{i}{f}{info}",
        INDENT,
        st.sampled_from(["```", "~~~", "````", "``", "~~~~"]),
        st.sampled_from(["", "python", " json ", "a`b", "~"]),
    ),
    st.builds(
        lambda i, a, b: f"{i}| {a} | {b} |",
        INDENT,
        IDS,
        st.sampled_from(["x", "a \\| b", "", "c | d"]),
    ),
    st.sampled_from(
        [
            "|---|---|",
            "| --- | :---: |",
            "---|---",
            "|:-|",
            "| - | - |",
            "--|--",
            "|---|",
            ":-: | -:",
            "a | b",
            "x|y|z",
        ]
    ),
    st.sampled_from(
        [
            "<!-- note",
            "-->",
            "<!-- one line -->",
            "<div>",
            "</div>",
            "<span>",
            "<pre>",
            "</pre>",
            "<?php",
            "?>",
            "<!DOCTYPE html>",
            "<![CDATA[",
            "]]>",
            "<a href='x'>",
            "< not html",
        ]
    ),
    st.builds(
        lambda i, m, x: f"{i}{m} {x}",
        INDENT,
        st.sampled_from(["-", "*", "+", "1.", "2)", "10.", "1)", "-\t"]),
        IDS,
    ),
    st.sampled_from(["-", "*", "1.", "- ", ">", "> ", ">>", "  >"]),
    st.builds(
        lambda i, q, x: f"{i}{q}{x}",
        INDENT,
        st.sampled_from(["> ", ">", "> > ", ">\t"]),
        st.sampled_from(["# q", "text", "- li", "```", "| a | b |", "|---|---|", ""]),
    ),
    st.builds(
        lambda i, x, t: f"{i}{x}{t}",
        INDENT,
        st.sampled_from(
            [
                "text",
                "**Bold**: value",
                "para with `code`",
                "[x]: /u",
                "[ref]: <a b> 'title'",
                "foo\\",
                "\u00a0",
            ]
        ),
        TAIL,
    ),
    st.just(""),
    st.just("   "),
)

DOC = st.builds(
    lambda lines, sep, end: sep.join(lines) + end,
    st.lists(LINE, max_size=14),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from(["", "\n"]),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOC)
def test_generated_documents(text: str) -> None:
    check(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("#`~>-*+_=|:.1 \t\n\r<!-[]\\ax")), max_size=80))
def test_markdown_alphabet(text: str) -> None:
    check(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text(text: str) -> None:
    check(text)


# -- fast paths: simple list items, inert paragraph lines, table rows -----------------------------

FAST_CASES = [
    "- a\n- b\n- c\n",
    "- **Fix**: x\n- **y**: z\n- *e* f\n- __init__ g\n- +x\n- --x\n",
    "- a\n   - b\n   - c\n- d\n   - e\n",
    "1. **X**: a\n   - b\n2. **Y**\n   - c\n\nafter\n",
    "1. a\n1) b\n2. c\n",
    "- a\n* b\n+ c\n1. d\n",
    "- a\n\n- b\n\n\n- c\n",
    "- a\n\n  b\n- c\n",
    "- a\n\n    code\n",
    "- a\n- - -\n- b\n",
    "- a\n-- b\n",
    "- a\n---\n",
    "- a\n  ---\n",
    "- a\n  -\n",
    "- a\n   -\n- b\n",
    "- a\n    - b\n- c\n",
    "- a\n     - b\n",
    "- a\n      - b\n",
    "- a\n  2. b\n  1. c\n",
    "- a\n  1. b\n- c\n",
    "- a\n   - b\n     - c\n- d\n",
    "- a\n   - b\n  - c\n",
    "- a\n   - b\n   * c\n",
    "- a\n   - b\n\n   c\n",
    "- a\n   - b\n\nc\n",
    "- a | b\n- --|--\n",
    "- a\n|---|\n",
    "- a | b\n  |---|---|\n",
    "- a\n- b | c\n|---|---|\n",
    "   - a\n    - b\n  - c\n",
    "> - a\n> - b\nlazy\n",
    "> - a\n- b\n",
    "> - a\n>    - b\n> - c\n",
    "123456789. a\n\n    123456789. b\n",
    "1. a\n\n    2. b\n",
    "- " * 17 + "a\n- b\n- c\n",
    "- " * 15 + "a\n" + "  " * 15 + " - b\n",
    "- a\n- b",
    "- a\n   - b",
    "- a\n\n",
    "-\ta\n- b\n",
    "-  a\n- b\n",
    "- a\n-\tb\n",
    "- a\n\t- b\n",
    "- [x]: /u\n- b\n",
    "- <div>\n- b\n",
    "- a\n- # h\n- ```\n",
    "**Title**: x\n**Status**: y\n|---|\n",
    "**a** | b\n|---|---|\n",
    "**a**\n- b\n**c**\n* d\n",
    "**a**\n***\n**b**\n___\n",
    "a\n**b\n| x |\n|---|\n",
    "*a\n* b\n_a\n__\n",
    "| a |\n|---|\n| b |\n> c\n",
    "| a |\n|---|\n| b |\n- c\n",
    "| a |\n|---|\n| b |\n    | c |\n",
    "| a |\n|---|\n|\n",
    # Simple items followed by nested bullets, then by a sibling (bullet or ordered) or not.
    "1. **X**: a\n   - b\n   - c\n2. **Y**: d\n3) e\n",
    "1. a\n   - b\n   * c\n2. d\n",
    "1. a\n   - b\n2. c\n   - d",
    "1. a\n   - b\n- c\n",
    "- a\n   - b\n   - c\n- d\n   - e\n- f\n",
    "- a\n   - b\n1. c\n",
    "1. a\n   - b\n    - c\n2. d\n",
    "10. a\n    - b\n11. c\n",
    "1. a\n   - b\n\n2. c\n",
    "> 1. a\n>    - b\n> 2. c\n",
    "1. a\n   - b\n  2. c\n",
    "1. a\n   - b\n   - --x\n2. c\n",
    "1. a\n   - **b**\n2. ```\n",
    "1. a\n   - b\n2.\n3. c\n",
    "1. a\n   - b\n2. # h\n",
    "- a\n   -  b\n- c\n",
    "- a\n   - b\n-\tc\n",
]


@pytest.mark.parametrize("text", FAST_CASES)
def test_fast_path_cases(text: str) -> None:
    check(text)
    check(text.replace("\n", "\r\n"))


FAST_INDENT = st.sampled_from(["", " ", "  ", "   ", "    ", "     ", "      ", "\t"])
FAST_CONTENT = st.sampled_from(
    [
        "The x",
        "**Fix**: y",
        "*a*",
        "**",
        "*",
        "--x",
        "__a",
        "+b",
        "- -",
        "-",
        "",
        " two",
        "# h",
        "| a | b |",
        "|---|---|",
        "```",
        "> q",
        "[r]: /u",
        "<div>",
        "1. n",
        "2) n",
    ]
)
FAST_LINE = st.one_of(
    st.builds(
        lambda i, m, x: f"{i}{m} {x}",
        FAST_INDENT,
        st.sampled_from(["-", "*", "+", "1.", "2.", "1)", "123456789."]),
        FAST_CONTENT,
    ),
    st.builds(lambda i, x: f"{i}{x}", FAST_INDENT, FAST_CONTENT),
    st.sampled_from(["", "", "   ", "---", "===", "|---|", "> - a", ">"]),
)
FAST_DOC = st.builds(
    lambda lines, sep: sep.join(lines) + sep,
    st.lists(FAST_LINE, max_size=12),
    st.sampled_from(["\n", "\r\n"]),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FAST_DOC)
def test_fast_path_documents(text: str) -> None:
    check(text)


def test_generated_ledger() -> None:
    genledger = pytest.importorskip("genledger") if _add_benchmarks_path() else None
    assert genledger is not None
    for crlf in (False, True):
        check(genledger.generate_ledger(400_000, seed=3, crlf=crlf).decode("utf-8"))


def _add_benchmarks_path() -> bool:
    import sys

    bench = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    return True


# -- markdown-it-py's tables, copied -------------------------------------------------------------


def test_copied_tables_equal_markdown_it() -> None:
    from markdown_it.common.html_blocks import block_names
    from markdown_it.common.html_re import HTML_OPEN_CLOSE_TAG_STR
    from markdown_it.common.utils import MD_TRIM_CHARS

    from sotsync.ledger import _scan_helpers as copied

    assert copied.TRIM_CHARS == MD_TRIM_CHARS
    assert list(copied.BLOCK_NAMES) == list(block_names)
    assert copied.HTML_OPEN_CLOSE_TAG_STR == HTML_OPEN_CLOSE_TAG_STR


def test_parsing_does_not_import_markdown_it() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from sotsync.ledger.parse import parse_ledger\n"
        "from sotsync.ledger.lint import lint_ledger\n"
        f"for name in {NAMES!r}:\n"
        f"    path = {str(CORPUS)!r} + '/' + name\n"
        "    parse_ledger(open(path, 'rb').read(), path, 'BUILD')\n"
        "parse_ledger(b'- a\\n- b\\n\\n| a | b |\\n| - | - |\\n', 'x', 'BUILD')\n"
        "assert 'markdown_it' not in sys.modules, sorted(sys.modules)\n"
    )
    if not CORPUS.exists():
        pytest.skip(f"corpus {CORPUS} missing")
    subprocess.run([sys.executable, "-c", script], check=True)


def test_reference_definition_needs_markdown_it_helpers() -> None:
    # The helpers are imported on the first ``[label]:``; make sure that path still runs.
    check("[a]: /url 'title'\n\n[b]:\n<x y>\n")
    check("[a]: <> \n[a]\n")
