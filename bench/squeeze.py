"""Squeezing figures on the digits and sine examples: float32 vs int8 vs prune+cluster+int8.

Each example is copied to a temp dir; its Model keeps its own float32 and int8 variants and
gains a prune+cluster+int8 variant when it has none. Everything is built in a fresh store
(nothing cached), and each variant is measured on TFLM: size, gzip size, test-split
accuracy (digits) or MAE (sine) through the TFLM interpreter, and the measured arena.
`--json`: the last line is one JSON object (int8_size_ratio, int8_acc_drop_pts, prune_cluster_gzip_ratio
for the digits example as it is, a 46.9k-parameter CNN; digits21k_* for the design's 21.5k-parameter
reference, the example with filters 32/64; sine_* for sine).

On-device compression (digits): the Model also gains clustered int8 variants LUT-compressed with
TFLM's DECODE (16 clusters / 4 bits, 8 / 3, 4 / 2, with more fine-tuning the fewer the clusters)
unless it has them. The best of them is the smallest whose TFLM accuracy is at most 0.5 points
below plain int8 (else the most accurate); `lut_flash_ratio` is its flash bytes (the .tflite) over
int8's, `lut_acc_drop_pts` its TFLM accuracy drop against int8 in points, `lut_arena_ratio` its
arena (with the decoded weights) over int8's, `lut_bits` its index width.

The `fixed B` column is what a .tflite holds besides its buffers (weights and biases): flatbuffer
tables, tensor names, the signature and, in int8 files, per-channel scales and zero points (12 B per
output channel, for kernels and for biases). It does not shrink with the weights, so the smaller
a model, the further int8 / float32 stays above 0.25.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.loading import load_repository  # noqa: E402
from controller.pipeline.build import build_model  # noqa: E402
from controller.planning.keys import model_keys  # noqa: E402
from controller.store import ArtifactStore  # noqa: E402
from controller.store import StageCache  # noqa: E402

# key: (example folder, model, clusters, architecture units override, LUT-compressed variants)
EXAMPLES = {"digits": ("digits-mixed", "digits-cnn", 16, None, True), "sine": ("sine-mcu", "sine", 8, None, False),
            # The design brief's reference model: the digits example narrowed to a 21.5k-parameter CNN.
            "digits21k": ("digits-mixed", "digits-cnn", 16, [32, 64], False)}
# (bits, clusters, clustering epochs): 2^bits clusters; fewer clusters need more fine-tuning.
LUT_VARIANTS = ((4, 16, 2), (3, 8, 3), (2, 4, 4))
MAX_LUT_DROP_PTS = 0.5


def _with_squeeze_variants(model_file: Path, clusters: int, units: list[int] | None, lut: bool = False) -> None:
    documents = list(yaml.safe_load_all(model_file.read_text()))
    for doc in documents:
        if doc and doc.get("kind") == "Model":
            if units:
                doc["spec"]["architecture"]["units"] = units
            variants = doc["spec"]["variants"]
            kinds = {(v.get("quantization", "int8"), "pruning" in v and "clustering" in v): v["name"] for v in variants}
            if ("int8", True) not in kinds:
                variants.append({"name": "pruned-clustered-int8", "quantization": "int8",
                                 "pruning": {"sparsity": 0.6, "epochs": 2},
                                 "clustering": {"clusters": clusters, "epochs": 1}})
            have = {v["compression"]["lut"]["bits"] for v in variants if v.get("compression")}
            for bits, lut_clusters, epochs in LUT_VARIANTS if lut else ():
                if bits not in have:
                    variants.append({"name": f"clustered{lut_clusters}-lut{bits}", "quantization": "int8",
                                     "clustering": {"clusters": lut_clusters, "epochs": epochs},
                                     "compression": {"lut": {"bits": bits}}})
    model_file.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def _pick(build):
    plain = {"none": None, "int8": None, "pcq": None}
    for v in build.variants:
        if v.compression:
            plain[f"lut{v.compression['bits']}"] = v
        elif v.quantization == "none" and not (v.options.get("pruning") or v.options.get("clustering")):
            plain["none"] = plain["none"] or v
        elif v.quantization == "int8" and not v.options.get("pruning") and not v.options.get("clustering") \
                and not v.options.get("qat"):
            plain["int8"] = plain["int8"] or v
        elif v.quantization == "int8" and v.options.get("pruning") and v.options.get("clustering"):
            plain["pcq"] = plain["pcq"] or v
    return plain


def buffer_bytes(tflite: bytes) -> int:
    """Bytes of the flatbuffer's data buffers (weights, biases), read with tflite-micro's schema."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(bytearray(tflite), 0)
    return sum(model.Buffers(i).DataLength() for i in range(model.BuffersLength()))


