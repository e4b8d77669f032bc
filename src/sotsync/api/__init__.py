"""One function per user verb: lint, fix, inspect, new, init, sync, reconcile, check, ...

This layer joins the pieces below it (config, files, git, locks, the ledger engine, the
database) and returns values for the CLI and the hooks to render.  It never prints, exits or
reads argv.  Its modules group the verbs by domain; everything public is re-exported here, so
callers write ``api.lint(...)``.
"""

from sotsync.api.common import BINARY_SNIFF, ledger_specs, load_ledger
from sotsync.api.database import (
    GENERATE_LIMIT,
    ReconcileResult,
    SyncResult,
    check,
    db_init,
    db_status,
    db_upgrade,
    open_database,
    reconcile,
    sync,
)
from sotsync.api.gitsetup import (
    HOOK_NAMES,
    HOOK_SCRIPT,
    MERGE_DRIVER,
    HookState,
    hooks_install,
    hooks_status,
    hooks_uninstall,
    merge_driver,
    merge_driver_command,
)
from sotsync.api.hookchecks import (
    Collision,
    LedgerChange,
    ledger_changes,
    lint_staged,
    push_collisions,
    staged_ledgers,
)
from sotsync.api.ledgers import (
    InitResult,
    NewEntry,
    describe,
    fix,
    init,
    inspect,
    new,
    reservation_ref,
    reserve_id,
    skeleton,
    unlock,
)
from sotsync.api.lint import LintReport, lint, read_baseline, write_baseline
from sotsync.api.snapshots import (
    SnapshotInfo,
    VerifyResult,
    snapshot_create,
    snapshot_list,
    snapshot_show,
    snapshot_verify,
)
from sotsync.api.status import status

__all__ = [
    "BINARY_SNIFF",
    "GENERATE_LIMIT",
    "HOOK_NAMES",
    "HOOK_SCRIPT",
    "MERGE_DRIVER",
    "Collision",
    "HookState",
    "InitResult",
    "LedgerChange",
    "LintReport",
    "NewEntry",
    "ReconcileResult",
    "SnapshotInfo",
    "SyncResult",
    "VerifyResult",
    "check",
    "db_init",
    "db_status",
    "db_upgrade",
    "describe",
    "fix",
    "hooks_install",
    "hooks_status",
    "hooks_uninstall",
    "init",
    "inspect",
    "ledger_changes",
    "ledger_specs",
    "lint",
    "lint_staged",
    "load_ledger",
    "merge_driver",
    "merge_driver_command",
    "new",
    "open_database",
    "push_collisions",
    "read_baseline",
    "reconcile",
    "reservation_ref",
    "reserve_id",
    "skeleton",
    "snapshot_create",
    "snapshot_list",
    "snapshot_show",
    "snapshot_verify",
    "staged_ledgers",
    "status",
    "sync",
    "unlock",
    "write_baseline",
]
