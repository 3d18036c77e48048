"""Model cards: per variant a JSON card, a Markdown card and PNG plots (matplotlib, Agg backend)."""
from __future__ import annotations

import io
import json

from controller.pipeline.gates import runtime_metrics
from controller.pipeline.pareto import pareto_markdown


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, metadata={"Software": None})
    return buffer.getvalue()


def training_curves_png(history: dict[str, list[float]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.2))
    axes = figure.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy" if "accuracy" in history else "mae")):
        for key in (metric, f"val_{metric}"):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    figure.tight_layout()
    return _png(figure)


def confusion_png(matrix: list[list[int]], classes: list[str], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 4))
    ax = figure.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=6)
    figure.tight_layout()
    return _png(figure)


def size_vs_metric_png(task: str, variants: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    metric = "accuracy" if task == "classification" else "mae"
    figure = Figure(figsize=(5, 3.5))
    ax = figure.subplots()
    for v in variants:
        value = runtime_metrics(v["figures"])[metric]
        ax.scatter(v["figures"]["size_bytes"], value, color="tab:green" if v["gate"]["passed"] else "tab:red")
        ax.annotate(v["name"], (v["figures"]["size_bytes"], value), fontsize=7)
    ax.set_xlabel(".tflite size (bytes)")
    ax.set_ylabel(f"{metric} on the test split (device runtime)")
    figure.tight_layout()
    return _png(figure)


def class_counts_markdown(classes: list[str] | None, counts: dict[str, list[int]] | None) -> list[str]:
    """Samples per class in each split (class order is the model's output order)."""
    if not classes or not counts:
        return []
    lines = ["", "| class (output index) | train | validation | test |", "| --- | --- | --- | --- |"]
    for i, name in enumerate(classes):
        lines.append(f"| {name} ({i}) | " + " | ".join(str(counts[s][i]) for s in ("train", "validation", "test"))
                     + " |")
    return lines


def _numbers(values) -> str:
    shown = ", ".join(f"{v:.6g}" for v in values[:16])
    return f"[{shown}{', ...' if len(values) > 16 else ''}] ({len(values)} values)"


DEVICE_HEADING = "## Using it on a device"


def device_section(card: str) -> str:
    """The card's "Using it on a device" section (heading included, up to the next blank line), or ""."""
    start = card.find(DEVICE_HEADING)
    if start < 0:
        return ""
    body = card[start + len(DEVICE_HEADING):].lstrip("\n")
    end = body.find("\n\n")
    return DEVICE_HEADING + "\n" + (body if end < 0 else body[:end]).rstrip()


def device_markdown(device: dict, preprocessing: dict | None = None) -> list[str]:
    """What a device needs to feed the model and read its answer (also in card.json, the firmware's
    origami_model_meta.h and a Linux bundle's model_meta.json)."""
    if not device:
        return []
    lines = ["", DEVICE_HEADING, ""]
    if audio := (preprocessing or {}).get("audio_features"):
        lines.append(_audio_line(audio))
    if device.get("classes"):
        lines.append("- output index -> class: " + ", ".join(f"{i} = `{c}`" for i, c in enumerate(device["classes"])))
    normalize = device.get("normalize") or {}
    if normalize.get("method", "none") != "none":
        lines += [f"- input normalisation ({normalize['method']}, per feature of the last axis): "
                  "x = (raw - offset) / scale",
                  f"  - offset {_numbers(normalize['offset'])}", f"  - scale {_numbers(normalize['scale'])}"]
    if device.get("window"):
        lines.append(f"- window: {device['window']['size']} samples, stride {device['window']['stride']}")
    for role in ("input", "output"):
        t = device[role]
        quantized = f", scale {t['scale']:.8g}, zero point {t['zero_point']}" if t["scale"] else ""
        lines.append(f"- {role} tensor: {t['dtype']} {t['shape']}{quantized}")
    if device["input"]["scale"]:
        lines.append("- int8 input: q = round(x / scale) + zero point; int8 output: (q - zero point) * scale")
    return lines


def class_counts_line(classes: list[str] | None, counts: dict[str, list[int]] | None) -> str:
    """One line for a terminal: `class: train/validation/test` per class."""
    if not classes or not counts:
        return ""
    return "samples per class (train/validation/test): " + ", ".join(
        f"{name} {'/'.join(str(counts[s][i]) for s in ('train', 'validation', 'test'))}"
        for i, name in enumerate(classes))


def card_json(model_name: str, variant: dict, context: dict) -> bytes:
    return json.dumps({"model": model_name, **context, "variant": variant}, indent=2, sort_keys=True,
                      default=str).encode()


def card_markdown(model_name: str, variant: dict, context: dict) -> bytes:
    f = variant
    task = context["task"]
    lines = [f"# {model_name} / {variant['name']}", "",
             f"- dataset snapshot: `{context['dataset_digest'][:16]}`, trained model: `{context['model_digest'][:16]}`",
             f"- squeezing: {', '.join(variant['steps'])}",
             f"- gate: {'passed' if variant['gate']['passed'] else 'FAILED'}"]
    lines += [f"  - {failure['message']}" for failure in variant["gate"]["failures"]]
    lines += ["", "| figure | value |", "| --- | --- |",
              f"| .tflite size | {f['size_bytes']} B |", f"| C array | {f['c_array_bytes']} B |",
              f"| gzip (over the air) | {f['gzip_bytes']} B |",
              f"| parameters (non-zero) | {f['parameters']} ({f['nonzero_parameters']}) |",
              f"| MACs | {f['macs']} |",
              f"| TFLM arena | {f['arena_bytes'] if f['arena_bytes'] is not None else 'does not run on TFLM'} |",
              f"| operators | {', '.join(f['operators'])} |"]
    key = "accuracy" if task == "classification" else "mae"
    lines.append(f"| float Keras {key} | {context['float_metrics'][key]:.4f} |")
    lines.append(f"| LiteRT {key} | {f['litert'][key]:.4f} |")
    if f.get("tflm"):
        lines.append(f"| TFLM {key} | {f['tflm'][key]:.4f} |")
    lines += class_counts_markdown(context.get("classes"), context.get("class_counts"))
    lines += device_markdown(variant.get("device") or {}, context.get("preprocessing") or {})
    lines += ["", "![training curves](training_curves.png)"]
    if task == "classification":
        lines.append("![confusion matrix](confusion.png)")
    lines.append("![size vs accuracy](size_vs_accuracy.png)")
    lines += pareto_markdown(context.get("boards", []), variant["name"])
    return ("\n".join(lines) + "\n").encode()


def _audio_line(audio: dict) -> str:
    """The audio front end a device must run before the model, as the snapshot recorded it."""
    what = f"{audio['coefficients']} MFCCs (DCT {audio['dct']})" if audio["kind"] == "mfcc" else "log-mel energies"
    return (f"- audio at {audio['sample_rate']} Hz: {audio['window']} frames of {audio['frame_length']} samples every "
            f"{audio['frame_step']}, {audio['fft_size']}-point FFT {audio['spectrum']}, {audio['mel_bins']} "
            f"{audio['mel_scale']} mel bins over {audio['lower_hz']:g}-{audio['upper_hz']:g} Hz, "
            f"log(x + {audio['log_offset']:g}), {what}")
