"""Progress of long work (`origami build`, `origami split explain`) on stderr.

On a terminal: each stage's line stays on screen (`[2/5] model sine: training (60 epochs max)`) and
a bar below it follows the epochs with the time left (rich, drawn in place and removed at the end).
Elsewhere (a pipe, a CI log, `CI` set): plain lines, one per stage and per epoch, the epochs with
the time left, since nothing can be redrawn there. The lines come from the build and may carry
names a spec chose: printed through `printable`.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from wire.progress import Tracker
from wire.progress import duration
from wire.progress import parse
from wire.text import printable


class PlainProgress:
    """One line per progress line; an epoch line gets the time left at the pace so far."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.clock = stream, clock
        self.tracker = Tracker(clock())

    def __call__(self, line: str) -> None:
        now = self.clock()
        step = self.tracker.update(line, now)
        eta = self.tracker.eta(now) if step.done is not None and step.done != step.total else None
        tail = f" (about {duration(eta)} left)" if eta is not None else ""
        print(f"  {printable(line)}{tail}", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class BarProgress:
    """Stage lines kept, one bar for the current stage: epochs done of the total, or a pulse."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn
        from rich.progress import MofNCompleteColumn
        from rich.progress import Progress
        from rich.progress import TextColumn
        from rich.progress import TimeElapsedColumn
        from rich.progress import TimeRemainingColumn

        self.progress = Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=Console(file=stream, highlight=False), transient=True)
        self.task = self.progress.add_task("starting", total=None)
        self.progress.start()

    def __call__(self, line: str) -> None:
        from rich.markup import escape

        step, text = parse(line), escape(printable(line))
        if step.stage is not None:
            self.progress.console.print(f"  {text}")
            self.progress.reset(self.task, total=None, completed=0,
                                description=escape(printable(f"stage {step.stage}/{step.stages}")))
        elif step.done is not None:
            self.progress.update(self.task, total=step.total, completed=step.done)
        else:
            self.progress.console.print(f"  {text}")

    def close(self) -> None:
        self.progress.stop()


class Silent:
    def __call__(self, line: str) -> None:
        pass

    def close(self) -> None:
        pass


def on_terminal(stream: TextIO) -> bool:
    """Draw bars only on an interactive terminal, and never in CI (whose logs keep every frame)."""
    return stream.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


def progress_for(quiet: bool, stream: TextIO | None = None) -> PlainProgress | BarProgress | Silent:
    """The progress display a command should use (close it when the work ends)."""
    stream = stream or sys.stderr
    if quiet:
        return Silent()
    return BarProgress(stream) if on_terminal(stream) else PlainProgress(stream)
