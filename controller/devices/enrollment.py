"""Which device ids the controller believes, and how loudly it says it ignores the others.

`Enrollment` is the set of enrolled device ids of a broker directory (`accounts.enrolled_devices`
over `credentials.json` and `accounts.json`), re-read when either file changes, so that
`origami broker config --device ID` or `--revoke ID` takes effect without restarting the
controller. `RejectionLimiter` keeps rejections from flooding the events: at most one per device
id per interval, and at most `max_ids` ids per interval in all.

    enrollment = Enrollment(Path("/etc/origami/broker"))
    hub = DeviceHub(connection, store, enrolled=enrollment)
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from controller.devices.accounts import ACCOUNTS_FILE
from controller.devices.accounts import CREDENTIALS_FILE
from controller.devices.accounts import enrolled_devices
from controller.devices.accounts import load_accounts
from controller.devices.accounts import load_credentials
from specs.errors import UsageError
from wire.logs import get_logger

log = get_logger("devices.enrollment")


def has_registry(directory: Path | None) -> bool:
    return directory is not None and (Path(directory) / CREDENTIALS_FILE).is_file()


class Enrollment:
    """Callable: `enrollment(device_id) -> bool`. Thread-safe; files are checked at most once a second."""

    def __init__(self, directory: Path, *, recheck_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 tenant: str | None = None) -> None:
        self.directory = Path(directory)
        self.tenant = tenant  # None: every enrolled device; else only that tenant's (accounts.json)
        if not has_registry(self.directory):
            raise UsageError(f"no {CREDENTIALS_FILE} in the broker directory {self.directory}; "
                             "write it with `origami broker config --out DIR --device ID ...`")
        self._recheck_s = recheck_s
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple = ()
        self._checked = float("-inf")
        self._ids: frozenset[str] = frozenset()
        self._reload()

    def __call__(self, device_id: str) -> bool:
        return device_id in self.ids()

    def ids(self) -> frozenset[str]:
        with self._lock:
            if self._clock() - self._checked >= self._recheck_s:
                self._reload()
            return self._ids

    def _reload(self) -> None:
        self._checked = self._clock()
        stamp = tuple(_stamp(self.directory / name) for name in (CREDENTIALS_FILE, ACCOUNTS_FILE))
        if stamp == self._stamp:
            return
        try:
            accounts = load_accounts(self.directory)
            ids = enrolled_devices(load_credentials(self.directory), accounts)
            if self.tenant is not None:
                ids = frozenset(i for i in ids if accounts.tenant_of(i) == self.tenant)
        except (UsageError, OSError) as err:   # keep the last good set: a half-written file must not open the gate
            log.warning("enrollment registry unreadable; keeping the previous one", extra={"error": str(err)})
            return
        if self._stamp:
            log.info("enrollment registry reloaded", extra={"devices": len(ids)})
        self._stamp, self._ids = stamp, ids


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class RejectionLimiter:
    """`admit(device_id)` is True at most once per id per `interval_s`, and for at most `max_ids`
    distinct ids per interval (memory stays bounded whatever ids a client makes up)."""

    def __init__(self, interval_s: float = 60.0, max_ids: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.max_ids = max_ids
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = float("-inf")
        self._admitted: set[str] = set()
        self.suppressed = 0          # rejections not reported in the current interval

    def admit(self, device_id: str) -> bool:
        with self._lock:
            now = self._clock()
            if now - self._window_start >= self.interval_s:
                if self.suppressed:
                    log.warning("device rejections not reported individually",
                                extra={"count": self.suppressed, "interval_s": self.interval_s})
                self._window_start, self._admitted, self.suppressed = now, set(), 0
            if device_id in self._admitted or len(self._admitted) >= self.max_ids:
                self.suppressed += 1
                return False
            self._admitted.add(device_id)
            return True
