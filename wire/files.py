"""Crash-safe file writes, for the controller's stores and the devices' slots alike."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from specs.errors import StorageError


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# errno values that mean "no room to write": the disk is full, the user's quota is spent, or a
# file-size limit (RLIMIT_FSIZE) was reached. Each is fixed by freeing space, never by retrying at once.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
DISK_FULL_ADVICE = "the state directory's disk is full: free space or run `origami gc`"


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS


def disk_full_error(what: str) -> StorageError:
    """The error a write into the state directory raises when there is no room (`what`: what was written)."""
    return StorageError(f"cannot write {what}: {DISK_FULL_ADVICE}")
