"""Collection campaigns for a board behind a gateway.

A microcontroller does not read MQTT: it streams the windows its sensor records as SAMPLES frames.
The controller asks for recordings with a `CollectRequest` retained on the board's collect topic,
which the gateway reads on the board's behalf. While a campaign runs, the board's windows of the
requested sensor carry the campaign's session (and its label, unless the board labelled the window
itself) until they add up to the campaign's duration; windows outside a campaign keep the board's
own session. A campaign runs once: the ids of finished ones are kept in the gateway's spool, so the
retained request arriving again after a gateway restart records nothing twice.

Everything in a request is checked before use (`CollectRequest`'s bounds, the board's id) and a
malformed one is dropped with a log line, never half-applied.
"""
from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from specs.v1alpha1.collection import CollectRequest
from specs.v1alpha1.protocol import Sample
from wire.logs import get_logger

log = get_logger("gateway.campaigns")

KEEP_FINISHED = 64   # campaign ids remembered per board (a fleet's collect section changes rarely)


@dataclass
class _Running:
    request: CollectRequest
    samples_left: int      # readings still to tag: durationSeconds x rateHz
    windows: int = 0


class BoardCampaigns:
    """The campaigns of one board: `on_request` takes the retained request, `tag` a window's body."""

    def __init__(self, device_id: str, spool: Path) -> None:
        self.device_id = device_id
        self._path = spool / "campaigns" / f"{device_id}.json"
        self._lock = threading.Lock()
        self._running: _Running | None = None
        self._finished: list[str] = self._load()
        self.started = threading.Event()   # set while a campaign runs (tests, operators' tools wait on it)

    def _load(self) -> list[str]:
        try:
            done = json.loads(self._path.read_text())
        except (OSError, ValueError):
            return []
        return [c for c in done if isinstance(c, str)][-KEEP_FINISHED:] if isinstance(done, list) else []

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._finished))
        os.replace(tmp, self._path)

    @property
    def running(self) -> CollectRequest | None:
        with self._lock:
            return self._running.request if self._running else None

    def on_request(self, payload: bytes) -> CollectRequest | None:
        """A request read from the collect topic; the campaign it starts, or None (empty, malformed,
        not this board's, already run or already running)."""
        if not payload:
            return None
        try:
            request = CollectRequest.model_validate_json(payload)
        except ValidationError as err:
            log.warning("malformed collect request", extra={"device": self.device_id,
                                                            "error": str(err).splitlines()[0][:200]})
            return None
        if request.deviceId != self.device_id:
            log.warning("collect request for another device ignored", extra={"device": self.device_id})
            return None
        with self._lock:
            if request.campaign in self._finished or (self._running and self._running.request.campaign
                                                      == request.campaign):
                return None
            if self._running:   # a newer campaign replaces the one running: the spec changed
                self._finish_locked()
            self._running = _Running(request, max(1, math.floor(request.durationSeconds * request.rateHz)))
            self.started.set()
        log.info("campaign started", extra={"device": self.device_id, "campaign": request.campaign,
                                            "sensor": request.sensor, "seconds": request.durationSeconds})
        return request

    def tag(self, sample: Sample) -> Sample:
        """The board's window as forwarded: with the running campaign's session and label when it is a
        window of the campaign's sensor; the campaign ends once its duration is recorded."""
        with self._lock:
            run = self._running
            if run is None or sample.sensor != run.request.sensor:
                return sample
            update = {"session": run.request.session or run.request.campaign}
            if run.request.label is not None and not sample.label:
                update["label"] = run.request.label
            run.samples_left -= max(1, sample.shape[0])
            run.windows += 1
            if run.samples_left <= 0:
                self._finish_locked()
        return sample.model_copy(update=update)

    def _finish_locked(self) -> None:
        run = self._running
        assert run is not None
        self._finished.append(run.request.campaign)
        del self._finished[:-KEEP_FINISHED]
        self._running = None
        self.started.clear()
        try:
            self._save()
        except OSError as err:   # the campaign is still finished in memory; a restart may record it again
            log.warning("campaign record not saved", extra={"device": self.device_id, "error": type(err).__name__})
        log.info("campaign recorded", extra={"device": self.device_id, "campaign": run.request.campaign,
                                             "windows": run.windows})
