"""The backup directory's description: ``MANIFEST.json``, its checksum, naming and chains.

A backup directory holds ``MANIFEST.json`` (what the backup is and the sha256 of every other
file) and ``MANIFEST.sha256`` (the sha256 of the manifest itself), so that one changed byte in
any file, the manifest included, is found and named.  This module reads, writes and verifies
them, lists the backups of a destination and resolves the chain an incremental backup needs.
It never changes a backup it did not just write.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sotsync.errors import SotsyncError

FORMAT = 1
MANIFEST = "MANIFEST.json"
MANIFEST_SUM = "MANIFEST.sha256"
NAME = re.compile(r"(\d{8}-\d{6})-(full|incr)")
KINDS = {"full": "full", "incr": "incremental"}
PARTIAL = ".partial-"  # a backup being written: ``.<name>.partial-<random>``


class BackupError(SotsyncError):
    """A backup cannot be written, read, verified or restored (exit 3)."""

    default_hint = "run `sotsync backup verify` and `sotsync backup list` to see what is there"


@dataclass(frozen=True)
class BackupInfo:
    """One backup directory and its (checksum-verified) manifest."""

    path: Path
    manifest: Mapping[str, Any] = field(hash=False)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sequence(self) -> int:
        return int(self.manifest["sequence"])

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def created(self) -> str:
        return str(self.manifest["created"])

    @property
    def state(self) -> Mapping[str, Any]:
        return dict(self.manifest["state"])

    @property
    def base(self) -> Mapping[str, Any] | None:
        base = self.manifest.get("base")
        return dict(base) if isinstance(base, Mapping) else None


def file_sha256(path: Path) -> str:
    with path.open("rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        if size == 0:
            return hashlib.sha256().hexdigest()
        # Hashing the mapped file reads the page cache without copying it into Python.
        with mmap.mmap(stream.fileno(), size, access=mmap.ACCESS_READ) as mapped:
            return hashlib.sha256(mapped).hexdigest()


def state_of(ledgers: Mapping[str, bytes]) -> dict[str, Any]:
    """The recorded state of a set of ledgers: sha256 per path and one id for the whole set."""
    sums = {path: hashlib.sha256(data).hexdigest() for path, data in sorted(ledgers.items())}
    return {"id": state_id(sums), "ledgers": sums}


def state_id(sums: Mapping[str, str]) -> str:
    text = "".join(f"{path}\0{digest}\n" for path, digest in sorted(sums.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def safe_relpath(path: str) -> str:
    """*path* if it is a plain relative POSIX path (no ``..``, no root, no backslash)."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\0" in path
        or re.match(r"[A-Za-z]:", path)
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise BackupError(
            f"unsafe path {path!r} in a backup manifest; nothing restored",
            hint="the backup was not written by sotsync or was tampered with",
        )
    return path


