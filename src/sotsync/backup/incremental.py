"""Incremental backups: a ``git apply``-able patch of the ledgers between two recorded states.

The patch is made by git itself in a throw-away repository (base files staged and written as a
tree, new files staged, ``git diff --cached --binary`` against that tree), so it carries CRLF,
missing final newlines, added and deleted ledgers exactly, and applies with a plain ``git apply``
at the workspace root.  Every patch is applied back to its base before it is kept, and every
state reconstructed from a chain is compared with the sha256 sums its manifest recorded.  The
scratch repositories never see the workspace's own repository or configuration.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from sotsync.backup.full import Source, backup_name, base_manifest, publish, staging_dir
from sotsync.backup.manifest import (
    BackupError,
    BackupInfo,
    safe_relpath,
    state_of,
    write_manifest,
)
from sotsync.progress import NO_PROGRESS, Progress

PATCH = "ledgers.patch"
LEDGER_DIR = "ledgers"
# Settings that would change the bytes git stages or prints; the scratch repository pins them.
_PINNED = (
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.attributesFile=/dev/null",
    "core.quotepath=off",
    "core.fileMode=false",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "apply.whitespace=nowarn",
)


class _Scratch:
    """A throw-away git repository in a temporary directory."""

    def __init__(self, base: Path) -> None:
        self.root = base / "tree"
        self.root.mkdir()
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k == "GIT_EXEC_PATH"
        }
        self.env.update(
            GIT_DIR=str(base / "git"),
            GIT_WORK_TREE=str(self.root),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            LC_ALL="C",
        )
        init_env = {k: v for k, v in self.env.items() if k != "GIT_WORK_TREE"}
        self.git("init", "-q", env=init_env)
        self.git("config", "core.bare", "false")

    def git(self, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> bytes:
        command = ["git"]
        for setting in _PINNED:
            command += ["-c", setting]
        try:
            proc = subprocess.run(
                [*command, *args],
                input=stdin,
                capture_output=True,
                cwd=self.root,
                env=self.env if env is None else env,
                check=False,
            )
        except FileNotFoundError:
            raise BackupError(
                "git executable not found", hint="install git and make sure it is on PATH"
            ) from None
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise BackupError(
                f"git {args[0]} failed in a scratch repository: "
                + (message[0] if message else f"exit status {proc.returncode}")
            )
        return proc.stdout

    def put(self, files: Mapping[str, bytes]) -> None:
        """Make the work tree hold exactly *files*."""
        for child in self.root.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        for rel, data in files.items():
            path = self.root / safe_relpath(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def read(self) -> dict[str, bytes]:
        found = {}
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                path = Path(folder) / name
                found[path.relative_to(self.root).as_posix()] = path.read_bytes()
        return found


def make_patch(base: Mapping[str, bytes], new: Mapping[str, bytes]) -> bytes:
    """A binary git patch that turns *base* into *new*; checked by applying it back."""
    with tempfile.TemporaryDirectory(prefix="sotsync-patch-") as tmp:
        scratch = _Scratch(Path(tmp))
        scratch.put(base)
        scratch.git("add", "-A", ".")
        tree = scratch.git("write-tree").decode("ascii").strip()
        scratch.put(new)
        scratch.git("add", "-A", ".")
        patch = scratch.git(
            "diff",
            "--cached",
            "--binary",
            "--full-index",
            "--no-renames",
            "--no-color",
            "--no-ext-diff",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            tree,
        )
    if apply_patch(base, patch) != dict(new):
        raise BackupError("the ledger patch does not reproduce the current ledgers; not written")
    return patch


def apply_patch(base: Mapping[str, bytes], patch: bytes) -> dict[str, bytes]:
    """*base* with *patch* applied (``git apply``, all or nothing)."""
    if not patch.strip():
        return dict(base)
    with tempfile.TemporaryDirectory(prefix="sotsync-apply-") as tmp:
        scratch = _Scratch(Path(tmp))
        scratch.put(base)
        scratch.git("apply", "--binary", "-", stdin=patch)
        return scratch.read()


def ledgers_of(info: BackupInfo) -> dict[str, bytes]:
    """The ledger copies a full backup holds, by workspace path."""
    found = {}
    for rel in info.state["ledgers"]:
        path = info.path / LEDGER_DIR / safe_relpath(rel)
        try:
            found[rel] = path.read_bytes()
        except OSError as exc:
            raise BackupError(f"{path}: cannot read the ledger copy: {exc}") from None
    return found


def replay(chain: Sequence[BackupInfo]) -> dict[str, bytes]:
    """The ledgers as the last backup of *chain* recorded them (full copies, then each patch)."""
    ledgers = ledgers_of(chain[0])
    _check_state(chain[0], ledgers)
    for step in chain[1:]:
        try:
            patch = (step.path / PATCH).read_bytes()
        except OSError as exc:
            raise BackupError(f"{step.path / PATCH}: cannot read the patch: {exc}") from None
        try:
            ledgers = apply_patch(ledgers, patch)
        except BackupError as exc:
            raise BackupError(f"{step.path / PATCH} does not apply: {exc.message}") from None
        _check_state(step, ledgers)
    return ledgers


def _check_state(info: BackupInfo, ledgers: Mapping[str, bytes]) -> None:
    if state_of(ledgers)["id"] != info.state.get("id"):
        raise BackupError(
            f"{info.path}: the ledgers rebuilt from the chain differ from the state its "
            "manifest recorded",
            hint="restore the full backup or an earlier incremental",
        )


def write_incremental(
    dest: Path,
    source: Source,
    chain: Sequence[BackupInfo],
    sequence: int,
    now: datetime,
    progress: Progress = NO_PROGRESS,
) -> BackupInfo:
    """Write the patch from the state *chain*'s last backup recorded to the ledgers now."""
    previous = chain[-1]
    progress.stage("backup: ledger patch", None)
    base = replay(chain)
    new = {ledger.path: ledger.data for ledger in source.ledgers}
    patch = make_patch(base, new)
    name, created = backup_name(dest, now, "incremental")
    staging = staging_dir(dest, name, private=False)
    try:
        (staging / PATCH).write_bytes(patch)
        manifest = base_manifest(source, "incremental", sequence, name, created)
        manifest.update(
            engine=None,
            database=None,
            env="absent",
            base={
                "sequence": previous.sequence,
                "name": previous.name,
                "state": previous.state["id"],
            },
            states={"from": previous.state["id"], "to": manifest["state"]["id"]},
            changed=sorted(p for p in set(base) | set(new) if base.get(p) != new.get(p)),
        )
        write_manifest(staging, manifest)
        info = publish(staging, dest, name)
        progress.done()
        return info
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
