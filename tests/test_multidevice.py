"""Two devices, real clones of a bare remote: entries added on both, then pulled and pushed.

Each clone registers the entry-aware merge driver and installs the plain hooks, as ``sotsync
init`` does; the ledgers must survive concurrent additions (including the same next id), an
entry edited on both sides must conflict around that entry only and block the commit, and
``--reserve`` must keep the ids apart before either device has pushed its ledger.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ONE_ENTRY_LEDGER as SKELETON
from conftest import GitRepo
from sotsync.ledger.merge import alias_note
from sotsync.ledger.parse import parse_ledger

PATH = "docs/BUILD_HISTORY.md"
DRIVER = f"{sys.executable} -m sotsync merge-driver %O %A %B %P"


@pytest.fixture(autouse=True)
def sotsync_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed hooks look for ``sotsync`` on PATH: put this interpreter's bin dir first."""
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False)


def sotsync(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return run(repo.path, sys.executable, "-m", "sotsync", *args)


def new(repo: GitRepo, title: str, *extra: str) -> str:
    """``sotsync new build``; the id it took."""
    done = sotsync(repo, "new", "build", "--title", title, "--date", "2026-01-02", *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def devices(tmp_path: Path, make_repo: Callable[..., GitRepo]) -> tuple[GitRepo, GitRepo]:
    """Two clones of a bare remote holding one ledger, each with the driver and the hooks."""
    origin = make_repo("origin")
    origin.commit({PATH: SKELETON, ".gitattributes": "docs/*.md merge=sotsync\n"}, "ledger")
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin.path), str(bare)], check=True)
    clones = []
    for name in ("laptop", "staging"):
        path = tmp_path / name
        subprocess.run(["git", "clone", "-q", str(bare), str(path)], check=True)
        repo = GitRepo(path)
        repo.git("config", "merge.sotsync.name", "sotsync ledger merge")
        repo.git("config", "merge.sotsync.driver", DRIVER)
        installed = sotsync(repo, "hooks", "install")
        assert installed.returncode == 0, installed.stderr
        clones.append(repo)
    return clones[0], clones[1]


