"""File backups of a workspace (SPEC §5): full copies, incremental ledger patches, archives.

This package owns the backup directory format: ``<dest>/<UTC YYYYMMDD-HHMMSS>-full/`` (a
consistent database copy, the ledgers, ``config/``, ``.sotsync.toml``, ``.env`` or its masked
copy) and ``<dest>/<stamp>-incr/`` (a ``git apply``-able patch of the ledgers from the state the
previous backup recorded), each with a ``MANIFEST.json`` that checksums every file; ``.tar.gz``
archives of a chain and their safe extraction; the restore journal that makes a restore
all-or-nothing across files; and pruning.  It does not resolve configuration, take the workspace
lock, print or read argv: the api layer (``sotsync.api.backups``) does that and passes values in.
"""

from sotsync.backup.manifest import (
    BackupError,
    BackupInfo,
    read_backup,
    scan_backups,
    verify_backup,
)

__all__ = ["BackupError", "BackupInfo", "read_backup", "scan_backups", "verify_backup"]
