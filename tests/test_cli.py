"""The command line end to end: exit codes and exact messages (SPEC §1, §2, §8).

Most tests call ``sotsync.cli.run`` in-process and read stdout/stderr with ``capsys``; the ones
that must prove that no traceback reaches a user run ``python -m sotsync`` in a subprocess.
Every repository is a real git repository in ``tmp_path``; the demo workspace and the Autopack
corpus are copied, never touched in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest

from conftest import GitRepo
from sotsync import __version__, cli
from sotsync.ledger.parse import parse_ledger

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "autopack-demo"
CORPUS = ROOT.parent / "shared" / "corpus" / "autopack"
LEDGERS = ("docs/BUILD_HISTORY.md", "docs/DEBUG_LOG.md", "docs/ARCHITECTURE_DECISIONS.md")
TEXT_LINE = re.compile(r"^[^:\n]+:\d+:\d+: SOT\d{3} \S.*$")

MakeRepo = Callable[..., GitRepo]
Result = tuple[int, str, str]


# ------------------------------------------------------------------------------ helpers


def run_module(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m sotsync ARGS`` in a fresh interpreter (the git_env fixture's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "sotsync", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr
    assert "Traceback" not in proc.stdout


def snapshot(repo: GitRepo) -> dict[str, str]:
    """SHA-256 of every file of the work tree (outside .git)."""
    return {
        p.relative_to(repo.path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(repo.path.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo.path).parts
    }


def temp_leftovers(repo: GitRepo) -> list[str]:
    return sorted(p.name for p in repo.path.rglob("*") if ".sotsync-tmp-" in p.name)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def demo(make_repo: MakeRepo) -> GitRepo:
    """A git repository holding a copy of examples/autopack-demo (BUILD_HISTORY with CRLF)."""
    repo = make_repo("demo")
    shutil.copytree(DEMO, repo.path, dirs_exist_ok=True)
    build = repo.path / "docs" / "BUILD_HISTORY.md"
    build.write_bytes(crlf(build.read_bytes()))
    return repo


@pytest.fixture
def corpus(make_repo: MakeRepo) -> GitRepo:
    """The real Autopack ledgers, committed (no .gitattributes, so the bytes stay as they are)."""
    repo = make_repo("corpus")
    (repo.path / "docs").mkdir()
    for name in ("BUILD_HISTORY.md", "DEBUG_LOG.md", "ARCHITECTURE_DECISIONS.md"):
        shutil.copyfile(CORPUS / name, repo.path / "docs" / name)
    repo.commit(message="corpus")
    return repo


@pytest.fixture
def fresh(make_repo: MakeRepo, sot: Callable[..., Result]) -> GitRepo:
    """An empty git repository set up by ``sotsync init`` (clean ledgers)."""
    repo = make_repo("fresh")
    code, _, _ = sot("--repo", repo.path, "init")
    assert code == 0
    return repo


# ------------------------------------------------------------------------------ bad input


def test_binary_file_as_ledger(make_repo: MakeRepo, sot: Callable[..., Result]) -> None:
    repo = make_repo()
    repo.write({"docs/BUILD_HISTORY.md": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256))})
    message = (
        "sotsync: error: docs/BUILD_HISTORY.md looks like a binary file (NUL byte at offset 8),"
        " not a ledger\nhint: point the ledger configuration at the Markdown file\n"
    )
    for command in (["lint"], ["fix"], ["inspect"], ["lint", "build"], ["new", "build"]):
        extra = ["--title", "x"] if command[0] == "new" else []
        assert sot("--repo", repo.path, *command, *extra) == (3, "", message)
    proc = run_module("lint", "docs/BUILD_HISTORY.md", cwd=repo.path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "", message)


def test_empty_ledger_is_a_warning(make_repo: MakeRepo, sot: Callable[..., Result]) -> None:
    repo = make_repo()
    repo.write({"docs/BUILD_HISTORY.md": b""})
    assert sot("--repo", repo.path, "lint") == (
        0,
        "docs/BUILD_HISTORY.md:1:1: SOT005 ledger is empty\n",
        "1 finding(s) in 1 ledger(s), 0 at or above error\n",
    )
    code, _, err = sot("--repo", repo.path, "lint", "--fail-on", "warning")
    assert (code, err) == (1, "1 finding(s) in 1 ledger(s), 1 at or above warning\n")


def test_huge_single_line_file(make_repo: MakeRepo) -> None:
    repo = make_repo()
    size = 100 * 1024 * 1024
    repo.write({"docs/BUILD_HISTORY.md": b"x" * size})
    start = time.monotonic()
    proc = run_module("lint", cwd=repo.path)
    elapsed = time.monotonic() - start
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "docs/BUILD_HISTORY.md:1:1: SOT004 no newline at end of file",
        f"docs/BUILD_HISTORY.md:1:1: SOT006 line is {size:,} characters long",
        "docs/BUILD_HISTORY.md:1:1: SOT026 no INDEX table (expected a `## INDEX` heading"
        " and a table)",
    ]
    assert proc.stderr == "3 finding(s) in 1 ledger(s), 0 at or above error\n"
    assert elapsed < 40, f"lint of a 100 MB line took {elapsed:.1f} s"


def test_long_line_length_excludes_the_line_ending(
    make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    repo = make_repo()
    repo.write({"docs/BUILD_HISTORY.md": b"# Build\r\n" + b"x" * 1_000_000 + b"\r\n"})
    code, out, _ = sot("--repo", repo.path, "lint", "--select", "SOT006")
    assert (code, out) == (0, "")  # exactly 1,000,000 characters is not longer than the limit


def test_conflict_markers(demo: GitRepo, sot: Callable[..., Result]) -> None:
    path = demo.path / "docs" / "DEBUG_LOG.md"
    conflicted = path.read_bytes() + (
        b"<<<<<<< HEAD\n| 2026-02-10 | DBG-009 | LOW | ours | Open |\n=======\n"
        b"| 2026-02-10 | DBG-009 | LOW | theirs | Open |\n>>>>>>> feature\n"
    )
    path.write_bytes(conflicted)
    code, out, _ = sot("--repo", demo.path, "lint", "debug", "--select", "SOT002")
    assert (code, out) == (
        1,
        "docs/DEBUG_LOG.md:144:1: SOT002 merge-conflict marker '<<<<<<<'\n"
        "docs/DEBUG_LOG.md:148:1: SOT002 merge-conflict marker '>>>>>>>'\n",
    )
    before = snapshot(demo)
    for args in (["fix", "debug"], ["fix", "--dry-run", "debug"]):
        assert sot("--repo", demo.path, *args) == (
            1,
            "",
            "docs/DEBUG_LOG.md: left unchanged: it has merge-conflict markers\n",
        )
    assert path.read_bytes() == conflicted
    assert snapshot(demo) == before
    code, out, _ = sot("--repo", demo.path, "fix", "--format", "json", "debug")
    assert code == 1
    assert json.loads(out)["ledgers"] == [
        {
            "path": "docs/DEBUG_LOG.md",
            "changed": False,
            "repaired": {},
            "refused": "left unchanged: it has merge-conflict markers",
        }
    ]


def test_bom_round_trips_and_fix_removes_it(fresh: GitRepo, sot: Callable[..., Result]) -> None:
    path = fresh.path / "docs" / "DEBUG_LOG.md"
    plain = path.read_bytes()
    with_bom = b"\xef\xbb\xbf" + plain
    path.write_bytes(with_bom)
    assert parse_ledger(with_bom, "docs/DEBUG_LOG.md", "DBG").render() == with_bom
    assert sot("--repo", fresh.path, "lint") == (
        0,
        "docs/DEBUG_LOG.md:1:1: SOT007 file starts with a UTF-8 byte-order mark\n",
        "1 finding(s) in 3 ledger(s), 0 at or above error\n",
    )
    code, out, _ = sot("--repo", fresh.path, "inspect", "--format", "json", "debug")
    report = json.loads(out)["ledgers"][0]
    assert (code, report["bom"], report["bytes"]) == (0, True, len(with_bom))
    assert report["preamble"]["title"] == "Debug Log - Problem Solving History"
    assert path.read_bytes() == with_bom  # reading changes nothing
    assert sot("--repo", fresh.path, "fix") == (
        0,
        "",
        "docs/BUILD_HISTORY.md: nothing to fix\n"
        "docs/DEBUG_LOG.md: repaired SOT007 x1\n"
        "docs/ARCHITECTURE_DECISIONS.md: nothing to fix\n",
    )
    assert path.read_bytes() == plain


def test_new_keeps_a_bom(fresh: GitRepo, sot: Callable[..., Result]) -> None:
    path = fresh.path / "docs" / "DEBUG_LOG.md"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert sot("--repo", fresh.path, "new", "debug", "--title", "t", "--date", "2026-02-01")[
        :2
    ] == (0, "DBG-001\n")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf# Debug Log")
    assert path.read_bytes().count(b"\xef\xbb\xbf") == 1


def test_directory_as_ledger(demo: GitRepo, sot: Callable[..., Result]) -> None:
    assert sot("--repo", demo.path, "lint", "docs") == (
        3,
        "",
        "sotsync: error: docs is a directory, not a ledger\n"
        "hint: name a configured ledger or give the path of a Markdown file\n",
    )
    (demo.path / "docs" / "DEBUG_LOG.md").unlink()
    (demo.path / "docs" / "DEBUG_LOG.md").mkdir()
    for command in ("lint", "fix", "inspect"):
        assert sot("--repo", demo.path, command) == (
            3,
            "",
            "sotsync: error: docs/DEBUG_LOG.md is a directory, not a ledger file\n"
            "hint: point the ledger path in the configuration at a Markdown file\n",
        )


def test_missing_ledger_by_path_and_by_name(demo: GitRepo, sot: Callable[..., Result]) -> None:
    assert sot("--repo", demo.path, "lint", "docs/NOPE.md") == (
        3,
        "",
        "sotsync: error: unknown ledger 'docs/NOPE.md' (known: build, debug, decisions)\n"
        "hint: name a configured ledger, or give the path of an existing Markdown file\n",
    )
    (demo.path / "docs" / "DEBUG_LOG.md").unlink()
    message = (
        "sotsync: error: ledger 'debug' (docs/DEBUG_LOG.md, from defaults) does not exist\n"
        "hint: create it with `sotsync init` or correct its path in the configuration\n"
    )
    assert sot("--repo", demo.path, "lint", "debug") == (3, "", message)
    assert sot("--repo", demo.path, "lint", "docs/DEBUG_LOG.md") == (3, "", message)
    assert sot("--repo", demo.path, "new", "debug", "--title", "x") == (3, "", message)
    # Zero config: a missing default ledger is skipped when no ledger is named.
    code, _, err = sot("--repo", demo.path, "lint")
    assert (code, err.splitlines()[-1]) == (1, "12 finding(s) in 2 ledger(s), 4 at or above error")


@pytest.mark.parametrize(
    ("config_file", "content", "source"),
    [
        (
            ".sotsync.toml",
            '[[ledgers]]\nname = "ops"\npath = "docs/OPS.md"\nprefix = "OPS"\n'
            'file_type = "debug_log"\n',
            ".sotsync.toml",
        ),
        (
            "pyproject.toml",
            '[project]\nname = "x"\n\n[[tool.sotsync.ledgers]]\nname = "ops"\n'
            'path = "docs/OPS.md"\nprefix = "OPS"\nfile_type = "debug_log"\n',
            "pyproject.toml [tool.sotsync]",
        ),
    ],
)
def test_config_names_a_missing_ledger(
    demo: GitRepo, sot: Callable[..., Result], config_file: str, content: str, source: str
) -> None:
    (demo.path / ".sotsync.toml").unlink()  # the demo's own config would take precedence
    demo.write({config_file: content})
    message = (
        f"sotsync: error: ledger 'ops' (docs/OPS.md, from {source}) does not exist\n"
        "hint: create it with `sotsync init` or correct its path in the configuration\n"
    )
    for command in (["lint"], ["fix"], ["inspect"], ["new", "ops", "--title", "x"]):
        assert sot("--repo", demo.path, *command) == (3, "", message)
    proc = run_module("lint", cwd=demo.path)
    assert (proc.returncode, proc.stderr) == (3, message)


def test_unreadable_ledger(demo: GitRepo) -> None:
    path = demo.path / "docs" / "DEBUG_LOG.md"
    path.chmod(0)
    command = [sys.executable, "-m", "sotsync", "--repo", str(demo.path), "lint", "debug"]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot test permission errors")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    finally:
        path.chmod(0o644)
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        3,
        "",
        "sotsync: error: cannot read docs/DEBUG_LOG.md: permission denied\n"
        "hint: check the file's permissions and owner\n",
    )


def test_invalid_utf8(fresh: GitRepo, sot: Callable[..., Result]) -> None:
    path = fresh.path / "docs" / "ARCHITECTURE_DECISIONS.md"
    data = path.read_bytes()
    bad_at = data.index(b"Decisions - Design")
    broken = data[:bad_at] + b"\xff\xfe" + data[bad_at:]
    path.write_bytes(broken)
    line = data[:bad_at].count(b"\n") + 1
    col = bad_at - data.rfind(b"\n", 0, bad_at)
    assert (line, col) == (1, 16)
    assert sot("--repo", fresh.path, "lint", "decisions") == (
        1,
        f"docs/ARCHITECTURE_DECISIONS.md:{line}:{col}: SOT001 file is not valid UTF-8"
        f" (byte offset {bad_at})\n",
        "1 finding(s) in 1 ledger(s), 1 at or above error\n",
    )
    assert sot("--repo", fresh.path, "fix", "decisions") == (
        1,
        "",
        "docs/ARCHITECTURE_DECISIONS.md: left unchanged: it is not valid UTF-8\n",
    )
    assert sot("--repo", fresh.path, "new", "decisions", "--title", "x") == (
        3,
        "",
        "sotsync: error: docs/ARCHITECTURE_DECISIONS.md is not valid UTF-8;"
        " refusing to add an entry\nhint: run `sotsync lint` to find the bad bytes\n",
    )
    assert path.read_bytes() == broken
    proc = run_module("lint", cwd=fresh.path)
    assert_no_traceback(proc)
    assert proc.returncode == 1


@pytest.mark.parametrize(
    ("config_file", "content", "display"),
    [
        (".sotsync.toml", "ledgers = [\n", ".sotsync.toml"),
        ("pyproject.toml", "[tool.sotsync]\ndevice = \n", "pyproject.toml"),
    ],
)
def test_invalid_toml_config(
    demo: GitRepo, sot: Callable[..., Result], config_file: str, content: str, display: str
) -> None:
    (demo.path / ".sotsync.toml").unlink()  # the demo's own config would take precedence
    demo.write({config_file: content})
    code, out, err = sot("--repo", demo.path, "lint")
    assert (code, out) == (3, "")
    first, hint = err.splitlines()
    assert first.startswith(f"sotsync: error: {display}: invalid TOML: ")
    assert hint == f"hint: fix the syntax of {display}"
    proc = run_module("inspect", cwd=demo.path)
    assert (proc.returncode, proc.stderr) == (3, err)


def test_usage_errors_exit_2(demo: GitRepo, sot: Callable[..., Result]) -> None:
    before = snapshot(demo)
    assert sot("--repo", demo.path, "lint", "--select", "SOT9") == (
        2,
        "",
        "sotsync: error: unknown finding code 'SOT9'\n"
        "hint: codes are SOT001..SOT050; see `sotsync lint --help`\n",
    )
    assert sot("--repo", demo.path, "lint", "--ignore", "sot02,XYZ")[::2] == (
        2,
        "sotsync: error: unknown finding code 'XYZ'\n"
        "hint: codes are SOT001..SOT050; see `sotsync lint --help`\n",
    )
    for bad in ("2026-13-01", "yesterday", "2026-02-30"):
        assert sot("--repo", demo.path, "new", "build", "--title", "t", "--date", bad) == (
            2,
            "",
            f"sotsync: error: invalid date '{bad}'\nhint: use YYYY-MM-DD, e.g. 2026-01-31\n",
        )
    assert sot("--repo", demo.path, "new", "build", "--title", "t", "--field", "Status") == (
        2,
        "",
        "Usage: sotsync new [OPTIONS] LEDGER\nTry 'sotsync new --help' for help.\n\n"
        "Error: Invalid value for --field: 'Status' is not KEY=VALUE\n",
    )
    code, _, err = sot("--repo", demo.path, "lint", "--format", "xml")
    assert code == 2
    assert "Error: Invalid value for '--format': 'xml' is not one of" in err
    code, _, err = sot("--repo", demo.path, "nosuchcommand")
    assert (code, err.splitlines()[-1]) == (2, "Error: No such command 'nosuchcommand'.")
    assert snapshot(demo) == before
    proc = run_module("new", "build", "--title", "t", "--date", "31/01/2026", cwd=demo.path)
    assert (proc.returncode, proc.stderr.splitlines()[0]) == (
        2,
        "sotsync: error: invalid date '31/01/2026'",
    )


def test_not_a_git_repository(tmp_path: Path, sot: Callable[..., Result], monkeypatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    message = (
        f"sotsync: error: not a git repository (or any parent directory): {plain.resolve()}\n"
        "hint: run sotsync inside a git repository or pass --repo DIR\n"
    )
    for command in ("lint", "fix", "inspect", "init"):
        assert sot(command) == (3, "", message)
    proc = run_module("lint", cwd=plain)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "", message)
    assert sot("--repo", plain / "missing", "lint") == (
        3,
        "",
        f"sotsync: error: --repo {plain / 'missing'}: no such directory\n"
        "hint: pass the directory of the repository (or workspace) to work on\n",
    )


# ------------------------------------------------------------------------------ internal errors

BOOM = """
import sys
from sotsync import cli

