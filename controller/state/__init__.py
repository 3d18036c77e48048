"""Durable controller state: SQLite (WAL), versioned schema, append-only event trail."""
from controller.state.records import (  # noqa: F401
    CONDITION_TYPES,
    CommitRecord,
    Condition,
    DesiredRecord,
    DeviceRecord,
    Event,
    InstallRecord,
    ObjectStatus,
    RolloutRecord,
)
from controller.state.store import DEFAULT_FILE, StateStore, open_store  # noqa: F401
