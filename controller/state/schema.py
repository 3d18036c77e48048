"""The state store's schema, as an ordered list of migrations (index + 1 = schema version).

A new version appends a migration; never edit a released one. `PRAGMA user_version` (on PostgreSQL,
table `origami_schema`) records which migrations a database has seen, so an old state is upgraded in
place on open. Written in SQLite's DDL; `backends.PostgresBackend.ddl` maps the types.
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
    # 2: collected samples (controller/collect/): windows, versioned labels, rejections, pinned snapshots.
    """
    CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        sensor TEXT NOT NULL,
        ts REAL NOT NULL,                       -- window start on the device's clock
        digest TEXT NOT NULL,                   -- sha256 of the window (dtype, shape, bytes)
        blob TEXT NOT NULL,                     -- artifact (segment) holding the window's float32 bytes
        offset INTEGER NOT NULL,                -- byte offset of the window in the blob
        shape TEXT NOT NULL,                    -- JSON list
        dtype TEXT NOT NULL,
        rate_hz REAL NOT NULL,
        session TEXT,
        fleet TEXT,
        campaign TEXT,
        boot TEXT,
        seq INTEGER,
        label TEXT,                             -- current label (latest row of sample_labels)
        label_revision INTEGER NOT NULL DEFAULT 0,
        received_at REAL NOT NULL,
        UNIQUE (device_id, sensor, ts, digest)  -- a retried message adds nothing
    );
    CREATE INDEX samples_by_source ON samples (sensor, fleet, label);
    CREATE INDEX samples_by_session ON samples (session);
    CREATE TABLE sample_labels (                -- append-only history; revision orders every change
        revision INTEGER PRIMARY KEY,
        sample_id INTEGER NOT NULL,
        label TEXT,                             -- NULL: label removed
        how TEXT NOT NULL,                      -- device | session | range | one
        set_at REAL NOT NULL
    );
    CREATE INDEX sample_labels_by_sample ON sample_labels (sample_id, revision);
    CREATE TABLE sample_rejections (
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        message TEXT NOT NULL,
        payload_digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        received_at REAL NOT NULL
    );
    CREATE TABLE sample_devices (               -- per-device counters the collector keeps
        device_id TEXT PRIMARY KEY,
        messages INTEGER NOT NULL DEFAULT 0,
        windows INTEGER NOT NULL DEFAULT 0,
        duplicates INTEGER NOT NULL DEFAULT 0,
        rejected INTEGER NOT NULL DEFAULT 0,
        out_of_order INTEGER NOT NULL DEFAULT 0,
        boot TEXT,
        last_seq INTEGER,
        last_received REAL
    );
    CREATE TABLE sample_pins (                  -- the snapshot each collected source currently pins
        source_key TEXT PRIMARY KEY,
        dataset TEXT,
        digest TEXT NOT NULL,                   -- sha256 of the pinned (sample digest, label) list
        manifest TEXT NOT NULL,                 -- artifact: the pinned samples with blob references
        count INTEGER NOT NULL,
        label_revision INTEGER NOT NULL,
        reason TEXT NOT NULL,
        pinned_at REAL NOT NULL
    );
    """,
    # 3: truthful rollouts: operator retry and attempt start on rollouts; failures each member recorded
    # durably (never re-sent a version it failed); when a device's current online period began.
    """
    ALTER TABLE rollouts ADD COLUMN retry_requested INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rollouts ADD COLUMN started_at REAL;
    ALTER TABLE devices ADD COLUMN online_since REAL;
    CREATE TABLE member_failures (
        device_id TEXT NOT NULL,
        fleet TEXT NOT NULL,
        version TEXT NOT NULL,
        reason TEXT NOT NULL,
        failed_at REAL NOT NULL,
        PRIMARY KEY (device_id, fleet, version)
    );
    """,
    # 4: signed desired states: the controller's sequence, strictly increasing across restarts and
    # never reused (allocated in the transaction that records the install it is signed into).
    """
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    """,
    # 5: controller replicas: leases on work (a fleet's rollout, a build) that expire unless renewed.
    """
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,                  -- fleet/NAME or build/KEY
        holder TEXT NOT NULL,                   -- the replica id
        term INTEGER NOT NULL,                  -- + 1 at every takeover
        acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # 6: scale: the idle pass asks "which online devices went silent?" of 100,000 rows; an index
    # answers it without reading them all.
    """
    CREATE INDEX devices_by_last_seen ON devices (online, last_seen);
    """,
    # 7: tenants (controller/tenancy/): every event says whose it is; rows from before tenancy are the
    # single team's, `default`. Reads filter by the store's tenant.
    """
    ALTER TABLE events ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX events_by_tenant ON events (tenant, seq);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
