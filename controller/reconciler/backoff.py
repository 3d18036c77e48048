"""Exponential back-off for an object whose last attempt failed (pure)."""
from __future__ import annotations

BASE_SECONDS = 2.0
MAX_SECONDS = 300.0


def next_attempt(failures: int, now: float, base: float = BASE_SECONDS, cap: float = MAX_SECONDS) -> float:
    """After the n-th consecutive failure, wait base * 2**(n-1) seconds, at most `cap`."""
    return now + min(cap, base * 2.0 ** max(0, failures - 1))
