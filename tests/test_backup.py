"""`sotsync backup`, `backup list|verify|prune` and `restore` on SQLite workspaces (SPEC §5)."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import GitRepo
from test_backup_support import (
    SECRET,
    Sot,
    backups_dir,
    db_rows,
    ledgers,
    make_db,
    only_backup,
    tree_digest,
    workspace,
)


@pytest.fixture
def repo(make_repo: Callable[..., GitRepo]) -> GitRepo:
    return workspace(make_repo)


def _manifest(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((path / "MANIFEST.json").read_bytes())
    return data


# --------------------------------------------------------------------------- full backups


def test_full_backup_holds_a_consistent_copy_and_a_manifest_of_every_file(
    repo: GitRepo, sot: Sot
) -> None:
    code, out, err = sot("--repo", repo.path, "backup")
    assert code == 0, err
    backup = only_backup(backups_dir(repo))
    assert out == f"backup #1 (full) written to {backup}\n"
    assert len(backup.name) == len("20260101-120000-full")
    manifest = _manifest(backup)
    assert manifest["sequence"] == 1
    assert manifest["kind"] == "full"
    assert str(manifest["created"]).endswith("Z")
    assert manifest["tool_version"]
    assert manifest["head"] == repo.git("rev-parse", "HEAD")
    assert manifest["engine"] == "sqlite"
    assert manifest["env"] == "masked"
    counts = {entry["path"]: entry["entries"] for entry in manifest["ledgers"]}  # type: ignore[attr-defined]
    assert counts == {"docs/BUILD_HISTORY.md": 1, "docs/DEBUG_LOG.md": 0}
    files = manifest["files"]
    assert isinstance(files, dict)
    assert sorted(files) == [
        "database/database.sqlite",
        "env.masked",
        "files/config/models.yaml",
        "files/config/nested/limits.yaml",
        "ledgers/docs/BUILD_HISTORY.md",
        "ledgers/docs/DEBUG_LOG.md",
    ]
    for rel, entry in files.items():
        assert hashlib.sha256((backup / rel).read_bytes()).hexdigest() == entry["sha256"]
    assert db_rows(backup / "database" / "database.sqlite") == db_rows(repo.path / "autopack.db")
    assert (backup / "ledgers/docs/BUILD_HISTORY.md").read_bytes() == (
        repo.path / "docs/BUILD_HISTORY.md"
    ).read_bytes()


def test_env_secrets_appear_only_in_backups_made_with_include_env(
    repo: GitRepo, sot: Sot, tmp_path: Path
) -> None:
    def holds_secret(root: Path) -> list[str]:
        return [
            str(p) for p in root.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()
        ]

    masked, included = tmp_path / "masked", tmp_path / "included"
    code, _out, err = sot("--repo", repo.path, "backup", "--dest", masked, "--archive")
    assert code == 0
    backup = only_backup(masked)
    assert "sotsync: warning: .env is not in the backup" in err
    assert str(backup / "files" / ".env") in err  # where the secrets would go
    assert holds_secret(masked) == []
    assert b"AUTOPACK_API_KEY=***\n" in (backup / "env.masked").read_bytes()
    code, _out, err = sot(
        "--repo", repo.path, "backup", "--dest", included, "--include-env", "--archive"
    )
    assert code == 0
    backup = only_backup(included)
    assert "holds the secrets of .env: keep this backup private" in err
    assert holds_secret(included) == [str(backup / "files" / ".env")]
    assert (backup / "files" / ".env").stat().st_mode & 0o077 == 0
    import tarfile

    with tarfile.open(next(included.glob("*.tar.gz"))) as tar:
        names = tar.getnames()
    assert f"{backup.name}/files/.env" in names


def test_default_destination_is_inside_the_git_directory(repo: GitRepo, sot: Sot) -> None:
    code, _out, err = sot("--repo", repo.path, "backup")
    assert code == 0
    assert only_backup(backups_dir(repo)).is_dir()
    assert "not ignored by git" not in err
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""


def test_a_destination_in_the_work_tree_that_git_would_commit_is_warned_about(
    repo: GitRepo, sot: Sot
) -> None:
    repo.write({".sotsync.toml": 'backup_dir = "backups"\n'})
    code, out, err = sot("--repo", repo.path, "backup")
    assert code == 0
    assert out.startswith(f"backup #1 (full) written to {repo.path / 'backups'}")
    assert "inside the work tree and not ignored by git: add the directory to .gitignore" in err
    repo.write({".gitignore": ".env\nautopack.db\nbackups/\n"})
    code, _out, err = sot("--repo", repo.path, "backup")
    assert code == 0
    assert "not ignored by git" not in err


@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_a_backup_during_a_writer_is_one_committed_state(
    repo: GitRepo, sot: Sot, tmp_path: Path, mode: str
) -> None:
    # WAL: the online backup API; rollback journal: a file copy under a read transaction.
    db = repo.path / "autopack.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA journal_mode = {mode}")
    conn.execute("CREATE TABLE counter (n INTEGER)")
    conn.execute("INSERT INTO counter VALUES ((SELECT count(*) FROM runs))")
    conn.commit()
    conn.close()
    # Every transaction adds a row and bumps the counter: a torn copy breaks the equality.
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], timeout=30)\n"
            "i = 0\n"
            "while True:\n"
            "    i += 1\n"
            "    with c:\n"
            "        c.execute(\"INSERT INTO runs VALUES (?, 'QUEUED', ?)\", (f'w{i}', i))\n"
            "        c.execute('UPDATE counter SET n = n + 1')\n"
            "    time.sleep(0.001)\n",
            str(db),
        ]
    )
    try:
        time.sleep(0.3)
        for i in range(3):
            code, _out, err = sot("--repo", repo.path, "backup", "--dest", tmp_path / f"b{i}")
            assert code == 0, err
    finally:
        writer.kill()
        writer.wait()
    method = "sqlite-backup" if mode == "wal" else "sqlite-file-copy-under-read-lock"
    for i in range(3):
        backup = only_backup(tmp_path / f"b{i}")
        assert _manifest(backup)["database"]["method"] == method  # type: ignore[index]
        copy = backup / "database" / "database.sqlite"
        check = sqlite3.connect(copy)
        try:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows = check.execute("SELECT count(*) FROM runs").fetchone()[0]
            assert check.execute("SELECT n FROM counter").fetchone()[0] == rows
            assert rows > 20  # the writer was running
        finally:
            check.close()


# --------------------------------------------------------------------------- incrementals


def _edit(repo: GitRepo, rel: str, text: str) -> None:
    path = repo.path / rel
    path.write_bytes(path.read_bytes() + text.encode())


def test_incremental_chain_restores_every_point_byte_for_byte(repo: GitRepo, sot: Sot) -> None:
    dest = backups_dir(repo)
    points: list[tuple[Path, dict[str, bytes]]] = []
    assert sot("--repo", repo.path, "backup")[0] == 0
    points.append((only_backup(dest), ledgers(repo)))
    for step in range(3):
        # Commits and uncommitted edits between backups; CRLF and a missing final newline too.
        _edit(repo, "docs/BUILD_HISTORY.md", f"\nstep {step} committed\r\n")
        repo.commit(message=f"step {step}")
        _edit(repo, "docs/BUILD_HISTORY.md", f"step {step} committed again\n")
        repo.commit(message=f"step {step} again")
        _edit(repo, "docs/DEBUG_LOG.md", f"uncommitted {step}")
        code, out, err = sot("--repo", repo.path, "backup", "--incremental")
        assert code == 0, err
        incr = only_backup(dest, "-incr")
        assert out == f"backup #{step + 2} (incremental) written to {incr}\n"
        manifest = _manifest(incr)
        previous = _manifest(points[-1][0])
        assert manifest["base"] == {
            "sequence": step + 1,
            "name": points[-1][0].name,
            "state": previous["state"]["id"],  # type: ignore[index]
        }
        assert manifest["states"] == {
            "from": previous["state"]["id"],  # type: ignore[index]
            "to": manifest["state"]["id"],  # type: ignore[index]
        }
        points.append((incr, ledgers(repo)))
    # Each patch is a plain `git apply`-able patch at the workspace root.
    for (_before, state), (after, wanted) in itertools.pairwise(points):
        for rel, data in state.items():
            (repo.path / rel).write_bytes(data)
        repo.git("apply", "--check", str(after / "ledgers.patch"))
        repo.git("apply", str(after / "ledgers.patch"))
        assert ledgers(repo) == wanted
    # Restoring to each point reproduces that point's ledgers.
    _edit(repo, "docs/BUILD_HISTORY.md", "after the last backup\n")
    for path, wanted in points:
        code, out, err = sot("--repo", repo.path, "restore", path, "--yes")
        assert code == 0, err
        assert ledgers(repo) == wanted, path.name
        assert f"restored #1 {points[0][0].name}" in out


def test_restore_refuses_a_chain_with_a_gap_and_names_it(repo: GitRepo, sot: Sot) -> None:
    dest = backups_dir(repo)
    assert sot("--repo", repo.path, "backup")[0] == 0
    names = []
    for step in range(3):
        _edit(repo, "docs/DEBUG_LOG.md", f"edit {step}\n")
        assert sot("--repo", repo.path, "backup", "--incremental")[0] == 0
        names.append(only_backup(dest, "-incr").name)
    shutil.rmtree(dest / names[1])
    before = tree_digest(repo.path)
    code, out, err = sot("--repo", repo.path, "restore", dest / names[2], "--yes")
    assert code == 3
    assert out == ""
    assert err.startswith(
        f"sotsync: error: the chain of incremental backups has a gap: backup #3 ({names[1]}), "
        f"the base of #4 ({names[2]}), is missing from {dest}\n"
    )
    assert "hint: copy the missing backup next to the others" in err
    assert tree_digest(repo.path) == before
    code, _out, err = sot("--repo", repo.path, "backup", "verify")
    assert code == 3
    assert "has a gap: backup #3" in err
    code, _out, err = sot("--repo", repo.path, "backup", "--incremental")
    assert code == 3 and "has a gap" in err


def test_an_incremental_needs_a_previous_backup(repo: GitRepo, sot: Sot) -> None:
    code, out, err = sot("--repo", repo.path, "backup", "--incremental")
    assert (code, out) == (3, "")
    assert err == (
        f"sotsync: error: no backup in {backups_dir(repo)} to take an incremental backup "
        "against\nhint: take a full backup first: `sotsync backup`\n"
    )


# --------------------------------------------------------------------------- tampering


def test_one_changed_byte_in_any_file_is_refused_by_verify_and_restore(
    repo: GitRepo, sot: Sot, tmp_path: Path
) -> None:
    dest = tmp_path / "pristine"
    assert sot("--repo", repo.path, "backup", "--dest", dest)[0] == 0
    _edit(repo, "docs/DEBUG_LOG.md", "later\n")
    assert sot("--repo", repo.path, "backup", "--dest", dest, "--incremental")[0] == 0
    full, incr = only_backup(dest), only_backup(dest, "-incr")
    targets = [
        (b.name, p.relative_to(b).as_posix())
        for b in (full, incr)
        for p in sorted(b.rglob("*"))
        if p.is_file()
    ]
    assert len(targets) >= 10
    before = tree_digest(repo.path)
    for name, rel in targets:
        copy = tmp_path / "copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(dest, copy)
        victim = copy / name / rel
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x01
        victim.write_bytes(bytes(data))
        code, _out, err = sot("--repo", repo.path, "backup", "verify", "--dest", copy)
        assert code == 3, rel
        assert str(victim) in err or str(copy / name / "MANIFEST.json") in err, (rel, err)
        code, _out, err = sot("--repo", repo.path, "restore", copy / incr.name, "--yes")
        assert code == 3, rel
        assert str(victim) in err or str(copy / name / "MANIFEST.json") in err, (rel, err)
        assert tree_digest(repo.path) == before, rel
    assert not backups_dir(repo).exists()  # no safety backup: refused before anything


def test_verify_json_and_an_unexpected_file(repo: GitRepo, sot: Sot) -> None:
    assert sot("--repo", repo.path, "backup")[0] == 0
    backup = only_backup(backups_dir(repo))
    code, out, _err = sot("--repo", repo.path, "backup", "verify", "--format", "json")
    assert code == 0
    assert json.loads(out) == {"version": 1, "ok": True, "checked": [backup.name], "problems": []}
    (backup / "extra.txt").write_text("planted")
    code, out, _err = sot("--repo", repo.path, "backup", "verify", backup, "--format", "json")
    assert code == 3
    assert json.loads(out)["problems"] == [
        f"{backup / 'extra.txt'}: unexpected file (not listed in MANIFEST.json)"
    ]


# --------------------------------------------------------------------------- restore


def test_restore_brings_back_database_ledgers_and_config_with_a_safety_backup_first(
    repo: GitRepo, sot: Sot, tmp_path: Path
) -> None:
    dest = tmp_path / "b"
    assert sot("--repo", repo.path, "backup", "--dest", dest)[0] == 0
    old_rows = db_rows(repo.path / "autopack.db")
    old = tree_digest(repo.path)
    make_db(repo.path / "autopack.db", rows=3, tag="changed")
    _edit(repo, "docs/BUILD_HISTORY.md", "damage\n")
    (repo.path / "config" / "models.yaml").write_text("model: wrong\n")
    changed = tree_digest(repo.path)
    code, out, err = sot("--repo", repo.path, "restore", only_backup(dest), "--dry-run")
    assert code == 0, err
    assert "  write config/models.yaml\n  write docs/BUILD_HISTORY.md\n" in out
    assert tree_digest(repo.path) == changed
    assert not backups_dir(repo).exists()
    code, out, err = sot("--repo", repo.path, "restore", only_backup(dest), "--yes")
    assert code == 0, err
    assert db_rows(repo.path / "autopack.db") == old_rows
    restored = tree_digest(repo.path)
    assert {k: v for k, v in restored.items() if k != "autopack.db"} == {
        k: v for k, v in old.items() if k != "autopack.db"
    }
    safety = only_backup(backups_dir(repo))
    assert out.startswith(f"safety backup #1 written to {safety}\n")
    assert "reconcile: not run: " in out  # the test database has no sotsync tables
    # The safety backup holds the state the restore replaced.
    assert len(db_rows(safety / "database" / "database.sqlite")) == 3
    assert b"damage" in (safety / "ledgers" / "docs" / "BUILD_HISTORY.md").read_bytes()


def test_restore_without_yes_is_refused_when_nobody_can_confirm(repo: GitRepo, sot: Sot) -> None:
    assert sot("--repo", repo.path, "backup")[0] == 0
    backup = only_backup(backups_dir(repo))
    code, out, err = sot("--repo", repo.path, "restore", backup)
    assert (code, out) == (3, "")
    assert err == (
        f"sotsync: error: restoring {backup} replaces the workspace's database and ledgers; "
        "nothing restored without confirmation\n"
        "hint: look at the plan with --dry-run, then run again with --yes\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("restore", "missing-dir", "--yes"), "sotsync: error: backup not found: missing-dir\n"),
        (("backup", "verify", "."), "not a sotsync backup (MANIFEST.json is missing)"),
        (("backup", "prune", "--keep-last", "0"), "--keep-last must be at least 1 (got 0)"),
        (("backup", "--incremental", "--include-env"), "--include-env applies to full backups"),
    ],
)
def test_expected_failures_exit_3_with_a_hint(
    repo: GitRepo, sot: Sot, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    monkeypatch.chdir(repo.path)
    code, out, err = sot(*args)
    assert (code, out) == (3, "")
    assert message in err
    assert "\nhint: " in err


def test_a_missing_database_is_refused(repo: GitRepo, sot: Sot) -> None:
    (repo.path / "autopack.db").unlink()
    code, _out, err = sot("--repo", repo.path, "backup")
    assert code == 3
    assert err.startswith(f"sotsync: error: database file not found: {repo.path / 'autopack.db'}")
    assert not any(backups_dir(repo).glob("*-full"))


def test_an_engine_mismatch_is_refused_before_anything_is_written(repo: GitRepo, sot: Sot) -> None:
    assert sot("--repo", repo.path, "backup")[0] == 0
    backup = only_backup(backups_dir(repo))
    before = tree_digest(repo.path)
    code, _out, err = sot(
        "--repo",
        repo.path,
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/none",
        "restore",
        backup,
        "--yes",
    )
    assert code == 3
    assert "holds a sqlite database; the workspace database" in err
    assert tree_digest(repo.path) == before


def test_subcommand_with_backup_only_options_is_a_usage_error(repo: GitRepo, sot: Sot) -> None:
    code, _out, err = sot("--repo", repo.path, "backup", "--archive", "list")
    assert code == 2
    assert "apply to `sotsync backup` itself" in err


# --------------------------------------------------------------------------- interrupted restores


def _journal(repo: GitRepo) -> Path:
    return repo.path / ".git" / "sotsync" / "restore-journal.json"


def test_a_restore_killed_after_its_commit_point_is_completed_by_the_next_command(
    repo: GitRepo, sot: Sot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "b"
    assert sot("--repo", repo.path, "backup", "--dest", dest)[0] == 0
    wanted = ledgers(repo)
    _edit(repo, "docs/BUILD_HISTORY.md", "one\n")
    _edit(repo, "docs/DEBUG_LOG.md", "two\n")
    from sotsync.backup import restore as module

    real = module.roll_forward

    def killed(journal: Path, record: dict[str, object], restore_database: object) -> None:
        # What a kill between two replacements leaves: the first file moved, the rest staged.
        first = record["files"][0]  # type: ignore[index]
        os.replace(first["staged"], first["target"])
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "roll_forward", killed)
    code, _out, _err = sot("--repo", repo.path, "restore", only_backup(dest), "--yes")
    assert code == 130
    assert _journal(repo).exists()
    monkeypatch.setattr(module, "roll_forward", real)
    code, _out, err = sot("--repo", repo.path, "backup", "list")
    assert code == 0
    assert "sotsync: note: an interrupted restore of" in err and "was completed" in err
    assert ledgers(repo) == wanted
    assert not _journal(repo).exists()
    assert list(repo.path.rglob("*.sotsync-restore")) == []


def test_a_restore_killed_before_its_commit_point_is_undone(
    repo: GitRepo, sot: Sot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "b"
    assert sot("--repo", repo.path, "backup", "--dest", dest)[0] == 0
    _edit(repo, "docs/BUILD_HISTORY.md", "one\n")
    before = tree_digest(repo.path)
    from sotsync.backup import restore as module

    def killed(copy: Path, target: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_stage_sqlite", killed)
    assert sot("--repo", repo.path, "restore", only_backup(dest), "--yes")[0] == 130
    assert list(repo.path.rglob("*.sotsync-restore"))  # staged, not yet committed
    monkeypatch.undo()
    code, _out, err = sot("--repo", repo.path, "backup", "verify", "--dest", dest)
    assert code == 0
    assert "was undone (it had changed nothing)" in err
    assert tree_digest(repo.path) == before
    assert list(repo.path.rglob("*.sotsync-restore")) == []


# --------------------------------------------------------------------------- list and prune


def _series(repo: GitRepo, sot: Sot, kinds: str) -> list[str]:
    names = []
    for i, kind in enumerate(kinds):
        _edit(repo, "docs/DEBUG_LOG.md", f"{i}\n")
        args = ["--repo", repo.path, "backup"] + (["--incremental"] if kind == "i" else [])
        code, out, err = sot(*args)
        assert code == 0, err
        names.append(Path(out.split(" written to ")[1].strip()).name)
    return names


def test_list_shows_sequence_kind_base_and_entry_counts(repo: GitRepo, sot: Sot) -> None:
    names = _series(repo, sot, "fi")
    code, out, _err = sot("--repo", repo.path, "backup", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"#1    {names[0]}")
    assert "full" in lines[0] and "sqlite" in lines[0] and "entries: build 1, debug 0" in lines[0]
    assert "incremental on #1" in lines[1]
    code, out, _err = sot("--repo", repo.path, "backup", "list", "--format", "json")
    document = json.loads(out)
    assert [b["name"] for b in document["backups"]] == names
    assert document["backups"][1]["base"]["sequence"] == 1


def test_prune_never_removes_the_base_of_a_kept_incremental(repo: GitRepo, sot: Sot) -> None:
    names = _series(repo, sot, "fiifi")
    code, out, _err = sot("--repo", repo.path, "backup", "prune", "--keep-last", "1")
    assert code == 0
    assert out == (
        f"removed {names[0]}\nremoved {names[1]}\nremoved {names[2]}\n"
        f"kept {names[3]}: the base of a kept incremental\n"
        "2 backup(s) kept, 3 removed\n"
    )
    assert sorted(p.name for p in backups_dir(repo).iterdir()) == names[3:]
    assert sot("--repo", repo.path, "backup", "verify")[0] == 0


def test_prune_keep_daily_and_dry_run(repo: GitRepo, sot: Sot) -> None:
    names = _series(repo, sot, "ffff")
    # Move the first two backups to earlier days (their manifests say when they were taken).
    for name, day in ((names[0], "2026-01-01"), (names[1], "2026-01-02")):
        path = backups_dir(repo) / name
        manifest = json.loads((path / "MANIFEST.json").read_bytes())
        manifest["created"] = f"{day}T10:00:00Z"
        from sotsync.backup.manifest import write_manifest

        (path / "MANIFEST.json").unlink()
        write_manifest(path, manifest)
    code, out, _err = sot(
        "--repo", repo.path, "backup", "prune", "--keep-last", "1", "--keep-daily", "2",
        "--dry-run", "--format", "json",
    )  # fmt: skip
    assert code == 0
    document = json.loads(out)
    assert document["removed"] == [names[0], names[2]]
    assert document["kept"] == [names[1], names[3]]
    assert len(list(backups_dir(repo).iterdir())) == 4


def test_verify_accepts_a_directory_of_backups(repo: GitRepo, sot: Sot, tmp_path: Path) -> None:
    dest = tmp_path / "copied"
    assert sot("--repo", repo.path, "backup", "--dest", dest)[0] == 0
    _edit(repo, "docs/DEBUG_LOG.md", "more\n")
    assert sot("--repo", repo.path, "backup", "--dest", dest, "--incremental")[0] == 0
    code, out, _err = sot("--repo", repo.path, "backup", "verify", dest)
    assert (code, out) == (0, "verified 2 backup(s): ok\n")
