"""A Fleet's rollout strategy resolved against the current member count (pure)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from specs.v1alpha1.fleet import Rollout


def resolve(value: int | str, total: int) -> int:
    """An absolute count, or a percent of `total` rounded up (10% of 5 members is 1, not 0)."""
    if isinstance(value, str):
        percent = int(value.rstrip("%"))
        return min(total, math.ceil(total * percent / 100))
    return min(total, value)


@dataclass(frozen=True)
class Resolved:
    canary: int  # members in the first step (0: no canary step)
    batch: int  # members added by every later step (at least 1)
    in_flight: int  # members updating at once (at least 1, from maxUnavailable)
    failure_threshold: int  # failures that halt the rollout (0: never halt)
    pause_seconds: float
    device_timeout: float
    required: int  # updated members for Ready once the rollout is done (from `completion`)

    def quota(self, step: int, total: int) -> int:
        """Members that may be on the new version once `step` has started."""
        first = self.canary if self.canary > 0 else self.batch
        return min(total, first + step * self.batch)


def resolve_strategy(rollout: Rollout, total: int) -> Resolved:
    threshold = rollout.failureThreshold
    if isinstance(threshold, str):
        failure = max(1, resolve(threshold, total)) if threshold != "0%" else 0
    else:
        failure = threshold
    return Resolved(
        canary=resolve(rollout.canary, total),
        batch=max(1, resolve(rollout.batchSize, total)),
        in_flight=max(1, resolve(rollout.maxUnavailable, total)),
        failure_threshold=failure,
        pause_seconds=rollout.pauseSeconds,
        device_timeout=rollout.deviceTimeoutSeconds,
        required=resolve(rollout.completion, total),
    )