def bench_example(key: str, tmp: Path) -> dict:
    folder, model_name, clusters, units, lut = EXAMPLES[key]
    specs = tmp / key
    shutil.copytree(ROOT / "examples" / folder, specs)
    _with_squeeze_variants(specs / "model.yaml", clusters, units, lut)
    repo = load_repository(specs).require_valid()
    store = ArtifactStore(tmp / f"{key}-store")
    started = time.perf_counter()
    build = build_model(repo, model_name, model_keys(repo, model_name), store, StageCache(store),
                        progress=lambda m: None if ": epoch " in m else print(f"  [{key}] {m}", file=sys.stderr))
    seconds = time.perf_counter() - started
    picked = _pick(build)
    metric = "accuracy" if build.task == "classification" else "mae"
    rows = {}
    for role, v in picked.items():
        tflm = v.tflm[metric] if v.tflm else None
        fixed = v.size_bytes - buffer_bytes(store.read_bytes(v.tflite_digest))
        rows[role] = {"variant": v.name, "size_bytes": v.size_bytes, "fixed_bytes": fixed, "gzip_bytes": v.gzip_bytes,
                      f"tflm_{metric}": tflm, f"litert_{metric}": v.litert[metric], "arena_bytes": v.arena_bytes,
                      "gate_passed": v.passed, "failing": v.gate["failing_figures"]}
    none, int8, pcq = rows["none"], rows["int8"], rows["pcq"]
    drop = none[f"tflm_{metric}"] - int8[f"tflm_{metric}"]
    lut_variants = [v for v in build.variants if v.compression]
    compressed = _lut_figures(rows, int8, lut_variants) if lut else {}
    return {**compressed, "task": build.task, "parameters": picked["none"].parameters,
            "build_seconds": round(seconds, 1), "float_keras": build.training["metrics"][metric],
            "epochs_run": build.training["epochs_run"], "variants": rows,
            "int8_size_ratio": int8["size_bytes"] / none["size_bytes"],
            "int8_acc_drop_pts" if metric == "accuracy" else "int8_mae_increase": drop * 100 if metric == "accuracy"
            else -drop,
            "prune_cluster_gzip_ratio": pcq["gzip_bytes"] / int8["gzip_bytes"]}


def _lut_figures(rows: dict, int8: dict, variants: list) -> dict:
    """The best LUT-compressed variant against plain int8 (see the module docstring)."""
    scored = []
    for v in variants:
        row = rows[f"lut{v.compression['bits']}"]
        drop = (int8["tflm_accuracy"] - row["tflm_accuracy"]) * 100
        scored.append((drop <= MAX_LUT_DROP_PTS + 1e-9, row, drop, v.compression["bits"]))
    within = [s for s in scored if s[0]]
    _, best, drop, bits = (min(within, key=lambda s: s[1]["size_bytes"]) if within
                           else min(scored, key=lambda s: s[2]))
    return {"lut_variant": best["variant"], "lut_bits": bits,
            "lut_flash_ratio": best["size_bytes"] / int8["size_bytes"], "lut_acc_drop_pts": drop,
            "lut_arena_ratio": best["arena_bytes"] / int8["arena_bytes"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=sorted(EXAMPLES), help="one example only")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="origami-bench-squeeze-") as tmp:
        for key in ([args.only] if args.only else list(EXAMPLES)):
            results[key] = bench_example(key, Path(tmp))
    for key, r in results.items():
        metric = "accuracy" if r["task"] == "classification" else "mae"
        print(f"\n{key} ({r['parameters']} parameters): float Keras {metric} {r['float_keras']:.4f} "
              f"after {r['epochs_run']} epochs, "
              f"build {r['build_seconds']} s")
        print(f"  {'variant':24}{'size B':>9}{'fixed B':>9}{'gzip B':>9}{'TFLM ' + metric:>15}{'arena B':>10}  gate")
        for v in r["variants"].values():
            shown = f"{v[f'tflm_{metric}']:.4f}" if v[f"tflm_{metric}"] is not None else "n/a"
            print(f"  {v['variant']:24}{v['size_bytes']:>9}{v['fixed_bytes']:>9}{v['gzip_bytes']:>9}{shown:>15}"
                  f"{v['arena_bytes'] or '-':>10}  "
                  f"{'passed' if v['gate_passed'] else 'FAILED ' + ','.join(v['failing'])}")
        print(f"  int8 size / float32 size = {r['int8_size_ratio']:.3f} (target <= 0.30)")
        if "int8_acc_drop_pts" in r:
            print(f"  int8 accuracy drop vs float32 (TFLM) = {r['int8_acc_drop_pts']:.2f} points (target <= 1.0)")
        else:
            print(f"  int8 MAE increase vs float32 (TFLM) = {r['int8_mae_increase']:.4f}")
        print(f"  prune+cluster+int8 gzip / int8 gzip = {r['prune_cluster_gzip_ratio']:.3f} (target <= 0.6)")
        if "lut_flash_ratio" in r:
            print(f"  best LUT variant {r['lut_variant']} ({r['lut_bits']}-bit): flash / int8 flash = "
                  f"{r['lut_flash_ratio']:.3f} (target <= 0.5) at {r['lut_acc_drop_pts']:.2f} points "
                  f"(target <= {MAX_LUT_DROP_PTS}), arena / int8 arena = {r['lut_arena_ratio']:.2f}")
    if args.json:
        summary = {}
        if "digits" in results:
            d = results["digits"]
            summary.update(int8_size_ratio=d["int8_size_ratio"], int8_acc_drop_pts=d["int8_acc_drop_pts"],
                           prune_cluster_gzip_ratio=d["prune_cluster_gzip_ratio"],
                           **{k: d[k] for k in ("lut_flash_ratio", "lut_acc_drop_pts", "lut_arena_ratio", "lut_bits")})
        if "digits21k" in results:
            d = results["digits21k"]
            summary.update(digits21k_int8_size_ratio=d["int8_size_ratio"],
                           digits21k_int8_acc_drop_pts=d["int8_acc_drop_pts"],
                           digits21k_prune_cluster_gzip_ratio=d["prune_cluster_gzip_ratio"])
        if "sine" in results:
            s = results["sine"]
            summary.update(sine_int8_size_ratio=s["int8_size_ratio"], sine_int8_mae_increase=s["int8_mae_increase"],
                           sine_prune_cluster_gzip_ratio=s["prune_cluster_gzip_ratio"])
        summary["examples"] = results
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