@cli.cli.command("boom")
def boom() -> None:
    raise RuntimeError("boom: an unexpected bug")

sys.exit(cli.run(sys.argv[1:]))
"""


@pytest.fixture
def boom_command() -> Iterator[None]:
    """A command added at runtime that fails with an unexpected exception."""

    @cli.cli.command("boom")
    def boom() -> None:
        raise RuntimeError("boom: an unexpected bug")

    try:
        yield
    finally:
        cli.cli.commands.pop("boom", None)


@pytest.mark.usefixtures("boom_command")
def test_internal_error_exit_4_with_log_hint(
    tmp_path: Path, sot: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setenv("SOTSYNC_LOG_DIR", str(logs))
    log = logs / "sotsync-error.log"
    assert sot("boom") == (
        4,
        "",
        "sotsync: internal error: RuntimeError: boom: an unexpected bug\n"
        f"hint: the traceback is in {log}; please report it\n",
    )
    text = log.read_text()
    assert text.startswith("Traceback (most recent call last):")
    assert "RuntimeError: boom: an unexpected bug" in text
    code, _, err = sot("--debug", "boom")
    assert code == 4
    assert err.startswith("Traceback (most recent call last):")
    assert err.endswith(
        "RuntimeError: boom: an unexpected bug\n"
        "sotsync: internal error: RuntimeError: boom: an unexpected bug\n"
        f"hint: the traceback is in {log}; please report it\n"
    )
    assert log.read_text().count("Traceback") == 2


def test_internal_error_in_a_real_process(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {**os.environ, "SOTSYNC_LOG_DIR": str(logs)}
    proc = subprocess.run(
        [sys.executable, "-c", BOOM, "boom"], capture_output=True, text=True, env=env, check=False
    )
    assert (proc.returncode, proc.stdout) == (4, "")
    assert proc.stderr == (
        "sotsync: internal error: RuntimeError: boom: an unexpected bug\n"
        f"hint: the traceback is in {logs / 'sotsync-error.log'}; please report it\n"
    )
    # A log directory that cannot be used must not turn the report into a traceback.
    spare = tmp_path / "tmp"
    spare.mkdir()
    env = {**env, "SOTSYNC_LOG_DIR": str(tmp_path / "no" / "such" / "dir"), "TMPDIR": str(spare)}
    proc = subprocess.run(
        [sys.executable, "-c", BOOM, "boom"], capture_output=True, text=True, env=env, check=False
    )
    assert (proc.returncode, proc.stdout) == (4, "")
    assert proc.stderr == (
        "sotsync: internal error: RuntimeError: boom: an unexpected bug\n"
        f"hint: the traceback is in {spare / 'sotsync-error.log'}; please report it\n"
    )
    assert "RuntimeError" in (spare / "sotsync-error.log").read_text()


def test_baseline_with_an_undecodable_file_name(
    demo: GitRepo, sot: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-UTF-8 directory name used to crash --write-baseline (exit 4)."""
    odd = os.fsdecode(b"\xffdir")
    (demo.path / odd).mkdir()
    shutil.copyfile(demo.path / "docs" / "DEBUG_LOG.md", demo.path / odd / "DEBUG_LOG.md")
    monkeypatch.chdir(demo.path)
    ledger = f"{odd}/DEBUG_LOG.md"
    assert sot("lint", "--write-baseline", "base.json", ledger) == (
        0,
        "",
        "wrote 4 finding(s) to base.json\n",
    )
    assert sot("lint", "--baseline", "base.json", ledger) == (
        0,
        "",
        "0 finding(s) in 1 ledger(s), 0 at or above error\n",
    )


