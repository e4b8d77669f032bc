"""Which backups ``backup prune`` keeps, and removing the others without half-deleted backups.

Kept: the newest ``keep_last`` backups, the newest backup of each of the ``keep_daily`` most
recent UTC days that have one, and every backup in the chain of a kept incremental (its full
base and the incrementals between).  A backup is removed by renaming it to a hidden partial name
first, so that a kill during the removal never leaves a damaged backup that still looks valid.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from sotsync.backup.manifest import PARTIAL, BackupError, BackupInfo, chain_of


@dataclass(frozen=True)
class BackupPruneResult:
    kept: tuple[BackupInfo, ...]
    removed: tuple[BackupInfo, ...]
    kept_as_base: tuple[str, ...]  # names kept only because a kept incremental needs them


def choose(
    backups: Sequence[BackupInfo], keep_last: int, keep_daily: int
) -> tuple[set[str], set[str]]:
    """(names to keep, names kept only as bases)."""
    newest_first = sorted(backups, key=lambda b: b.sequence, reverse=True)
    keep = {b.name for b in newest_first[:keep_last]}
    days: dict[str, BackupInfo] = {}
    for info in newest_first:
        days.setdefault(info.created[:10], info)
    for day in sorted(days, reverse=True)[:keep_daily]:
        keep.add(days[day].name)
    bases: set[str] = set()
    for info in backups:
        if info.name in keep and info.kind != "full":
            try:
                chain = chain_of(info, backups)
            except BackupError:
                continue  # a broken chain keeps what is there; verify reports it
            bases |= {b.name for b in chain if b.name not in keep}
    return keep | bases, bases


def prune(
    backups: Sequence[BackupInfo], keep_last: int, keep_daily: int, dry_run: bool = False
) -> BackupPruneResult:
    keep, bases = choose(backups, keep_last, keep_daily)
    removed = tuple(b for b in backups if b.name not in keep)
    if not dry_run:
        for info in removed:
            doomed = info.path.with_name(f".{info.name}{PARTIAL}{secrets.token_hex(4)}")
            info.path.rename(doomed)
            shutil.rmtree(doomed, ignore_errors=True)
            archive = info.path.with_name(f"{info.name}.tar.gz")
            archive.unlink(missing_ok=True)
    kept = tuple(b for b in backups if b.name in keep)
    return BackupPruneResult(kept, removed, tuple(sorted(bases)))
