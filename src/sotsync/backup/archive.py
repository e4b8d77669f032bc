"""``.tar.gz`` archives of a backup chain, and their safe extraction.

An archive holds the backup it is named after and every backup its chain needs, each as a
top-level directory, so that it restores on its own on another machine.  Extraction reads the
whole member list first and refuses the archive (naming the member) when any member has an
absolute path, a ``..`` component, is a symbolic or hard link, a device, a FIFO, or anything
but a regular file or directory; only then is anything written, file by file, never through
``tarfile.extractall``.
"""

from __future__ import annotations

import os
import re
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from sotsync.backup.manifest import PARTIAL, BackupError, BackupInfo, walk_files

SUFFIXES = (".tar.gz", ".tgz")
_CHUNK = 1 << 20


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(SUFFIXES)


def write_archive(dest: Path, chain: Sequence[BackupInfo]) -> Path:
    """``<dest>/<name>.tar.gz`` holding *chain* (its last backup names it); atomic rename."""
    name = chain[-1].name
    final = dest / f"{name}.tar.gz"
    partial = dest / f".{name}.tar.gz{PARTIAL}{os.getpid()}"
    try:
        with tarfile.open(partial, "w:gz") as tar:
            for info in chain:
                for rel, path in walk_files(info.path):
                    member = tar.gettarinfo(str(path), arcname=f"{info.name}/{rel}")
                    member.uid = member.gid = 0
                    member.uname = member.gname = ""
                    member.mode = 0o600 if rel.endswith(".env") else 0o644
                    with path.open("rb") as stream:
                        tar.addfile(member, stream)
        with partial.open("rb") as stream:
            os.fsync(stream.fileno())
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def _refusal(archive: Path, member: tarfile.TarInfo) -> str | None:
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return f"member {name!r} has an absolute path"
    if ".." in parts:
        return f"member {name!r} has a '..' component"
    if member.issym():
        return f"member {name!r} is a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"member {name!r} is a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return f"member {name!r} is a device file"
    if member.isfifo():
        return f"member {name!r} is a FIFO"
    if not (member.isfile() or member.isdir()):
        return f"member {name!r} is not a regular file or directory"
    return None


def _members(archive: Path) -> list[tarfile.TarInfo]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            return tar.getmembers()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(
            f"{archive}: not a readable .tar.gz archive ({type(exc).__name__}: {exc})",
            hint="the archive is truncated or damaged; copy it again",
        ) from None


def check_archive(archive: Path) -> list[tarfile.TarInfo]:
    """The members of *archive*; BackupError naming the first unsafe member."""
    members = _members(archive)
    for member in members:
        problem = _refusal(archive, member)
        if problem is not None:
            raise BackupError(
                f"{archive}: refused, {problem}; nothing was extracted",
                hint="only restore archives written by `sotsync backup --archive`",
            )
    if not members:
        raise BackupError(f"{archive}: the archive is empty")
    return members


def extract_archive(archive: Path, into: Path) -> list[Path]:
    """Check, then extract *archive* below *into* (created here); the top-level directories."""
    members = check_archive(archive)
    into.mkdir(mode=0o700)
    tops: list[Path] = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in members:
                target = into.joinpath(*member.name.split("/"))
                top = into / member.name.split("/")[0]
                if top not in tops:
                    tops.append(top)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with open(fd, "wb") as stream:
                    while block := source.read(_CHUNK):
                        stream.write(block)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise BackupError(
            f"{archive}: extraction failed ({type(exc).__name__}: {exc})",
            hint="the archive is truncated or damaged; copy it again",
        ) from None
    except FileExistsError as exc:
        raise BackupError(f"{archive}: member {exc.filename} appears twice; refused") from None
    return [t for t in tops if t.is_dir()]