# ------------------------------------------------------------------------------ lint output

DEMO_FINDINGS = [
    "docs/BUILD_HISTORY.md:5:1: SOT030 summary says 17 / 16, the ledger documents 15 distinct ids",
    "docs/BUILD_HISTORY.md:10:1: SOT031 META Total_Builds is 12, the ledger documents 15 distinct"
    " ids",
    "docs/BUILD_HISTORY.md:20:1: SOT022 INDEX row for BUILD-011 has 6 cells, the header has 5",
    "docs/BUILD_HISTORY.md:30:1: SOT023 INDEX row for BUILD-001 has no entry section",
    "docs/BUILD_HISTORY.md:104:1: SOT024 BUILD-009.10 has an entry section but no INDEX row",
    "docs/BUILD_HISTORY.md:160:1: SOT042 BUILD-007 is out of order (entries are newest first)",
    "docs/BUILD_HISTORY.md:211:1: SOT020 INDEX row for BUILD-003 outside the INDEX table",
    "docs/BUILD_HISTORY.md:223:1: SOT010 BUILD-005 names 2 different entries (lines 215, 223)",
    "docs/BUILD_HISTORY.md:238:102: SOT021 INDEX row for BUILD-002 glued onto the end of a line",
    "docs/BUILD_HISTORY.md:238:102: SOT023 INDEX row for BUILD-002 has no entry section",
    "docs/BUILD_HISTORY.md:248:44: SOT050 machine-specific absolute path"
    " 'C:/dev/harborline-wt2/src/harborline/logging.py'",
    "docs/DEBUG_LOG.md:127:1: SOT042 DBG-003 is out of order (entries are newest first)",
    "docs/DEBUG_LOG.md:143:1: SOT012 DBG-007 has 2 different INDEX rows (lines 29, 143)",
    "docs/DEBUG_LOG.md:143:1: SOT020 INDEX row for DBG-007 outside the INDEX table",
    "docs/DEBUG_LOG.md:143:1: SOT022 INDEX row for DBG-007 has 4 cells, the header has 5"
    " (cells are missing; not repairable)",
    "docs/ARCHITECTURE_DECISIONS.md:97:1: SOT042 DEC-001 is out of order (entries are newest"
    " first)",
]


