"""The model card's Pareto view per board: which variants are on the accuracy / flash / arena front where."""
from __future__ import annotations

from controller.loading import load_repository
from controller.pipeline.cards import card_markdown
from controller.pipeline.pareto import Point
from controller.pipeline.pareto import board_view
from controller.pipeline.pareto import front
from controller.pipeline.pareto import model_boards
from tests.conftest import EXAMPLES


def _variant(name, accuracy, size, arena, quantization="int8", compression=None, passed=True):
    metrics = {"accuracy": accuracy}
    return {"name": name, "quantization": quantization, "size_bytes": size, "arena_bytes": arena,
            "tflm": metrics if quantization == "int8" else None, "litert": metrics,
            "compression": compression, "gate": {"passed": passed}}


VARIANTS = [_variant("float32", 0.99, 191_000, 8_800, quantization="none"),
            _variant("int8", 0.989, 56_000, 6_000),
            _variant("pruned-clustered-int8", 0.983, 56_000, 6_000),   # worse at the same cost
            _variant("clustered-lut2", 0.989, 24_400, 42_000, compression={"bits": 2}),
            _variant("failed", 0.5, 1_000, 1_000, passed=False)]


def test_front_keeps_exactly_the_undominated_points():
    points = [Point("a", 0.9, 10, 10), Point("b", 0.9, 10, 10), Point("c", 0.8, 10, 10), Point("d", 0.7, 5, 50)]
    assert front(points) == ["a", "b", "d"]  # equal points do not dominate each other


def test_a_roomy_mcu_keeps_both_sides_of_the_flash_arena_trade():
    profile = load_repository(EXAMPLES / "digits-mixed").profiles["nano33ble"].spec
    view = board_view("nano33ble", profile, 64 * 1024, "classification", VARIANTS)
    assert view["front"] == ["int8", "clustered-lut2"]
    assert view["off"] == {"float32": "not an int8 variant TFLM runs",
                           "pruned-clustered-int8": "dominated by int8", "failed": "failed its gates"}


def test_a_board_short_of_ram_loses_the_compressed_variant_and_linux_never_runs_it():
    repo = load_repository(EXAMPLES / "digits-mixed")
    small = repo.profiles["nano33ble"].spec.model_copy(update={"ram": 64 * 1024 + 16_000})
    view = board_view("small", small, 64 * 1024, "classification", VARIANTS)
    assert view["front"] == ["int8"] and "arena" in view["off"]["clustered-lut2"]
    linux = board_view("rpi4", repo.profiles["rpi4"].spec, 64 * 1024, "classification", VARIANTS)
    assert linux["front"] == ["float32", "int8"]
    assert "LiteRT cannot run DECODE" in linux["off"]["clustered-lut2"]


def test_the_card_shows_each_board_the_model_reaches():
    repo = load_repository(EXAMPLES / "digits-mixed")
    boards = model_boards(repo, "digits-cnn")
    assert list(boards) == ["esp32s3", "jetson-nano", "nano33ble", "nano33ble-lite", "rpi4"]
    views = [board_view(b, p, 64 * 1024, "classification", VARIANTS) for b, p in boards.items()]
    variant = {**VARIANTS[3], "steps": [], "c_array_bytes": 0, "gzip_bytes": 0, "parameters": 0,
               "nonzero_parameters": 0, "macs": 0, "operators": [], "gate": {"passed": True, "failures": []}}
    text = card_markdown("digits-cnn", variant, {"task": "classification", "dataset_digest": "0" * 16,
                                                 "model_digest": "0" * 16, "float_metrics": {"accuracy": 0.99},
                                                 "boards": views}).decode()
    assert "## Pareto view per board" in text
    assert "| nano33ble | " in text and "| rpi4 | " in text
    assert "LiteRT cannot run DECODE" in text.split("| rpi4 |")[1].splitlines()[0]