def pull(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return run(repo.path, "git", "pull", "--no-edit", *args)


def ledger_of(repo: GitRepo) -> bytes:
    return (repo.path / PATH).read_bytes()


def titles(data: bytes) -> dict[str, str]:
    """Entry id → title, from the section headings; fails on a duplicated id."""
    ledger = parse_ledger(data, PATH, "BUILD")
    found: dict[str, str] = {}
    for entry in ledger.entries:
        heading = data.decode().splitlines()[entry.line]
        assert entry.id not in found, f"{entry.id} twice"
        found[entry.id] = heading.rsplit("|", 1)[1].strip()
    assert sorted(r.id or "" for r in ledger.table_rows) == sorted(found)
    return found


def section(data: bytes, ident: str) -> str:
    text = data.decode()
    start = text.index(f"### {ident} |")
    end = text.find("\n### ", start + 1)
    return text[start : end if end != -1 else len(text)]


def counts(data: bytes) -> tuple[int, int]:
    text = data.decode()
    summary = re.search(r"\*\*Summary\*\*: (\d+) build entries", text)
    meta = re.search(r"Total_Builds: (\d+)", text)
    assert summary and meta
    return int(summary.group(1)), int(meta.group(1))


def test_concurrent_entries_and_the_same_next_id_merge_without_loss(
    tmp_path: Path, make_repo: Callable[..., GitRepo]
) -> None:
    laptop, staging = devices(tmp_path, make_repo)
    assert [new(laptop, "Laptop cache"), new(laptop, "Laptop gate")] == ["BUILD-002", "BUILD-003"]
    laptop.commit(message="laptop entries")
    laptop.git("push", "-q", "origin", "main")
    # staging has not fetched: it takes the same next ids for different work, and one more
    taken = [new(staging, "Staging deploy"), new(staging, "Staging probe")]
    taken.append(new(staging, "Staging rollback"))
    assert taken == ["BUILD-002", "BUILD-003", "BUILD-004"]
    staging.commit(message="staging entries")
    before = ledger_of(staging)

    done = pull(staging, "--no-rebase", "origin", "main")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "CONFLICT" not in done.stdout
    output = done.stdout + done.stderr
    assert "BUILD-002 was added on both sides; theirs is now BUILD-005" in output
    assert "BUILD-003 was added on both sides; theirs is now BUILD-006" in output
    assert staging.git("status", "--porcelain") == ""

    merged = ledger_of(staging)
    found = titles(merged)
    assert found == {
        "BUILD-001": "First",
        "BUILD-002": "Staging deploy",
        "BUILD-003": "Staging probe",
        "BUILD-004": "Staging rollback",
        "BUILD-005": "Laptop cache",
        "BUILD-006": "Laptop gate",
    }
    assert list(found) == [f"BUILD-{n:03d}" for n in range(6, 0, -1)]  # newest first
    assert alias_note("BUILD-002") in section(merged, "BUILD-005")
    assert alias_note("BUILD-003") in section(merged, "BUILD-006")
    assert "**Alias**" not in section(merged, "BUILD-002")
    assert counts(merged) == (6, 6)
    assert counts(before) == (4, 4)

    lint = sotsync(staging, "lint", "build")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    lint = sotsync(staging, "lint", "build", "--new-since", "ORIG_HEAD")
    assert lint.returncode == 0, lint.stdout + lint.stderr

    staging.git("push", "-q", "origin", "main")
    done = pull(laptop, "--ff-only", "origin", "main")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ledger_of(laptop) == ledger_of(staging)
    assert laptop.git("rev-parse", "HEAD") == staging.git("rev-parse", "HEAD")
    # The laptop's post-merge hook says that its own ids now name other work.
    assert (
        "sotsync post-merge: docs/BUILD_HISTORY.md: 3 added (BUILD-004, BUILD-005, BUILD-006), "
        "0 removed, 2 changed (BUILD-002, BUILD-003)"
    ) in done.stdout + done.stderr


def test_the_same_entry_edited_on_both_devices_conflicts_and_blocks_the_commit(
    tmp_path: Path, make_repo: Callable[..., GitRepo]
) -> None:
    laptop, staging = devices(tmp_path, make_repo)
    laptop.commit({PATH: SKELETON.replace("Done.", "Done on the laptop.")}, "laptop edit")
    laptop.git("push", "-q", "origin", "main")
    staging.write({PATH: SKELETON.replace("Done.", "Done on staging.")})
    assert new(staging, "Staging deploy") == "BUILD-002"
    staging.commit(message="staging edit and entry")

    done = pull(staging, "--no-rebase", "origin", "main")
    assert done.returncode != 0
    assert f"CONFLICT (content): Merge conflict in {PATH}" in done.stdout
    text = ledger_of(staging).decode()
    assert text.count("<<<<<<< ours") == 1 and text.count(">>>>>>> theirs") == 1
    assert text.count("=======\n") == 1
    conflict = text[text.index("<<<<<<<") : text.index(">>>>>>>")]
    assert "Done on staging." in conflict and "Done on the laptop." in conflict
    assert "BUILD-002" not in conflict and "## INDEX" not in conflict
    assert text.index("### BUILD-002") < text.index("<<<<<<<")  # the new entry merged above it

    staging.git("add", PATH)
    blocked = run(staging.path, "git", "commit", "--no-edit")
    assert blocked.returncode != 0
    assert "SOT002" in blocked.stdout + blocked.stderr
    assert "commit blocked" in blocked.stdout + blocked.stderr
    assert staging.git("rev-parse", "-q", "--verify", "MERGE_HEAD")  # still merging

    resolved = re.sub(
        r"<<<<<<< ours\n(.*?)=======\n.*?>>>>>>> theirs\n", r"\1", text, flags=re.DOTALL
    )
    resolved = resolved.replace("Done on staging.", "Done on staging and the laptop.")
    staging.write({PATH: resolved})
    staging.git("add", PATH)
    done = run(staging.path, "git", "commit", "--no-edit")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(staging.git("log", "-1", "--format=%P").split()) == 2
    assert "Done on staging and the laptop." in section(ledger_of(staging), "BUILD-001")
    assert set(titles(ledger_of(staging))) == {"BUILD-001", "BUILD-002"}


def test_reserved_ids_differ_and_the_pull_renumbers_nothing(
    tmp_path: Path, make_repo: Callable[..., GitRepo]
) -> None:
    laptop, staging = devices(tmp_path, make_repo)
    # both reserve before either has pushed its ledger
    assert new(laptop, "Laptop cache", "--reserve") == "BUILD-002"
    assert new(staging, "Staging deploy", "--reserve") == "BUILD-003"
    assert staging.git("log", "--format=%s", "refs/sotsync/ids/BUILD").splitlines() == [
        "reserve BUILD-003",
        "reserve BUILD-002",
    ]
    laptop.commit(message="laptop entry")
    staging.commit(message="staging entry")
    laptop.git("push", "-q", "origin", "main")

    done = pull(staging, "--no-rebase", "origin", "main")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "was added on both sides" not in done.stdout + done.stderr
    merged = ledger_of(staging)
    assert b"**Alias**" not in merged
    assert titles(merged) == {
        "BUILD-003": "Staging deploy",
        "BUILD-002": "Laptop cache",
        "BUILD-001": "First",
    }
    assert counts(merged) == (3, 3)

    staging.git("push", "-q", "origin", "main")
    done = pull(laptop, "--ff-only", "origin", "main")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ledger_of(laptop) == merged