def test_lint_text_format(demo: GitRepo, sot: Callable[..., Result]) -> None:
    code, out, err = sot("--repo", demo.path, "lint")
    assert code == 1
    assert out.splitlines() == DEMO_FINDINGS
    assert all(TEXT_LINE.match(line) for line in out.splitlines())
    assert err == "16 finding(s) in 3 ledger(s), 7 at or above error\n"


def test_lint_from_inside_the_repository(demo: GitRepo) -> None:
    proc = run_module("lint", "build", cwd=demo.path / "docs")
    assert_no_traceback(proc)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == DEMO_FINDINGS[:11]


def test_lint_json_format(demo: GitRepo, sot: Callable[..., Result]) -> None:
    code, out, err = sot("--repo", demo.path, "lint", "--format", "json")
    assert (code, err) == (1, "")
    doc = json.loads(out)
    assert doc["version"] == 1
    assert len(doc["findings"]) == 16
    first = doc["findings"][2]
    assert set(first) >= {
        "path",
        "line",
        "col",
        "code",
        "severity",
        "message",
        "entry_id",
        "fixable",
        "fingerprint",
    }
    assert {k: first[k] for k in ("path", "line", "col", "code", "severity", "entry_id")} == {
        "path": "docs/BUILD_HISTORY.md",
        "line": 20,
        "col": 1,
        "code": "SOT022",
        "severity": "error",
        "entry_id": "BUILD-011",
    }
    assert first["fixable"] is True
    assert re.fullmatch(r"[0-9a-f]{8,}", first["fingerprint"])
    by_code = {(f["code"], f["entry_id"]): f for f in doc["findings"]}
    assert by_code[("SOT030", None)]["severity"] == "warning"
    assert by_code[("SOT050", None)]["severity"] == "info"
    assert by_code[("SOT050", None)]["fixable"] is False
    assert by_code[("SOT010", "BUILD-005")]["fixable"] is False
    assert [
        f"{f['path']}:{f['line']}:{f['col']}: {f['code']} {f['message']}" for f in doc["findings"]
    ] == DEMO_FINDINGS
    assert doc["summary"] == {
        "total": 16,
        "by_severity": {"warning": 6, "error": 7, "info": 3},
        "ledgers": list(LEDGERS),
        "suppressed": 0,
    }
    # Fingerprints are stable across runs and distinct within a run.
    again = json.loads(sot("--repo", demo.path, "lint", "--format", "json")[1])
    assert [f["fingerprint"] for f in again["findings"]] == [
        f["fingerprint"] for f in doc["findings"]
    ]
    assert len({(f["path"], f["fingerprint"]) for f in doc["findings"]}) == 16


def test_lint_github_format(demo: GitRepo, sot: Callable[..., Result]) -> None:
    code, out, err = sot("--repo", demo.path, "lint", "--format", "github")
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert len(lines) == 16
    assert lines[0] == (
        "::warning file=docs/BUILD_HISTORY.md,line=5,col=1,title=SOT030::summary says 17 / 16,"
        " the ledger documents 15 distinct ids"
    )
    assert lines[2] == (
        "::error file=docs/BUILD_HISTORY.md,line=20,col=1,title=SOT022::INDEX row for BUILD-011"
        " has 6 cells, the header has 5"
    )
    assert lines[10].startswith(
        "::notice file=docs/BUILD_HISTORY.md,line=248,col=44,title=SOT050::"
    )
    assert all(
        re.match(r"::(error|warning|notice) file=[^,]+,line=\d+,col=\d+,title=SOT\d{3}::", x)
        for x in lines
    )


def test_select_and_ignore_prefixes(demo: GitRepo, sot: Callable[..., Result]) -> None:
    code, out, err = sot("--repo", demo.path, "lint", "--select", "SOT02")
    assert code == 1
    assert [line.split()[1] for line in out.splitlines()] == [
        "SOT022",
        "SOT023",
        "SOT024",
        "SOT020",
        "SOT021",
        "SOT023",
        "SOT020",
        "SOT022",
    ]
    code, out, _ = sot("--repo", demo.path, "lint", "--select", "sot030, SOT031")
    assert (code, out.splitlines()) == (0, DEMO_FINDINGS[:2])
    code, out, err = sot("--repo", demo.path, "lint", "--ignore", "SOT0")
    assert (code, out, err) == (0, "", "0 finding(s) in 3 ledger(s), 0 at or above error\n")
    code, out, _ = sot("--repo", demo.path, "lint", "--select", "SOT04", "--ignore", "SOT042")
    assert (code, out) == (0, "")
    code, out, _ = sot("--repo", demo.path, "lint", "--format", "json", "--ignore", "SOT02")
    assert json.loads(out)["summary"]["suppressed"] == 8


