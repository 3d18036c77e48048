"""The state store's schema, as an ordered list of migrations (index + 1 = schema version).

A new version appends a migration; never edit a released one. `PRAGMA user_version` records
which migrations a file has seen, so an old state file is upgraded in place on open.
"""
from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE commits (
        sha TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        observed_at REAL NOT NULL,
        valid INTEGER NOT NULL,
        issues TEXT NOT NULL DEFAULT '[]',      -- JSON list of located spec issues
        texts TEXT                              -- JSON [(file, text)] of a valid commit, to re-load it offline
    );
    CREATE TABLE source_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_observed TEXT,
        last_good TEXT,
        updated_at REAL NOT NULL
    );
    CREATE TABLE objects (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        observed_commit TEXT,
        desired_key TEXT,                       -- content key of what the object should be
        conditions TEXT NOT NULL DEFAULT '{}',  -- JSON {type: {status, reason, message, since}}
        last_error TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL DEFAULT 0,
        detail TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (kind, name)
    );
    CREATE TABLE stages (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,                     -- snapshot | train | squeeze | split | build
        target TEXT NOT NULL,
        status TEXT NOT NULL,                   -- running | done | failed
        started_at REAL NOT NULL,
        finished_at REAL,
        result TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        board TEXT,
        labels TEXT NOT NULL DEFAULT '{}',
        hello TEXT NOT NULL DEFAULT '{}',
        reported TEXT NOT NULL DEFAULT '{}',
        reported_version TEXT,
        healthy INTEGER,
        online INTEGER NOT NULL DEFAULT 1,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE TABLE desired (
        device_id TEXT PRIMARY KEY,
        fleet TEXT NOT NULL,
        version TEXT NOT NULL,
        install_id TEXT NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}',
        assigned_at REAL NOT NULL,
        reached_at REAL
    );
    CREATE TABLE installs (
        install_id TEXT PRIMARY KEY,            -- recorded before the send: never sent twice
        device_id TEXT NOT NULL,
        fleet TEXT NOT NULL,
        version TEXT NOT NULL,
        artifact TEXT,
        reason TEXT NOT NULL,                   -- rollout | drift | rollback | join
        recorded_at REAL NOT NULL
    );
    CREATE INDEX installs_by_device ON installs (device_id, version);
    CREATE TABLE rollouts (
        fleet TEXT PRIMARY KEY,
        target TEXT,
        last_good TEXT,
        previous_good TEXT,                     -- the good version before last_good, for undo
        failed_version TEXT,
        step INTEGER NOT NULL DEFAULT 0,
        step_done_at REAL,
        strategy TEXT NOT NULL DEFAULT '{}',
        paused INTEGER NOT NULL DEFAULT 0,
        undo_requested INTEGER NOT NULL DEFAULT 0,
        phase TEXT NOT NULL DEFAULT 'idle',     -- idle | progressing | complete | halted
        failures TEXT NOT NULL DEFAULT '[]',    -- JSON device ids that failed the target
        updated_at REAL NOT NULL
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,                -- dense: max(seq) + 1 inside the writing transaction
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,                     -- Normal | Warning
        reason TEXT NOT NULL,
        message TEXT NOT NULL,
        commit_sha TEXT
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
