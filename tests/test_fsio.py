from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sotsync.errors import LedgerError
from sotsync.fsio import TMP_MARKER, atomic_write_bytes, read_ledger_bytes

CONTENT = "\ufeff# Ledger\r\n| a \\| b |\r\nno final newline".encode()


def _run_python(code: str, *, drop_dac: bool = False) -> str:
    """Run *code* in a fresh interpreter; with *drop_dac*, without root's permission bypass."""
    command = [sys.executable, "-c", code]
    if drop_dac and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot test permission errors")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".sotsync-tmp-" in p.name)


# ------------------------------------------------------------------------------ reading


def test_read_returns_the_exact_bytes(tmp_path: Path) -> None:
    (tmp_path / "X.md").write_bytes(CONTENT)
    assert read_ledger_bytes(tmp_path / "X.md") == CONTENT


def test_read_missing(tmp_path: Path) -> None:
    with pytest.raises(LedgerError) as info:
        read_ledger_bytes(tmp_path / "docs" / "X.md", "docs/X.md")
    assert info.value.message == "ledger not found: docs/X.md"
    assert info.value.hint == (
        "check the ledger path in the configuration, or run `sotsync init` to create it"
    )
    assert info.value.exit_code == 3
    with pytest.raises(LedgerError) as info:
        read_ledger_bytes(tmp_path / "X.md")
    assert info.value.message == f"ledger not found: {tmp_path / 'X.md'}"


def test_read_directory(tmp_path: Path) -> None:
    (tmp_path / "docs" / "X.md").mkdir(parents=True)
    with pytest.raises(LedgerError) as info:
        read_ledger_bytes(tmp_path / "docs" / "X.md", "docs/X.md")
    assert info.value.message == "docs/X.md is a directory, not a ledger file"


def test_read_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "docs").write_text("")
    with pytest.raises(LedgerError) as info:
        read_ledger_bytes(tmp_path / "docs" / "X.md", "docs/X.md")
    assert info.value.message == (
        "ledger not found: docs/X.md (a parent of it is a file, not a directory)"
    )


def test_read_other_os_error(tmp_path: Path) -> None:
    (tmp_path / "a.md").symlink_to(tmp_path / "b.md")
    (tmp_path / "b.md").symlink_to(tmp_path / "a.md")
    with pytest.raises(LedgerError) as info:
        read_ledger_bytes(tmp_path / "a.md", "a.md")
    assert info.value.message == "cannot read a.md: Too many levels of symbolic links"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_read_permission_denied(tmp_path: Path) -> None:
    ledger = tmp_path / "X.md"
    ledger.write_bytes(CONTENT)
    ledger.chmod(0)
    out = _run_python(
        "from pathlib import Path\n"
        "from sotsync.errors import LedgerError\n"
        "from sotsync.fsio import read_ledger_bytes\n"
        "try:\n"
        f"    read_ledger_bytes(Path({str(ledger)!r}), 'docs/X.md')\n"
        "except LedgerError as exc:\n"
        "    print(exc.message, '|', exc.hint)\n",
        drop_dac=True,
    )
    assert (
        out == "cannot read docs/X.md: permission denied | check the file's permissions and owner"
    )


# ------------------------------------------------------------------------------ writing


def test_write_new_file_uses_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "X.md", CONTENT)
    finally:
        os.umask(old)
    assert (tmp_path / "X.md").read_bytes() == CONTENT
    assert (tmp_path / "X.md").stat().st_mode & 0o777 == 0o640
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("mode", [0o600, 0o755, 0o444])
def test_write_replaces_and_keeps_the_mode(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "X.md"
    target.write_bytes(b"old")
    target.chmod(mode)
    inode = target.stat().st_ino
    atomic_write_bytes(target, CONTENT)
    assert target.read_bytes() == CONTENT
    assert target.stat().st_mode & 0o777 == mode
    assert target.stat().st_ino != inode  # replaced, not rewritten in place
    assert _leftovers(tmp_path) == []


def test_write_follows_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "X.md").write_bytes(b"old")
    (tmp_path / "link.md").symlink_to(tmp_path / "real" / "X.md")
    atomic_write_bytes(tmp_path / "link.md", b"new")
    assert (tmp_path / "link.md").is_symlink()
    assert (tmp_path / "real" / "X.md").read_bytes() == b"new"
    assert _leftovers(tmp_path / "real") == []


def test_write_into_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(LedgerError) as info:
        atomic_write_bytes(tmp_path / "docs" / "X.md", b"x", "docs/X.md")
    assert info.value.message == (
        f"cannot write docs/X.md: directory {tmp_path / 'docs'} does not exist"
    )


def test_write_over_a_directory(tmp_path: Path) -> None:
    (tmp_path / "X.md").mkdir()
    with pytest.raises(LedgerError) as info:
        atomic_write_bytes(tmp_path / "X.md", b"x", "X.md")
    assert info.value.message == "cannot write X.md: it is a directory, not a file"
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_write_into_a_read_only_directory(tmp_path: Path) -> None:
    (tmp_path / "X.md").write_bytes(b"old")
    tmp_path.chmod(0o555)
    try:
        out = _run_python(
            "from pathlib import Path\n"
            "from sotsync.errors import LedgerError\n"
            "from sotsync.fsio import atomic_write_bytes\n"
            "try:\n"
            f"    atomic_write_bytes(Path({str(tmp_path / 'X.md')!r}), b'new', 'X.md')\n"
            "except LedgerError as exc:\n"
            "    print(exc.message)\n",
            drop_dac=True,
        )
    finally:
        tmp_path.chmod(0o755)
    assert out == "cannot write X.md: Permission denied"
    assert (tmp_path / "X.md").read_bytes() == b"old"


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_failed_write_removes_the_temp_file_and_keeps_the_old_content(tmp_path: Path) -> None:
    # A real failure after the temp file exists: the file size limit is hit mid-write.
    target = tmp_path / "X.md"
    target.write_bytes(b"old content")
    out = _run_python(
        "import resource, signal\n"
        "from pathlib import Path\n"
        "from sotsync.errors import LedgerError\n"
        "from sotsync.fsio import atomic_write_bytes\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))\n"
        "try:\n"
        f"    atomic_write_bytes(Path({str(target)!r}), b'x' * 100000, 'X.md')\n"
        "except LedgerError as exc:\n"
        "    print(exc.message)\n"
    )
    assert out == "cannot write X.md: File too large"
    assert target.read_bytes() == b"old content"
    assert _leftovers(tmp_path) == []


def test_write_removes_temp_files_of_killed_writes_of_the_same_file(tmp_path: Path) -> None:
    target = tmp_path / "LEDGER.md"
    stale = tmp_path / f".LEDGER.md{TMP_MARKER}0123456789ab"
    other = tmp_path / f".OTHER.md{TMP_MARKER}0123456789ab"
    stale.write_bytes(b"half a ledg")
    other.write_bytes(b"another file's")
    atomic_write_bytes(target, b"whole\n")
    assert target.read_bytes() == b"whole\n"
    assert not stale.exists()
    assert other.exists()  # only temp files of the file written are ours to judge
