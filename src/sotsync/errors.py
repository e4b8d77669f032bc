"""The one error family of sotsync.

Every failure a user can act on is a ``SotsyncError`` carrying a message, a hint and the exit code
of SPEC §8.  Library code raises these; only ``sotsync.cli.main`` catches them and turns them into
``sotsync: error: ...`` / ``hint: ...`` lines.  Nothing here prints or exits.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_FAILURE = 3
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130


class SotsyncError(Exception):
    """An expected failure: the user can fix its cause (exit 3 unless a subclass says otherwise)."""

    exit_code: int = EXIT_FAILURE
    default_hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class UsageError(SotsyncError):
    """The command line itself is wrong (exit 2)."""

    exit_code = EXIT_USAGE
    default_hint = "run the command with --help for its options and an example"


class ConfigError(SotsyncError):
    """The workspace or its configuration is not usable."""

    default_hint = "see `sotsync init --help` and the configuration section of the README"


class WorkspaceError(ConfigError):
    """No git repository, or a path outside it."""

    default_hint = "run sotsync inside a git repository or pass --repo DIR"


class LedgerError(SotsyncError):
    """A ledger file cannot be read or written (missing, a directory, unreadable, binary)."""


class LockError(SotsyncError):
    """The workspace lock is held by someone else or could not be taken."""

    default_hint = "wait for the other sotsync process, or run `sotsync unlock` if it is gone"


class GitError(SotsyncError):
    """A git operation failed (bad revision, missing object, git binary error)."""


class DatabaseError(SotsyncError):
    """The database is missing, unreachable, corrupt or has the wrong schema."""
