"""A running build's progress, kept in the state store so that `origami status` (another process,
maybe another machine through the API) can say which stage it is at, the epochs done and the time
left. The build thread writes at most one note every few seconds, and every stage change; the note
is best effort: a store that cannot take it never fails the build."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.reconciler.ports import Progress
from controller.state import StateStore
from wire.logs import get_logger
from wire.progress import Tracker

log = get_logger("reconciler.build_progress")

NOTE_EVERY_SECONDS = 2.0
Timing = Callable[[str, float, bool], None]  # ("build" | "train", seconds, ok)


def is_training(stage_text: str) -> bool:
    """Whether a stage line is the training stage's (`[2/5] model sine: training (60 epochs max)`)."""
    return ": training" in stage_text


class BuildProgress:
    """The `Progress` a build job reports through: passed on to `say`, noted in the store."""

    def __init__(self, store: StateStore, key: str, target: str, say: Progress, clock: Callable[[], float],
                 timing: Timing | None = None) -> None:
        self.store, self.key, self.target, self.say, self.clock = store, key, target, say, clock
        self.timing = timing or (lambda what, seconds, ok: None)
        self.tracker = Tracker(clock())
        self.noted_at = float("-inf")

    def __call__(self, what: str, fraction: float) -> None:
        self.say(f"{self.target}: {what}", fraction)
        now = self.clock()
        training = self.tracker.stage is not None and is_training(self.tracker.stage.text)
        started = self.tracker.stage_started
        step = self.tracker.update(what, now)
        if training and step.stage is not None:  # the training stage just ended
            self.timing("train", now - started, True)
        if step.stage is not None or now - self.noted_at >= NOTE_EVERY_SECONDS:
            self.noted_at = now
            self._write(lambda: self.store.stage_progress(self.key, self.tracker.to_dict(now) | {"at": now}))

    def run(self, build: Callable[[], Any]) -> Any:
        """Run `build`, its stage row running meanwhile and done or failed after."""
        self._write(lambda: self.store.stage_started(self.key, "build", self.target))
        ok, started = False, self.clock()
        try:
            result = build()
            ok = True
            return result
        finally:
            self._write(lambda: self.store.stage_finished(self.key, ok, {"summary": "built" if ok else "failed"}))
            self.timing("build", self.clock() - started, ok)

    def _write(self, note: Callable[[], None]) -> None:
        try:
            note()
        except Exception as err:
            log.warning("cannot note build progress", extra={"target": self.target, "error": type(err).__name__})


def running(store: StateStore) -> list[dict[str, Any]]:
    """The builds running now, as noted: target, started, and the last note (`summary` first)."""
    return [{"key": s["key"], "target": s["target"], "startedAt": s["started_at"], **s["result"]}
            for s in store.stages() if s["status"] == "running"]
