"""Long work says where it stands: a stage counter, the epochs done and the time left; plain lines
in a pipe, a bar on a terminal; and `origami status` shows the stage a controller's build is at."""
from __future__ import annotations

import concurrent.futures
import io
import json
import os

from controller.cli.main import main
from controller.cli.progress import BarProgress
from controller.cli.progress import PlainProgress
from controller.cli.progress import Silent
from controller.cli.progress import progress_for
from controller.reconciler.build_progress import BuildProgress
from controller.state import open_store
from wire.progress import Tracker
from wire.progress import parse

LINES = ["[1/4] dataset sine: building snapshot", "[2/4] model sine: training (60 epochs max)",
         "train sine: epoch 1/60 loss=0.3", "train sine: epoch 2/60 loss=0.2", "train sine: epoch 3/60 loss=0.1"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_are_read_for_their_counters():
    assert parse(LINES[1]).stage == 2 and parse(LINES[1]).stages == 4 and parse(LINES[1]).done is None
    assert (parse(LINES[3]).done, parse(LINES[3]).total, parse(LINES[3]).stage) == (2, 60, None)
    other = parse("split mlp: measuring head up to dense_0 (1/3)")
    assert other.stage is None and other.done is None


def test_the_time_left_follows_the_pace_of_the_stage():
    clock, tracker = Clock(), Tracker(0.0)
    for line in LINES[:2]:
        tracker.update(line, clock.now)
    for line in LINES[2:]:
        clock.now += 2.0  # two seconds an epoch
        tracker.update(line, clock.now)
    assert tracker.eta(clock.now) == 2.0 * 57
    assert tracker.summary(clock.now) == "[2/4] model sine: training (60 epochs max), epoch 3/60, about 1m54s left"
    tracker.update("[3/4] model sine: squeezing variant int8", clock.now)
    assert tracker.eta(clock.now) is None and tracker.summary(clock.now) == "[3/4] model sine: squeezing variant int8"


def test_plain_lines_in_a_pipe_with_the_time_left_on_epochs():
    clock, out = Clock(), io.StringIO()
    view = PlainProgress(out, clock)
    for line in LINES:
        clock.now += 3.0
        view(line)
    view("train sine: epoch 60/60 loss=0.01")
    shown = out.getvalue().splitlines()
    assert shown[0] == "  [1/4] dataset sine: building snapshot"
    assert shown[4] == "  train sine: epoch 3/60 loss=0.1 (about 2m51s left)"
    assert shown[5] == "  train sine: epoch 60/60 loss=0.01"  # done: no time left to show
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def read_all(leader: int) -> str:
    """Everything written to a pseudo-terminal whose other side is closed (then reading fails: EIO)."""
    chunks = []
    try:
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    except OSError:
        pass
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_a_bar_and_a_pipe_or_ci_plain_lines(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    leader, follower = os.openpty()
    reader = concurrent.futures.ThreadPoolExecutor(1).submit(read_all, leader)  # a full terminal would block
    with open(follower, "w") as terminal:
        view = progress_for(False, terminal)
        assert isinstance(view, BarProgress)
        for line in LINES:
            view(line)
        view("\x1b[31m[x] not markup")  # printed escaped: neither a terminal command nor rich markup
        view.close()
    drawn = reader.result(timeout=30)
    assert "[2/4] model sine: training (60 epochs max)" in drawn and "ETA" in drawn and "3/60" in drawn
    assert "\\x1b[31m[x] not markup" in drawn
    assert isinstance(progress_for(False, io.StringIO()), PlainProgress)
    assert isinstance(progress_for(True, io.StringIO()), Silent)
    monkeypatch.setenv("CI", "true")
    with open(os.openpty()[1], "w") as terminal:
        assert isinstance(progress_for(False, terminal), PlainProgress)


def test_status_shows_the_stage_a_running_build_is_at(tmp_path, capsys):
    store, clock, said = open_store(tmp_path), Clock(), []
    progress = BuildProgress(store, "cards-key", "Model/sine", lambda what, f: said.append(what), clock)
    shown = {}

    def build():
        for line in LINES:
            clock.now += 2.5
            progress(line, 0.0)
        assert main(["status", "--state-dir", str(tmp_path)]) == 0
        shown["text"] = capsys.readouterr().out
        assert main(["status", "--state-dir", str(tmp_path), "-o", "json"]) == 0
        shown["json"] = json.loads(capsys.readouterr().out)
        return "built"

    assert progress.run(build) == "built"
    assert said[1] == "Model/sine: [2/4] model sine: training (60 epochs max)"
    assert "building Model/sine: [2/4] model sine: training (60 epochs max), epoch 3/60, about" in shown["text"]
    [running] = shown["json"]["building"]
    assert (running["target"], running["stage"], running["stages"], running["done"], running["total"]) == \
        ("Model/sine", 2, 4, 3, 60)
    assert main(["status", "--state-dir", str(tmp_path)]) == 0
    assert "building" not in capsys.readouterr().out  # done: nothing running any more
    assert store.stages()[0]["status"] == "done"
