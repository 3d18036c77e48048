"""One exception hierarchy for everything Origami raises on purpose.

A user sees `str(error)`: every message says what is wrong and what to do.
"""
from __future__ import annotations

from collections.abc import Sequence


class OrigamiError(Exception):
    """Base of every error Origami raises deliberately (never a bug)."""

    exit_code = 1


class UsageError(OrigamiError):
    """The command line itself is wrong (bad path, bad option)."""

    exit_code = 2


class NotFoundError(OrigamiError):
    """The object asked for does not exist (exit 1, as kubectl: not a usage error)."""


class SpecError(OrigamiError):
    """A spec repository does not validate; `issues` holds every located problem."""

    def __init__(self, issues: Sequence[object]) -> None:
        self.issues = list(issues)
        shown = "\n".join(str(issue) for issue in self.issues[:20])
        more = f"\n... and {len(self.issues) - 20} more" if len(self.issues) > 20 else ""
        super().__init__(f"{len(self.issues)} spec error(s):\n{shown}{more}")


class StageError(OrigamiError):
    """A pipeline stage (dataset, train, squeeze, measure, split, build) failed."""


class BudgetError(StageError):
    """A build exceeded one of the controller's limits (wall time, memory): the same inputs would
    exceed it again, so the controller retries only when they (or its limits) change."""


class BuildEngineError(StageError):
    """A build could not run on the configured build engine (a Dask scheduler): unreachable, the job
    lost or cancelled, or the engine's workers cannot see the state directory. Not the build's fault:
    the controller retries it with back-off."""


class GateError(StageError):
    """A variant failed its acceptance gates; it can never be deployed."""


class StoreError(OrigamiError):
    """The artifact store or the state store is unusable (corrupt, wrong schema, unwritable)."""


class StorageError(StoreError):
    """A write to the state directory failed for lack of space (disk full, quota, file-size limit).
    Nothing already recorded is lost; the write can be retried once space is freed."""


class StateError(StoreError):
    """The state database is damaged (not SQLite, or fails its integrity check)."""


class DeviceError(OrigamiError):
    """A device, its transport or its protocol misbehaved."""


class SourceError(OrigamiError):
    """A spec source (git repository, local directory) could not be fetched."""


class SignatureError(DeviceError):
    """An artifact or its manifest failed verification (signature, size, digest): never installed."""


class DesiredRejected(SignatureError):
    """A desired state or key announcement a device ignores; `reason` is the Warning event's reason
    (`SignatureInvalid`, `NotForThisDevice`, `NotForThisBoard`, `Replayed`, `Malformed`, `TooLarge`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class KeyPassphraseError(SignatureError):
    """The controller's private key is encrypted and the passphrase is missing or wrong."""


class AuthError(OrigamiError):
    """An operator action without a valid token, or a request that failed cross-site checks."""


class SplitTimeoutError(DeviceError):
    """A split inference got no answer from the tail worker in time (lost or late reply)."""
