"""The two databases the state store runs on, and every difference between them in one place.

The store's queries are written once, in the SQL both accept (`?` placeholders, `ON CONFLICT`,
`RETURNING`, `CASE` instead of two-argument `MAX`); a backend connects, begins, translates
placeholders and DDL types, keeps the schema version, and turns its driver's errors into the
`StateError`/`StorageError` a user can act on.

Write transactions serialize on both: SQLite's `BEGIN IMMEDIATE` takes the database's write lock,
and PostgreSQL's takes one transaction-scoped advisory lock, so every read-then-write the store
does (the dense event sequence, a lease check before an install) sees the same world on either.
Readers never wait (WAL on SQLite, MVCC on PostgreSQL).
"""
from __future__ import annotations

import functools
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from specs.errors import StateError
from specs.errors import StorageError
from specs.errors import StoreError
from wire.files import disk_full_error

URL_SCHEMES = ("postgresql://", "postgres://")
WRITE_LOCK = 0x4F524947  # "ORIG": the advisory lock every PostgreSQL write transaction takes
IDLE_IN_TRANSACTION_MS = 300_000  # a replica frozen inside a transaction releases the write lock after this


def is_url(location: str | Path | None) -> bool:
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


def safe_url(url: str) -> str:
    """The URL without its password (and without query options, which may carry one): for messages."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{user}{host}{port}{parts.path}"


class SqliteBackend:
    """One SQLite file in WAL mode; `PRAGMA user_version` is the schema version."""

    kind = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)

    def __init__(self, path: Path, *, read_only: bool) -> None:
        self.path = path
        self.label = f"the state database {path.name}"
        if read_only and not path.exists():
            raise StoreError(f"{path}: no state store here; run `origami reconcile` first or pass --state-dir")
        try:
            self.db: Any = self._connect(read_only)
            self._check()
        except sqlite3.DatabaseError as err:
            raise self.translated(err) from err

    def _connect(self, read_only: bool) -> sqlite3.Connection:
        if read_only:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                 check_same_thread=False, timeout=10)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        db.row_factory = sqlite3.Row
        return db

    def _check(self) -> None:
        """SQLite's quick integrity check (every page and index, no cross-checks): a damaged file is
        refused on open, before anything reads half of it."""
        verdict = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if verdict != "ok":
            raise self.damaged("it fails SQLite's integrity check")

    def begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def ddl(self, statement: str) -> str:
        return statement

    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self.db.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        self.db.close()

    def damaged(self, what: str) -> StateError:
        name = self.path.name
        return StateError(f"the state database {name} in the state directory is damaged ({what}); restore it "
                          f"from a backup, or move it aside with its -wal and -shm files (`mv {name} "
                          f"{name}.damaged`): `origami reconcile` then starts from an empty state database "
                          "and devices report again")

    def translated(self, err: BaseException) -> BaseException:
        """SQLite's error as the error a user can act on (the original when it is none of these)."""
        code = getattr(err, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        if primary == sqlite3.SQLITE_FULL or "disk is full" in str(err):
            return disk_full_error(f"the state database {self.path.name}")
        if primary == sqlite3.SQLITE_IOERR:
            return StorageError(f"cannot write the state database {self.path.name}: disk I/O error (a full disk "
                                f"or a failing one); free space or run `origami gc`, and check the disk")
        if primary == sqlite3.SQLITE_NOTADB:
            return self.damaged("it is not an SQLite database")
        if primary == sqlite3.SQLITE_CORRUPT:
            return self.damaged("SQLite reports it malformed")
        return err


# --- PostgreSQL ---------------------------------------------------------------------------------

_DDL = [  # SQLite DDL -> PostgreSQL DDL, in order
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),  # rowid
    (re.compile(r"\bINTEGER\b"), "BIGINT"),           # millisecond sequences outgrow 32 bits
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),    # PostgreSQL's REAL is 4 bytes: timestamps need 8
    (re.compile(r"^(\s*)offset\b", re.M), r'\1"offset"'),  # a reserved word there, a plain name in SQLite
]


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled); queries carry no `?` in literals."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgRow:
    """A row read like `sqlite3.Row`: by index, by column name, and as a mapping (`dict(row)`)."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: tuple) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        return self._values[key if isinstance(key, int) else self._index[key]]

    def keys(self) -> list[str]:
        return list(self._index)

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self):
        return iter(self._values)


def _row_factory(cursor: Any):
    index = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: PgRow(index, tuple(values))


class PgConnection:
    """What the store's transaction blocks use (`execute`, `executemany`), in SQLite's placeholders."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: tuple | list = ()) -> Any:
        return self.conn.execute(_placeholders(sql), tuple(params))

    def executemany(self, sql: str, rows: Any) -> Any:
        cursor = self.conn.cursor()
        cursor.executemany(_placeholders(sql), [tuple(r) for r in rows])
        return cursor


