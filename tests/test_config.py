from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sotsync.config import (
    DEFAULT_LEDGERS,
    Config,
    LedgerSpec,
    Workspace,
    find_workspace,
    load_config,
    read_dotenv,
    redact_url,
    resolve_database_url,
    resolve_device,
    resolve_ledgers,
    write_config,
)
from sotsync.errors import ConfigError, WorkspaceError

MakeRepo = Callable[..., Any]


def _ws(path: Path) -> Workspace:
    return Workspace(path, None, None, None)


def _config_error(tmp_path: Path, toml: str) -> str:
    (tmp_path / ".sotsync.toml").write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_config(_ws(tmp_path))
    return info.value.message


# ------------------------------------------------------------------------------ find_workspace


def test_find_workspace_from_a_subdirectory(make_repo: MakeRepo) -> None:
    repo = make_repo()
    (repo.path / "docs" / "deep").mkdir(parents=True)
    ws = find_workspace(cwd=repo.path / "docs" / "deep")
    assert ws == Workspace(repo.path, repo.path, repo.path / ".git", repo.path / ".git")


def test_find_workspace_in_a_worktree_uses_the_common_dir(make_repo: MakeRepo) -> None:
    repo = make_repo(files={"a.txt": "a"})
    worktree = repo.path.parent / "wt"
    repo.git("worktree", "add", "-q", str(worktree), "-b", "side")
    (worktree / "sub").mkdir()
    ws = find_workspace(cwd=worktree / "sub")
    assert ws.root == worktree
    assert ws.git_root == worktree
    assert ws.git_dir == repo.path / ".git" / "worktrees" / "wt"
    assert ws.git_common_dir == repo.path / ".git"


def test_find_workspace_gitdir_file_without_commondir(tmp_path: Path) -> None:
    real = tmp_path / "modules" / "sub"
    real.mkdir(parents=True)
    (real / "HEAD").write_text("ref: refs/heads/main\n")
    top = tmp_path / "sub"
    top.mkdir()
    (top / ".git").write_text("gitdir: ../modules/sub\n")
    assert find_workspace(cwd=top) == Workspace(top, top, real, real)


def test_find_workspace_with_repo_subdirectory(make_repo: MakeRepo) -> None:
    repo = make_repo()
    (repo.path / "project").mkdir()
    ws = find_workspace(repo=Path("project"), cwd=repo.path)
    assert ws == Workspace(repo.path / "project", repo.path, repo.path / ".git", repo.path / ".git")


