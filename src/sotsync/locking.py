"""The workspace lock: one writer at a time per repository, across processes (SPEC §6).

This module owns the ``filelock`` lock at ``<git common dir>/sotsync/lock`` (``<root>/.sotsync/
lock`` without git), shared by all worktrees of a clone, and the holder record beside it (host,
pid, command, UTC time) that names who holds the lock, tells a stale holder from a live one and
lets ``sotsync unlock`` clean up.  It must not decide what is written under the lock, and it never
breaks a lock that a live process holds.  ``filelock`` is imported only when a lock is taken.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sotsync.errors import LockError

if TYPE_CHECKING:
    from datetime import datetime

    from sotsync.config import Workspace

LOCK_NAME = "lock"
HOLDER_NAME = "lock.holder.json"


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held, if it died) the workspace lock."""

    host: str
    pid: int
    command: str
    time: str

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host} ({self.command}, since {self.time})"


def lock_dir(ws: Workspace) -> Path:
    """The directory holding the lock file and its holder record."""
    if ws.git_common_dir is not None:
        return ws.git_common_dir / "sotsync"
    return ws.root / ".sotsync"


def lock_path(ws: Workspace) -> Path:
    return lock_dir(ws) / LOCK_NAME


def holder_path(ws: Workspace) -> Path:
    return lock_dir(ws) / HOLDER_NAME


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _utc_now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def read_holder(ws: Workspace) -> Holder | None:
    """The recorded holder, or None when there is no (readable, well-formed) record."""
    import json

    try:
        data = json.loads(holder_path(ws).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    host, pid, command, time = (data.get(k) for k in ("host", "pid", "command", "time"))
    if not (
        isinstance(host, str)
        and isinstance(pid, int)
        and isinstance(command, str)
        and isinstance(time, str)
    ):
        return None
    return Holder(host, pid, command, time)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return bool(code.value == 259)  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    return True


def is_stale(holder: Holder, hostname: Callable[[], str] | None = None) -> bool:
    """True when the holder ran on this host and its process is gone.

    A holder on another host cannot be checked from here and is never called stale.
    """
    return holder.host == (hostname or _hostname)() and not pid_alive(holder.pid)


def _write_holder(path: Path, holder: Holder) -> None:
    # Atomic (readers never see half a record) but not fsynced: the record only describes the
    # lock, which itself lives in the kernel and dies with its process.
    import json

    data = json.dumps(
        {"host": holder.host, "pid": holder.pid, "command": holder.command, "time": holder.time},
        sort_keys=True,
    ).encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data + b"\n")
        os.replace(tmp, path)
    except OSError:
        with suppress(OSError):
            tmp.unlink()
        raise


def _remove(path: Path) -> None:
    with suppress(FileNotFoundError):
        path.unlink()


def _held_error(ws: Workspace, hostname: Callable[[], str]) -> LockError:
    holder = read_holder(ws)
    if holder is None:
        return LockError(f"workspace lock {lock_path(ws)} is held by another process")
    if is_stale(holder, hostname):
        return LockError(
            f"workspace lock held by {holder.describe()}; that process is gone (stale lock)",
            hint="run `sotsync unlock` to break the stale lock",
        )
    return LockError(f"workspace lock held by {holder.describe()}")


@contextmanager
def workspace_lock(
    ws: Workspace,
    command: str,
    timeout: float = 10.0,
    *,
    hostname: Callable[[], str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Iterator[None]:
    """Hold the workspace lock for the ``with`` block; LockError after *timeout* seconds.

    *command* is what the holder record shows, e.g. ``"sotsync new"``.
    """
    from datetime import UTC

    from filelock import FileLock, Timeout

    get_host = hostname or _hostname
    directory = lock_dir(ws)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LockError(
            f"cannot create the lock directory {directory}: {exc.strerror or exc}",
            hint="check that the repository's git directory is writable",
        ) from None
    lock = FileLock(str(lock_path(ws)), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise _held_error(ws, get_host) from None
    except OSError as exc:
        raise LockError(
            f"cannot take the workspace lock {lock_path(ws)}: {exc.strerror or exc}",
            hint="check that the repository's git directory is writable",
        ) from None
    try:
        now = (clock or _utc_now)().astimezone(UTC)
        holder = Holder(get_host(), os.getpid(), command, now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        try:
            _write_holder(holder_path(ws), holder)
        except OSError as exc:
            raise LockError(
                f"cannot write the lock holder record {holder_path(ws)}: {exc.strerror or exc}",
                hint="check that the repository's git directory is writable",
            ) from None
        try:
            yield
        finally:
            _remove(holder_path(ws))
    finally:
        lock.release()


def break_lock(ws: Workspace) -> Holder | None:
    """Remove a leftover holder record once the lock is free; return the record removed.

    Refuses (LockError) while a live process holds the lock: the lock itself dies with its
    process, so only the record can outlive it.
    """
    from filelock import FileLock, Timeout

    holder = read_holder(ws)
    if not lock_dir(ws).is_dir():
        return holder
    lock = FileLock(str(lock_path(ws)), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        described = f" (record: {holder.describe()})" if holder is not None else ""
        raise LockError(
            f"workspace lock is held by a running process{described}; not breaking it",
            hint="wait for that process to finish, or stop it first",
        ) from None
    except OSError as exc:
        raise LockError(
            f"cannot take the workspace lock {lock_path(ws)}: {exc.strerror or exc}"
        ) from None
    try:
        _remove(holder_path(ws))
    finally:
        lock.release()
    return holder
