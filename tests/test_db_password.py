"""A wrong password against a server that checks it: exit 3, one line, password redacted.

``tests/test_db.py`` runs on the shared test server, which may trust every loopback connection
(the development container does), so there no password can be wrong.  These tests use a private
cluster that authenticates with SCRAM (``tests/pg_scram.py``: skipped with a reason when no
cluster can be started, a failure when ``CI=true``) and run the CLI in-process through
``sotsync.cli.run``, as ``tests/test_db.py`` does.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import GitRepo
from pg_scram import ScramCluster, scram_cluster
from sotsync import cli

pytestmark = pytest.mark.postgres

WRONG = "WRONG-Pw-2b9e"
PG_HINT = "hint: check that the server runs, and the URL's host, port, user and password"
COMMANDS = (("db", "status"), ("db", "init"), ("sync",), ("reconcile",), ("check",))
# libpq reads these when the URL leaves something out; none may help or hurt a test here.
_LIBPQ_ENV = ("PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGUSER", "PGSSLMODE")

MakeRepo = Callable[..., GitRepo]
Result = tuple[int, str, str]

__all__ = ["scram_cluster"]  # the session fixture, imported for pytest to find


@pytest.fixture
def sot(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """``sot(*args)`` runs the CLI in-process: (exit code, stdout, stderr)."""
    for name in _LIBPQ_ENV:
        monkeypatch.delenv(name, raising=False)

    def call(*args: str | Path) -> Result:
        capsys.readouterr()
        code = cli.run([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


@pytest.fixture
def database(scram_cluster: ScramCluster) -> Iterator[str]:
    """A fresh, empty database in the SCRAM cluster (dropped afterwards): its name."""
    import psycopg

    name = f"sotsync_pw_{secrets.token_hex(6)}"
    with psycopg.connect(scram_cluster.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(scram_cluster.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def ledger_repo(make_repo: MakeRepo, sot: Callable[..., Result]) -> GitRepo:
    """A repository with empty ledgers (``sotsync init --no-hooks``), committed: so that each
    command gets as far as the database, whatever order it checks things in."""
    repo = make_repo()
    code, _, err = sot("--repo", repo.path, "init", "--no-hooks")
    assert code == 0, err
    repo.commit(message="ledgers")
    return repo


def assert_untouched(repo: GitRepo) -> None:
    """Nothing written in the work tree: no change, no new file, not even an ignored one."""
    assert repo.git("status", "--porcelain", "--ignored") == ""


def assert_wrong_password(result: Result, redacted: str, user: str, *secrets_: str) -> None:
    """Exit 3, nothing on stdout, the one error line and the hint line; no secret anywhere."""
    code, out, err = result
    assert (code, out) == (3, ""), err
    lines = err.splitlines()
    assert len(lines) == 2, err
    expected = re.compile(
        re.escape(f"sotsync: error: cannot connect to {redacted}: ")
        + r".*password authentication failed for user "
        + re.escape(f'"{user}"')
    )
    assert expected.fullmatch(lines[0]), lines[0]
    assert lines[1] == PG_HINT
    for secret in secrets_:
        assert secret not in out + err


# ------------------------------------------------------------------------------ the cluster


def test_the_cluster_checks_passwords(scram_cluster: ScramCluster) -> None:
    """The premise: the right password connects, a wrong one and none at all are refused."""
    import psycopg

    with psycopg.connect(scram_cluster.url(), connect_timeout=5) as conn:
        row = conn.execute("SELECT current_user, current_setting('password_encryption')").fetchone()
        hba = conn.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules").fetchall()
    assert row == ("postgres", "scram-sha-256")
    assert hba == [("scram-sha-256",)]
    for url in (
        scram_cluster.url(password=WRONG),
        f"postgresql://{scram_cluster.user}@{scram_cluster.host}:{scram_cluster.port}/postgres",
    ):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=5, passfile="/dev/null").close()


# ------------------------------------------------------------------------------ the CLI


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_wrong_password_exits_3_with_one_redacted_line(
    scram_cluster: ScramCluster,
    ledger_repo: GitRepo,
    sot: Callable[..., Result],
    command: tuple[str, ...],
) -> None:
    repo = ledger_repo
    url = scram_cluster.url(password=WRONG)
    redacted = f"postgresql://postgres:***@127.0.0.1:{scram_cluster.port}/postgres"
    result = sot("--repo", repo.path, "--database-url", url, *command)
    assert_wrong_password(result, redacted, "postgres", WRONG, scram_cluster.password)
    assert_untouched(repo)


def test_wrong_password_from_the_environment_and_dotenv(
    scram_cluster: ScramCluster,
    ledger_repo: GitRepo,
    sot: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The URL's source does not matter: SOTSYNC_DATABASE_URL, DATABASE_URL in the .env."""
    url = scram_cluster.url(password=WRONG)
    redacted = f"postgresql://postgres:***@127.0.0.1:{scram_cluster.port}/postgres"
    repo = ledger_repo
    monkeypatch.setenv("SOTSYNC_DATABASE_URL", url)
    assert_wrong_password(sot("--repo", repo.path, "db", "status"), redacted, "postgres", WRONG)
    monkeypatch.delenv("SOTSYNC_DATABASE_URL")
    repo.write({".env": f"DATABASE_URL={url}\n"})
    assert_wrong_password(sot("--repo", repo.path, "db", "status"), redacted, "postgres", WRONG)


def test_escaped_wrong_password_is_redacted_in_both_forms(
    scram_cluster: ScramCluster, ledger_repo: GitRepo, sot: Callable[..., Result]
) -> None:
    """A percent-encoded password shows neither encoded nor decoded (':' '@' '/' inside)."""
    repo = ledger_repo
    encoded = "Wr%3Ang%40Pw%2F9d"
    url = scram_cluster.url(password=encoded)
    redacted = f"postgresql://postgres:***@127.0.0.1:{scram_cluster.port}/postgres"
    result = sot("--repo", repo.path, "--database-url", url, "db", "status")
    assert_wrong_password(result, redacted, "postgres", encoded, "Wr:ng@Pw/9d")
    assert_untouched(repo)


def test_right_password_works(
    scram_cluster: ScramCluster, database: str, ledger_repo: GitRepo, sot: Callable[..., Result]
) -> None:
    """The same URL with the right password: init, status and sync succeed, still redacted."""
    repo = ledger_repo
    url = scram_cluster.url(database=database)
    redacted = f"postgresql://postgres:***@127.0.0.1:{scram_cluster.port}/{database}"
    outputs: list[str] = []
    code, out, err = sot("--repo", repo.path, "--database-url", url, "db", "init")
    outputs += (out, err)
    assert (code, out, err) == (0, "schema migrated from version 0 to 2\n", "")
    code, out, err = sot("--repo", repo.path, "--database-url", url, "db", "status")
    outputs += (out, err)
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [f"database        {redacted}", "schema version  2 (current 2)"]
    code, out, err = sot("--repo", repo.path, "--database-url", url, "sync")
    outputs += (out, err)
    assert code == 0, err
    assert not any(scram_cluster.password in text for text in outputs)