def test_find_workspace_with_repo_outside_git(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    ws = find_workspace(repo=tmp_path / "plain")
    assert ws == Workspace(tmp_path / "plain", None, None, None)


def test_find_workspace_repo_missing(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as info:
        find_workspace(repo=Path("nope"), cwd=tmp_path)
    assert info.value.message == "--repo nope: no such directory"
    assert info.value.exit_code == 3


def test_find_workspace_repo_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(WorkspaceError) as info:
        find_workspace(repo=Path("f.txt"), cwd=tmp_path)
    assert info.value.message == "--repo f.txt: not a directory"


def test_find_workspace_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as info:
        find_workspace(cwd=tmp_path)
    assert info.value.message == f"not a git repository (or any parent directory): {tmp_path}"
    assert info.value.hint == "run sotsync inside a git repository or pass --repo DIR"


def test_find_workspace_skips_a_dot_git_directory_that_is_not_a_repository(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo()
    inner = repo.path / "inner"
    (inner / ".git").mkdir(parents=True)
    assert find_workspace(cwd=inner).root == repo.path


def test_find_workspace_bad_gitdir_file(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("nonsense\n")
    with pytest.raises(WorkspaceError) as info:
        find_workspace(cwd=tmp_path)
    assert info.value.message == f"{tmp_path / '.git'} is not a valid gitdir file"


def test_find_workspace_gitdir_file_pointing_nowhere(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("gitdir: /nonexistent/wt\n")
    with pytest.raises(WorkspaceError) as info:
        find_workspace(cwd=tmp_path)
    assert info.value.message == (
        f"{tmp_path / '.git'} points to /nonexistent/wt, which does not exist"
    )
    assert "git worktree prune" in info.value.hint


# ------------------------------------------------------------------------------ load_config


def test_zero_config_gives_the_defaults(tmp_path: Path) -> None:
    config = load_config(_ws(tmp_path))
    assert config == Config(_ws(tmp_path), DEFAULT_LEDGERS, None, None, None, {})
    assert [(s.name, s.path, s.prefix, s.file_type, s.order) for s in config.ledgers] == [
        ("build", "docs/BUILD_HISTORY.md", "BUILD", "build_history", "newest-first"),
        ("debug", "docs/DEBUG_LOG.md", "DBG", "debug_log", "newest-first"),
        ("decisions", "docs/ARCHITECTURE_DECISIONS.md", "DEC", "architecture", "newest-first"),
    ]
    assert config.source_name == "defaults"


def test_pyproject_without_sotsync_is_not_parsed(tmp_path: Path) -> None:
    # Even a broken pyproject.toml is not our business when it does not mention sotsync.
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'x'\n")
    assert load_config(_ws(tmp_path)).ledgers == DEFAULT_LEDGERS


def test_pyproject_mentioning_sotsync_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["sotsync"]\n')
    config = load_config(_ws(tmp_path))
    assert config.ledgers == DEFAULT_LEDGERS
    assert config.source is None


PYPROJECT = """\
[project]
name = "demo"

[tool.sotsync]
device = "laptop-1"
database_url = "sqlite:///./runs.db"
expect_since = "2026-01-01T00:00:00Z"

[[tool.sotsync.ledgers]]
name = "builds"
path = "./notes//BUILDS.md"
prefix = "B"
file_type = "build_history"
order = "oldest-first"
"""


def test_pyproject_tool_sotsync(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    config = load_config(_ws(tmp_path))
    assert config.ledgers == (
        LedgerSpec("builds", "notes/BUILDS.md", "B", "build_history", "oldest-first"),
    )
    assert config.device == "laptop-1"
    assert config.database_url == "sqlite:///./runs.db"
    assert config.source == tmp_path / "pyproject.toml"
    assert config.source_name == "pyproject.toml [tool.sotsync]"
    assert config.settings["expect_since"] == "2026-01-01T00:00:00Z"


def test_sotsync_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / ".sotsync.toml").write_text('device = "from-toml"\n')
    config = load_config(_ws(tmp_path))
    assert config.device == "from-toml"
    assert config.ledgers == DEFAULT_LEDGERS  # no ledgers key: the defaults
    assert config.source_name == ".sotsync.toml"


def test_configured_ledger_file_may_be_missing(tmp_path: Path) -> None:
    (tmp_path / ".sotsync.toml").write_text(
        '[[ledgers]]\nname = "x"\npath = "missing/X.md"\nprefix = "X"\nfile_type = "debug_log"\n'
    )
    assert load_config(_ws(tmp_path)).ledgers == (
        LedgerSpec("x", "missing/X.md", "X", "debug_log"),
    )


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    message = _config_error(tmp_path, "[[ledgers]]\nname = build\n")
    assert message == ".sotsync.toml: invalid TOML: Invalid value (at line 2, column 8)"


def test_invalid_toml_in_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.sotsync]\ndevice = = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(_ws(tmp_path))
    assert info.value.message == (
        "pyproject.toml: invalid TOML: Invalid value (at line 2, column 10)"
    )


def test_invalid_utf8_config(tmp_path: Path) -> None:
    (tmp_path / ".sotsync.toml").write_bytes(b'device = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(_ws(tmp_path))
    assert info.value.message == ".sotsync.toml: not valid UTF-8 (byte offset 10)"


def test_config_file_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / ".sotsync.toml").mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(_ws(tmp_path))
    assert info.value.message == ".sotsync.toml is a directory, not a configuration file"


def test_tool_sotsync_not_a_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool]\nsotsync = "yes"\n')
    with pytest.raises(ConfigError) as info:
        load_config(_ws(tmp_path))
    assert info.value.message == ("pyproject.toml: tool.sotsync: must be a table ([tool.sotsync])")


def _ledger(**fields: str) -> str:
    base = {"name": "b", "path": "docs/B.md", "prefix": "BUILD", "file_type": "build_history"}
    base.update(fields)
    return "[[ledgers]]\n" + "".join(f'{k} = "{v}"\n' for k, v in base.items())


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            _ledger(file_type="notes"),
            ".sotsync.toml: ledgers[0].file_type: unknown file type 'notes'"
            " (expected one of: build_history, debug_log, architecture)",
        ),
        (
            _ledger(order="random"),
            ".sotsync.toml: ledgers[0].order: unknown order 'random'"
            " (expected one of: newest-first, oldest-first)",
        ),
        (
            _ledger() + _ledger(path="docs/C.md"),
            ".sotsync.toml: ledgers[1].name: duplicate ledger name 'b' (also ledgers[0])",
        ),
        (
            _ledger() + _ledger(name="c", path="./docs/B.md"),
            ".sotsync.toml: ledgers[1].path: duplicate ledger path 'docs/B.md' (also ledgers[0])",
        ),
        (
            _ledger(prefix="build"),
            ".sotsync.toml: ledgers[0].prefix: 'build' does not match [A-Z][A-Z0-9_]*",
        ),
        (
            _ledger(prefix="1BUILD"),
            ".sotsync.toml: ledgers[0].prefix: '1BUILD' does not match [A-Z][A-Z0-9_]*",
        ),
        (
            _ledger(path="../outside.md"),
            ".sotsync.toml: ledgers[0].path: '../outside.md' escapes the workspace root",
        ),
        (
            _ledger(path="docs/../../x.md"),
            ".sotsync.toml: ledgers[0].path: 'docs/../../x.md' escapes the workspace root",
        ),
        (
            _ledger(path="/etc/x.md"),
            ".sotsync.toml: ledgers[0].path: '/etc/x.md' must be relative to the workspace root",
        ),
        (
            _ledger(path="C:/dev/x.md"),
            ".sotsync.toml: ledgers[0].path: 'C:/dev/x.md' must be relative to the workspace root",
        ),
        (_ledger(path="docs/.."), ".sotsync.toml: ledgers[0].path: 'docs/..' is not a file path"),
        (_ledger(path=""), ".sotsync.toml: ledgers[0].path: must not be empty"),
        (
            _ledger(name="my ledger"),
            ".sotsync.toml: ledgers[0].name: 'my ledger' is not a valid name"
            " (letters, digits, '.', '_', '-')",
        ),
        (
            _ledger(prefx="X"),
            ".sotsync.toml: ledgers[0].prefx: unknown key"
            " (known: name, path, prefix, file_type, order)",
        ),
        (
            '[[ledgers]]\nname = "b"\npath = "x.md"\nfile_type = "debug_log"\n',
            ".sotsync.toml: ledgers[0]: missing key 'prefix'",
        ),
        (
            '[[ledgers]]\nname = 1\npath = "x.md"\nprefix = "X"\nfile_type = "debug_log"\n',
            ".sotsync.toml: ledgers[0].name: must be a string, not int",
        ),
        (
            'ledgers = "docs/X.md"\n',
            ".sotsync.toml: ledgers: must be an array of tables ([[ledgers]])",
        ),
        ("ledgers = []\n", ".sotsync.toml: ledgers: must list at least one ledger"),
        (
            "ledgers = [1]\n",
            ".sotsync.toml: ledgers[0]: must be a table with name, path, prefix and file_type",
        ),
        (
            'device = "my laptop"\n',
            ".sotsync.toml: device: 'my laptop' is not a valid device name"
            " (letters, digits, '.', '_', '-')",
        ),
        ("device = 3\n", ".sotsync.toml: device: must be a string, not int"),
        ('database_url = " "\n', ".sotsync.toml: database_url: must not be empty"),
        ('hooks_sync = "yes"\n', ".sotsync.toml: hooks_sync: must be true or false, not str"),
    ],
)
def test_config_validation_errors(tmp_path: Path, toml: str, message: str) -> None:
    assert _config_error(tmp_path, toml) == message


