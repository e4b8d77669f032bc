"""What a snapshot is to its callers: its metadata in, its description out, and the
constants of the format.

Part of the snapshot package: no configuration, no lock, no printing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MANIFEST = "MANIFEST.json"
CAS_ATTEMPTS = 5
IDENTITY = "sotsync <sotsync@localhost>"
SKIPPED_TABLES = ("sqlite_stat",)  # planner statistics: derived, rebuilt by ANALYZE
TEXT_TYPES = ("text", "character varying", "character", "citext")
TRAILERS = ("Device", "Sotsync-Version", "Database", "Workspace-Head")


@dataclass(frozen=True)
class SnapshotMeta:
    """What a snapshot's commit records besides its data."""

    device: str
    version: str
    database: str  # already redacted
    workspace_head: str | None
    message: str | None = None


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot commit, its trailers and manifest; counts of new objects for a fresh one."""

    commit: str
    tree: str
    ref: str | None
    parent: str | None
    time: str
    subject: str
    trailers: Mapping[str, str] = field(hash=False)
    manifest: Mapping[str, Any] = field(hash=False)
    new_objects: int = 0
    new_bytes: int = 0
    tag: str | None = None

    @property
    def device(self) -> str | None:
        return self.trailers.get("Device")

    @property
    def rows(self) -> int:
        return sum(int(t.get("rows", 0)) for t in self.manifest.get("tables", {}).values())
