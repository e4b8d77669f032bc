"""Reading and crash-safe writing of ledger files.

This module owns the two byte-level file operations every ledger command needs: reading a ledger
whole (turning each way that can fail into a ``LedgerError`` with a hint) and replacing a file
atomically (temp file in the same directory, fsync, ``os.replace``, directory fsync), so that a
process killed at any point leaves either the old or the new bytes, never a partial file.  It must
not interpret the bytes (no decoding, no parsing), take locks, or know about configuration.
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
from pathlib import Path

from sotsync.errors import LedgerError

TMP_MARKER = ".sotsync-tmp-"


def _shown(path: Path, display: str | None) -> str:
    return display if display is not None else str(path)


def read_ledger_bytes(path: Path, display: str | None = None) -> bytes:
    """Return the whole content of the ledger at *path*.

    *display* is how the file is named in error messages (usually its workspace-relative path);
    it defaults to *path* itself.
    """
    shown = _shown(path, display)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LedgerError(
            f"ledger not found: {shown}",
            hint="check the ledger path in the configuration, or run `sotsync init` to create it",
        ) from None
    except IsADirectoryError:
        raise LedgerError(
            f"{shown} is a directory, not a ledger file",
            hint="point the ledger path in the configuration at a Markdown file",
        ) from None
    except PermissionError:
        # On Windows opening a directory also fails with a permission error.
        if path.is_dir():
            raise LedgerError(
                f"{shown} is a directory, not a ledger file",
                hint="point the ledger path in the configuration at a Markdown file",
            ) from None
        raise LedgerError(
            f"cannot read {shown}: permission denied",
            hint="check the file's permissions and owner",
        ) from None
    except NotADirectoryError:
        raise LedgerError(
            f"ledger not found: {shown} (a parent of it is a file, not a directory)",
            hint="check the ledger path in the configuration",
        ) from None
    except OSError as exc:
        raise LedgerError(
            f"cannot read {shown}: {exc.strerror or exc}",
            hint="check that the file system holding the ledger is readable",
        ) from None


def fsync_file(path: Path) -> None:
    """Flush a file that was written through another handle (sqlite3, a library) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make renames and new names in ``directory`` durable.

    Not possible on Windows or some file systems, and the renames are atomic without it, so
    failures are ignored.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temp(directory: Path, name: str) -> tuple[int, Path]:
    # Not tempfile.mkstemp: it forces mode 0600, and a new ledger should get the umask's mode.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = directory / f".{name}{TMP_MARKER}{os.urandom(6).hex()}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _remove_stale_temps(directory: Path, name: str) -> None:
    """Remove temp files of earlier writes of ``name`` that were killed before their rename.

    Every writer of a file sotsync owns holds the workspace lock (the merge driver writes a
    file git gives it alone), so a temp file of the same name that exists after our rename
    belongs to a dead process: without this, each kill would leave an untracked file behind.
    """
    for stale in directory.glob(f".{glob.escape(name)}{TMP_MARKER}*"):
        with contextlib.suppress(OSError):
            stale.unlink()


def atomic_write_bytes(path: Path, data: bytes, display: str | None = None) -> None:
    """Replace the content of *path* with *data* so that readers see the old or the new bytes.

    The mode bits of the file being replaced are kept; a symlink is followed and its target
    replaced.  The temp file is removed on any failure.  Errors become ``LedgerError``.
    """
    shown = _shown(path, display)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    directory = target.parent
    if target.is_dir():
        raise LedgerError(
            f"cannot write {shown}: it is a directory, not a file",
            hint="point the ledger path in the configuration at a Markdown file",
        )
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise LedgerError(
            f"cannot write {shown}: {exc.strerror or exc}",
            hint="check the file's permissions and owner",
        ) from None
    tmp: Path | None = None
    try:
        fd, tmp = _create_temp(directory, target.name)
        with open(fd, "wb") as stream:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None and not hasattr(os, "fchmod"):
            os.chmod(tmp, mode)
        os.replace(tmp, target)
        tmp = None
        _remove_stale_temps(directory, target.name)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileNotFoundError) and not directory.is_dir():
            reason = f"directory {directory} does not exist"
        raise LedgerError(
            f"cannot write {shown}: {reason}",
            hint="check that the directory exists and is writable, and that the disk is not full",
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    fsync_directory(directory)