def test_pyproject_errors_use_the_full_key(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.sotsync.ledgers]]\nname = "b"\npath = "b.md"\nprefix = "b"\n'
        'file_type = "debug_log"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(_ws(tmp_path))
    assert info.value.message == (
        "pyproject.toml: tool.sotsync.ledgers[0].prefix: 'b' does not match [A-Z][A-Z0-9_]*"
    )
    assert (
        info.value.hint == "fix tool.sotsync.ledgers[0].prefix in pyproject.toml (see the README)"
    )


# ------------------------------------------------------------------------------ resolve_ledgers


def _default_config(root: Path) -> Config:
    return load_config(_ws(root))


def test_resolve_ledgers_empty_means_all(tmp_path: Path) -> None:
    assert resolve_ledgers(_default_config(tmp_path), []) == DEFAULT_LEDGERS


def test_resolve_ledgers_by_name_and_path(tmp_path: Path) -> None:
    config = _default_config(tmp_path)
    build, debug, decisions = DEFAULT_LEDGERS
    (tmp_path / "docs").mkdir()
    got = resolve_ledgers(
        config,
        [
            "debug",
            "docs/BUILD_HISTORY.md",
            "debug",
            str(tmp_path / "docs/ARCHITECTURE_DECISIONS.md"),
        ],
        cwd=tmp_path,
    )
    assert got == (debug, build, decisions)
    # relative to the current directory, and relative to the root from elsewhere
    assert resolve_ledgers(config, ["DEBUG_LOG.md"], cwd=tmp_path / "docs") == (debug,)
    assert resolve_ledgers(config, ["./docs/DEBUG_LOG.md"], cwd=tmp_path / "docs") == (debug,)
    assert resolve_ledgers(config, ["../docs/DEBUG_LOG.md"], cwd=tmp_path / "docs") == (debug,)


