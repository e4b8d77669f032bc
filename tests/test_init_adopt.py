"""``sotsync init --adopt``: expect_since is written once, in the file that configures sotsync."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sotsync import cli


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_adopt_writes_expect_since_once(make_repo, capsys) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    code, out, err = run(capsys, "--repo", repo.path, "init", "--adopt", "--no-hooks")
    assert (code, err) == (0, "")
    assert out.splitlines()[3].startswith("expect_since = ")
    config = tomllib.loads((repo.path / ".sotsync.toml").read_text(encoding="utf-8"))
    stamp = config["expect_since"]
    assert stamp.endswith("Z") and len(stamp) == len("2026-01-31T00:00:00Z")
    before = (repo.path / ".sotsync.toml").read_bytes()
    code, out, _err = run(capsys, "--repo", repo.path, "init", "--adopt", "--no-hooks")
    assert code == 0
    assert out == (
        "expect_since already set in .sotsync.toml; kept\n"
        "ledgers already present; nothing to create\n"
    )
    assert (repo.path / ".sotsync.toml").read_bytes() == before


def test_adopt_goes_into_an_existing_pyproject_table(make_repo, capsys) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n\n[tool.sotsync]\ndevice = "laptop"\n', encoding="utf-8"
    )
    code, _out, err = run(capsys, "--repo", repo.path, "init", "--adopt")
    assert (code, err) == (0, "")
    table = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["sotsync"]
    assert table["device"] == "laptop" and table["expect_since"].endswith("Z")
    assert not (repo.path / ".sotsync.toml").exists()
