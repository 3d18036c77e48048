"""The sample index: collected windows, their versioned labels, rejections and per-device counters,
in the state store's SQLite file (tables from schema migration 2). Window bytes live in the
artifact store (segments of many windows, content-addressed); a row points at (blob, offset).

The index opens its own connection to the state file (WAL lets the reconciler write meanwhile), so
the collector's writes never wait on the loop's lock.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from controller.state.store import DEFAULT_FILE
from controller.state.store import StateStore
from specs.errors import StoreError


@dataclass(frozen=True)
class StoredWindow:
    """Where a window lies (its segment and offset) and what it is: shared by the collector's new
    windows and the index's rows."""

    device_id: str
    sensor: str
    ts: float
    digest: str
    blob: str
    offset: int
    shape: tuple[int, ...]
    dtype: str
    rate_hz: float
    session: str | None
    fleet: str | None
    campaign: str | None


@dataclass(frozen=True)
class NewWindow(StoredWindow):
    """One window the collector accepted, before it has a row."""

    boot: str | None
    seq: int | None
    label: str | None


@dataclass(frozen=True, kw_only=True)
class SampleRecord(StoredWindow):
    id: int
    label: str | None
    label_revision: int
    received_at: float

    @property
    def nbytes(self) -> int:
        n = 4
        for d in self.shape:
            n *= d
        return n

    def to_dict(self) -> dict:
        return {"id": self.id, "device": self.device_id, "sensor": self.sensor, "ts": self.ts,
                "digest": self.digest, "shape": list(self.shape), "dtype": self.dtype, "rateHz": self.rate_hz,
                "session": self.session, "fleet": self.fleet, "campaign": self.campaign, "label": self.label,
                "labelRevision": self.label_revision}


@dataclass(frozen=True)
class Rejection:
    device_id: str
    reason: str
    message: str
    payload_digest: str
    size: int
    received_at: float