def test_resolve_ledgers_unknown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_ledgers(_default_config(tmp_path), ["nope"], cwd=tmp_path)
    assert info.value.message == "unknown ledger 'nope' (known: build, debug, decisions)"
    assert info.value.hint == (
        "name a configured ledger, or give the path of an existing Markdown file"
    )


def test_resolve_ledgers_ad_hoc_from_file_name(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "debug-log.md").write_text("# old\n")
    got = resolve_ledgers(_default_config(tmp_path), ["archive/debug-log.md"], cwd=tmp_path)
    assert got == (LedgerSpec("archive/debug-log.md", "archive/debug-log.md", "DBG", "debug_log"),)


def test_resolve_ledgers_ad_hoc_from_index_row(tmp_path: Path) -> None:
    (tmp_path / "ops.md").write_text(
        "# Ops\n\n## OPS-1 heading later\n| Date | Id |\n|---|---|\n| 2026-01-02 | INC-007 | x |\n",
    )
    # the first match in the file wins: here the heading
    assert resolve_ledgers(_default_config(tmp_path), ["ops.md"], cwd=tmp_path)[0].prefix == "OPS"
    (tmp_path / "inc.md").write_text("| Date | Id |\n|---|---|\n| 2026-01-02 | INC-007 | x |\n")
    spec = resolve_ledgers(_default_config(tmp_path), ["inc.md"], cwd=tmp_path)[0]
    assert (spec.prefix, spec.file_type) == ("INC", "build_history")
    (tmp_path / "dec.md").write_text("### DEC-012 | 2026-01-02 | chosen\n")
    spec = resolve_ledgers(_default_config(tmp_path), ["dec.md"], cwd=tmp_path)[0]
    assert (spec.prefix, spec.file_type) == ("DEC", "architecture")