def walk_files(root: Path) -> Iterable[tuple[str, Path]]:
    """(relative POSIX path, path) of every entry below *root* that is not a directory."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(folder)
        for name in sorted(files) + sorted(d for d in dirs if (base / d).is_symlink()):
            path = base / name
            yield path.relative_to(root).as_posix(), path


def write_manifest(
    directory: Path, manifest: dict[str, Any], known: Mapping[str, Mapping[str, Any]] | None = None
) -> bytes:
    """Checksum every file of *directory* into *manifest*; write it and its own checksum.

    *known* holds checksums already computed (by the thread that wrote those files).
    """
    files: dict[str, Any] = {}
    for rel, path in walk_files(directory):
        if rel in (MANIFEST, MANIFEST_SUM):
            continue
        if known is not None and rel in known:
            files[rel] = dict(known[rel])
        else:
            files[rel] = {"sha256": file_sha256(path), "size": path.stat().st_size}
    manifest["files"] = files
    data = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False).encode() + b"\n"
    _write_synced(directory / MANIFEST, data)
    digest = hashlib.sha256(data).hexdigest()
    _write_synced(directory / MANIFEST_SUM, f"{digest}  {MANIFEST}\n".encode())
    return data


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def read_backup(path: Path) -> BackupInfo:
    """The backup at *path*; BackupError when its manifest is missing, altered or unreadable."""
    manifest_path = path / MANIFEST
    try:
        data = manifest_path.read_bytes()
        recorded = (path / MANIFEST_SUM).read_text(encoding="ascii").split()
    except FileNotFoundError as exc:
        raise BackupError(
            f"{path}: not a sotsync backup ({Path(exc.filename).name} is missing)",
            hint="give a directory written by `sotsync backup`, or its .tar.gz archive",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupError(f"{path}: cannot read the manifest: {exc}") from None
    if not recorded or hashlib.sha256(data).hexdigest() != recorded[0]:
        raise BackupError(
            f"{manifest_path}: checksum mismatch against {MANIFEST_SUM} "
            "(the manifest was changed or damaged)",
            hint="restore from another copy of this backup",
        )
    try:
        manifest = json.loads(data)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ValueError(f"unknown format {manifest.get('format')!r}")
        for key in ("sequence", "kind", "created", "state", "files"):
            if key not in manifest:
                raise ValueError(f"no {key!r}")
        int(manifest["sequence"])
    except (ValueError, TypeError, AttributeError) as exc:
        raise BackupError(
            f"{manifest_path}: not a backup manifest this sotsync reads: {exc}"
        ) from None
    return BackupInfo(path, manifest)


def verify_backup(info: BackupInfo) -> list[str]:
    """Every file of the backup present with its recorded sha256, and nothing else there."""
    problems = []
    recorded: Mapping[str, Any] = info.manifest["files"]
    for rel, entry in sorted(recorded.items()):
        path = info.path / rel
        if path.is_symlink() or not path.is_file():
            problems.append(f"{path}: missing (listed in {MANIFEST})")
        elif file_sha256(path) != entry.get("sha256"):
            problems.append(f"{path}: checksum mismatch (the file was changed or damaged)")
    for rel, path in walk_files(info.path):
        if rel not in recorded and rel not in (MANIFEST, MANIFEST_SUM):
            problems.append(f"{path}: unexpected file (not listed in {MANIFEST})")
    return problems


def scan_backups(dest: Path) -> tuple[list[BackupInfo], list[str]]:
    """The readable backups in *dest* by sequence, and a problem line per unreadable one."""
    found: list[BackupInfo] = []
    problems: list[str] = []
    if not dest.is_dir():
        return found, problems
    for child in sorted(dest.iterdir()):
        if not NAME.fullmatch(child.name) or not child.is_dir():
            continue
        try:
            found.append(read_backup(child))
        except BackupError as exc:
            problems.append(exc.message)
    found.sort(key=lambda b: (b.sequence, b.name))
    return found, problems


def chain_of(target: BackupInfo, backups: Iterable[BackupInfo]) -> list[BackupInfo]:
    """The full backup and the incrementals up to *target*, oldest first; BackupError on a gap."""
    by_sequence = {b.sequence: b for b in backups}
    chain = [target]
    current = target
    while current.kind != "full":
        base = current.base
        if base is None:
            raise BackupError(f"{current.path}: incremental backup without a base in {MANIFEST}")
        wanted = int(base["sequence"])
        found = by_sequence.get(wanted)
        if found is None or found.name != base.get("name"):
            named = str(base.get("name"))
            if NAME.fullmatch(named) and (current.path.parent / named).is_dir():
                read_backup(current.path.parent / named)  # raises: says what is wrong with it
            raise BackupError(
                f"the chain of incremental backups has a gap: backup #{wanted} "
                f"({base.get('name')}), the base of #{current.sequence} ({current.name}), "
                f"is missing from {current.path.parent}",
                hint="copy the missing backup next to the others, or restore an earlier one",
            )
        if found.state.get("id") != base.get("state"):
            raise BackupError(
                f"the chain is broken: {found.name} does not hold the state that "
                f"{current.name} was taken against",
                hint="restore the full backup or an earlier incremental",
            )
        chain.append(found)
        current = found
    chain.reverse()
    return chain