def test_fail_on_levels(demo: GitRepo, sot: Callable[..., Result]) -> None:
    repo = demo.path
    assert sot("--repo", repo, "lint")[0] == 1
    assert sot("--repo", repo, "lint", "--fail-on", "never")[::2] == (
        0,
        "16 finding(s) in 3 ledger(s), 0 at or above never\n",
    )
    warnings_only = ("--select", "SOT03,SOT042")
    assert sot("--repo", repo, "lint", *warnings_only)[::2] == (
        0,
        "5 finding(s) in 3 ledger(s), 0 at or above error\n",
    )
    assert sot("--repo", repo, "lint", *warnings_only, "--fail-on", "warning")[::2] == (
        1,
        "5 finding(s) in 3 ledger(s), 5 at or above warning\n",
    )
    assert sot("--repo", repo, "lint", "--select", "SOT050", "--fail-on", "warning")[0] == 0
    assert sot("--repo", repo, "lint", "--select", "SOT050", "--fail-on", "info")[0] == 1
    assert sot("--repo", repo, "lint", "--fail-on", "error", "--select", "SOT050")[0] == 0


def test_baseline(demo: GitRepo, sot: Callable[..., Result]) -> None:
    base = demo.path / "sotsync-baseline.json"
    assert sot("--repo", demo.path, "lint", "--write-baseline", base) == (
        0,
        "",
        f"wrote 16 finding(s) to {base}\n",
    )
    recorded = json.loads(base.read_text(encoding="utf-8"))
    assert recorded["version"] == 1 and len(recorded["findings"]) == 16
    assert sot("--repo", demo.path, "lint", "--baseline", base) == (
        0,
        "",
        "0 finding(s) in 3 ledger(s), 0 at or above error\n",
    )
    code, out, _ = sot("--repo", demo.path, "lint", "--baseline", base, "--format", "json")
    assert (code, json.loads(out)["summary"]["suppressed"]) == (0, 16)
    # A new problem is reported, the accepted ones stay quiet, even after lines moved.
    path = demo.path / "docs" / "ARCHITECTURE_DECISIONS.md"
    data = path.read_bytes()
    at = data.index(b"## DECISIONS")
    stray = b"| 2026-02-11 | DEC-007 | Stray row | Accepted | Low |\n\n"
    path.write_bytes(b"# moved\n" + data[:at] + stray + data[at:])
    code, out, _ = sot("--repo", demo.path, "lint", "--baseline", base)
    assert code == 1
    assert out.splitlines() == [
        "docs/ARCHITECTURE_DECISIONS.md:6:1: SOT030 summary says 6, the ledger documents 7"
        " distinct ids",
        "docs/ARCHITECTURE_DECISIONS.md:11:1: SOT031 META Total_Decisions is 6, the ledger"
        " documents 7 distinct ids",
        "docs/ARCHITECTURE_DECISIONS.md:28:1: SOT020 INDEX row for DEC-007 outside the INDEX table",
        "docs/ARCHITECTURE_DECISIONS.md:28:1: SOT023 INDEX row for DEC-007 has no entry section",
    ]
    assert sot("--repo", demo.path, "lint", "--baseline", demo.path / "nope.json") == (
        3,
        "",
        f"sotsync: error: baseline file not found: {demo.path / 'nope.json'}\n"
        "hint: create it with `sotsync lint --write-baseline FILE`\n",
    )


def test_new_since(corpus: GitRepo, sot: Callable[..., Result]) -> None:
    repo = corpus.path
    code, out, _ = sot("--repo", repo, "lint")
    assert code == 1
    assert len(out.splitlines()) >= 200  # a legacy ledger, full of old findings
    assert sot("--repo", repo, "lint", "--new-since", "HEAD") == (
        0,
        "",
        "0 finding(s) in 3 ledger(s), 0 at or above error\n",
    )
    # A clean new entry does not make the old findings new.
    assert sot(
        "--repo",
        repo,
        "new",
        "build",
        "--title",
        "Clean entry",
        "--date",
        "2026-02-01",
        "--field",
        "Status=DONE",
    ) == (0, "BUILD-210\n", "added BUILD-210 to docs/BUILD_HISTORY.md\n")
    assert sot("--repo", repo, "lint", "--new-since", "HEAD", "--fail-on", "info") == (
        0,
        "",
        "0 finding(s) in 3 ledger(s), 0 at or above info\n",
    )
    # A row glued onto a line is the one new finding.
    path = repo / "docs" / "BUILD_HISTORY.md"
    data = path.read_bytes()
    row = next(
        line for line in data.split(b"\r\n") if line.startswith(b"| 2026-02-01 | BUILD-210 |")
    )
    path.write_bytes(data.replace(b"**Status**: DONE\r\n", b"**Status**: DONE" + row + b"\r\n"))
    line = data[: data.index(b"**Status**: DONE")].count(b"\n") + 1
    assert sot("--repo", repo, "lint", "--new-since", "HEAD") == (
        1,
        f"docs/BUILD_HISTORY.md:{line}:17: SOT021 INDEX row for BUILD-210 glued onto the end"
        " of a line\n",
        "1 finding(s) in 3 ledger(s), 1 at or above error\n",
    )
    assert sot("--repo", repo, "lint", "--new-since", "nosuchrev") == (
        3,
        "",
        "sotsync: error: not a valid revision: nosuchrev\n"
        "hint: give a branch, tag or commit that exists in this repository\n",
    )
    proc = run_module("lint", "--new-since", "nosuchrev", cwd=repo)
    assert (proc.returncode, proc.stderr.splitlines()[0]) == (
        3,
        "sotsync: error: not a valid revision: nosuchrev",
    )


