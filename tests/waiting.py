"""Polling with a deadline, for tests that watch real parts converge."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout: float = 60.0, *, every: float = 0.1,
               context: Callable[[], str] | None = None) -> T:
    """Call `condition` until it returns something truthy (returned) or `timeout` seconds pass; the
    failure names `what` and, when given, `context()` (e.g. the last events)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}"
                         + (f"; {context()}" if context is not None else ""))