@dataclass(frozen=True)
class Selection:
    """Which samples a command or a dataset source means; every field narrows."""

    sensor: str | None = None
    fleet: str | None = None
    device: str | None = None
    session: str | None = None
    since: float | None = None
    until: float | None = None
    labels: tuple[str, ...] | None = None     # only samples whose current label is one of these
    labelled: bool | None = None              # True: labelled only; False: unlabelled only
    ids: tuple[int, ...] | None = None
    window: int | None = None                 # readings per window (first axis of the shape)

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        for clause, value in (("sensor = ?", self.sensor), ("device_id = ?", self.device),
                              ("session = ?", self.session), ("ts >= ?", self.since), ("ts < ?", self.until),
                              ("json_extract(shape, '$[0]') = ?", self.window)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        for column, values in (("label", self.labels), ("id", self.ids)):
            if values is not None:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params += list(values)
        if self.fleet is not None:
            # a device that did not say its fleet belongs to the fleet whose desired state names it
            clauses.append("(fleet = ? OR (fleet IS NULL AND device_id IN "
                           "(SELECT device_id FROM desired WHERE fleet = ?)))")
            params += [self.fleet, self.fleet]
        if self.labelled is not None:
            clauses.append("label IS NOT NULL" if self.labelled else "label IS NULL")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SampleIndex:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        StateStore(self.path).close()      # create or migrate the schema (v2 holds our tables)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path}: cannot open the sample index ({err})") from err
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()

    @classmethod
    def in_state_dir(cls, state_dir: str | Path | None) -> SampleIndex:
        return cls(Path(state_dir or ".") / DEFAULT_FILE)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # --- ingest -------------------------------------------------------------------------------
    def add(self, windows: list[NewWindow], rejections: list[Rejection], devices: dict[str, dict]) -> list[bool]:
        """Insert windows (False for a duplicate), record rejections and bump per-device counters, in
        one transaction. `devices[id]` holds increments (messages, rejected, out_of_order) and the
        latest (boot, last_seq); stored and duplicate windows are counted here."""
        now = time.time()
        inserted = []
        with self._tx() as db:
            for w in windows:
                cur = db.execute(
                    "INSERT OR IGNORE INTO samples (device_id, sensor, ts, digest, blob, offset, shape, dtype, rate_hz,"
                    " session, fleet, campaign, boot, seq, label, label_revision, received_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?)",
                    (w.device_id, w.sensor, w.ts, w.digest, w.blob, w.offset, json.dumps(list(w.shape)), w.dtype,
                     w.rate_hz, w.session, w.fleet, w.campaign, w.boot, w.seq, None, now))
                fresh = cur.rowcount > 0
                inserted.append(fresh)
                if fresh and w.label is not None:
                    self._label(db, cur.lastrowid, w.label, "device", now)
            for w, fresh in zip(windows, inserted):
                c = devices.setdefault(w.device_id, {})
                key = "windows" if fresh else "duplicates"
                c[key] = c.get(key, 0) + 1
            for r in rejections:
                db.execute("INSERT INTO sample_rejections (device_id, reason, message, payload_digest, size, "
                           "received_at) VALUES (?,?,?,?,?,?)",
                           (r.device_id, r.reason, r.message, r.payload_digest, r.size, r.received_at))
            for device_id, c in devices.items():
                db.execute("INSERT OR IGNORE INTO sample_devices (device_id) VALUES (?)", (device_id,))
                db.execute("UPDATE sample_devices SET messages = messages + ?, windows = windows + ?, "
                           "duplicates = duplicates + ?, rejected = rejected + ?, out_of_order = out_of_order + ?, "
                           "boot = COALESCE(?, boot), last_seq = COALESCE(?, last_seq), last_received = ? "
                           "WHERE device_id = ?",
                           (c.get("messages", 0), c.get("windows", 0), c.get("duplicates", 0), c.get("rejected", 0),
                            c.get("out_of_order", 0), c.get("boot"), c.get("last_seq"), now, device_id))
        return inserted

    def device_positions(self) -> dict[str, tuple[str | None, int | None]]:
        """(boot, last seq) per device, so a restarted collector still spots out-of-order batches."""
        return {r["device_id"]: (r["boot"], r["last_seq"]) for r in self._rows("SELECT * FROM sample_devices")}

    # --- labels -------------------------------------------------------------------------------
    @staticmethod
    def _label(db: sqlite3.Connection, sample_id: int, label: str | None, how: str, at: float) -> int:
        revision = db.execute("INSERT INTO sample_labels (sample_id, label, how, set_at) VALUES (?,?,?,?)",
                              (sample_id, label, how, at)).lastrowid
        db.execute("UPDATE samples SET label = ?, label_revision = ? WHERE id = ?", (label, revision, sample_id))
        return revision

    def set_label(self, selection: Selection, label: str | None, how: str) -> int:
        """Label (None: unlabel) every selected sample whose label differs; returns how many changed."""
        where, params = selection.where()
        now = time.time()
        changed = 0
        with self._tx() as db:
            for row in db.execute(f"SELECT id, label FROM samples{where}", params).fetchall():
                if row["label"] != label:
                    self._label(db, row["id"], label, how, now)
                    changed += 1
        return changed

    def label_history(self, sample_id: int) -> list[dict]:
        return [dict(r) for r in self._rows("SELECT * FROM sample_labels WHERE sample_id = ? ORDER BY revision",
                                            (sample_id,))]

    def label_revision(self) -> int:
        return self._rows("SELECT COALESCE(MAX(revision), 0) FROM sample_labels")[0][0]

    # --- reading ------------------------------------------------------------------------------
    def select(self, selection: Selection = Selection(), limit: int | None = None) -> list[SampleRecord]:
        where, params = selection.where()
        sql = f"SELECT * FROM samples{where} ORDER BY ts, device_id, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_record(r) for r in self._rows(sql, params)]

    def fingerprint(self, selection: Selection) -> list[tuple[str, str]]:
        """(window digest, label) of the selection, sorted: what a snapshot digest is made of."""
        where, params = selection.where()
        return [(r[0], r[1]) for r in self._rows(f"SELECT digest, label FROM samples{where} ORDER BY digest, label",
                                                 params)]

    def count(self, selection: Selection = Selection()) -> int:
        where, params = selection.where()
        return self._rows(f"SELECT COUNT(*) FROM samples{where}", params)[0][0]

    def counts_by_label(self, selection: Selection = Selection()) -> dict[str, int]:
        where, params = selection.where()
        return {(r[0] if r[0] is not None else ""): r[1]
                for r in self._rows(f"SELECT label, COUNT(*) FROM samples{where} GROUP BY label ORDER BY label",
                                    params)}

    def device_counters(self) -> dict[str, dict]:
        return {r["device_id"]: dict(r) for r in self._rows("SELECT * FROM sample_devices ORDER BY device_id")}

    def rejections(self, device: str | None = None) -> list[Rejection]:
        sql, params = "SELECT * FROM sample_rejections", []
        if device:
            sql, params = sql + " WHERE device_id = ?", [device]
        return [Rejection(r["device_id"], r["reason"], r["message"], r["payload_digest"], r["size"],
                          r["received_at"]) for r in self._rows(sql + " ORDER BY id", params)]

    # --- pinned snapshots ---------------------------------------------------------------------
    def pin(self, source_key: str) -> dict | None:
        rows = self._rows("SELECT * FROM sample_pins WHERE source_key = ?", (source_key,))
        return dict(rows[0]) if rows else None

    def pins(self) -> list[dict]:
        return [dict(r) for r in self._rows("SELECT * FROM sample_pins ORDER BY dataset, source_key")]

    def put_pin(self, source_key: str, dataset: str | None, digest: str, manifest: str, count: int,
                label_revision: int, reason: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO sample_pins VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(source_key) DO UPDATE SET "
                       "dataset=excluded.dataset, digest=excluded.digest, manifest=excluded.manifest, "
                       "count=excluded.count, label_revision=excluded.label_revision, reason=excluded.reason, "
                       "pinned_at=excluded.pinned_at",
                       (source_key, dataset, digest, manifest, count, label_revision, reason, time.time()))


def _record(r: sqlite3.Row) -> SampleRecord:
    return SampleRecord(r["device_id"], r["sensor"], r["ts"], r["digest"], r["blob"], r["offset"],
                        tuple(json.loads(r["shape"])), r["dtype"], r["rate_hz"], r["session"], r["fleet"],
                        r["campaign"], id=r["id"], label=r["label"], label_revision=r["label_revision"],
                        received_at=r["received_at"])
