"""`origami get boards` lists the built-in catalogue with each board's budget, and docs/boards.md
lists the same boards with the same figures."""
from __future__ import annotations

import json

from controller.cli.main import main
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from tests.conftest import ROOT


def test_get_boards_lists_every_built_in_board_with_its_budget_without_a_state_store(tmp_path, capsys,
                                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)  # no origami-state.db here: the catalogue needs none
    assert main(["get", "boards"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["BOARD", "NAME"] and "MODEL RAM" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == list(BUILTIN_PROFILES)
    nano = next(line for line in lines if line.startswith("nano33ble "))
    assert "256 KiB  1 MiB    192 KiB    960 KiB" in nano  # less the default 64 KiB firmware reserve
    assert main(["get", "bo", "rpi4", "-o", "json"]) == 0
    [rpi4] = json.loads(capsys.readouterr().out)
    assert rpi4["budget"] == {"ram": 4 << 30, "flash": 32 << 30, "reserve": 0} and rpi4["runtime"] == "litert"
    assert main(["get", "boards", "nope"]) == 1
    assert main(["describe", "board/esp32s3", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["budget"]["ram"] == 448 * 1024


def test_the_docs_list_the_same_boards_and_figures(capsys):
    from controller.cli.boards import board_records
    from controller.cli.boards import board_rows

    doc = (ROOT / "docs" / "boards.md").read_text()
    for row in board_rows(board_records()):
        assert "| " + " | ".join(row) + " |" in doc, f"docs/boards.md is stale for {row[0]}"
