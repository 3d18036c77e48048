"""How fast `origami validate` is on a 100-file spec repository (CI runs it on every pull request).

Prints the in-process load time and the whole CLI run (interpreter start included), and the
same CLI run on an empty repository as the baseline. `--json`: last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATASET = """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {{name: data-{i}}}
spec:
  task: classification
  sources: [{{type: packaged, name: sklearn.digits}}]
---
apiVersion: origami/v1alpha1
kind: Model
metadata: {{name: model-{i}}}
spec:
  dataset: data-{i}
  architecture: {{preset: cnn2d, units: [8, 16]}}
  training: {{epochs: 10, seed: {i}}}
  variants: [{{name: int8, quantization: int8}}, {{name: f16, quantization: float16}}]
  gates: {{minAccuracy: 0.9, maxSize: 64KiB}}
---
apiVersion: origami/v1alpha1
kind: Fleet
metadata: {{name: fleet-{i}}}
spec:
  model: model-{i}
  selector: {{boards: [nano33ble, rpi4], matchLabels: {{site: s{i}}}}}
  rollout: {{canary: 10%, batchSize: 25%}}
"""


def make_repo(directory: Path, files: int) -> None:
    for i in range(files):
        sub = directory / f"team-{i % 10}"
        sub.mkdir(exist_ok=True)
        (sub / f"app-{i}.yaml").write_text(DATASET.format(i=i))


def cli_seconds(path: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "controller.cli.main", "validate", str(path)], cwd=ROOT,
                       check=False, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from controller.loading import load_repository

    with tempfile.TemporaryDirectory() as tmp:
        repo_dir, empty = Path(tmp) / "repo", Path(tmp) / "empty"
        repo_dir.mkdir()
        empty.mkdir()
        make_repo(repo_dir, args.files)
        loads = []
        for _ in range(args.runs):
            start = time.perf_counter()
            repo = load_repository(repo_dir)
            loads.append(time.perf_counter() - start)
        assert repo.valid, repo.issues[:3]
        figures = {
            "files": args.files,
            "documents": len(repo.documents),
            "load_s": round(statistics.median(loads), 4),
            "cli_s": round(cli_seconds(repo_dir, args.runs), 4),
            "cli_empty_repo_s": round(cli_seconds(empty, args.runs), 4),
        }
        figures["cli_ratio_vs_empty"] = round(figures["cli_s"] / figures["cli_empty_repo_s"], 2)
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
