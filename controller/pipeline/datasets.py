"""Dataset snapshots: read every source, preprocess, split with a seed, encode deterministically.

A snapshot is one byte string (a JSON header followed by raw arrays) so that the same inputs
always give the same sha256; `np.savez` would not (zip entries carry the current time).
The test split is cut first and never used to fit normalisation, train or calibrate.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from controller.pipeline.collected import load_collected
from controller.pipeline.generators import GENERATORS
from specs.errors import StageError
from specs.v1alpha1.dataset import (
    CollectedSource,
    DatasetSpec,
    FilesSource,
    GeneratedSource,
    PackagedSource,
    Preprocessing,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm")
SPLITS = ("train", "validation", "test")


@dataclass
class Snapshot:
    """The arrays of one dataset, split, preprocessed, with the parameters used to preprocess."""

    task: str
    classes: list[str] | None
    arrays: dict[str, np.ndarray]          # x_train, y_train, x_validation, ..., x_test, y_test
    preprocessing: dict = field(default_factory=dict)  # stored parameters (normalisation, window, resize)

    def x(self, split: str) -> np.ndarray:
        return self.arrays[f"x_{split}"]

    def y(self, split: str) -> np.ndarray:
        return self.arrays[f"y_{split}"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.arrays["x_train"].shape[1:])

    @property
    def outputs(self) -> int:
        return len(self.classes) if self.classes else 1

    def encode(self) -> bytes:
        header = {"task": self.task, "classes": self.classes, "preprocessing": self.preprocessing, "arrays": []}
        body = io.BytesIO()
        for name in sorted(self.arrays):
            array = np.ascontiguousarray(self.arrays[name])
            header["arrays"].append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape),
                                     "offset": body.tell(), "bytes": array.nbytes})
            body.write(array.tobytes())
        head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        return b"ORIGAMI-SNAPSHOT-1\n" + len(head).to_bytes(8, "little") + head + body.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> Snapshot:
        magic = b"ORIGAMI-SNAPSHOT-1\n"
        if not data.startswith(magic):
            raise StageError("not an Origami dataset snapshot (bad magic); rebuild the dataset")
        size = int.from_bytes(data[len(magic):len(magic) + 8], "little")
        start = len(magic) + 8
        header = json.loads(data[start:start + size])
        base = start + size
        arrays = {}
        for entry in header["arrays"]:
            raw = data[base + entry["offset"]: base + entry["offset"] + entry["bytes"]]
            arrays[entry["name"]] = np.frombuffer(raw, dtype=np.dtype(entry["dtype"])).reshape(entry["shape"]).copy()
        return cls(task=header["task"], classes=header["classes"], arrays=arrays,
                   preprocessing=header["preprocessing"])


# --- sources -------------------------------------------------------------------------------------
def _csv(path: Path, target: str | None, task: str):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise StageError(f"{path}: a CSV dataset needs a header row and at least one data row")
    header, rows = rows[0], rows[1:]
    target = target or header[-1]
    if target not in header:
        raise StageError(f"{path}: no column named {target!r}; columns are {', '.join(header)}")
    t = header.index(target)
    try:
        x = np.array([[float(v) for i, v in enumerate(r) if i != t] for r in rows], dtype=np.float32)
    except ValueError as err:
        raise StageError(f"{path}: feature columns must be numbers ({err})") from err
    labels = [r[t] for r in rows]
    if task == "regression":
        return x, np.array([float(v) for v in labels], dtype=np.float32), None
    classes = sorted(set(labels))
    return x, np.array([classes.index(v) for v in labels], dtype=np.int64), classes


def _npz(path: Path, features: str | None, target: str | None, task: str):
    with np.load(path, allow_pickle=False) as data:
        fx, fy = features or "x", target or "y"
        missing = [k for k in (fx, fy) if k not in data]
        if missing:
            raise StageError(f"{path}: no array named {missing[0]!r}; arrays are {', '.join(data.files)}")
        x, y = data[fx].astype(np.float32), data[fy]
    if task == "regression":
        return x, y.astype(np.float32), None
    classes = sorted({str(v) for v in y.tolist()})
    return x, np.array([classes.index(str(v)) for v in y.tolist()], dtype=np.int64), classes


def _class_folders(path: Path, suffixes: tuple[str, ...]) -> list[tuple[str, list[Path]]]:
    if not path.is_dir():
        raise StageError(f"{path}: expected a folder with one sub-folder per class")
    found = [(d.name, sorted(f for f in d.iterdir() if f.suffix.lower() in suffixes))
             for d in sorted(path.iterdir()) if d.is_dir()]
    found = [(name, files) for name, files in found if files]
    if not found:
        raise StageError(f"{path}: no class sub-folders holding {'/'.join(suffixes)} files")
    return found


def _images(path: Path, prep: Preprocessing):
    from PIL import Image

    xs, ys, classes = [], [], []
    size = None
    for label, files in _class_folders(path, IMAGE_SUFFIXES):
        classes.append(label)
        for file in files:
            image = Image.open(file)
            image = image.convert("L") if image.mode in ("L", "1", "P", "I", "I;16") else image.convert("RGB")
            if prep.resize:
                image = image.resize((prep.resize.width, prep.resize.height), Image.BILINEAR)
            size = size or image.size
            if image.size != size:
                raise StageError(f"{file}: is {image.size[0]}x{image.size[1]}, others are {size[0]}x{size[1]}; "
                                 "set preprocessing.resize")
            array = np.asarray(image, dtype=np.float32)
            xs.append(array[..., None] if array.ndim == 2 else array)
            ys.append(len(classes) - 1)
    return np.stack(xs), np.array(ys, dtype=np.int64), classes


def _wav(path: Path, prep: Preprocessing):
    xs, ys, classes = [], [], []
    for label, files in _class_folders(path, (".wav",)):
        classes.append(label)
        for file in files:
            with wave.open(str(file)) as w:
                if w.getsampwidth() != 2:
                    raise StageError(f"{file}: only 16-bit PCM WAV is supported")
                frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
                xs.append(frames.reshape(-1, w.getnchannels()))
            ys.append(len(classes) - 1)
    length = prep.window.size if prep.window else max(len(a) for a in xs)
    padded = np.zeros((len(xs), max(length, max(len(a) for a in xs)), xs[0].shape[1]), dtype=np.float32)
    for i, a in enumerate(xs):
        padded[i, :len(a)] = a
    return padded, np.array(ys, dtype=np.int64), classes


def _packaged(name: str):
    import sklearn.datasets as sk

    loaders = {"sklearn.digits": sk.load_digits, "sklearn.iris": sk.load_iris, "sklearn.wine": sk.load_wine,
               "sklearn.breast_cancer": sk.load_breast_cancer}
    bunch = loaders[name]()
    x = bunch.images[..., None] if name == "sklearn.digits" else bunch.data
    return x.astype(np.float32), bunch.target.astype(np.int64), [str(c) for c in bunch.target_names]


def read_source(source, base: Path, spec: DatasetSpec):
    """(x, y, classes or None) of one source."""
    if isinstance(source, FilesSource):
        path = (base / source.path).resolve()
        if not path.exists():
            raise StageError(f"dataset file {source.path} not found (looked in {base})")
        if source.format == "csv":
            return _csv(path, source.target, spec.task)
        if source.format == "npz":
            return _npz(path, source.features, source.target, spec.task)
        if source.format == "images":
            return _images(path, spec.preprocessing)
        return _wav(path, spec.preprocessing)
    if isinstance(source, PackagedSource):
        return _packaged(source.name)
    if isinstance(source, GeneratedSource):
        return GENERATORS[source.generator](source.samples, source.seed, source.noise)
    if isinstance(source, CollectedSource):
        return load_collected(source)
    raise StageError(f"unknown dataset source {type(source).__name__}")  # pragma: no cover


def source_input_digest(source, base: Path) -> str:
    """What a source's data depends on beyond its spec: file bytes (without reading through TF)."""
    if isinstance(source, FilesSource):
        path = (base / source.path).resolve()
        h = hashlib.sha256()
        if path.is_file():
            files = [path]
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
        else:
            return "missing"
        for file in files:
            h.update(str(file.relative_to(path if path.is_dir() else path.parent)).encode() + b"\0")
            with open(file, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        return h.hexdigest()
    if isinstance(source, CollectedSource):
        from controller.pipeline.collected import collected_provider

        try:
            return collected_provider(source).digest(source)
        except StageError:
            return "no-collector"
    return "spec-only"  # packaged and generated data are fully described by their spec and tool versions


def _merge(parts: list, task: str):
    shapes = {p[0].shape[1:] for p in parts}
    if len(shapes) > 1:
        raise StageError(f"dataset sources give samples of different shapes {sorted(shapes)}; "
                         "make them agree (preprocessing.resize / window)")
    x = np.concatenate([p[0] for p in parts])
    if task == "regression":
        return x, np.concatenate([p[1] for p in parts]).astype(np.float32), None
    classes = list(dict.fromkeys(c for p in parts for c in (p[2] or [])))  # first-seen order, stable
    if any(p[2] is None for p in parts):
        raise StageError("a classification dataset needs labelled sources; one source gives no classes")
    y = np.concatenate([np.array([classes.index(p[2][i]) for i in p[1]], dtype=np.int64) for p in parts])
    return x, y, classes


def _window(x: np.ndarray, y: np.ndarray, size: int, stride: int):
    if x.ndim == 2:  # one long series per sample row: treat as (n, time, 1)
        x = x[..., None]
    if x.shape[1] < size:
        raise StageError(f"window size {size} is longer than the samples ({x.shape[1]} steps)")
    starts = range(0, x.shape[1] - size + 1, stride)
    xs = np.concatenate([x[:, s:s + size] for s in starts])
    ys = np.concatenate([y for _ in starts])
    return xs, ys


def _split_indices(n: int, ratios: tuple[float, float, float], seed: int) -> dict[str, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * ratios[2])))
    n_val = int(round(n * ratios[1]))
    if n - n_test - n_val < 1:
        raise StageError(f"{n} samples are too few for the split ratios")
    # The test split is cut first: nothing fitted later (normalisation, training, calibration) sees it.
    return {"test": order[:n_test], "validation": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}


