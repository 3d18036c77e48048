"""Where long work stands, read from its progress lines.

A build says one line per stage, numbered (`[2/5] model sine: training (60 epochs max)`), and one
line per training epoch (`train sine: epoch 12/60 loss=...`). `Tracker` follows those lines and
knows the stage counter, the epochs done and an estimate of the time left; the CLI draws a bar from
it on a terminal or prints plain lines, and the controller keeps its summary in the state store for
`origami status`. The lines stay plain text, so the build worker's protocol and every `Say` keep
their shape.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

STAGE = re.compile(r"^\[(\d+)/(\d+)\] ")
STEP = re.compile(r"\bepoch (\d+)/(\d+)\b")


def stage_line(stage: int, stages: int, text: str) -> str:
    """A stage's line with its counter."""
    return f"[{stage}/{stages}] {text}"


@dataclass(frozen=True)
class Step:
    """One progress line, read: its stage counter and its step counter (epochs), when it has them."""

    text: str
    stage: int | None = None
    stages: int | None = None
    done: int | None = None
    total: int | None = None


def parse(line: str) -> Step:
    stage, step = STAGE.match(line), STEP.search(line)
    return Step(line, *(map(int, stage.groups()) if stage else (None, None)),
                *(map(int, step.groups()) if step else (None, None)))


def eta_seconds(elapsed: float, done: int, total: int) -> float | None:
    """Time left at the pace so far; None before the first step."""
    if done <= 0 or total <= 0:
        return None
    return max(0.0, elapsed / done * (total - done))


def duration(seconds: float) -> str:
    """`42s`, `3m10s`, `1h05m`: short enough for a progress line."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Tracker:
    """The state of one piece of work, from its lines; `now` is given so that it stays testable."""

    def __init__(self, started: float) -> None:
        self.stage: Step | None = None  # the last stage line
        self.step: Step | None = None  # the last epoch line of this stage
        self.stage_started = started

    def update(self, line: str, now: float) -> Step:
        step = parse(line)
        if step.stage is not None:
            self.stage, self.step, self.stage_started = step, None, now
        elif step.done is not None:
            self.step = step
        return step

    def eta(self, now: float) -> float | None:
        """Time left in the current stage (the training, mostly: the long one)."""
        if self.step is None or self.step.done is None or self.step.total is None:
            return None
        return eta_seconds(now - self.stage_started, self.step.done, self.step.total)

    def summary(self, now: float) -> str:
        """`[2/5] model sine: training (60 epochs max), epoch 12/60, about 40s left`."""
        parts = [self.stage.text if self.stage else (self.step.text if self.step else "starting")]
        if self.step is not None and self.stage is not None:
            parts.append(f"epoch {self.step.done}/{self.step.total}")
        eta = self.eta(now)
        if eta is not None:
            parts.append(f"about {duration(eta)} left")
        return ", ".join(parts)

    def to_dict(self, now: float) -> dict:
        """What the controller records for `origami status`."""
        return {"summary": self.summary(now), "stage": self.stage.stage if self.stage else None,
                "stages": self.stage.stages if self.stage else None,
                "done": self.step.done if self.step else None, "total": self.step.total if self.step else None,
                "etaSeconds": self.eta(now)}