def test_new_since_a_rev_without_the_ledgers(
    make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    repo = make_repo(files={"README.md": "# project\n"})  # HEAD has no ledgers
    assert sot("--repo", repo.path, "init")[0] == 0
    path = repo.path / "docs" / "DEBUG_LOG.md"
    path.write_bytes(path.read_bytes() + b"| 2026-01-01 | DBG-001 | LOW | stray | Open |\n")
    code, out, err = sot("--repo", repo.path, "lint")
    assert code == 1
    assert [line.split()[1] for line in out.splitlines()] == ["SOT030", "SOT031", "SOT020"]
    assert sot("--repo", repo.path, "lint", "--new-since", "HEAD") == (code, out, err)


# ------------------------------------------------------------------------------ fix


def test_fix_dry_run_then_fix(demo: GitRepo, sot: Callable[..., Result]) -> None:
    before = snapshot(demo)
    code, diff, err = sot("--repo", demo.path, "fix", "--dry-run")
    assert code == 0
    assert diff.startswith("--- a/docs/BUILD_HISTORY.md\n+++ b/docs/BUILD_HISTORY.md\n@@ -2,12")
    assert "-**Summary**: 17 build entries (16 unique builds) documented" in diff
    assert "+**Summary**: 15 build entries (15 unique builds) documented" in diff
    assert "--- a/docs/DEBUG_LOG.md\n+++ b/docs/DEBUG_LOG.md\n" in diff
    assert "ARCHITECTURE_DECISIONS" not in diff
    assert err == (
        "docs/BUILD_HISTORY.md: would repair SOT020 x2, SOT021 x1, SOT022 x1, SOT024 x1,"
        " SOT030 x1, SOT031 x1\n"
        "docs/DEBUG_LOG.md: would repair SOT020 x1\n"
        "docs/ARCHITECTURE_DECISIONS.md: nothing to fix\n"
    )
    assert snapshot(demo) == before  # nothing written
    # The printed diff is exactly what fix then writes.
    demo.git("add", "-A")
    demo.git("commit", "-qm", "demo")
    shutil.copyfile(demo.path / ".gitattributes", demo.path / "attrs.keep")
    (demo.path / ".gitattributes").unlink()  # apply the CRLF diff byte for byte
    check = demo.path.parent / "applied"
    shutil.copytree(demo.path, check)
    for name in LEDGERS:  # the dry run saw the CRLF work tree, not the LF index
        shutil.copyfile(DEMO / name, check / name)
    (check / "docs" / "BUILD_HISTORY.md").write_bytes(
        crlf((DEMO / "docs" / "BUILD_HISTORY.md").read_bytes())
    )
    subprocess.run(
        ["patch", "-p1", "--binary", "--quiet"],
        input=diff.encode(),
        cwd=check,
        check=True,
    )
    assert sot("--repo", demo.path, "fix") == (
        0,
        "",
        err.replace("would repair", "repaired"),
    )
    for name in LEDGERS:
        assert (demo.path / name).read_bytes() == (check / name).read_bytes(), name
    assert temp_leftovers(demo) == []
    after = snapshot(demo)
    assert sot("--repo", demo.path, "fix") == (
        0,
        "",
        "".join(f"{name}: nothing to fix\n" for name in LEDGERS),
    )
    assert sot("--repo", demo.path, "fix", "--dry-run") == (
        0,
        "",
        "".join(f"{name}: nothing to fix\n" for name in LEDGERS),
    )
    assert snapshot(demo) == after
    assert temp_leftovers(demo) == []
    # CRLF stays CRLF; every entry and row survived.
    build = (demo.path / "docs" / "BUILD_HISTORY.md").read_bytes()
    assert build.count(b"\n") == build.count(b"\r\n")
    ledger = parse_ledger(build, "docs/BUILD_HISTORY.md", "BUILD")
    assert len(ledger.ids()) == 15


def test_fix_json_and_refusal_exit(demo: GitRepo, sot: Callable[..., Result]) -> None:
    code, out, err = sot("--repo", demo.path, "fix", "--dry-run", "--format", "json", "debug")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "version": 1,
        "dry_run": True,
        "ledgers": [
            {
                "path": "docs/DEBUG_LOG.md",
                "changed": True,
                "repaired": {"SOT020": 1},
                "refused": None,
            }
        ],
    }


# ------------------------------------------------------------------------------ inspect


def test_inspect_text(demo: GitRepo, sot: Callable[..., Result]) -> None:
    code, out, err = sot("--repo", demo.path, "inspect")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:14] == [
        "docs/BUILD_HISTORY.md (build, BUILD, crlf, 11,247 bytes)",
        "  index_rows             12",
        "  index_rows_with_id     12",
        "  stray_rows             1",
        "  glued_rows             1",
        "  entries                14",
        "  idless_entries         0",
        "  hidden_entries         0",
        "  distinct_entry_ids     13",
        "  distinct_ids           15",
        "  duplicated_row_ids     -",
        "  duplicated_entry_ids   BUILD-005",
        "  index_only_ids         2",
        "  section_only_ids       BUILD-009.10",
    ]
    assert lines[14] == (
        "  summary                **Summary**: 17 build entries (16 unique builds) documented"
        " | Last updated: 2026-02-10 17:42:09"
    )
    assert "  meta Total_Builds      12" in lines
    assert "docs/DEBUG_LOG.md (debug, DBG, lf, 4,995 bytes)" in lines
    assert "docs/ARCHITECTURE_DECISIONS.md (decisions, DEC, lf, 4,486 bytes)" in lines


