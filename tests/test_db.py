"""The database layer on SQLite and a real PostgreSQL server (SPEC §1, §3, §8).

``db_url`` runs each test on both engines: a SQLite file in ``tmp_path`` and a fresh
PostgreSQL database (``tests/pg.py``: skipped with a reason when the server is down, a failure
when ``CI=true``).  Commands run in-process through ``sotsync.cli.run``; every bad input must
give exit 3, one ``sotsync: error:`` line and one ``hint:`` line, and write nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import GitRepo
from pg import SERVER_URL, fresh_database
from sotsync.config import redact_url
from sotsync.db import Backend, connect, quote
from sotsync.db.schema import CURRENT, status
from sotsync.errors import DatabaseError

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "autopack"
LEDGERS = ("BUILD_HISTORY.md", "DEBUG_LOG.md", "ARCHITECTURE_DECISIONS.md")
CORPUS_ENTRIES = 108 + 81 + 51
PG_HINT = "hint: check that the server runs, and the URL's host, port, user and password"

MakeRepo = Callable[..., GitRepo]
Result = tuple[int, str, str]


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def corpus_repo(make_repo: MakeRepo) -> GitRepo:
    """The Autopack corpus as docs/*.md in a fresh git repository."""
    return make_repo(files={f"docs/{n}": (CORPUS / n).read_bytes() for n in LEDGERS})


def open_db(url: str, root: Path, create: bool = False) -> Backend:
    return connect(url, root, create=create)


def scalar(url: str, root: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    db = open_db(url, root)
    try:
        return db.query(sql, params)[0][0]
    finally:
        db.close()


def assert_failure(result: Result, message: str, hint: str) -> None:
    """Exit 3, nothing on stdout, exactly one error line and one hint line, no traceback."""
    code, out, err = result
    assert (code, out) == (3, ""), err
    assert err == f"sotsync: error: {message}\nhint: {hint}\n"


def assert_failure_match(result: Result, message: re.Pattern[str], hint: str) -> None:
    code, out, err = result
    assert (code, out) == (3, ""), err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert message.fullmatch(lines[0]), lines[0]
    assert lines[1] == hint


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ schema


def test_db_init_creates_the_schema_and_is_idempotent(
    db_url: str, make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    repo = make_repo()
    assert sot("--repo", repo.path, "--database-url", db_url, "db", "init") == (
        0,
        "schema migrated from version 0 to 2\n",
        "",
    )
    db = open_db(db_url, repo.path)
    try:
        first = status(db)
        versions = db.query("SELECT version FROM sot_schema_version")
        columns = db.columns("sot_entries")
    finally:
        db.close()
    assert first.version == CURRENT == 2
    assert first.tables == ("sot_entries", "sot_links", "sot_schema_version")
    assert first.entries == 0
    assert versions == [(2,)]
    assert {
        "project_id",
        "file_type",
        "entry_id",
        "title",
        "content",
        "metadata",
        "created_at",
        "updated_at",
        "content_hash",
        "occurrence",
        "entry_date",
        "source_commit",
        "deleted_at",
    } <= set(columns)

    for _ in range(2):
        assert sot("--repo", repo.path, "--database-url", db_url, "db", "init") == (
            0,
            "schema is at version 2; nothing to do\n",
            "",
        )
    # No second version row, no second table: the same state as after the first init.
    assert scalar(db_url, repo.path, "SELECT count(*) FROM sot_schema_version") == 1
    db = open_db(db_url, repo.path)
    try:
        assert status(db) == first
    finally:
        db.close()


def test_db_status_reports_version_tables_and_mirror_rows(
    db_url: str, corpus_repo: GitRepo, sot: Callable[..., Result]
) -> None:
    root = corpus_repo.path
    open_db(db_url, root, create=True).close()  # an empty database: no sotsync tables yet
    redacted = redact_url(db_url)
    code, out, err = sot("--repo", root, "--database-url", db_url, "db", "status")
    assert (code, err) == (1, "")  # not up to date: exit 1
    assert out == (
        f"database        {redacted}\n"
        "schema version  0 (current 2)\n"
        "tables          -\n"
        "mirror rows     -\n"
    )
    assert sot("--repo", root, "--database-url", db_url, "db", "init")[0] == 0
    assert sot("--repo", root, "--database-url", db_url, "sync")[0] == 0
    code, out, err = sot("--repo", root, "--database-url", db_url, "db", "status")
    assert (code, err) == (0, "")
    assert out == (
        f"database        {redacted}\n"
        "schema version  2 (current 2)\n"
        "tables          sot_entries, sot_links, sot_schema_version\n"
        f"mirror rows     {CORPUS_ENTRIES}\n"
    )
    code, out, _ = sot("--repo", root, "--database-url", db_url, "db", "status", "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "version": 1,
        "url": redacted,
        "schema_version": 2,
        "current": 2,
        "tables": ["sot_entries", "sot_links", "sot_schema_version"],
        "entries": CORPUS_ENTRIES,
    }


# ------------------------------------------------------------------------------ upgrade

# (entry_id, file_type, content) of rows that Autopack's own sync wrote: one row per id (its
# key had no occurrence), so the second BUILD-159 section never reached the table; a row whose
# entry has since left the ledger; short hashes, as Autopack computed them.
AUTOPACK_ROWS = (
    ("BUILD-159", "build_history", "### BUILD-159 first section as Autopack saw it\n"),
    ("BUILD-170", "build_history", "### BUILD-170 old text\n"),
    ("DBG-001", "debug_log", "### DBG-001 old text\n"),
    ("DEC-001", "architecture", "### DEC-001 old text\n"),
    ("BUILD-999", "build_history", "### BUILD-999 an entry that left the ledger\n"),
)


def create_autopack_entries(db: Backend) -> None:
    """Autopack's ``sot_entries`` as its sync script creates it, with rows."""
    if db.engine == "postgresql":
        ddl = (
            "CREATE TABLE sot_entries (id SERIAL PRIMARY KEY, project_id TEXT NOT NULL, "
            "file_type TEXT NOT NULL, entry_id TEXT NOT NULL, title TEXT, content TEXT, "
            "metadata JSONB, created_at TIMESTAMP NOT NULL, "
            "updated_at TIMESTAMP NOT NULL DEFAULT NOW(), content_hash TEXT NOT NULL, "
            "UNIQUE(project_id, file_type, entry_id))"
        )
        insert = (
            "INSERT INTO sot_entries (project_id, file_type, entry_id, title, content, "
            "metadata, created_at, updated_at, content_hash) "
            "VALUES (?, ?, ?, ?, ?, CAST(? AS JSONB), CAST(? AS TIMESTAMP), "
            "CAST(? AS TIMESTAMP), ?)"
        )
    else:
        ddl = (
            "CREATE TABLE sot_entries (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "project_id TEXT NOT NULL, file_type TEXT NOT NULL, entry_id TEXT NOT NULL, "
            "title TEXT, content TEXT, metadata TEXT, created_at TEXT NOT NULL, "
            "updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, content_hash TEXT NOT NULL, "
            "UNIQUE(project_id, file_type, entry_id))"
        )
        insert = (
            "INSERT INTO sot_entries (project_id, file_type, entry_id, title, content, "
            "metadata, created_at, updated_at, content_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
    with db.transaction():
        db.execute(ddl)
        db.execute(
            "CREATE INDEX idx_sot_entries_lookup ON sot_entries(project_id, file_type, entry_id)"
        )
        db.executemany(
            insert,
            [
                (
                    "autopack",
                    file_type,
                    entry_id,
                    content.splitlines()[0],
                    content,
                    '{"source": "index_table"}',
                    "2026-01-02 03:04:05",
                    "2026-01-02 03:04:05",
                    hashlib.sha256(content.encode()).hexdigest()[:16],
                )
                for entry_id, file_type, content in AUTOPACK_ROWS
            ],
        )


def entry_rows(url: str, root: Path) -> list[tuple[Any, ...]]:
    """(id, project, file type, entry id, occurrence, content, deleted_at) of every row."""
    db = open_db(url, root)
    try:
        upgraded = "occurrence" in db.columns("sot_entries")
        extra = "occurrence, content, deleted_at" if upgraded else "NULL, content, NULL"
        return db.query(
            f"SELECT id, project_id, file_type, entry_id, {extra} FROM sot_entries ORDER BY id"
        )
    finally:
        db.close()


def test_upgrade_of_an_autopack_table_keeps_every_row_then_sync_works(
    db_url: str, corpus_repo: GitRepo, sot: Callable[..., Result]
) -> None:
    root = corpus_repo.path
    db = open_db(db_url, root, create=True)
    try:
        create_autopack_entries(db)
        assert status(db).version == 1
    finally:
        db.close()
    old = entry_rows(db_url, root)
    assert len(old) == len(AUTOPACK_ROWS)

    # Sync refuses an old schema (exit 3, nothing written) and names the command that upgrades.
    assert_failure(
        sot("--repo", root, "--database-url", db_url, "sync"),
        f"{redact_url(db_url)} has sotsync schema version 1, this sotsync needs 2",
        "upgrade it in place with `sotsync db upgrade` (no row is lost)",
    )
    assert entry_rows(db_url, root) == old

    assert sot("--repo", root, "--database-url", db_url, "db", "upgrade") == (
        0,
        "schema migrated from version 1 to 2\n",
        "",
    )
    upgraded = entry_rows(db_url, root)
    # Same ids, same keys, same content: every old row became occurrence 1, nothing deleted.
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in upgraded] == [
        (r[0], r[1], r[2], r[3], r[5]) for r in old
    ]
    assert {(r[4], r[6]) for r in upgraded} == {(1, None)}
    assert sot("--repo", root, "--database-url", db_url, "db", "upgrade") == (
        0,
        "schema is at version 2; nothing to do\n",
        "",
    )
    assert entry_rows(db_url, root) == upgraded

    code, out, err = sot("--repo", root, "--database-url", db_url, "sync")
    assert code == 0, err
    assert err == (
        f"{CORPUS_ENTRIES - 4} insert(s), 4 update(s), 1 tombstone(s); "
        f"wrote {CORPUS_ENTRIES + 1} row(s) to {redact_url(db_url)}\n"
    )
    synced = entry_rows(db_url, root)
    keys = [(r[1], r[2], r[3], r[4]) for r in synced]
    assert len(keys) == len(set(keys)), "a key was duplicated"
    assert len(synced) == CORPUS_ENTRIES + 1  # every entry occurrence + the tombstone
    by_id = {r[0]: r for r in synced}
    for row in old:  # every old row is still there under its id, updated or tombstoned
        kept = by_id[row[0]]
        assert (kept[1], kept[2], kept[3], kept[4]) == (row[1], row[2], row[3], 1)
    gone = [r for r in synced if r[6] is not None]
    assert [(r[3], r[5]) for r in gone] == [("BUILD-999", AUTOPACK_ROWS[-1][2])]
    assert sorted(r[4] for r in synced if r[3] == "BUILD-159") == [1, 2]
    # And the mirror is now in sync: a second run writes nothing.
    code, out, err = sot("--repo", root, "--database-url", db_url, "sync")
    assert (code, out) == (0, "")
    assert err.endswith(f"; wrote 0 row(s) to {redact_url(db_url)}\n")


def test_upgrade_refuses_a_foreign_sot_entries_table(
    db_url: str, make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    repo = make_repo()
    db = open_db(db_url, repo.path, create=True)
    try:
        db.execute("CREATE TABLE sot_entries (id INTEGER PRIMARY KEY, note TEXT)")
        db.execute("INSERT INTO sot_entries (id, note) VALUES (1, 'kept')")
    finally:
        db.close()
    assert_failure(
        sot("--repo", repo.path, "--database-url", db_url, "db", "upgrade"),
        f"sot_entries in {redact_url(db_url)} is not an Autopack table (missing content, "
        "content_hash, created_at, entry_id, file_type, metadata, project_id, title, "
        "updated_at)",
        "rename that table or point DATABASE_URL at the right database",
    )
    assert scalar(db_url, repo.path, "SELECT note FROM sot_entries") == "kept"
    db = open_db(db_url, repo.path)
    try:
        assert "sot_schema_version" not in db.tables()
        assert "sot_links" not in db.tables()
    finally:
        db.close()


# ------------------------------------------------------------------------------ identifiers


def test_quote_accepts_plain_names_and_refuses_sql() -> None:
    assert quote("runs") == '"runs"'
    assert quote("Run_Table2") == '"Run_Table2"'
    for bad in ("runs; DROP TABLE x", 'ru"ns', "1runs", "", "runs--", "a b", "x" * 64):
        with pytest.raises(DatabaseError, match="invalid SQL identifier"):
            quote(bad)


@pytest.mark.parametrize("command", [("reconcile",), ("reconcile", "--fix"), ("check",), ("sync",)])
def test_a_configured_table_name_carrying_sql_is_refused(
    db_url: str,
    make_repo: MakeRepo,
    sot: Callable[..., Result],
    command: tuple[str, ...],
) -> None:
    repo = make_repo()
    assert sot("--repo", repo.path, "init")[0] == 0
    assert sot("--repo", repo.path, "--database-url", db_url, "db", "init")[0] == 0
    db = open_db(db_url, repo.path)
    try:
        db.execute("CREATE TABLE x (v INTEGER)")
        db.execute("INSERT INTO x (v) VALUES (1)")
    finally:
        db.close()
    repo.write({".sotsync.toml": '[runs]\ntable = "runs; DROP TABLE x"\n'})
    before = {p: file_digest(repo.path / p) for p in ("docs/BUILD_HISTORY.md", ".sotsync.toml")}
    assert_failure(
        sot("--repo", repo.path, "--database-url", db_url, *command),
        ".sotsync.toml: runs.table = 'runs; DROP TABLE x' is not a valid SQL identifier",
        "use letters, digits and _ only (the name is quoted, never interpolated)",
    )
    assert scalar(db_url, repo.path, "SELECT v FROM x") == 1  # table x is still there
    assert scalar(db_url, repo.path, "SELECT count(*) FROM sot_entries") == 0
    assert {p: file_digest(repo.path / p) for p in before} == before


# ------------------------------------------------------------------------------ bad input

SQLITE_COMMANDS = (
    ("db", "status"),
    ("db", "upgrade"),
    ("sync",),
    ("sync", "--dry-run"),
    ("reconcile",),
    ("reconcile", "--fix"),
    ("check",),
)


@pytest.mark.parametrize("command", SQLITE_COMMANDS)
def test_missing_sqlite_file_is_an_error_and_is_not_created(
    make_repo: MakeRepo, sot: Callable[..., Result], command: tuple[str, ...]
) -> None:
    repo = make_repo()
    assert sot("--repo", repo.path, "init")[0] == 0
    before = file_digest(repo.path / "docs/BUILD_HISTORY.md")
    assert_failure(
        sot("--repo", repo.path, "--database-url", "sqlite:///missing.db", *command),
        f"database file not found: {repo.path / 'missing.db'} (sqlite:///missing.db)",
        "check DATABASE_URL, or create the database with `sotsync db init`",
    )
    assert not (repo.path / "missing.db").exists()
    assert file_digest(repo.path / "docs/BUILD_HISTORY.md") == before


@pytest.mark.parametrize("command", (*SQLITE_COMMANDS, ("db", "init")))
def test_sqlite_file_of_random_bytes_is_an_error_and_is_left_alone(
    make_repo: MakeRepo, sot: Callable[..., Result], command: tuple[str, ...]
) -> None:
    repo = make_repo()
    assert sot("--repo", repo.path, "init")[0] == 0
    garbage = bytes(secrets.SystemRandom().getrandbits(8) for _ in range(8192))
    target = repo.path / "autopack.db"
    target.write_bytes(garbage)
    # Zero config: DATABASE_URL defaults to sqlite:///./autopack.db in the workspace.
    assert_failure(
        sot("--repo", repo.path, *command),
        f"{repo.path / './autopack.db'} is not a usable SQLite database: "
        "file is not a database (sqlite:///./autopack.db)",
        "restore it from a snapshot or backup, or point DATABASE_URL elsewhere",
    )
    assert target.read_bytes() == garbage
    assert sorted(p.name for p in repo.path.iterdir()) == [
        ".git",
        ".gitattributes",
        "autopack.db",
        "docs",
    ]


@pytest.mark.parametrize("command", [("reconcile",), ("reconcile", "--fix"), ("check",)])
def test_database_without_runs_table(
    db_url: str, make_repo: MakeRepo, sot: Callable[..., Result], command: tuple[str, ...]
) -> None:
    repo = make_repo()
    assert sot("--repo", repo.path, "init")[0] == 0
    # A ledger that `fix` would change (no final newline): --fix must not touch it either.
    ledger = repo.path / "docs/DEBUG_LOG.md"
    ledger.write_bytes(ledger.read_bytes().rstrip(b"\n"))
    before = {p.name: file_digest(p) for p in (repo.path / "docs").iterdir()}
    assert sot("--repo", repo.path, "--database-url", db_url, "db", "init")[0] == 0
    assert_failure(
        sot("--repo", repo.path, "--database-url", db_url, *command),
        f"no table 'runs' in {redact_url(db_url)}",
        "point DATABASE_URL at the Autopack database, or set [tool.sotsync.runs] table",
    )
    assert {p.name: file_digest(p) for p in (repo.path / "docs").iterdir()} == before
    assert scalar(db_url, repo.path, "SELECT count(*) FROM sot_entries") == 0


@pytest.mark.parametrize("command", [("reconcile",), ("reconcile", "--fix"), ("sync",)])
def test_database_without_sotsync_tables(
    db_url: str, make_repo: MakeRepo, sot: Callable[..., Result], command: tuple[str, ...]
) -> None:
    repo = make_repo()
    assert sot("--repo", repo.path, "init")[0] == 0
    ledger = repo.path / "docs/DEBUG_LOG.md"
    ledger.write_bytes(ledger.read_bytes().rstrip(b"\n"))
    before = {p.name: file_digest(p) for p in (repo.path / "docs").iterdir()}
    open_db(db_url, repo.path, create=True).close()
    assert_failure(
        sot("--repo", repo.path, "--database-url", db_url, *command),
        f"{redact_url(db_url)} has no sotsync tables",
        "create them with `sotsync db init`",
    )
    assert {p.name: file_digest(p) for p in (repo.path / "docs").iterdir()} == before
    db = open_db(db_url, repo.path)
    try:
        assert db.tables() == set()
    finally:
        db.close()


@pytest.mark.parametrize("command", [("db", "status"), ("db", "init"), ("sync",), ("check",)])
def test_postgres_on_a_closed_port(
    make_repo: MakeRepo, sot: Callable[..., Result], command: tuple[str, ...]
) -> None:
    pytest.importorskip("psycopg")
    repo = make_repo()
    assert sot("--repo", repo.path, "init")[0] == 0
    url = "postgresql://sotsync:Sup3rSecret@127.0.0.1:1/autopack"
    result = sot("--repo", repo.path, "--database-url", url, *command)
    assert_failure_match(
        result,
        re.compile(
            re.escape("sotsync: error: cannot connect to postgresql://sotsync:***@127.0.0.1:1/")
            + r"autopack: .*127\.0\.0\.1.*port 1 failed: Connection refused"
        ),
        PG_HINT,
    )
    assert "Sup3rSecret" not in result[1] + result[2]
    assert sorted(p.name for p in repo.path.iterdir()) == [".git", ".gitattributes", "docs"]


def _password_auth_on_loopback() -> bool:
    """Whether the test server checks passwords for TCP connections from 127.0.0.1."""
    import psycopg

    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        rules = admin.execute(
            "SELECT type, address, auth_method FROM pg_hba_file_rules "
            "WHERE type LIKE 'host%' ORDER BY line_number"
        ).fetchall()
    for _type, address, method in rules:
        if address in (None, "all", "127.0.0.1", "samehost") or str(address).startswith("127."):
            return method in ("md5", "scram-sha-256", "password")
    return False


def test_postgres_wrong_password_or_unknown_database(
    make_repo: MakeRepo, sot: Callable[..., Result]
) -> None:
    """Failed authentication: exit 3, one line, password redacted.

    The server behind tests/pg.py may be trust-only for 127.0.0.1 (the development container
    is: `host all all 127.0.0.1/32 trust`), where no password can be wrong.  Then the test
    connects with a password-bearing URL to an unknown database name instead, which the server
    refuses at the same point of the connection (a FATAL startup error).
    """
    with fresh_database() as base:
        import psycopg

        repo = make_repo()
        role = f"sotsync_pw_{secrets.token_hex(4)}"
        host_part = base.split("@", 1)[1]  # 127.0.0.1:5432/<db>
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'right-Pa55word'")
        try:
            if _password_auth_on_loopback():
                url = f"postgresql://{role}:wrong-Pa55word@{host_part}"
                expected = re.compile(
                    re.escape(f"sotsync: error: cannot connect to {redact_url(url)}: ")
                    + r".*password authentication failed for user \""
                    + re.escape(role)
                    + r"\""
                )
            else:
                server, _, _ = host_part.partition("/")
                url = f"postgresql://{role}:wrong-Pa55word@{server}/no_such_db_{role}"
                expected = re.compile(
                    re.escape(f"sotsync: error: cannot connect to {redact_url(url)}: ")
                    + r".*database \""
                    + re.escape(f"no_such_db_{role}")
                    + r"\" does not exist"
                )
            assert redact_url(url) == url.replace("wrong-Pa55word", "***")
            for command in (("db", "status"), ("db", "init"), ("sync",), ("reconcile",)):
                result = sot("--repo", repo.path, "--database-url", url, *command)
                assert_failure_match(result, expected, PG_HINT)
                assert "wrong-Pa55word" not in result[1] + result[2]
        finally:
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(f"DROP ROLE IF EXISTS {role}")
        assert sorted(p.name for p in repo.path.iterdir()) == [".git"]


@pytest.mark.postgres
def test_password_is_redacted_in_every_output(
    corpus_repo: GitRepo, sot: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL with a password works end to end and never shows the password (trust or not)."""
    with fresh_database() as base:
        import psycopg

        role = f"sotsync_pw_{secrets.token_hex(4)}"
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'hunter2-Secret'")
        try:
            url = f"postgresql://{role}:hunter2-Secret@{base.split('@', 1)[1]}"
            shown = redact_url(url)
            assert shown == f"postgresql://{role}:***@{base.split('@', 1)[1]}"
            root = corpus_repo.path
            outputs: list[str] = []
            # Through --database-url, and through DATABASE_URL in the workspace .env.
            for args in (
                ("db", "init"),
                ("db", "status"),
                ("db", "status", "--format", "json"),
                ("sync", "--dry-run"),
                ("sync", "--format", "json"),
                ("sync",),
                ("reconcile",),  # exit 3: no runs table; the message names the database
                ("check", "--format", "github"),
            ):
                code, out, err = sot("--repo", root, "--database-url", url, *args)
                assert code in (0, 1, 3), err
                outputs.append(out + err)
            corpus_repo.write({".env": f"DATABASE_URL={url}\n"})
            monkeypatch.delenv("DATABASE_URL", raising=False)
            code, out, err = sot("--repo", root, "db", "status")
            assert code == 0, err
            outputs.append(out + err)
            text = "\n".join(outputs)
            assert "hunter2" not in text
            assert shown in text
            assert f"no table 'runs' in {shown}" in text
        finally:
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(f"DROP OWNED BY {role}")
                admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_unsupported_url_is_an_error(make_repo: MakeRepo, sot: Callable[..., Result]) -> None:
    repo = make_repo()
    assert_failure(
        sot("--repo", repo.path, "--database-url", "mysql://root:pw@localhost/db", "db", "status"),
        "unsupported database URL mysql://root:***@localhost/db",
        "use sqlite:///path.db or postgresql://user@host/db",
    )


def test_sqlite_busy_timeout_is_set(tmp_path: Path) -> None:
    db = open_db(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, create=True)
    try:
        assert db.query("PRAGMA busy_timeout")[0][0] >= 5000
    finally:
        db.close()


def test_redaction_of_url_forms() -> None:
    assert redact_url("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert redact_url("postgres://u:p@ss@h:5432/db") == "postgres://u:***@h:5432/db"
    assert redact_url("postgresql+psycopg://u:x/y@h/db") == "postgresql+psycopg://u:***@h/db"
    assert redact_url("postgresql://u@h/db?password=zz&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )
    assert redact_url("sqlite:///./autopack.db") == "sqlite:///./autopack.db"
