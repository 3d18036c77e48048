"""The state store: one SQLite file in WAL mode (the default) or a PostgreSQL database shared by
controller replicas (`--state postgresql://...`); schema-versioned, safe to SIGKILL.

Every write happens inside a transaction; a group of writes that must land together (an
install record and the desired state that names it, a rollout step and its event) shares one
`with store.transaction():` block, so a kill leaves either all of it or none. So does a full disk:
the transaction rolls back and `StorageError` says what to do. A file that is not SQLite, or fails
`PRAGMA quick_check` when opened, is a `StateError` naming the file and how to recover. The queries
below are written once for both databases; `backends.py` holds every difference.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from controller.state.backends import PostgresBackend
from controller.state.backends import SqliteBackend
from controller.state.backends import is_url
from controller.state.records import CommitRecord
from controller.state.records import Condition
from controller.state.records import DesiredRecord
from controller.state.records import DeviceRecord
from controller.state.records import Event
from controller.state.records import InstallRecord
from controller.state.records import Lease
from controller.state.records import ObjectStatus
from controller.state.records import RolloutRecord
from controller.state.schema import MIGRATIONS
from controller.state.schema import SCHEMA_VERSION
from specs.errors import StoreError
from wire.files import disk_full_error
from wire.files import is_disk_full
from wire.logs import get_logger

log = get_logger("state")
DEFAULT_FILE = "origami-state.db"
STATE_URL_ENV = "ORIGAMI_STATE"  # a postgresql:// URL, for every command that takes --state


def _j(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class StateStore:
    """Durable controller state. Thread-safe: one connection guarded by a re-entrant lock.

    `path` is the SQLite file; with `url` (postgresql://user@host:port/db) the state lives in that
    database instead, and `path` stays the local file collected samples are indexed in (per replica)."""

    def __init__(self, path: str | Path, *, read_only: bool = False, url: str | None = None,
                 tenant: str | None = None) -> None:
        """`tenant`: whose events this store writes and reads (controller/tenancy); None: the tenant
        whose events the state already holds (a tenant's state directory opened by the local CLI),
        `default` when it holds none."""
        self.path = Path(path)
        self.url = url
        self.tenant = tenant or "default"
        self.read_only = read_only
        self._lock = threading.RLock()
        self._depth = 0
        self.writes = 0  # committed write transactions, for observers and tests
        self._backend: SqliteBackend | PostgresBackend | None = None
        try:
            if url:
                if not is_url(url):
                    raise StoreError("--state takes a postgresql://user@host:port/database URL")
                self._backend = PostgresBackend(url, read_only=read_only)
            else:
                self._backend = SqliteBackend(self.path, read_only=read_only)
            self._migrate()
            if tenant is None:
                rows = self._rows("SELECT tenant FROM events ORDER BY seq DESC LIMIT 1")
                self.tenant = rows[0][0] if rows else "default"
        except OSError as err:
            if is_disk_full(err):
                raise disk_full_error(f"the state database {self.path.name}") from err
            raise StoreError(f"cannot create the state database {self.path.name}: {err.strerror or err}") from err
        except Exception as err:
            if self._backend is None or not isinstance(err, self._backend.errors):
                raise
            raise self._translated(err) from err

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return "postgresql" if self.url else "sqlite"

    @property
    def _db(self) -> Any:
        """The backend's connection (SQLite's own; PostgreSQL's behind `?` placeholders)."""
        assert self._backend is not None
        return self._backend.db

    def _translated(self, err: BaseException) -> BaseException:
        assert self._backend is not None
        return self._backend.translated(err)

    # --- plumbing -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        assert self._backend is not None
        where = self._backend.label
        version = self._backend.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(f"{where}: state schema v{version} is newer than this Origami "
                             f"(v{SCHEMA_VERSION}); upgrade Origami")
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise StoreError(f"{where}: state schema v{version} needs migrating to v{SCHEMA_VERSION}; "
                             "run `origami reconcile` once")
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                if self._backend.schema_version() > number:
                    continue  # another replica migrated it while this one waited for the write lock
                for statement in _statements(MIGRATIONS[number]):
                    self._db.execute(self._backend.ddl(statement))
                self._backend.set_schema_version(number + 1)
            log.info("state schema migrated", extra={"state": where, "version": number + 1})

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Re-entrant: nested blocks join the outermost transaction."""
        with self._lock:
            if self.read_only:
                raise StoreError("the state store is open read-only")
            backend = self._backend
            assert backend is not None
            outer = self._depth == 0
            if outer:
                try:
                    backend.begin()
                except backend.errors as err:
                    self._rollback()
                    raise self._translated(err) from err
            self._depth += 1
            try:
                yield self._db
            except BaseException as err:
                self._depth -= 1
                if outer:
                    self._rollback()
                if isinstance(err, backend.errors) and (mapped := self._translated(err)) is not err:
                    raise mapped from err
                raise
            self._depth -= 1
            if outer:
                try:
                    backend.commit()
                except backend.errors as err:  # a full disk at commit: nothing of it lands
                    self._rollback()
                    raise self._translated(err) from err
                self.writes += 1

    def change_marker(self) -> tuple[int, object]:
        """Changes whenever anything was committed since the last call returned the same value: this
        process's write transactions, and other processes' (SQLite's `data_version`; PostgreSQL's WAL
        position, which also moves for other databases of the server: a false alarm costs one full
        pass, never a missed change)."""
        sql = "SELECT pg_current_wal_lsn()::text" if self.url else "PRAGMA data_version"
        rows = self._rows(sql)
        return self.writes, rows[0][0]

    def _rollback(self) -> None:
        assert self._backend is not None
        try:
            self._backend.rollback()
        except self._backend.errors:
            pass  # a connection that broke mid-transaction rolled back on the server already

    def _rows(self, sql: str, params: tuple = ()) -> list[Any]:
        with self._lock:
            backend = self._backend
            assert backend is not None
            try:
                if isinstance(backend, PostgresBackend) and self._depth == 0:
                    backend.ensure_connected()
                return list(self._db.execute(sql, params).fetchall())
            except backend.errors as err:
                mapped = self._translated(err)
                if mapped is err:
                    raise
                raise mapped from err

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()

    # --- commits and the source -----------------------------------------------------------------
    def record_commit(self, sha: str, source: str, valid: bool, issues: list[str],
                      texts: list[tuple[str, str]] | None) -> None:
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO commits VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                       (sha, source, now, int(valid), _j(issues), _j(texts) if valid else None))
            good = sha if valid else None
            db.execute("INSERT INTO source_state VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                       "last_observed=excluded.last_observed, "
                       "last_good=COALESCE(excluded.last_good, source_state.last_good), updated_at=excluded.updated_at",
                       (sha, good, now))

    def commit(self, sha: str) -> CommitRecord | None:
        rows = self._rows("SELECT * FROM commits WHERE sha=?", (sha,))
        if not rows:
            return None
        r = rows[0]
        texts = json.loads(r["texts"]) if r["texts"] else None
        return CommitRecord(r["sha"], r["source"], r["observed_at"], bool(r["valid"]), json.loads(r["issues"]),
                            [tuple(t) for t in texts] if texts is not None else None)

    def source_state(self) -> tuple[str | None, str | None]:
        """(last observed commit, last good commit)."""
        rows = self._rows("SELECT last_observed, last_good FROM source_state WHERE id=1")
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    # --- objects and conditions -----------------------------------------------------------------
    def object(self, kind: str, name: str) -> ObjectStatus | None:
        rows = self._rows("SELECT * FROM objects WHERE kind=? AND name=?", (kind, name))
        return _object(rows[0]) if rows else None

    def objects(self, kind: str | None = None) -> list[ObjectStatus]:
        if kind:
            rows = self._rows("SELECT * FROM objects WHERE kind=? ORDER BY name", (kind,))
        else:
            rows = self._rows("SELECT * FROM objects ORDER BY kind, name")
        return [_object(r) for r in rows]

    def put_object(self, status: ObjectStatus) -> None:
        now = time.time()
        conditions = {k: vars(c) for k, c in status.conditions.items()}
        with self.transaction() as db:
            db.execute(
                "INSERT INTO objects VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(kind, name) DO UPDATE SET "
                "observed_commit=excluded.observed_commit, desired_key=excluded.desired_key, "
                "conditions=excluded.conditions, last_error=excluded.last_error, failures=excluded.failures, "
                "next_attempt=excluded.next_attempt, detail=excluded.detail, updated_at=excluded.updated_at",
                (status.kind, status.name, status.observed_commit, status.desired_key, _j(conditions),
                 status.last_error, status.failures, status.next_attempt, _j(status.detail_json()),
                 status.created_at or now, now))

    def delete_object(self, kind: str, name: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM objects WHERE kind=? AND name=?", (kind, name))

    # --- stages ---------------------------------------------------------------------------------
    def stage(self, key: str) -> dict | None:
        rows = self._rows("SELECT * FROM stages WHERE key=?", (key,))
        if not rows:
            return None
        r = dict(rows[0])
        r["result"] = json.loads(r["result"])
        return r

    def stages(self) -> list[dict]:
        return [dict(r) | {"result": json.loads(r["result"])}
                for r in self._rows("SELECT * FROM stages ORDER BY started_at")]

    def stage_started(self, key: str, kind: str, target: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO stages (key, kind, target, status, started_at) VALUES (?,?,?,?,?) "
                       "ON CONFLICT(key) DO UPDATE SET status='running', started_at=excluded.started_at",
                       (key, kind, target, "running", time.time()))

    def stage_progress(self, key: str, note: dict) -> None:
        """A running stage's latest progress note (`origami status` shows it)."""
        with self.transaction() as db:
            db.execute("UPDATE stages SET result=? WHERE key=? AND status='running'", (_j(note), key))

    def interrupt_stages(self) -> None:
        """Stages a previous controller left running died with it."""
        with self.transaction() as db:
            db.execute("UPDATE stages SET status='failed', finished_at=? WHERE status='running'", (time.time(),))

    def stage_finished(self, key: str, ok: bool, result: dict) -> None:
        with self.transaction() as db:
            db.execute("UPDATE stages SET status=?, finished_at=?, result=? WHERE key=?",
                       ("done" if ok else "failed", time.time(), _j(result), key))

    # --- devices --------------------------------------------------------------------------------
    def observe_device(self, device_id: str, *, board: str | None = None, labels: dict | None = None,
                       hello: dict | None = None, reported: dict | None = None,
                       reported_version: str | None = None, healthy: bool | None = None,
                       online: bool = True, seen_at: float | None = None) -> None:
        """Merge what a device said (hello or state) into its record; unset fields keep their value."""
        now = seen_at if seen_at is not None else time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO devices (device_id, first_seen, last_seen) VALUES (?,?,?) ON CONFLICT DO NOTHING",
                       (device_id, now, now))
            sets = ["online_since=CASE WHEN ?=0 THEN NULL WHEN online=0 OR online_since IS NULL THEN ? "
                    "ELSE online_since END", "online=?", "last_seen=CASE WHEN last_seen > ? THEN last_seen ELSE ? END"]
            params = [int(online), now, int(online), now, now]
            for column, value in (("board", board), ("labels", labels), ("hello", hello),
                                  ("reported", reported)):
                if value is not None:
                    sets.append(f"{column}=?")
                    params.append(value if isinstance(value, str) else _j(value))
            if reported is not None:
                sets += ["reported_version=?", "healthy=?"]
                params += [reported_version, None if healthy is None else int(healthy)]
            db.execute(f"UPDATE devices SET {', '.join(sets)} WHERE device_id=?", (*params, device_id))

    def silent(self, before: float) -> list[str]:
        """Devices still marked online whose last message is older than `before` (read only)."""
        return [r["device_id"] for r in self._rows(
            "SELECT device_id FROM devices WHERE online=1 AND last_seen < ? ORDER BY device_id", (before,))]

    def mark_silent(self, before: float) -> list[str]:
        """The `silent` devices go offline (a device that sent a hello and then nothing, or whose broker
        session outlived it); their ids."""
        with self.transaction() as db:
            ids = self.silent(before)
            db.executemany("UPDATE devices SET online=0, online_since=NULL WHERE device_id=?", [(i,) for i in ids])
        return ids

    def devices(self) -> list[DeviceRecord]:
        return [_device(r) for r in self._rows("SELECT * FROM devices ORDER BY device_id")]

    def device(self, device_id: str) -> DeviceRecord | None:
        rows = self._rows("SELECT * FROM devices WHERE device_id=?", (device_id,))
        return _device(rows[0]) if rows else None

    def forget_devices(self, silent_since: float, *, keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Delete the devices not seen since `silent_since` (their rows, desired states and member
        failures), except those in `keep` and those assigned by a fleet whose rollout is in progress.
        Installs stay: a device that comes back continues its generations. The ids forgotten."""
        with self.transaction() as db:
            busy = {r[0] for r in db.execute(
                "SELECT d.device_id FROM desired d JOIN rollouts r ON r.fleet = d.fleet WHERE r.phase = 'progressing'")}
            stale = [r[0] for r in db.execute("SELECT device_id FROM devices WHERE last_seen < ? ORDER BY device_id",
                                              (silent_since,))]
            gone = [d for d in stale if d not in keep and d not in busy]
            for table in ("devices", "desired", "member_failures"):
                db.executemany(f"DELETE FROM {table} WHERE device_id=?", [(d,) for d in gone])
        if gone:
            log.info("devices forgotten", extra={"count": len(gone), "silent_since": silent_since})
        return gone

    # --- desired state and installs -------------------------------------------------------------
    def record_install(self, install: InstallRecord, payload: dict) -> None:
        """The install and the desired state naming it land together, before anything is sent."""
        with self.transaction() as db:
            db.execute("INSERT INTO installs VALUES (?,?,?,?,?,?,?)",
                       (install.install_id, install.device_id, install.fleet, install.version,
                        install.artifact, install.reason, install.recorded_at))
            db.execute("INSERT INTO desired VALUES (?,?,?,?,?,?,NULL) ON CONFLICT(device_id) DO UPDATE SET "
                       "fleet=excluded.fleet, version=excluded.version, install_id=excluded.install_id, "
                       "payload=excluded.payload, assigned_at=excluded.assigned_at, reached_at=NULL",
                       (install.device_id, install.fleet, install.version, install.install_id, _j(payload),
                        install.recorded_at))

    def allocate_sequence(self, now: float) -> int:
        """The next desired-state sequence: max(last + 1, `now` in milliseconds), so it grows across
        restarts and after a restored backup too. Call it inside the transaction that records what it
        is signed into: an allocation that is rolled back is never sent."""
        with self.transaction() as db:  # one statement: the row lock orders concurrent replicas
            return int(db.execute(
                "INSERT INTO counters VALUES ('sequence', ?) ON CONFLICT(name) DO UPDATE SET value = CASE "
                "WHEN counters.value + 1 > excluded.value THEN counters.value + 1 ELSE excluded.value END "
                "RETURNING value", (int(now * 1000),)).fetchone()[0])

    def replace_desired_payload(self, device_id: str, install_id: str, payload: dict) -> None:
        """The same assignment re-signed (a new sequence or key); nothing else about it changes."""
        with self.transaction() as db:
            db.execute("UPDATE desired SET payload=? WHERE device_id=? AND install_id=?",
                       (_j(payload), device_id, install_id))

    def mark_reached(self, device_id: str, at: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE desired SET reached_at=? WHERE device_id=? AND reached_at IS NULL", (at, device_id))

    def clear_desired(self, device_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM desired WHERE device_id=?", (device_id,))

    def desired(self) -> dict[str, DesiredRecord]:
        return {r["device_id"]: DesiredRecord(r["device_id"], r["fleet"], r["version"], r["install_id"],
                                              json.loads(r["payload"]), r["assigned_at"], r["reached_at"])
                for r in self._rows("SELECT * FROM desired")}

    def installs(self, device_id: str | None = None) -> list[InstallRecord]:
        sql, params = "SELECT * FROM installs", ()
        if device_id:
            sql, params = sql + " WHERE device_id=?", (device_id,)
        return [InstallRecord(**dict(r)) for r in self._rows(sql + " ORDER BY recorded_at, install_id", params)]

    def referenced_artifacts(self) -> set[str]:
        """Artifact digests the state names and garbage collection must keep: each device's desired
        artifact and the artifacts of its last two installs (current and previous), every collected
        sample's segment and every pinned snapshot manifest (samples are data, never garbage)."""
        out: set[str] = set()
        for r in self._rows("SELECT payload FROM desired"):
            manifest = (json.loads(r["payload"]).get("artifact") or {}).get("manifest") or {}
            if manifest.get("digest"):
                out.add(manifest["digest"])
        out |= {r[0] for r in self._rows(
            "SELECT artifact FROM (SELECT artifact, ROW_NUMBER() OVER (PARTITION BY device_id "
            "ORDER BY recorded_at DESC, install_id DESC) AS n FROM installs) AS latest WHERE n <= 2 "
            "AND artifact IS NOT NULL")}
        out |= {r[0] for r in self._rows("SELECT DISTINCT blob FROM samples")}
        out |= {r[0] for r in self._rows("SELECT manifest FROM sample_pins")}
        if self.url and self.path.exists():  # samples are indexed per replica, in the local file
            local = StateStore(self.path, read_only=True)
            try:
                out |= local.referenced_artifacts()
            finally:
                local.close()
        return out

    # --- rollouts -------------------------------------------------------------------------------
    def rollout(self, fleet: str) -> RolloutRecord | None:
        rows = self._rows("SELECT * FROM rollouts WHERE fleet=?", (fleet,))
        return _rollout(rows[0]) if rows else None

    def rollouts(self) -> list[RolloutRecord]:
        return [_rollout(r) for r in self._rows("SELECT * FROM rollouts ORDER BY fleet")]

    def put_rollout(self, r: RolloutRecord) -> None:
        """Write the loop's view of a rollout. `paused` and `undo_requested` belong to the operator
        (another process may set them at any time), so an update never overwrites them."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO rollouts (fleet, target, last_good, previous_good, failed_version, step, step_done_at, "
                "strategy, paused, undo_requested, phase, failures, updated_at, retry_requested, started_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(fleet) DO UPDATE SET "
                "target=excluded.target, last_good=excluded.last_good, previous_good=excluded.previous_good, "
                "failed_version=excluded.failed_version, step=excluded.step, step_done_at=excluded.step_done_at, "
                "strategy=excluded.strategy, phase=excluded.phase, failures=excluded.failures, "
                "updated_at=excluded.updated_at, started_at=excluded.started_at",
                (r.fleet, r.target, r.last_good, r.previous_good, r.failed_version, r.step, r.step_done_at,
                 _j(r.strategy), int(r.paused), int(r.undo_requested), r.phase, _j(r.failures), time.time(),
                 int(r.retry_requested), r.started_at))

    def clear_undo(self, fleet: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE rollouts SET undo_requested=0 WHERE fleet=?", (fleet,))

    def request_retry(self, fleet: str) -> bool:
        """Operator retry of a halted or undone rollout; the loop applies it on its next pass. False when
        the fleet has no rollout."""
        with self.transaction() as db:
            return db.execute("UPDATE rollouts SET retry_requested=1, updated_at=? WHERE fleet=?",
                              (time.time(), fleet)).rowcount > 0

    def clear_retry(self, fleet: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE rollouts SET retry_requested=0 WHERE fleet=?", (fleet,))

    # --- member failures ------------------------------------------------------------------------
    def record_failure(self, device_id: str, fleet: str, version: str, reason: str, at: float) -> bool:
        """A member failed a version (refused, health check, timeout); True when it is new."""
        with self.transaction() as db:
            return db.execute("INSERT INTO member_failures VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                              (device_id, fleet, version, reason[:500], at)).rowcount > 0

    def forget_failures(self, fleet: str, version: str) -> None:
        """An operator retry: every member may be sent `version` again."""
        with self.transaction() as db:
            db.execute("DELETE FROM member_failures WHERE fleet=? AND version=?", (fleet, version))

    def failed_versions(self, fleet: str) -> dict[str, frozenset[str]]:
        """Device -> the versions of this fleet it failed."""
        out: dict[str, set[str]] = {}
        for r in self._rows("SELECT device_id, version FROM member_failures WHERE fleet=?", (fleet,)):
            out.setdefault(r["device_id"], set()).add(r["version"])
        return {d: frozenset(v) for d, v in out.items()}

    def set_paused(self, fleet: str, paused: bool) -> bool:
        """Operator pause/resume; False when the fleet has no rollout record yet."""
        with self.transaction() as db:
            return db.execute("UPDATE rollouts SET paused=?, updated_at=? WHERE fleet=?",
                              (int(paused), time.time(), fleet)).rowcount > 0

    def request_undo(self, fleet: str) -> bool:
        """Operator undo; the loop applies it on its next pass. False when the fleet has no rollout."""
        with self.transaction() as db:
            return db.execute("UPDATE rollouts SET undo_requested=1, updated_at=? WHERE fleet=?",
                              (time.time(), fleet)).rowcount > 0

    # --- leases ---------------------------------------------------------------------------------
    def claim(self, name: str, holder: str, now: float, period: float) -> Lease | None:
        """Take or renew the lease `name` for `period` seconds: granted when nobody holds it, when
        `holder` does, or when the holder's lease expired (a takeover starts a new term). The lease
        when granted, else None."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO leases (name, holder, term, acquired_at, expires_at) VALUES (?,?,1,?,?) "
                "ON CONFLICT(name) DO UPDATE SET holder=excluded.holder, expires_at=excluded.expires_at, "
                "term=CASE WHEN leases.holder=excluded.holder THEN leases.term ELSE leases.term + 1 END, "
                "acquired_at=CASE WHEN leases.holder=excluded.holder THEN leases.acquired_at "
                "ELSE excluded.acquired_at END "
                "WHERE leases.holder=excluded.holder OR leases.expires_at < excluded.acquired_at",
                (name, holder, now, now + period))
            lease = self.lease(name)
        return lease if lease is not None and lease.holder == holder else None

    def holds(self, lease: Lease) -> bool:
        """Whether `lease` is still the one in force (same holder, same term): checked inside the
        transaction that acts on it, so a holder that lost it meanwhile writes nothing."""
        current = self.lease(lease.name)
        return current is not None and (current.holder, current.term) == (lease.holder, lease.term)

    def release(self, name: str, holder: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM leases WHERE name=? AND holder=?", (name, holder))

    def lease(self, name: str) -> Lease | None:
        rows = self._rows("SELECT * FROM leases WHERE name=?", (name,))
        return _lease(rows[0]) if rows else None

    def leases(self) -> list[Lease]:
        return [_lease(r) for r in self._rows("SELECT * FROM leases ORDER BY name")]

    # --- events ---------------------------------------------------------------------------------
    def emit(self, kind: str, name: str, reason: str, message: str, *, warning: bool = False,
             commit: str | None = None) -> int:
        """Append one event; sequence numbers are dense (no gaps) because they are taken in the
        same transaction as the insert."""
        with self.transaction() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events").fetchone()[0]
            db.execute("INSERT INTO events (seq, ts, kind, name, type, reason, message, commit_sha, tenant) "
                       "VALUES (?,?,?,?,?,?,?,?,?)", (seq, time.time(), kind, name, "Warning" if warning else "Normal",
                                                      reason, message, commit, self.tenant))
        log.info(message, extra={"event_seq": seq, "object": f"{kind}/{name}", "reason": reason})
        return seq

    def events(self, *, since: int = 0, kind: str | None = None, name: str | None = None,
               limit: int | None = None, not_before: float | None = None) -> list[Event]:
        """Events after sequence `since` (and at or after time `not_before`), oldest first; the last
        `limit` of them."""
        sql, params = "SELECT * FROM events WHERE tenant=? AND seq > ?", [self.tenant, since]
        if not_before is not None:
            sql, params = sql + " AND ts >= ?", params + [not_before]
        if kind:
            sql, params = sql + " AND kind=?", params + [kind]
        if name:
            sql, params = sql + " AND name=?", params + [name]
        sql += " ORDER BY seq"
        if limit:
            newest = sql.replace("ORDER BY seq", "ORDER BY seq DESC")
            sql = f"SELECT * FROM ({newest} LIMIT {int(limit)}) AS tail ORDER BY seq"
        return [Event(r["seq"], r["ts"], r["kind"], r["name"], r["type"], r["reason"], r["message"], r["commit_sha"])
                for r in self._rows(sql, tuple(params))]


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _object(r: Any) -> ObjectStatus:
    conditions = {k: Condition(**v) for k, v in json.loads(r["conditions"]).items()}
    return ObjectStatus(r["kind"], r["name"], r["observed_commit"], r["desired_key"], conditions, r["last_error"],
                        r["failures"], r["next_attempt"], json.loads(r["detail"]), r["created_at"], r["updated_at"])


def _device(r: Any) -> DeviceRecord:
    return DeviceRecord(r["device_id"], r["board"], json.loads(r["labels"]), json.loads(r["hello"]),
                        json.loads(r["reported"]), r["reported_version"],
                        None if r["healthy"] is None else bool(r["healthy"]), bool(r["online"]),
                        r["first_seen"], r["last_seen"], r["online_since"])


def _lease(r: Any) -> Lease:
    return Lease(r["name"], r["holder"], r["term"], r["acquired_at"], r["expires_at"])


def _rollout(r: Any) -> RolloutRecord:
    return RolloutRecord(r["fleet"], r["target"], r["last_good"], r["previous_good"], r["failed_version"], r["step"],
                         r["step_done_at"], json.loads(r["strategy"]), bool(r["paused"]), bool(r["undo_requested"]),
                         r["phase"], json.loads(r["failures"]), r["updated_at"], bool(r["retry_requested"]),
                         r["started_at"])


def open_store(state_dir: str | Path | None = None, *, read_only: bool = False,
               url: str | None = None, tenant: str | None = None) -> StateStore:
    """The store in `state_dir` (default: the working directory), or in the PostgreSQL database `url`
    (default: $ORIGAMI_STATE when set), reading and writing `tenant`'s events."""
    url = url or os.environ.get(STATE_URL_ENV) or None
    return StateStore(Path(state_dir or ".") / DEFAULT_FILE, read_only=read_only, url=url, tenant=tenant)
