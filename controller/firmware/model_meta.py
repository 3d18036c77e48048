"""What a device needs to use its model, beside the model data: `origami_model_meta.h` in a rendered
firmware project, `model_meta.json` beside a Linux bundle's model (see `controller.pipeline.device_info`).

Class names come from the user's data: in C they are written as escaped string literals (every byte
outside printable ASCII, and every quote, backslash and '?', as an octal escape), never in comments.
"""
from __future__ import annotations

import json

from runtimes.audio_device import AudioParamsError
from runtimes.audio_device import audio_params

HEADER = "origami_model_meta.h"
JSON = "model_meta.json"


def c_string(text: str) -> str:
    """`text` as a C string literal that cannot end early, continue a comment or form a trigraph."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        out.append(char if 0x20 <= byte < 0x7F and char not in '"\\?' else f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_float(value: float) -> str:
    """A C float literal (`0` alone would be an int, `0f` no literal at all)."""
    text = f"{float(value):.9g}"
    return (text if any(c in text for c in ".en") else text + ".0") + "f"


def _floats(values) -> str:
    return ", ".join(c_float(v) for v in values)


def meta_header(device: dict) -> str:
    """The C header: class names in output order, normalisation, int8 input/output quantization."""
    lines = ["// What the device needs to use the model, baked in by Origami. Do not edit.",
             "// x = (raw - ORIGAMI_INPUT_OFFSET[i]) / ORIGAMI_INPUT_SCALE_PER_FEATURE[i] per feature (last axis);",
             "// int8 input: q = round(x / ORIGAMI_INPUT_SCALE) + ORIGAMI_INPUT_ZERO_POINT;",
             "// int8 output: (q - ORIGAMI_OUTPUT_ZERO_POINT) * ORIGAMI_OUTPUT_SCALE.",
             "#ifndef ORIGAMI_MODEL_META_H_", "#define ORIGAMI_MODEL_META_H_", "",
             f"#define ORIGAMI_TASK_CLASSIFICATION {1 if device.get('task') == 'classification' else 0}"]
    classes = device.get("classes") or []
    if classes:
        lines += [f"#define ORIGAMI_NUM_CLASSES {len(classes)}",
                  "static const char* const ORIGAMI_CLASS_NAMES[ORIGAMI_NUM_CLASSES] = {"
                  + ", ".join(c_string(str(c)) for c in classes) + "};  // output index order"]
    normalize = device.get("normalize") or {}
    if normalize.get("method", "none") != "none":
        lines += [f"#define ORIGAMI_NORMALIZE_FEATURES {len(normalize['offset'])}",
                  "static const float ORIGAMI_INPUT_OFFSET[ORIGAMI_NORMALIZE_FEATURES] = "
                  f"{{{_floats(normalize['offset'])}}};",
                  "static const float ORIGAMI_INPUT_SCALE_PER_FEATURE[ORIGAMI_NORMALIZE_FEATURES] = "
                  f"{{{_floats(normalize['scale'])}}};"]
    if device.get("window"):
        lines += [f"#define ORIGAMI_WINDOW_SIZE {int(device['window']['size'])}",
                  f"#define ORIGAMI_WINDOW_STRIDE {int(device['window']['stride'])}"]
    lines += _audio_lines(device)
    for role in ("input", "output"):
        tensor = device[role]
        name = role.upper()
        lines += [f"#define ORIGAMI_{name}_SCALE {c_float(tensor['scale'])}",
                  f"#define ORIGAMI_{name}_ZERO_POINT {int(tensor['zero_point'])}",
                  f"#define ORIGAMI_{name}_ELEMENTS {max(1, _product(tensor['shape']))}"]
    lines += ["", "#endif  // ORIGAMI_MODEL_META_H_", ""]
    return "\n".join(lines)


def _audio_lines(device: dict) -> list[str]:
    """For a model fed audio features: the initializer of origami_audio.h's params, so the firmware's
    front end takes the model's numbers (frames, filter bank, normalisation, quantization)."""
    try:
        p = audio_params(device.get("audio_features") or {}, device.get("normalize") or {}, device["input"])
    except AudioParamsError:
        return []
    values = [str(v) + "u" for v in (p.sample_rate, p.frame_length, p.frame_step, p.fft_size, p.mel_bins,
                                     p.coefficients)]
    values += [f"{v!r}" for v in (p.lower_hz, p.upper_hz, p.log_offset)]
    values += [c_float(v) for v in (p.norm_offset, p.norm_scale, p.input_scale)] + [str(p.input_zero_point)]
    return ["// origami_audio_params for origami_audio_features(): the model's own audio front end.",
            f"#define ORIGAMI_AUDIO_PARAMS_INIT {{{', '.join(values)}}}"]


def _product(shape) -> int:
    total = 1
    for d in shape:
        total *= int(d)
    return total


def meta_json(device: dict) -> str:
    return json.dumps({"apiVersion": "origami/v1alpha1", "kind": "ModelMeta", **device}, indent=2,
                      sort_keys=True) + "\n"
