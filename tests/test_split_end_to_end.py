"""The digits CNN does not fit the reduced-RAM Nano 33 BLE (examples/digits-mixed `nano33ble-lite`):
it is split automatically, and the head (TFLM) + tail (`origami worker`, LiteRT) answer the test
split over a real Mosquitto with the predictions of the unsplit int8 model."""
from __future__ import annotations

import numpy as np
import pytest

from tests.split_digits import trained_digits

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def digits():
    return trained_digits()


@pytest.fixture(scope="module")
def decision(digits):
    from controller.split import plan_split

    profile = digits.repo.profiles["nano33ble-lite"]
    link = digits.repo.fleets["digits-mcu"].spec.link
    return plan_split(digits.model, profile, link, digits.spec.split, representative_data=digits.snapshot.x("train"),
                      name="digits-cnn")


@pytest.fixture(scope="module")
def pair(digits, decision):
    from controller.split import build_split

    return build_split(digits.model, decision, digits.snapshot.x("train"))


def test_whole_model_does_not_fit_so_it_is_split(decision):
    whole = decision.baseline("device-only")
    assert not whole.feasible, "the profile must be too small for the whole model"
    assert decision.split and decision.chosen.placement == "split"
    assert decision.chosen.feasible
    assert decision.cut.head_arena_bytes <= decision.budget.ram
    assert decision.cut.head_flash_bytes <= decision.budget.flash
    assert "does not fit" in decision.reason and decision.model == "digits-cnn"


def test_the_example_budget_is_not_a_near_miss_either_way(decision):
    """The profile's arena budget sits well between the whole model and the chosen head (>= 20 % each side),
    so a TFLM or converter update that moves arenas by a few hundred bytes does not flip the example."""
    whole = decision.profile.cut(decision.baseline("device-only").layer)
    assert whole.head_arena_bytes >= 1.2 * decision.budget.ram, (whole.head_arena_bytes, decision.budget.ram)
    assert decision.cut.head_arena_bytes * 1.2 <= decision.budget.ram, (decision.cut.head_arena_bytes,
                                                                         decision.budget.ram)


def test_composition_is_within_the_accuracy_gate(digits, pair):
    from controller.pipeline.squeeze import convert
    from controller.split import check_composition

    head, tail = pair
    unsplit = convert(digits.model, "int8", digits.snapshot, 0)
    report = check_composition(head, tail, digits.snapshot.x("test"), digits.snapshot.y("test"), unsplit,
                               max_drop=digits.spec.gates.maxAccuracyDrop)
    assert report.samples == len(digits.snapshot.y("test"))
    assert report.unsplit_accuracy - report.split_accuracy <= digits.spec.gates.maxAccuracyDrop
    assert report.agreement >= 0.99


def test_explain_table_shows_every_cut_and_marks_the_choice(decision):
    from controller.cli.split import render

    text = render(decision, "Fleet/digits-mcu")
    for row in decision.table:
        assert row.layer in text
    chosen = [line for line in text.splitlines() if line.startswith("*")]
    assert len(chosen) == 1 and decision.layer in chosen[0]
    assert "no (RAM)" in text and f"split after {decision.layer}" in text


def test_split_pair_answers_over_mosquitto_like_the_unsplit_model(digits, decision, pair, mosquitto):
    from controller.pipeline.squeeze import convert
    from controller.split.worker import TailWorker
    from device.split_head import HeadRunner
    from device.split_head import SplitHead
    from runtimes.tflm import run_tflm
    from specs.v1alpha1.split import tail_id
    from wire.mqtt import MqttLink

    head, tail = pair
    x_test, y_test = digits.snapshot.x("test"), digits.snapshot.y("test")
    unsplit = convert(digits.model, "int8", digits.snapshot, 0)
    expected = np.argmax(run_tflm(unsplit, x_test), axis=1)

    device = MqttLink("split-e2e-device", mosquitto.url).start()
    try:
        with TailWorker(mosquitto.url, [tail], client_id="split-e2e-worker") as worker:
            split_head = SplitHead(HeadRunner(head, decision.cut.head_arena_bytes), device, "nano-lite-1",
                                   tail_id(tail), timeout_s=10.0).start()
            outputs = split_head.infer_many(x_test)
        assert worker.stats.served == len(x_test)
    finally:
        device.stop()
    predicted = np.argmax(outputs.reshape(len(x_test), -1), axis=1)
    agreement = float(np.mean(predicted == expected))
    assert agreement >= 0.99, f"split and unsplit agree on only {agreement:.3f} of the test split"
    assert float(np.mean(predicted == y_test)) >= 0.95
