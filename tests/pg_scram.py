"""A throwaway PostgreSQL cluster that checks passwords (SCRAM), for tests that need one.

The shared test server (``tests/pg.py``) may trust every loopback connection, where no password
can be wrong.  The session fixture ``scram_cluster`` starts a private cluster instead:
``initdb -A scram-sha-256`` with a known superuser password, listening on 127.0.0.1 at a free
port (its Unix socket in the cluster's own directory), stopped with ``pg_ctl stop -m immediate``
and deleted at the end of the session.

The server binaries come from ``$SOTSYNC_TEST_PG_BINDIR``, ``pg_config --bindir`` or
``/usr/lib/postgresql/<version>/bin`` (newest first).  initdb refuses to run as root, so as root
the cluster belongs to the ``postgres`` OS user and its commands run through ``runuser`` (or
``setpriv``).  When that is impossible, the tests that use the fixture are skipped with the
reason, unless the environment says ``CI=true``: there they fail.

    from pg_scram import ScramCluster, scram_cluster

    def test_something(scram_cluster: ScramCluster) -> None:
        url = scram_cluster.url(password="wrong")
        ...
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

SUPERUSER = "postgres"
PASSWORD = "Right-Scram-Pw-7c41"
HOST = "127.0.0.1"
START_TIMEOUT_S = 20
START_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it
_BINARIES = ("initdb", "pg_ctl", "postgres")


@dataclass(frozen=True)
class ScramCluster:
    """A running cluster: superuser ``user`` with password ``password`` on ``host:port``."""

    host: str
    port: int
    user: str
    password: str
    directory: Path

    def url(self, password: str | None = None, database: str = "postgres") -> str:
        """``postgresql://user:password@host:port/database`` (the right password by default)."""
        secret = self.password if password is None else password
        return f"postgresql://{self.user}:{secret}@{self.host}:{self.port}/{database}"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"a password-checking PostgreSQL cluster is required in CI: {reason}")
    pytest.skip(f"cannot start a password-checking PostgreSQL cluster: {reason}")


def _bindir_candidates() -> Iterator[Path]:
    if configured := os.environ.get("SOTSYNC_TEST_PG_BINDIR"):
        yield Path(configured)
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            proc = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            )
            if proc.returncode == 0 and proc.stdout.strip():
                yield Path(proc.stdout.strip())

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))

    yield from sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)


def find_bindir() -> Path | None:
    """The first directory that holds initdb, pg_ctl and postgres, or None."""
    for candidate in _bindir_candidates():
        if all(os.access(candidate / name, os.X_OK) for name in _BINARIES):
            return candidate
    return None


def _as_owner() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs a server binary as the cluster's owner, and that owner.

    Not root: the current user owns the cluster (no prefix).  Root: the ``postgres`` OS user,
    through ``runuser -u postgres --`` or, failing that, ``setpriv``.
    """
    if os.geteuid() != 0:
        return [], None
    try:
        owner = pwd.getpwnam(SUPERUSER)
    except KeyError:
        _unavailable(f"running as root and there is no {SUPERUSER!r} OS user for initdb")
    if runuser := shutil.which("runuser"):
        return [runuser, "-u", owner.pw_name, "--"], owner
    if setpriv := shutil.which("setpriv"):
        return [
            setpriv,
            f"--reuid={owner.pw_uid}",
            f"--regid={owner.pw_gid}",
            "--init-groups",
            "--reset-env",
        ], owner
    _unavailable("running as root (initdb refuses root) and neither runuser nor setpriv exists")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


class _Cluster:
    """initdb, start and stop; every server command runs as the owner, in the cluster's dir."""

    def __init__(self, bindir: Path, prefix: list[str], owner: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.prefix = prefix
        self.owner = owner
        # Not under pytest's tmp_path: its parents are private to root, and the server's owner
        # must reach the data directory.  A short path also keeps the socket name in bounds.
        self.directory = Path(tempfile.mkdtemp(prefix="sotsync-scram-"))
        self.data = self.directory / "data"
        self.sockets = self.directory / "sock"
        self.log = self.directory / "server.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        self.env.update(LC_ALL="C", LANG="C")

    def _chown(self, *paths: Path) -> None:
        if self.owner is not None:
            for path in paths:
                os.chown(path, self.owner.pw_uid, self.owner.pw_gid)

    def _run(
        self, binary: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.prefix, str(self.bindir / binary), *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def init(self) -> None:
        self.sockets.mkdir()
        pwfile = self.directory / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        pwfile.chmod(0o600)
        self._chown(self.directory, self.sockets, pwfile)
        proc = self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--auth",
            "scram-sha-256",
            "--pwfile",
            str(pwfile),
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        pwfile.unlink()
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            _unavailable(f"initdb failed ({proc.returncode}): {' | '.join(detail[-3:])}")

    def start(self) -> int:
        failure = ""
        for _ in range(START_ATTEMPTS):
            port = _free_port()
            options = (
                f"-p {port} -k {self.sockets} -c listen_addresses={HOST} "
                "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            )
            proc = self._run(
                "pg_ctl",
                "--pgdata",
                str(self.data),
                "--log",
                str(self.log),
                "--options",
                options,
                "--timeout",
                str(START_TIMEOUT_S),
                "--wait",
                "start",
                timeout=START_TIMEOUT_S + 10,
            )
            if proc.returncode == 0:
                return port
            self.stop()  # a half-started postmaster must not survive a retry
            failure = (
                _tail(self.log)
                or (proc.stderr or proc.stdout).strip()
                or f"exit {proc.returncode}, no output"
            )
            if "already in use" not in failure and "could not bind" not in failure:
                break  # only a lost race for the port is worth another try
        _unavailable(f"pg_ctl start failed: {failure}")

    def _postmaster_pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text().splitlines()[0]
        except (OSError, IndexError):
            return None
        return int(first) if first.strip().isdigit() else None

    def stop(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        try:
            stopped = (
                self._run(
                    "pg_ctl", "--pgdata", str(self.data), "--mode", "immediate", "stop", timeout=30
                ).returncode
                == 0
            )
        except (OSError, subprocess.SubprocessError):
            stopped = False
        # pg_ctl could not stop it (or hung): end the postmaster we started, by its pid.
        pid = None if stopped else self._postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[ScramCluster]:
    """Start a SCRAM cluster, yield its coordinates, stop and delete it on the way out."""
    if importlib.util.find_spec("psycopg") is None:
        _unavailable("psycopg is not installed (pip install 'sotsync[dev]')")
    bindir = find_bindir()
    if bindir is None:
        _unavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) in $SOTSYNC_TEST_PG_BINDIR,"
            " `pg_config --bindir` or /usr/lib/postgresql/*/bin"
        )
    prefix, owner = _as_owner()
    cluster = _Cluster(bindir, prefix, owner)
    try:
        cluster.init()
        port = cluster.start()
        yield ScramCluster(HOST, port, SUPERUSER, PASSWORD, cluster.directory)
    finally:
        cluster.stop()
        cluster.remove()


@pytest.fixture(scope="session")
def scram_cluster() -> Iterator[ScramCluster]:
    """One password-checking cluster for the whole session (skipped/failed when impossible)."""
    with running_cluster() as cluster:
        yield cluster
