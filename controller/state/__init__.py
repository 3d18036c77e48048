"""Durable controller state: SQLite (WAL) or PostgreSQL, versioned schema, append-only event trail, leases."""
from controller.state import records
from controller.state.records import *  # noqa: F403  (the records are this package's API)
from controller.state.store import DEFAULT_FILE
from controller.state.store import STATE_URL_ENV
from controller.state.store import StateStore
from controller.state.store import open_store

__all__ = [*records.__all__, "DEFAULT_FILE", "STATE_URL_ENV", "StateStore", "open_store"]
