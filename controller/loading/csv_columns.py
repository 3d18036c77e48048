"""The columns of a CSV data file, for `target` checks at validate time and in the pipeline's reader.

A CSV source names the column holding the label or value (`target`): no column is guessed (the last
column of a feature table is a feature, and a classifier trained on it passes accuracy gates at
0 %). Only the header row is read, bounded; messages show column names clipped, never a data row.
"""
from __future__ import annotations

import csv
from pathlib import Path

MAX_HEADER_CHARS = 1024 * 1024  # a header of tens of thousands of columns, not a file without newlines


def column_names(header: list[str]) -> str:
    """The first columns of a header, quoted and clipped, for a message."""
    shown = ", ".join(f"{name!r:.40}" for name in header[:12])
    return shown + (f" and {len(header) - 12} more" if len(header) > 12 else "")


def target_problem(header: list[str], target: str | None, task: str) -> str | None:
    """Why `target` cannot be the label column of a CSV with this header; None when it can."""
    if target is None:
        what = "class label" if task == "classification" else "value to predict"
        return (f"a CSV source needs `target`: the column holding the {what} (no column is guessed); "
                f"the columns are {column_names(header)}")
    if target not in header:
        return f"no column named {target!r:.80}; the columns are {column_names(header)}"
    if len(header) < 2:
        return "the target is its only column; a CSV source needs feature columns too"
    return None


def read_header(path: Path) -> list[str] | None:
    """The header row of a CSV file (None when the file has none), reading at most MAX_HEADER_CHARS."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        line = f.readline(MAX_HEADER_CHARS + 1)
    if len(line) > MAX_HEADER_CHARS:
        raise ValueError(f"the header row is longer than {MAX_HEADER_CHARS // 1024 // 1024} MiB")
    try:
        row = next(csv.reader([line]), None)
    except csv.Error as err:
        raise ValueError(f"the header row is not valid CSV ({err})") from None
    return row or None
