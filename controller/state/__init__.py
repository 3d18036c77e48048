"""Durable controller state: SQLite (WAL), versioned schema, append-only event trail."""
from controller.state.records import (
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
from controller.state.store import DEFAULT_FILE, StateStore, open_store

__all__ = ["CONDITION_TYPES", "DEFAULT_FILE", "CommitRecord", "Condition", "DesiredRecord", "DeviceRecord", "Event",
           "InstallRecord", "ObjectStatus", "RolloutRecord", "StateStore", "open_store"]
