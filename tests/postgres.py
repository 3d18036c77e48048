"""A real PostgreSQL for the tests: Debian's binaries, `initdb` into a temp dir, one server per
session on a free loopback port (its unix socket in the temp dir too), one database per test.

PostgreSQL refuses to run as root; under root (CI containers) the server runs as the `postgres`
user the Debian package creates, in a directory outside pytest's root-only tmp tree.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest

BIN = Path(os.environ.get("ORIGAMI_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "origami"


def missing() -> str | None:
    """Why PostgreSQL tests cannot run here, or None."""
    for tool in ("initdb", "postgres"):
        if not (BIN / tool).exists():
            return f"PostgreSQL binaries not found in {BIN} (apt-get install postgresql; scripts/system-packages.sh)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver is not installed (pip install 'origami[postgresql]')"
    if os.geteuid() == 0 and _unprivileged() is None:
        return "running as root and there is no `postgres` user to run PostgreSQL as"
    return None


def _unprivileged() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


@dataclass
class PostgresServer:
    directory: Path
    port: int
    process: subprocess.Popen
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"{prefix}{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres(port: int) -> PostgresServer:
    directory = Path(tempfile.mkdtemp(prefix="origami-pg-"))
    data, sockets = directory / "data", directory / "run"
    sockets.mkdir()
    as_user: dict = {}
    if os.geteuid() == 0:
        account = _unprivileged()
        assert account is not None
        for path in (directory, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    subprocess.run([str(BIN / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync",
                    "--no-instructions"], check=True, capture_output=True, **as_user)
    log = open(directory / "postgres.log", "wb")  # noqa: SIM115  (the server's output while it runs)
    process = subprocess.Popen(
        [str(BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
         "-c", "full_page_writes=off", "-c", "max_connections=200"],
        stdout=log, stderr=subprocess.STDOUT, **as_user)
    server = PostgresServer(directory, port, process)
    deadline = time.monotonic() + 60
    import psycopg

    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited: {(directory / 'postgres.log').read_text()[-2000:]}")
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return server
        except psycopg.OperationalError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("PostgreSQL did not accept connections within 60 s")


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL server (skipped, with the reason, where it cannot run)."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from tests.conftest import free_port

    server = start_postgres(free_port())
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres) -> str:
    """A fresh database of the session's server, for one test."""
    return postgres.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request, tmp_path):
    """`make_store(read_only=False)`: a StateStore on this test's state, once per backend (SQLite file,
    PostgreSQL database); every call opens another connection to the same state."""
    from controller.state import StateStore

    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    opened = []

    def make(read_only: bool = False) -> StateStore:
        store = StateStore(tmp_path / "s.db", read_only=read_only, url=url)
        opened.append(store)
        return store

    make.backend = request.param
    make.url = url
    yield make
    for store in opened:
        try:
            store.close()
        except Exception:  # already closed by the test
            pass
