"""What the reconciler calls: decide a split for one model on one board class, then build its pair.

    decision = plan_split(keras_model, profile, fleet.spec.link, model.spec.split)
    head, tail = build_split(keras_model, decision, snapshot.x("train"))
    report = check_composition(head, tail, snapshot.x("test"), snapshot.y("test"), unsplit_int8)
"""
from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace

import numpy as np

from controller.split.choose import SplitDecision
from controller.split.choose import choose_cut
from controller.split.cost import LinkSpeed
from controller.split.cost import link_from_spec
from controller.split.models import split_artifacts
from controller.split.profile import ModelProfile
from controller.split.profile import profile_model
from specs.errors import GateError
from specs.v1alpha1.budget import board_budget
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.device_profile import DeviceProfile
from specs.v1alpha1.model import SplitPolicy
from wire.logs import Say
from wire.logs import get_logger

log = get_logger("split.plan")
DEFAULT_WORKER = "rpi4"  # without a figure for the worker, assume an edge box like the built-in Raspberry Pi 4


def default_worker_macs() -> float:
    return BUILTIN_PROFILES[DEFAULT_WORKER].spec.macsPerSecond


def decide(model_profile: ModelProfile, profile: DeviceProfile, link, policy: SplitPolicy,
           reserve: int | None = None, worker_macs: float | None = None) -> SplitDecision:
    """The choice alone, from an existing profile (pure)."""
    speed = link if isinstance(link, LinkSpeed) else link_from_spec(link)
    limits = board_budget(profile.spec, policy.firmwareReserve if reserve is None else reserve)
    return choose_cut(model_profile, profile.name, profile.spec.macsPerSecond, speed,
                      worker_macs or default_worker_macs(), limits, policy.policy, policy.at, policy.objective)


def plan_split(keras_model, profile: DeviceProfile, link, policy: SplitPolicy, reserve: int | None = None, *,
               worker_macs: float | None = None, representative_data: np.ndarray | None = None,
               measure: bool = True, progress: Say | None = None, name: str | None = None) -> SplitDecision:
    """Profile every valid cut of `keras_model` (heads measured on TFLM) and choose one for `profile`.

    `link` is a Fleet's `spec.link` or a LinkSpeed; `reserve` overrides `policy.firmwareReserve`;
    `name` (the Model's name) replaces the Keras model's own in the decision and its messages.
    Raises StageError when no head fits or the policy cannot be honoured.
    """
    model_profile = profile_model(keras_model, representative_data, measure=measure, progress=progress)
    if name is not None:
        model_profile = replace(model_profile, model=name)
    decision = decide(model_profile, profile, link, policy, reserve, worker_macs)
    log.info("split decided", extra={"model": decision.model, "device": decision.device, "cut": decision.layer,
                                     "split": decision.split, "latency_s": decision.chosen.latency_s,
                                     "reason": decision.reason})
    return decision


def build_split(keras_model, decision: SplitDecision, representative_data: np.ndarray,
                seed: int = 0) -> tuple[bytes, bytes | None]:
    """(head int8 .tflite for the device, tail float .tflite for the worker; None when not split)."""
    artifacts = split_artifacts(keras_model, decision.layer, representative_data, seed)
    assert artifacts.head_tflite is not None  # choose_cut never picks edge only
    return artifacts.head_tflite, artifacts.tail_tflite


@dataclass(frozen=True)
class CompositionReport:
    samples: int
    split_accuracy: float
    unsplit_accuracy: float
    agreement: float        # fraction of samples where split and unsplit predict the same class

    def to_dict(self) -> dict:
        return asdict(self)


def run_split_pair(head: bytes, tail: bytes | None, inputs: np.ndarray, arena_bytes: int | None = None) -> np.ndarray:
    """Head on TFLM (as the device runs it), its dequantized output through the tail on LiteRT."""
    from runtimes.litert import run_litert
    from runtimes.tflm import run_tflm

    crossing = run_tflm(head, inputs, arena_bytes)
    if tail is None:
        return crossing
    return run_litert(tail, crossing.reshape(len(inputs), *_input_shape(tail)))


def _input_shape(tflite: bytes) -> tuple[int, ...]:
    from ai_edge_litert.interpreter import Interpreter

    return tuple(int(d) for d in Interpreter(model_content=tflite).get_input_details()[0]["shape"][1:])


def check_composition(head: bytes, tail: bytes | None, x_test: np.ndarray, y_test: np.ndarray, unsplit: bytes,
                      max_drop: float | None = None) -> CompositionReport:
    """Split pair vs the unsplit quantized model on the test split; GateError beyond `max_drop`."""
    from runtimes.tflm import run_tflm

    split_pred = np.argmax(run_split_pair(head, tail, x_test).reshape(len(y_test), -1), axis=1)
    unsplit_pred = np.argmax(run_tflm(unsplit, x_test).reshape(len(y_test), -1), axis=1)
    report = CompositionReport(samples=len(y_test), split_accuracy=float(np.mean(split_pred == y_test)),
                               unsplit_accuracy=float(np.mean(unsplit_pred == y_test)),
                               agreement=float(np.mean(split_pred == unsplit_pred)))
    if max_drop is not None and report.unsplit_accuracy - report.split_accuracy > max_drop:
        raise GateError(f"the split pair's accuracy {report.split_accuracy:.4f} is more than gates.maxAccuracyDrop "
                        f"({max_drop}) below the unsplit model's {report.unsplit_accuracy:.4f}; "
                        "split at another layer (split.at) or use quantization-aware training")
    return report