def normalisation(x_train: np.ndarray, method: str) -> dict:
    """Parameters fitted on the training split only; statistics per feature/channel (last axis)."""
    axes = tuple(range(max(1, x_train.ndim - 1)))
    if method == "standard":
        mean = x_train.mean(axis=axes)
        std = x_train.std(axis=axes)
        return {"method": method, "offset": mean.tolist(), "scale": np.where(std > 1e-8, std, 1.0).tolist()}
    if method == "minmax":
        low, high = x_train.min(axis=axes), x_train.max(axis=axes)
        return {"method": method, "offset": low.tolist(), "scale": np.where(high - low > 1e-8, high - low,
                                                                            1.0).tolist()}
    return {"method": "none"}


def apply_normalisation(x: np.ndarray, params: dict) -> np.ndarray:
    if params.get("method", "none") == "none":
        return x.astype(np.float32)
    return ((x - np.asarray(params["offset"], np.float32)) / np.asarray(params["scale"], np.float32)).astype(np.float32)


def build_snapshot(spec: DatasetSpec, base: Path) -> Snapshot:
    """Every source read, merged, windowed, split (seeded) and normalised with train-only statistics."""
    x, y, classes = _merge([read_source(s, base, spec) for s in spec.sources], spec.task)
    prep = spec.preprocessing
    if prep.resize and x.ndim == 4 and x.shape[1:3] != (prep.resize.height, prep.resize.width):
        x = _resize(x, prep.resize.height, prep.resize.width)
    params: dict = {}
    if prep.window:
        x, y = _window(x, y, prep.window.size, prep.window.stride)
        params["window"] = {"size": prep.window.size, "stride": prep.window.stride}
    parts = _split_indices(len(x), (spec.split.train, spec.split.validation, spec.split.test), spec.split.seed)
    params["normalize"] = normalisation(x[parts["train"]], prep.normalize.method)
    arrays = {}
    for split in SPLITS:
        arrays[f"x_{split}"] = apply_normalisation(x[parts[split]], params["normalize"])
        arrays[f"y_{split}"] = y[parts[split]]
    return Snapshot(task=spec.task, classes=classes, arrays=arrays, preprocessing=params)


def _resize(x: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(x), height, width, x.shape[3]), dtype=np.float32)
    for i, image in enumerate(x):
        for c in range(x.shape[3]):
            out[i, :, :, c] = np.asarray(Image.fromarray(image[:, :, c].astype(np.float32), mode="F")
                                         .resize((width, height), Image.BILINEAR))
    return out