def test_inspect_json(demo: GitRepo, sot: Callable[..., Result]) -> None:
    code, out, _ = sot("--repo", demo.path, "inspect", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["version"] == 1
    build, debug, decisions = doc["ledgers"]
    assert build["counts"] == {
        "index_rows": 12,
        "index_rows_with_id": 12,
        "stray_rows": 1,
        "glued_rows": 1,
        "entries": 14,
        "idless_entries": 0,
        "hidden_entries": 0,
        "distinct_entry_ids": 13,
        "distinct_ids": 15,
        "duplicated_row_ids": [],
        "duplicated_entry_ids": ["BUILD-005"],
        "index_only_ids": 2,
        "section_only_ids": ["BUILD-009.10"],
    }
    assert (build["line_endings"], build["bom"], build["final_newline"]) == ("crlf", False, True)
    assert build["lines"] == 249
    assert build["preamble"]["meta"]["Total_Builds"] == "12"
    assert debug["counts"]["index_rows"] == 8
    assert debug["counts"]["stray_rows"] == 1
    assert debug["counts"]["distinct_ids"] == 8
    assert debug["line_endings"] == "lf"
    assert (decisions["counts"]["entries"], decisions["counts"]["distinct_ids"]) == (6, 6)
    assert [r["name"] for r in doc["ledgers"]] == ["build", "debug", "decisions"]
    code, out, _ = sot("--repo", demo.path, "inspect", "--format", "json", "decisions")
    assert [r["path"] for r in json.loads(out)["ledgers"]] == ["docs/ARCHITECTURE_DECISIONS.md"]


def test_repo_option_from_elsewhere(demo: GitRepo, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_module("--repo", demo.path, "inspect", "--format", "json", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert [r["counts"]["distinct_ids"] for r in json.loads(proc.stdout)["ledgers"]] == [15, 8, 6]
    proc = run_module("--repo", demo.path, "lint", "docs/DEBUG_LOG.md", cwd=elsewhere)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == DEMO_FINDINGS[11:15]


# ------------------------------------------------------------------------------ new


def test_new_prints_the_id_and_writes_row_and_section(
    demo: GitRepo, sot: Callable[..., Result]
) -> None:
    path = demo.path / "docs" / "BUILD_HISTORY.md"
    assert sot(
        "--repo",
        demo.path,
        "new",
        "build",
        "--title",
        "Mirror | cache warm-up",
        "--date",
        "2026-02-11",
        "--field",
        "Summary=text|json output",
    ) == (0, "BUILD-013\n", "added BUILD-013 to docs/BUILD_HISTORY.md\n")
    data = path.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")  # CRLF preserved
    lines = data.decode().split("\r\n")
    header = lines.index("| Timestamp | BUILD-ID | Phase | Summary | Files Changed |")
    assert lines[header + 2] == (
        "| 2026-02-11 | BUILD-013 | Mirror \\| cache warm-up | text\\|json output |  |"
    )
    heading = lines.index("## BUILDS (Reverse Chronological)")
    assert lines[heading + 2] == "### BUILD-013 | 2026-02-11 | Mirror \\| cache warm-up"
    assert lines[heading + 4] == "**Summary**: text|json output"
    ledger = parse_ledger(data, "docs/BUILD_HISTORY.md", "BUILD")
    assert [len(r.cells) for r in ledger.table_rows if r.id == "BUILD-013"] == [5]
    assert ledger.entries[0].id == "BUILD-013"
    # The new entry adds no finding of its own.
    _, out, _ = sot("--repo", demo.path, "lint", "--select", "SOT02", "build")
    assert "BUILD-013" not in out


def test_new_on_a_clean_ledger_stays_clean(fresh: GitRepo, sot: Callable[..., Result]) -> None:
    for expected in ("DEC-001", "DEC-002"):
        code, out, _ = sot("--repo", fresh.path, "new", "decisions", "--title", "A decision")
        assert (code, out) == (0, f"{expected}\n")
    assert sot("--repo", fresh.path, "lint", "--fail-on", "info") == (
        0,
        "",
        "0 finding(s) in 3 ledger(s), 0 at or above info\n",
    )
    text = (fresh.path / "docs" / "ARCHITECTURE_DECISIONS.md").read_text()
    assert "**Summary**: 2 decision(s) documented" in text
    assert "\nTotal_Decisions: 2\n" in text


def test_new_considers_local_and_remote_branches(
    make_repo: MakeRepo, sot: Callable[..., Result], tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    first = make_repo("first")
    assert sot("--repo", first.path, "init")[0] == 0
    first.commit(message="ledgers")
    first.git("remote", "add", "origin", str(remote))
    first.git("push", "-q", "origin", "main")

    subprocess.run(["git", "clone", "-q", str(remote), str(tmp_path / "second")], check=True)
    second = GitRepo(tmp_path / "second")
    ledger = second.path / "docs" / "BUILD_HISTORY.md"
    assert sot("--repo", second.path, "new", "build", "--title", "Remote work")[1] == "BUILD-001\n"
    ledger.write_bytes(ledger.read_bytes().replace(b"BUILD-001", b"BUILD-200"))
    second.commit(message="BUILD-200")
    second.git("push", "-q", "origin", "main")

    # Not fetched yet: the first clone cannot know.
    assert sot("--repo", first.path, "new", "build", "--title", "x")[1] == "BUILD-001\n"
    first.git("checkout", "-q", "--", ".")
    first.git("fetch", "-q", "origin")
    assert sot("--repo", first.path, "new", "build", "--title", "Local work") == (
        0,
        "BUILD-201\n",
        "added BUILD-201 to docs/BUILD_HISTORY.md\n",
    )
    first.commit(message="BUILD-201")
    # A local branch that is not checked out counts too.
    first.git("checkout", "-q", "-b", "side")
    side = first.path / "docs" / "BUILD_HISTORY.md"
    assert sot("--repo", first.path, "new", "build", "--title", "Side work")[1] == "BUILD-202\n"
    side.write_bytes(side.read_bytes().replace(b"BUILD-202", b"BUILD-250"))
    first.commit(message="BUILD-250")
    first.git("checkout", "-q", "main")
    assert sot("--repo", first.path, "new", "build", "--title", "Main work")[1] == "BUILD-251\n"


def test_new_preserves_lf_and_crlf(fresh: GitRepo, sot: Callable[..., Result]) -> None:
    path = fresh.path / "docs" / "DEBUG_LOG.md"
    path.write_bytes(crlf(path.read_bytes()))
    assert sot("--repo", fresh.path, "new", "debug", "--title", "crlf")[:2] == (0, "DBG-001\n")
    data = path.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")
    assert sot("--repo", fresh.path, "new", "build", "--title", "lf")[:2] == (0, "BUILD-001\n")
    assert b"\r" not in (fresh.path / "docs" / "BUILD_HISTORY.md").read_bytes()


def test_parallel_new_gives_distinct_ids(fresh: GitRepo, sot: Callable[..., Result]) -> None:
    fresh.commit(message="ledgers")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sotsync",
                "--repo",
                str(fresh.path),
                "new",
                "build",
                "--title",
                f"Parallel {n}",
                "--date",
                "2026-02-01",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert [r[0] for r in results] == [0] * 8, [r[2] for r in results]
    assert all("Traceback" not in r[2] for r in results)
    ids = sorted(r[1].strip() for r in results)
    assert ids == [f"BUILD-{n:03d}" for n in range(1, 9)]
    data = (fresh.path / "docs" / "BUILD_HISTORY.md").read_bytes()
    ledger = parse_ledger(data, "docs/BUILD_HISTORY.md", "BUILD")
    assert Counter(r.id for r in ledger.rows) == Counter(ids)
    assert Counter(e.id for e in ledger.entries) == Counter(ids)
    assert all(r.in_table and not r.glued for r in ledger.rows)
    titles = sorted(data.decode().count(f"| Parallel {n}") for n in range(8))
    assert titles == [2] * 8  # one row and one heading each
    assert sot("--repo", fresh.path, "lint", "--fail-on", "warning") == (
        0,
        "",
        "0 finding(s) in 3 ledger(s), 0 at or above warning\n",
    )


# ------------------------------------------------------------------------------ init


REGISTERED = (
    "registered git config merge.sotsync.name\n"
    "registered git config merge.sotsync.driver\n"
    + "".join(f"registered .gitattributes: {name} merge=sotsync\n" for name in LEDGERS)
    + "".join(
        f"hook {hook}: installed\n"
        for hook in ("pre-commit", "post-merge", "post-checkout", "post-rewrite", "pre-push")
    )
)


def test_init_creates_the_ledgers_once(make_repo: MakeRepo, sot: Callable[..., Result]) -> None:
    repo = make_repo()
    assert sot("--repo", repo.path, "init") == (
        0,
        "".join(f"created {name}\n" for name in LEDGERS) + REGISTERED,
        "",
    )
    assert (repo.path / ".gitattributes").read_text() == "".join(
        f"/{name} merge=sotsync\n" for name in LEDGERS
    )
    assert repo.git("config", "merge.sotsync.driver").endswith("merge-driver %O %A %B %P")
    assert (repo.path / ".git" / "hooks" / "pre-commit").read_bytes().startswith(b"#!")
    for name in LEDGERS:
        assert (repo.path / name).read_bytes().startswith(b"# ")
    assert sot("--repo", repo.path, "lint", "--fail-on", "info")[::2] == (
        0,
        "0 finding(s) in 3 ledger(s), 0 at or above info\n",
    )
    _, out, _ = sot("--repo", repo.path, "inspect", "--format", "json")
    for report in json.loads(out)["ledgers"]:
        assert report["counts"]["index_rows"] == 0
        assert report["counts"]["entries"] == 0
    before = snapshot(repo)
    assert sot("--repo", repo.path, "init") == (
        0,
        "ledgers already present; nothing to create\n",
        "",
    )
    assert snapshot(repo) == before
    # A missing one is recreated, the others are left alone.
    (repo.path / "docs" / "DEBUG_LOG.md").unlink()
    assert sot("--repo", repo.path, "init")[:2] == (0, "created docs/DEBUG_LOG.md\n")
    assert temp_leftovers(repo) == []


def test_init_in_a_subdirectory_through_the_module(make_repo: MakeRepo) -> None:
    repo = make_repo()
    (repo.path / "src").mkdir()
    proc = run_module("init", cwd=repo.path / "src")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert all((repo.path / name).is_file() for name in LEDGERS)


def test_init_write_config_sotsync_toml(make_repo: MakeRepo, sot: Callable[..., Result]) -> None:
    repo = make_repo()
    assert sot("--repo", repo.path, "init", "--write-config", "sotsync.toml") == (
        0,
        "".join(f"created {name}\n" for name in LEDGERS)
        + "configuration in .sotsync.toml\n"
        + REGISTERED,
        "",
    )
    text = (repo.path / ".sotsync.toml").read_text()
    assert '[[ledgers]]\nname = "build"\npath = "docs/BUILD_HISTORY.md"\nprefix = "BUILD"' in text
    before = snapshot(repo)
    assert sot("--repo", repo.path, "init", "--write-config", "sotsync.toml") == (
        0,
        "configuration in .sotsync.toml\nledgers already present; nothing to create\n",
        "",
    )
    assert snapshot(repo) == before
    assert sot("--repo", repo.path, "lint")[0] == 0
    _, out, _ = sot("--repo", repo.path, "inspect", "--format", "json")
    assert [r["name"] for r in json.loads(out)["ledgers"]] == ["build", "debug", "decisions"]


def test_init_write_config_pyproject(make_repo: MakeRepo, sot: Callable[..., Result]) -> None:
    repo = make_repo(files={"pyproject.toml": '[project]\nname = "demo"\n'})
    assert sot("--repo", repo.path, "init", "--write-config", "pyproject") == (
        0,
        "".join(f"created {name}\n" for name in LEDGERS)
        + "configuration in pyproject.toml\n"
        + REGISTERED,
        "",
    )
    text = (repo.path / "pyproject.toml").read_text()
    assert text.startswith(
        '[project]\nname = "demo"\n\n[tool.sotsync]\n\n[[tool.sotsync.ledgers]]\n'
    )
    before = snapshot(repo)
    assert sot("--repo", repo.path, "init", "--write-config", "pyproject")[:2] == (
        0,
        "configuration in pyproject.toml\nledgers already present; nothing to create\n",
    )
    assert snapshot(repo) == before
    # The section is the configuration from now on: a missing ledger names its source.
    (repo.path / "docs" / "DEBUG_LOG.md").unlink()
    assert sot("--repo", repo.path, "lint")[2].startswith(
        "sotsync: error: ledger 'debug' (docs/DEBUG_LOG.md, from pyproject.toml [tool.sotsync])"
    )
    assert sot("--repo", repo.path, "init", "--write-config", "bogus")[0] == 2


# ------------------------------------------------------------------------------ conventions


def test_version(sot: Callable[..., Result]) -> None:
    assert sot("--version") == (0, f"sotsync, version {__version__}\n", "")
    proc = run_module("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0,
        f"sotsync, version {__version__}\n",
        "",
    )
    script = Path(sys.executable).with_name("sotsync")
    if script.exists():
        proc = subprocess.run([str(script), "--version"], capture_output=True, text=True)
        assert (proc.returncode, proc.stdout) == (0, f"sotsync, version {__version__}\n")


def test_every_command_has_help_with_an_example(sot: Callable[..., Result]) -> None:
    code, out, _ = sot("--help")
    assert code == 0 and "Example" in out
    names = sorted(cli.cli.commands)
    assert {"lint", "fix", "inspect", "new", "init", "codes"} <= set(names)
    for name in names:
        code, out, err = sot(name, "--help")
        assert (code, err) == (0, ""), name
        assert out.startswith(f"Usage: sotsync {name} "), name
        assert "Example" in out, name
    proc = run_module("lint", "-h")
    assert proc.returncode == 0 and "Example" in proc.stdout


def test_codes_lists_the_catalogue(sot: Callable[..., Result]) -> None:
    code, out, _ = sot("codes")
    assert code == 0
    codes = [line.split()[0] for line in out.splitlines()]
    assert codes[:2] == ["SOT001", "SOT002"]
    assert {"SOT010", "SOT021", "SOT031", "SOT050"} <= set(codes)
    assert len(codes) == len(set(codes))


def test_interrupt_exit_code(sot: Callable[..., Result]) -> None:
    @cli.cli.command("interrupt")
    def interrupt() -> None:
        raise KeyboardInterrupt

    try:
        # click echoes a line break first (after the terminal's ^C), then sotsync reports.
        assert sot("interrupt") == (130, "", "\nsotsync: interrupted\n")
    finally:
        cli.cli.commands.pop("interrupt", None)


def test_click_is_only_in_the_cli() -> None:
    assert click.__name__ == "click"  # imported by the CLI package and nowhere below it
    imports = re.compile(r"^\s*(?:import click|from click\b)", re.MULTILINE)
    cli_package = ROOT / "src" / "sotsync" / "cli"
    for module in (ROOT / "src" / "sotsync").rglob("*.py"):
        if module.parent != cli_package:
            assert not imports.search(module.read_text()), module


# ------------------------------------------------------------------------------ unlock


def test_unlock_removes_a_dead_holders_record(demo: GitRepo, sot: Callable[..., Result]) -> None:
    from sotsync.config import find_workspace
    from sotsync.locking import holder_path, lock_dir

    ws = find_workspace(demo.path)
    lock_dir(ws).mkdir(parents=True, exist_ok=True)
    record = json.dumps(
        {
            "host": "gone-host",
            "pid": 999999,
            "command": "sotsync new",
            "time": "2026-01-01T00:00:00Z",
        }
    )
    holder_path(ws).write_text(record, encoding="utf-8")
    code, out, err = sot("--repo", demo.path, "unlock")
    assert (code, err) == (0, "")
    assert out.startswith("removed the lock record of pid 999999 on host gone-host")
    assert not holder_path(ws).exists()
    assert sot("--repo", demo.path, "unlock") == (0, "no lock record; nothing to do\n", "")


def test_unlock_refuses_while_the_lock_is_held(demo: GitRepo, sot: Callable[..., Result]) -> None:
    from sotsync.config import find_workspace
    from sotsync.locking import workspace_lock

    code = 0
    out = err = ""
    with workspace_lock(find_workspace(demo.path), "sotsync fix"):
        script = "import sys; from sotsync.cli import run; sys.exit(run(sys.argv[1:]))"
        proc = subprocess.run(
            [sys.executable, "-c", script, "--repo", str(demo.path), "unlock"],
            capture_output=True,
            text=True,
            check=False,
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    assert code == 3
    assert out == ""
    assert err.startswith("sotsync: error: workspace lock is held by a running process")
    assert "hint: wait for that process to finish" in err


def test_write_baseline_records_everything_even_with_baseline(
    demo: GitRepo, sot: Callable[..., Result], tmp_path: Path
) -> None:
    base = tmp_path / "base.json"
    code, _out, err = sot("--repo", demo.path, "lint", "--write-baseline", base)
    assert code == 0 and err == "wrote 16 finding(s) to " + str(base) + "\n"
    code, _out, err = sot("--repo", demo.path, "lint", "--baseline", base, "--write-baseline", base)
    assert code == 0 and err == "wrote 16 finding(s) to " + str(base) + "\n"
    assert sot("--repo", demo.path, "lint", "--baseline", base)[0] == 0


def test_api_exports_resolve_to_their_objects_not_to_modules() -> None:
    # Exports load lazily; a submodule named like an export would shadow it once imported.
    import pkgutil
    import types

    from sotsync import api

    submodules = {m.name for m in pkgutil.iter_modules(api.__path__)}
    assert not submodules & set(api.__all__)
    for name in api.__all__:
        assert not isinstance(getattr(api, name), types.ModuleType), name
