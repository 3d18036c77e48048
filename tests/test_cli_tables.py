"""Text tables fit the terminal: the widest columns are cut with an ellipsis, never the headers'
width; in a pipe nothing is cut (scripts get every character)."""
from __future__ import annotations

from controller.cli.output import clip
from controller.cli.output import table

ROWS = [["rpi-1", "rpi4", "pending", "has not seen generation 7 (digits-cnn-3db081988063) yet; last seen 2m ago"],
        ["rpi-2", "rpi4", "updated", ""]]
HEADERS = ["DEVICE", "BOARD", "SYNC", "WHY"]


def test_a_table_is_cut_to_the_width_with_an_ellipsis():
    lines = table(HEADERS, ROWS, width=60).splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert lines[1].endswith("…") and lines[1].startswith("rpi-1") and "pending" in lines[1]
    assert lines[0].split() == HEADERS


def test_without_a_terminal_nothing_is_cut():
    text = table(HEADERS, ROWS)                        # pytest captures stdout: not a terminal
    assert ROWS[0][3] in text and "…" not in text


def test_clip_marks_what_it_cut():
    assert clip("abcdef", 4) == "abc…" and clip("abc", 4) == "abc"
