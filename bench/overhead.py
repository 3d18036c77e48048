"""Origami's training overhead: the same dataset, architecture and epochs, plain Keras vs `origami build`.

One process, TensorFlow imported before any timing. The plain script loads scikit-learn's
digits, min-max normalises with train statistics, splits with a seed, trains the same
2-D CNN for the same epochs (no early stopping in either), evaluates on the test split
and saves the model. After one untimed warm-up, plain and Origami runs alternate (--rounds);
medians are compared.
`origami build` is timed to the end of its training stage (dataset snapshot + training
+ storing the model) for `overhead_ratio`, and to the end (conversion, LiteRT/TFLM
measurement, cards) for `full_build_ratio`. `--json`: the last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.pipeline.tf_runtime import import_tf  # noqa: E402

EPOCHS = 30
SPECS = """\
apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: digits}
spec:
  task: classification
  sources: [{type: packaged, name: sklearn.digits}]
  preprocessing: {normalize: {method: minmax}}
  split: {train: 0.7, validation: 0.1, test: 0.2, seed: 42}
---
apiVersion: origami/v1alpha1
kind: Model
metadata: {name: digits-cnn}
spec:
  dataset: digits
  architecture: {preset: cnn2d, units: [16, 32], kernelSize: 3}
  training: {epochs: %d, batchSize: 32, learningRate: 0.002, seed: 42}
  variants: [{name: float32, quantization: none}]
""".replace("%d", str(EPOCHS))


def plain_keras(tmp: Path) -> tuple[float, float]:
    """What a user would write without Origami. Returns (seconds, test accuracy)."""
    import numpy as np
    from sklearn.datasets import load_digits

    tf, keras = import_tf()
    started = time.perf_counter()
    digits = load_digits()
    x, y = digits.images[..., None].astype("float32"), digits.target
    order = np.random.default_rng(42).permutation(len(x))
    n_test, n_val = round(len(x) * 0.2), round(len(x) * 0.1)
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    low, high = x[train].min(), x[train].max()
    x = (x - low) / (high - low)
    keras.utils.set_random_seed(42)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.002), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[train], y[train], batch_size=32, epochs=EPOCHS, validation_data=(x[val], y[val]), verbose=0)
    accuracy = float(np.mean(np.argmax(model.predict(x[test], verbose=0), axis=1) == y[test]))
    model.save(tmp / "plain.h5")
    return time.perf_counter() - started, accuracy


def origami(tmp: Path) -> tuple[float, float, float, dict]:
    from controller.loading import load_repository
    from controller.pipeline.build import build_model
    from controller.planning.keys import model_keys
    from controller.store import ArtifactStore
    from controller.store import StageCache

    specs = tmp / "specs"
    specs.mkdir(parents=True)
    (specs / "digits.yaml").write_text(SPECS)
    marks: dict[str, float] = {}

    def progress(message: str) -> None:
        if "squeezing" in message and "trained" not in marks:
            marks["trained"] = time.perf_counter()

    started = time.perf_counter()
    repo = load_repository(specs).require_valid()
    store = ArtifactStore(tmp / "store")
    build = build_model(repo, "digits-cnn", model_keys(repo, "digits-cnn"), store, StageCache(store), progress)
    ended = time.perf_counter()
    return marks["trained"] - started, ended - started, build.training["metrics"]["accuracy"], build.executions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="alternating plain/origami rounds (median taken)")
    args = parser.parse_args()
    import_tf()  # excluded from every timing
    plain_runs, train_runs, build_runs = [], [], []
    with tempfile.TemporaryDirectory(prefix="origami-bench-overhead-") as tmp:
        tmp = Path(tmp)
        plain_keras(tmp)  # warm-up, untimed: first-use costs (sklearn import, kernel init) belong to neither side
        for round_ in range(args.rounds):  # alternate, so load from other processes hits both sides alike
            seconds, plain_acc = plain_keras(tmp)
            plain_runs.append(seconds)
            train_s, build_s, origami_acc, executions = origami(tmp / f"round{round_}")
            train_runs.append(train_s)
            build_runs.append(build_s)
    baseline, train_s, build_s = (statistics.median(r) for r in (plain_runs, train_runs, build_runs))
    result = {
        "epochs": EPOCHS, "plain_keras_s": [round(x, 2) for x in plain_runs], "baseline_s": round(baseline, 2),
        "origami_train_s": [round(x, 2) for x in train_runs], "origami_full_build_s": [round(x, 2) for x in build_runs],
        "overhead_ratio": train_s / baseline, "full_build_ratio": build_s / baseline,
        "plain_test_accuracy": plain_acc, "origami_test_accuracy": origami_acc, "origami_stages": executions,
    }
    print(f"plain Keras ({EPOCHS} epochs, digits, cnn2d 16/32): {', '.join(f'{x:.2f}' for x in plain_runs)} s "
          f"(median {baseline:.2f} s, test accuracy {plain_acc:.4f})")
    print(f"origami build to the end of training: median {train_s:.2f} s -> "
          f"overhead_ratio {result['overhead_ratio']:.3f} "
          f"(target <= 1.10)")
    print(f"origami build with conversion, LiteRT+TFLM measurement and cards: median {build_s:.2f} s "
          f"-> full_build_ratio {result['full_build_ratio']:.3f} (test accuracy {origami_acc:.4f})")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
