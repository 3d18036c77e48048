"""Durable controller state: SQLite (WAL), versioned schema, append-only event trail."""
from controller.state import records
from controller.state.records import *  # noqa: F403  (the records are this package's API)
from controller.state.store import DEFAULT_FILE
from controller.state.store import StateStore
from controller.state.store import open_store

__all__ = [*records.__all__, "DEFAULT_FILE", "StateStore", "open_store"]
