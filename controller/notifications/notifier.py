"""Sends notifications from the event trail, on threads of their own: the reconcile loop only writes
events, so a slow or unreachable sink never delays a pass. A watcher follows the trail (from the
moment it starts: history is not replayed); a sender delivers each notification to each sink with
a bounded number of attempts and a bounded queue (the oldest is dropped, and logged, when full)."""
from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from controller.notifications.config import Sink
from controller.notifications.messages import Notification
from controller.notifications.messages import github_status
from controller.notifications.messages import notification_for
from controller.notifications.messages import slack_payload
from controller.notifications.messages import webhook_payload
from controller.state import StateStore
from wire.logs import get_logger

log = get_logger("notifications")
ATTEMPTS = 3
TIMEOUT_SECONDS = 10
MAX_QUEUED = 1000


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a token goes only to the URL the operator configured


_OPENER = urllib.request.build_opener(_NoRedirects)


def request_for(sink: Sink, n: Notification) -> urllib.request.Request | None:
    """The HTTP request that tells `sink` about `n` (None: nothing to send, e.g. a status without a commit)."""
    headers = {"Content-Type": "application/json", "User-Agent": "origami-controller"}
    if sink.type == "github":
        if not n.commit:
            return None
        url, body = f"{sink.url}/repos/{sink.repository}/statuses/{n.commit}", github_status(n)
        headers |= {"Authorization": f"Bearer {sink.token}", "Accept": "application/vnd.github+json"}
    else:
        url, body = sink.url, slack_payload(n) if sink.type == "slack" else webhook_payload(n)
    return urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")


def deliver(request: urllib.request.Request, sink: Sink, *, attempts: int = ATTEMPTS,
            sleep: Callable[[float], None] = time.sleep) -> bool:
    """POST with up to `attempts` tries (1 s, 2 s, ... apart); a 4xx other than 429 is not retried."""
    for attempt in range(attempts):
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
                answer.read(4096)
            return True
        except urllib.error.HTTPError as err:
            retry = err.code >= 500 or err.code == 429
            log.warning("notification refused", extra={"sink": sink.name, "status": err.code, "attempt": attempt + 1})
            if not retry:
                return False
        except (urllib.error.URLError, OSError) as err:
            log.warning("notification not delivered", extra={"sink": sink.name, "attempt": attempt + 1,
                                                             "error": type(err).__name__})
        if attempt + 1 < attempts:
            sleep(2.0 ** attempt)
    return False


class Notifier:
    """`start()` follows the event trail of `store_path` and sends to `sinks`; `stop()` ends both threads."""

    def __init__(self, store_path, sinks: list[Sink], *, poll: float = 1.0, attempts: int = ATTEMPTS) -> None:
        self.sinks, self.poll, self.attempts = sinks, poll, attempts
        self._store = StateStore(store_path, read_only=True)  # its own connection: never the loop's
        self._queue: queue.Queue[tuple[Sink, Notification]] = queue.Queue(MAX_QUEUED)
        self._stop = threading.Event()
        self._scanning = threading.Lock()
        self._threads = [threading.Thread(target=self._watch, name="notify-watch", daemon=True),
                         threading.Thread(target=self._send, name="notify-send", daemon=True)]
        self.delivered = 0
        self.failed = 0

    def start(self) -> Notifier:
        events = self._store.events(limit=1)
        self._last = events[-1].seq if events else 0
        for t in self._threads:
            t.start()
        return self

    def stop(self, drain_seconds: float = 30.0) -> None:
        """Send what the trail holds by now (e.g. after `reconcile --once`), for at most
        `drain_seconds`, then end both threads."""
        self._scan()
        deadline = time.monotonic() + drain_seconds
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        for t in self._threads:
            t.join(timeout=TIMEOUT_SECONDS * 2)
        self._store.close()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            self._scan()

    def _scan(self) -> None:
        with self._scanning:
            for event in self._store.events(since=self._last):
                self._last = event.seq
                n = notification_for(event)
                for sink in self.sinks if n else ():
                    if n.reason in sink.reasons:
                        self._put(sink, n)

    def _put(self, sink: Sink, n: Notification) -> None:
        while True:
            try:
                self._queue.put_nowait((sink, n))
                return
            except queue.Full:
                try:
                    dropped = self._queue.get_nowait()
                    self._queue.task_done()
                    log.warning("notification dropped: queue full", extra={"sink": dropped[0].name})
                except queue.Empty:
                    pass

    def _send(self) -> None:
        while not self._stop.is_set():
            try:
                sink, n = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                request = request_for(sink, n)
                if request is None:
                    continue
                if deliver(request, sink, attempts=self.attempts, sleep=lambda s: self._stop.wait(s)):
                    self.delivered += 1
                else:
                    self.failed += 1
            finally:
                self._queue.task_done()