def test_resolve_ledgers_ad_hoc_without_a_prefix(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# Notes\n\nnothing here\n")
    with pytest.raises(ConfigError) as info:
        resolve_ledgers(_default_config(tmp_path), ["notes.md"], cwd=tmp_path)
    assert info.value.message == (
        "cannot tell the id prefix of notes.md: no `| date | PREFIX-NNN |` row"
        " and no `PREFIX-NNN` heading in it"
    )


def test_resolve_ledgers_not_markdown_directory_outside(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    (root / "x.txt").write_text("x")
    (tmp_path / "OUT.md").write_text("## BUILD-1\n")
    config = _default_config(root)
    cases = {
        "x.txt": "x.txt is not a Markdown file (ledgers are .md files)",
        "sub": "sub is a directory, not a ledger",
        str(tmp_path / "OUT.md"): f"{tmp_path / 'OUT.md'} is outside the workspace {root}",
    }
    for selector, message in cases.items():
        with pytest.raises(ConfigError) as info:
            resolve_ledgers(config, [selector], cwd=root)
        assert info.value.message == message


# ------------------------------------------------------------------------------ resolve_device


def _host(name: str) -> Callable[[], str]:
    return lambda: name


def test_resolve_device_order(tmp_path: Path) -> None:
    (tmp_path / ".sotsync.toml").write_text('device = "cfg"\n')
    config = load_config(_ws(tmp_path))
    env = {"SOTSYNC_DEVICE": "env1", "AUTOPACK_REGION": "eu-west"}
    assert resolve_device("cli", config, env, _host("h")) == "cli"
    assert resolve_device(None, config, env, _host("h")) == "env1"
    assert resolve_device(None, config, {"AUTOPACK_REGION": "eu-west"}, _host("h")) == "eu-west"
    assert resolve_device(None, config, {"SOTSYNC_DEVICE": ""}, _host("h")) == "cfg"
    assert resolve_device(None, _default_config(tmp_path / "x"), {}, _host("box.lan")) == "box.lan"


def test_resolve_device_sanitises_the_hostname(tmp_path: Path) -> None:
    config = _default_config(tmp_path)
    assert resolve_device(None, config, {}, _host("My Mac (2)")) == "My-Mac--2-"
    assert resolve_device(None, config, {}, _host("")) == "unknown-host"


def test_resolve_device_rejects_explicit_bad_values(tmp_path: Path) -> None:
    config = _default_config(tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_device("a/b", config, {}, _host("h"))
    assert info.value.message == (
        "invalid device name 'a/b' (from --device):"
        " only letters, digits, '.', '_' and '-' are allowed"
    )
    with pytest.raises(ConfigError) as info:
        resolve_device(None, config, {"AUTOPACK_REGION": "eu west"}, _host("h"))
    assert info.value.message == (
        "invalid device name 'eu west' (from AUTOPACK_REGION):"
        " only letters, digits, '.', '_' and '-' are allowed"
    )


def test_resolve_device_default_hostname(tmp_path: Path) -> None:
    assert resolve_device(None, _default_config(tmp_path), {})


# ------------------------------------------------------------------------------ database URL


def test_resolve_database_url_order(tmp_path: Path) -> None:
    (tmp_path / ".sotsync.toml").write_text('database_url = "sqlite:///cfg.db"\n')
    config = load_config(_ws(tmp_path))
    env = {"SOTSYNC_DATABASE_URL": "sqlite:///a.db", "DATABASE_URL": "sqlite:///b.db"}
    assert resolve_database_url("sqlite:///cli.db", config, env) == (
        "sqlite:///cli.db",
        "--database-url",
    )
    assert resolve_database_url(None, config, env) == ("sqlite:///a.db", "SOTSYNC_DATABASE_URL")
    assert resolve_database_url(None, config, {"DATABASE_URL": "sqlite:///b.db"}) == (
        "sqlite:///b.db",
        "DATABASE_URL",
    )
    assert resolve_database_url(None, config, {}) == ("sqlite:///cfg.db", ".sotsync.toml")
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://u:p@h/db\n")
    assert resolve_database_url(None, config, {}) == (
        "postgresql://u:p@h/db",
        "DATABASE_URL in .env",
    )
    assert resolve_database_url(None, _default_config(tmp_path / "none"), {}) == (
        "sqlite:///./autopack.db",
        "default",
    )


def test_read_dotenv_forms(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "\ufeff# comment\n"
        "\n"
        "PLAIN=value # trailing comment\n"
        "export EXPORTED = 'single # not a comment'\n"
        'DOUBLE="a \\"quoted\\" value\\n" # c\n'
        "HASH=abc#def\n"
        "EMPTY=\n"
        "not a line\n"
        "1BAD=x\n"
        "DUP=first\n"
        "DUP=second\n"
        "CRLF=yes\r\n"
        "UNTERMINATED='open\n"
    )
    assert read_dotenv(tmp_path / ".env") == {
        "PLAIN": "value",
        "EXPORTED": "single # not a comment",
        "DOUBLE": 'a "quoted" value\n',
        "HASH": "abc#def",
        "EMPTY": "",
        "DUP": "second",
        "CRLF": "yes",
        "UNTERMINATED": "open",
    }
    assert read_dotenv(tmp_path / "missing") == {}


def test_read_dotenv_directory_is_ignored(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    assert read_dotenv(tmp_path / ".env") == {}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_read_dotenv_unreadable(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=sqlite:///x.db\n")
    env_file.chmod(0)
    command = [sys.executable, "-c", READ_DOTENV, str(env_file)]
    if os.geteuid() == 0:  # root reads anything: drop that privilege for the child
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert out == f"cannot read {env_file}: Permission denied\n"


READ_DOTENV = """
import sys
from pathlib import Path
from sotsync.config import read_dotenv
from sotsync.errors import ConfigError
try:
    read_dotenv(Path(sys.argv[1]))
except ConfigError as exc:
    print(exc.message)
"""


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://user:secret@host/db", "postgresql://user:***@host/db"),
        (
            "postgres://user:s3cr@t@host:5432/db?sslmode=require",
            "postgres://user:***@host:5432/db?sslmode=require",
        ),
        ("postgresql+psycopg://u:pa/ss@h/db", "postgresql+psycopg://u:***@h/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        (
            "postgresql://host/db?user=u&password=pw&x=1",
            "postgresql://host/db?user=u&password=***&x=1",
        ),
        ("sqlite:///./autopack.db", "sqlite:///./autopack.db"),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


# ------------------------------------------------------------------------------ write_config


MINE = (
    LedgerSpec("build", "docs/BUILD_HISTORY.md", "BUILD", "build_history"),
    LedgerSpec("ops", 'docs/ops "log".md', "OPS", "debug_log", "oldest-first"),
)


def test_write_sotsync_toml_and_read_it_back(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    path = write_config(ws, MINE, "sotsync.toml")
    assert path == tmp_path / ".sotsync.toml"
    assert path.read_text() == (
        "# sotsync configuration\n\n"
        '[[ledgers]]\nname = "build"\npath = "docs/BUILD_HISTORY.md"\nprefix = "BUILD"\n'
        'file_type = "build_history"\norder = "newest-first"\n\n'
        '[[ledgers]]\nname = "ops"\npath = "docs/ops \\"log\\".md"\nprefix = "OPS"\n'
        'file_type = "debug_log"\norder = "oldest-first"\n'
    )
    assert load_config(ws).ledgers == MINE
    before = path.stat().st_mtime_ns
    assert write_config(ws, MINE, "sotsync.toml") == path  # unchanged: nothing written
    assert path.stat().st_mtime_ns == before
    with pytest.raises(ConfigError) as info:
        write_config(ws, DEFAULT_LEDGERS, "sotsync.toml")
    assert info.value.message == ".sotsync.toml already exists and configures other ledgers"


def test_write_pyproject_appends_and_keeps_the_rest(tmp_path: Path) -> None:
    original = b'[project]\r\nname = "demo"  # keep me\r\n\r\n[tool.ruff]\r\nline-length = 99'
    (tmp_path / "pyproject.toml").write_bytes(original)
    os.chmod(tmp_path / "pyproject.toml", 0o640)
    ws = _ws(tmp_path)
    path = write_config(ws, DEFAULT_LEDGERS[:1], "pyproject")
    data = path.read_bytes()
    assert data == original + (
        b"\r\n\r\n[tool.sotsync]\r\n\r\n[[tool.sotsync.ledgers]]\r\n"
        b'name = "build"\r\npath = "docs/BUILD_HISTORY.md"\r\nprefix = "BUILD"\r\n'
        b'file_type = "build_history"\r\norder = "newest-first"\r\n'
    )
    assert path.stat().st_mode & 0o777 == 0o640
    assert load_config(ws).ledgers == DEFAULT_LEDGERS[:1]
    assert write_config(ws, DEFAULT_LEDGERS[:1], "pyproject") == path
    assert path.read_bytes() == data
    with pytest.raises(ConfigError) as info:
        write_config(ws, DEFAULT_LEDGERS, "pyproject")
    assert info.value.message == "pyproject.toml already has a [tool.sotsync] section"


def test_write_pyproject_created_when_missing(tmp_path: Path) -> None:
    path = write_config(_ws(tmp_path), DEFAULT_LEDGERS, "pyproject")
    assert path.read_text().startswith("[tool.sotsync]\n\n[[tool.sotsync.ledgers]]\n")
    assert load_config(_ws(tmp_path)).ledgers == DEFAULT_LEDGERS


def test_write_pyproject_existing_section_equal_to_defaults_is_unchanged(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.sotsync]\ndevice = "d"\n')
    before = (tmp_path / "pyproject.toml").read_bytes()
    write_config(_ws(tmp_path), DEFAULT_LEDGERS, "pyproject")
    assert (tmp_path / "pyproject.toml").read_bytes() == before


def test_write_pyproject_refusals(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("tool = {black = {}}\n")
    with pytest.raises(ConfigError) as info:
        write_config(ws, DEFAULT_LEDGERS, "pyproject")
    assert info.value.message == (
        "cannot add [tool.sotsync] to pyproject.toml: pyproject.toml: invalid TOML:"
        " Cannot declare ('tool', 'sotsync') twice (at line 3, column 14)"
    )
    pyproject.write_text("[project\n")
    with pytest.raises(ConfigError) as info:
        write_config(ws, DEFAULT_LEDGERS, "pyproject")
    assert info.value.message.startswith("pyproject.toml: invalid TOML: ")
    assert pyproject.read_text() == "[project\n"
    (tmp_path / ".sotsync.toml").write_text("")
    with pytest.raises(ConfigError) as info:
        write_config(ws, DEFAULT_LEDGERS, "pyproject")
    assert info.value.message == ".sotsync.toml exists and takes precedence over pyproject.toml"


def test_write_config_validates_the_ledgers(tmp_path: Path) -> None:
    bad = (LedgerSpec("x", "../x.md", "X", "debug_log"),)
    with pytest.raises(ConfigError) as info:
        write_config(_ws(tmp_path), bad, "sotsync.toml")
    assert (
        info.value.message == ".sotsync.toml: ledgers[0].path: '../x.md' escapes the workspace root"
    )
    assert not (tmp_path / ".sotsync.toml").exists()