class PostgresBackend:
    """A PostgreSQL database shared by controller replicas; table `origami_schema` holds the version."""

    kind = "postgresql"

    def __init__(self, url: str, *, read_only: bool) -> None:
        try:
            import psycopg
        except ImportError as err:
            raise StoreError("a postgresql:// state needs the PostgreSQL driver: "
                             "pip install 'origami[postgresql]' (psycopg 3)") from err
        self._psycopg = psycopg
        self.url = url
        self.label = f"the PostgreSQL state at {safe_url(url)}"
        self.errors = (psycopg.Error,)
        self.read_only = read_only
        self.db = PgConnection(self._connect())

    def _connect(self) -> Any:
        options = f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
        if self.read_only:
            options += " -c default_transaction_read_only=on"
        try:
            return self._psycopg.connect(self.url, autocommit=True, row_factory=_row_factory, connect_timeout=10,
                                         options=options, application_name="origami")
        except self._psycopg.Error as err:
            raise self.unreachable(err) from err

    def ensure_connected(self) -> None:
        """A connection the server closed (a restart, a timeout) is opened again before the next use."""
        if self.db.conn.closed or self.db.conn.broken:
            self.db = PgConnection(self._connect())

    def begin(self) -> None:
        self.ensure_connected()
        self.db.conn.execute("BEGIN")
        self.db.conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))

    def commit(self) -> None:
        self.db.conn.execute("COMMIT")

    def rollback(self) -> None:
        conn = self.db.conn
        if not conn.closed and conn.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")

    def ddl(self, statement: str) -> str:
        for pattern, replacement in _DDL:
            statement = pattern.sub(replacement, statement)
        return statement

    def schema_version(self) -> int:
        self.ensure_connected()
        # A table scan of the catalog (not to_regclass, whose cache may predate the write lock this
        # transaction waited for): a replica that migrated meanwhile is seen.
        if not self.db.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'origami_schema' "
                               "AND table_schema = current_schema()").fetchone()[0]:
            return 0
        row = self.db.execute("SELECT version FROM origami_schema").fetchone()
        return int(row[0]) if row else 0

    def set_schema_version(self, version: int) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS origami_schema (version BIGINT NOT NULL)")
        self.db.execute("DELETE FROM origami_schema")
        self.db.execute("INSERT INTO origami_schema VALUES (?)", (int(version),))

    def close(self) -> None:
        self.db.conn.close()

    def unreachable(self, err: BaseException) -> StateError:
        """A failed connection, said in words a user can act on; never the password, never the server's
        full message (it may quote the connection string)."""
        text = str(err).lower()
        if "password authentication failed" in text or "authentication failed" in text:
            why = "the server refused the user or password; check the user in --state and the password " \
                  "(PGPASSWORD or ~/.pgpass)"
        elif "no password supplied" in text:
            why = "the server asks for a password; set PGPASSWORD or add it to ~/.pgpass"
        elif "does not exist" in text and "database" in text:
            why = "the database does not exist; create it (`createdb NAME`) or name another in --state"
        elif "role" in text and "does not exist" in text:
            why = "the user does not exist on that server; create it (`createuser NAME`) or name another"
        elif "connection refused" in text or "could not connect" in text or "no such file" in text:
            why = "connection refused; start PostgreSQL or check the host and port in --state"
        elif "timeout" in text or "timed out" in text:
            why = "no answer within 10 s; check the host and the network"
        elif "could not translate host name" in text or "name or service not known" in text:
            why = "unknown host name; check the host in --state"
        else:
            why = f"{type(err).__name__}; check that PostgreSQL runs and --state names it"
        return StateError(f"cannot open {self.label}: {why}")

    def translated(self, err: BaseException) -> BaseException:
        psycopg = self._psycopg
        state = getattr(err, "sqlstate", None) or ""
        if state in ("53100", "53200"):  # disk_full, out_of_memory
            return disk_full_error(self.label)
        if isinstance(err, psycopg.OperationalError) and (self.db.conn.closed or self.db.conn.broken):
            return StorageError(f"lost the connection to {self.label}; the pass is retried on the next interval "
                                "(check that PostgreSQL runs)")
        if state.startswith("08"):  # connection exceptions
            return StorageError(f"lost the connection to {self.label}; retried on the next pass")
        if state == "25006":  # read_only_sql_transaction
            return StoreError("the state store is open read-only")
        return err
