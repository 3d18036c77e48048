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
import math
import os
import wave
import zipfile
from array import array
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np

from controller.limits import DEFAULT_LIMITS
from controller.limits import Limits
from controller.limits import exceeds
from controller.limits import show_bytes
from controller.loading.confinement import MissingPath
from controller.loading.confinement import RefusedPath
from controller.loading.confinement import files_under
from controller.loading.confinement import resolve_in_repository
from controller.loading.csv_columns import target_problem
from controller.pipeline.collected import load_collected
from controller.pipeline.generators import GENERATORS
from specs.errors import StageError
from specs.v1alpha1.dataset import AudioFeatures
from specs.v1alpha1.dataset import CollectedSource
from specs.v1alpha1.dataset import DatasetSpec
from specs.v1alpha1.dataset import FilesSource
from specs.v1alpha1.dataset import GeneratedSource
from specs.v1alpha1.dataset import PackagedSource
from specs.v1alpha1.dataset import Preprocessing
from specs.v1alpha1.dataset import SpeechSource
from specs.v1alpha1.dataset import generated_shape

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
# Every file a spec names is untrusted: it is resolved inside the repository (`confinement`), its
# bytes are counted before it is opened, and what it would decode (rows, array shapes, pixels, WAV
# frames) is read from its header and counted before it is decoded. Messages name the file by its
# repository-relative path, a row, a column or an array, never a host path or a value of the file.
@dataclass
class DatasetBudget:
    """What one Dataset's sources have used of the limits: file bytes, samples, decoded values."""

    limits: Limits = DEFAULT_LIMITS
    bytes: int = 0
    samples: int = 0
    values: int = 0

    def take_bytes(self, shown: str, n: int) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_dataset_bytes:
            raise StageError(f"{shown}: " + exceeds(self.limits, "max_dataset_bytes",
                                                    f"the Dataset's files reach {show_bytes(self.bytes)}"))

    def take(self, shown: str, samples: int, values: int) -> None:
        """Count samples and the values they decode to, before decoding them."""
        self.samples += samples
        self.values += values
        if self.samples > self.limits.max_samples:
            raise StageError(f"{shown}: " + exceeds(self.limits, "max_samples",
                                                    f"the Dataset reaches {self.samples:,} samples"))
        self.fits(shown, self.values, "the Dataset reaches")

    def fits(self, shown: str, values: int, what: str) -> None:
        """An array of `values` numbers may be made (e.g. padded clips or windows of the samples)."""
        if values > self.limits.max_dataset_values:
            raise StageError(f"{shown}: " + exceeds(self.limits, "max_dataset_values", f"{what} {values:,} values"))


@dataclass(frozen=True)
class DataFile:
    real: Path    # the real path, inside the repository
    shown: str    # relative to the repository root, for messages


def _data_file(root: Path, real: Path) -> DataFile:
    return DataFile(real, os.path.relpath(real, os.path.realpath(root)))


def _resolve(source: FilesSource, base: Path, root: Path) -> DataFile:
    try:
        return _data_file(root, resolve_in_repository(root, base, source.path))
    except RefusedPath as err:
        raise StageError(f"dataset path {source.path!r:.200} {err}") from None


MAX_CSV_LINE = 4 * 1024 * 1024  # characters: a row of thousands of features, not a file without newlines


def _lines(f, shown: str):
    """The lines of a text file, refusing one longer than MAX_CSV_LINE before it is read whole."""
    number = 0
    while line := f.readline(MAX_CSV_LINE + 1):
        number += 1
        if len(line) > MAX_CSV_LINE and not line.endswith("\n"):
            raise StageError(f"{shown}: row {number} is longer than {MAX_CSV_LINE // 1024 // 1024} MiB")
        yield line


def _csv(file: DataFile, target: str | None, task: str, budget: DatasetBudget):
    """Rows streamed into float32 features: memory is the decoded values, not Python lists of cells."""
    features = array("f")
    labels: list[str] = []
    with open(file.real, newline="", encoding="utf-8") as f:
        rows = csv.reader(_lines(f, file.shown))
        try:
            header = next(rows, None)
            if not header:
                raise StageError(f"{file.shown}: a CSV dataset needs a header row and at least one data row")
            problem = target_problem(header, target, task)
            if problem:
                raise StageError(f"{file.shown}: {problem}")
            t = header.index(target)
            for row in rows:
                if not row:
                    continue  # a blank line
                if len(row) != len(header):
                    raise StageError(f"{file.shown}: row {rows.line_num} has {len(row)} columns, "
                                     f"the header {len(header)}")
                budget.take(file.shown, 1, len(row) - 1)
                for i, cell in enumerate(row):
                    if i != t:
                        try:
                            features.append(float(cell))
                        except ValueError:
                            raise StageError(f"{file.shown}: row {rows.line_num}, column {header[i]!r:.40}: "
                                             "not a number") from None
                labels.append(row[t])
        except csv.Error as err:
            raise StageError(f"{file.shown}: not valid CSV at row {rows.line_num} ({err})") from None
        except UnicodeDecodeError:
            raise StageError(f"{file.shown}: not UTF-8 text (after row {rows.line_num})") from None
    if not labels:
        raise StageError(f"{file.shown}: a CSV dataset needs a header row and at least one data row")
    x = np.frombuffer(features, dtype=np.float32).reshape(len(labels), len(header) - 1)
    if task == "regression":
        try:
            return x, np.array([float(v) for v in labels], dtype=np.float32), None
        except ValueError:
            raise StageError(f"{file.shown}: column {target!r:.40}: a regression target must be a number "
                             "in every row") from None
    classes = sorted(set(labels))
    index = {name: i for i, name in enumerate(classes)}
    return x, np.array([index[v] for v in labels], dtype=np.int64), classes


_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _npz_shapes(file: DataFile, names: tuple[str, str]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of each wanted array from its .npy header, without decompressing its data."""
    found = {}
    with zipfile.ZipFile(file.real) as archive:
        members = {info.filename[:-4]: info for info in archive.infolist() if info.filename.endswith(".npy")}
        missing = [name for name in names if name not in members]
        if missing:
            arrays = ", ".join(f"{n!r:.40}" for n in sorted(members)[:12])
            raise StageError(f"{file.shown}: no array named {missing[0]!r:.40}; arrays are {arrays}")
        for name in names:
            with archive.open(members[name]) as member:
                read_header = _NPY_HEADERS.get(np.lib.format.read_magic(member))
                if read_header is None:
                    raise StageError(f"{file.shown}: array {name!r:.40} has an unsupported .npy version")
                shape, _, dtype = read_header(member)
            if dtype.hasobject:
                raise StageError(f"{file.shown}: array {name!r:.40} holds Python objects; only numbers and "
                                 "strings are read")
            found[name] = (shape, dtype)
    return found


def _npz(file: DataFile, features: str | None, target: str | None, task: str, budget: DatasetBudget):
    fx, fy = features or "x", target or "y"
    try:
        shapes = _npz_shapes(file, (fx, fy))
        (x_shape, _), (y_shape, y_dtype) = shapes[fx], shapes[fy]
        samples = x_shape[0] if x_shape else 0
        if not x_shape or y_shape[:1] != (samples,):
            raise StageError(f"{file.shown}: arrays {fx!r:.40} and {fy!r:.40} need one sample per row "
                             f"(shapes {x_shape} and {y_shape})")
        budget.take(file.shown, samples, math.prod(x_shape))
        budget.fits(file.shown, math.prod(y_shape) * max(1, y_dtype.itemsize // 4), f"array {fy!r:.40} holds")
        with np.load(file.real, allow_pickle=False) as data:
            x, y = data[fx].astype(np.float32), data[fy]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise StageError(f"{file.shown}: not a readable NPZ file of plain arrays") from None
    if task == "regression":
        return x, y.astype(np.float32), None
    classes = sorted({str(v) for v in y.tolist()})
    index = {name: i for i, name in enumerate(classes)}
    return x, np.array([index[str(v)] for v in y.tolist()], dtype=np.int64), classes


def _class_folders(root: Path, folder: DataFile, suffixes: tuple[str, ...], budget: DatasetBudget
                   ) -> list[tuple[str, list[DataFile]]]:
    """(class, files) per sub-folder; every file in the repository and counted before it is opened."""
    if not folder.real.is_dir():
        raise StageError(f"{folder.shown}: expected a folder with one sub-folder per class")
    try:
        files = files_under(root, folder.real, budget.limits.max_samples)
    except RefusedPath as err:
        raise StageError(f"{folder.shown}: {err}") from None
    for _, real in files:
        budget.take_bytes(folder.shown, real.stat().st_size)
    found: dict[str, list[DataFile]] = {}
    for relative, real in files:
        label, _, rest = relative.partition("/")
        if rest and "/" not in rest and real.suffix.lower() in suffixes:
            found.setdefault(label, []).append(_data_file(root, real))
    if not found:
        raise StageError(f"{folder.shown}: no class sub-folders holding {'/'.join(suffixes)} files")
    return sorted(found.items())


GRAY_MODES = ("L", "1", "P", "I", "I;16")


def _images(root: Path, folder: DataFile, prep: Preprocessing, budget: DatasetBudget):
    from PIL import Image

    xs, ys, classes = [], [], []
    size = None
    for label, files in _class_folders(root, folder, IMAGE_SUFFIXES, budget):
        classes.append(label)
        for file in files:
            try:
                with Image.open(file.real) as opened:  # reads the header only
                    width, height = opened.size
                    channels = 1 if opened.mode in GRAY_MODES else 3
                    budget.fits(file.shown, width * height * len(opened.getbands()), "decoding this image gives")
                    stored = (prep.resize.width * prep.resize.height if prep.resize else width * height) * channels
                    budget.take(file.shown, 1, stored)
                    image = opened.convert("L") if channels == 1 else opened.convert("RGB")
            except Image.DecompressionBombError:  # PIL's own ceiling, from the header too
                raise StageError(f"{file.shown}: the image has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels, "
                                 "more than the image decoder accepts") from None
            except (OSError, ValueError):
                raise StageError(f"{file.shown}: not a readable image") from None
            if prep.resize:
                image = image.resize((prep.resize.width, prep.resize.height), Image.BILINEAR)
            size = size or image.size
            if image.size != size:
                raise StageError(f"{file.shown}: is {image.size[0]}x{image.size[1]}, others are "
                                 f"{size[0]}x{size[1]}; set preprocessing.resize")
            array_ = np.asarray(image, dtype=np.float32)
            xs.append(array_[..., None] if array_.ndim == 2 else array_)
            ys.append(len(classes) - 1)
    return np.stack(xs), np.array(ys, dtype=np.int64), classes


def _wav(root: Path, folder: DataFile, prep: Preprocessing, budget: DatasetBudget):
    xs, ys, classes = [], [], []
    for label, files in _class_folders(root, folder, (".wav",), budget):
        classes.append(label)
        for file in files:
            try:
                with wave.open(str(file.real)) as w:
                    if w.getsampwidth() != 2:
                        raise StageError(f"{file.shown}: only 16-bit PCM WAV is supported")
                    frames, channels = w.getnframes(), w.getnchannels()
                    budget.take(file.shown, 1, frames * channels)  # from the header, before reading
                    data = w.readframes(frames)
            except (wave.Error, EOFError, OSError):
                raise StageError(f"{file.shown}: not a readable WAV file") from None
            clip = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
            if xs and channels != xs[0].shape[1]:
                raise StageError(f"{file.shown}: has {channels} channel(s), others have {xs[0].shape[1]}")
            xs.append(clip.reshape(-1, channels))
            ys.append(len(classes) - 1)
    longest = max(len(a) for a in xs)
    length = max(prep.window.size if prep.window else longest, longest)
    budget.fits(folder.shown, len(xs) * length * xs[0].shape[1], "padding the clips to the longest gives")
    padded = np.zeros((len(xs), length, xs[0].shape[1]), dtype=np.float32)
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


def read_source(source, base: Path, spec: DatasetSpec, *, root: Path | None = None,
                budget: DatasetBudget | None = None):
    """(x, y, classes or None) of one source; files are confined to `root` (default: `base` itself)."""
    budget = budget if budget is not None else DatasetBudget()
    root = root if root is not None else base
    if isinstance(source, FilesSource):
        file = _resolve(source, base, root)
        if source.format in ("csv", "npz"):
            if not file.real.is_file():
                raise StageError(f"{file.shown}: format {source.format} reads one file, not a folder")
            budget.take_bytes(file.shown, file.real.stat().st_size)
            if source.format == "csv":
                return _csv(file, source.target, spec.task, budget)
            return _npz(file, source.features, source.target, spec.task, budget)
        if source.format == "images":
            return _images(root, file, spec.preprocessing, budget)
        return _wav(root, file, spec.preprocessing, budget)
    if isinstance(source, PackagedSource):
        found = _packaged(source.name)
    elif isinstance(source, GeneratedSource | SpeechSource):
        budget.take(f"generated source {source.generator}", source.samples,
                    source.samples * math.prod(generated_shape(source)))
        if isinstance(source, SpeechSource):
            from controller.pipeline.speech import speech

            return speech(source)
        return GENERATORS[source.generator](source.samples, source.seed, source.noise)
    elif isinstance(source, CollectedSource):
        found = load_collected(source, allow_empty=len(spec.sources) > 1)
    else:  # pragma: no cover
        raise StageError(f"unknown dataset source {type(source).__name__}")
    budget.take(f"{source.type} source", len(found[0]), found[0].size)
    return found


def source_input_digest(source, base: Path, *, root: Path | None = None, limits: Limits = DEFAULT_LIMITS) -> str:
    """What a source's data depends on beyond its spec: file bytes (without reading through TF).

    Only files inside `root` (default: `base` itself) are hashed, and no more than the dataset's byte budget.
    """
    if isinstance(source, FilesSource):
        root = root if root is not None else base
        try:
            path = resolve_in_repository(root, base, source.path)
            files = [(path.name, path)] if path.is_file() else files_under(root, path, limits.max_samples)
        except MissingPath:
            return "missing"
        except RefusedPath as err:
            raise StageError(f"dataset path {source.path!r:.200} {err}") from None
        budget, shown = DatasetBudget(limits), _data_file(root, path).shown
        for _, file in files:
            budget.take_bytes(shown, file.stat().st_size)
        h = hashlib.sha256()
        for relative, file in files:
            h.update(relative.encode() + b"\0")
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
    if isinstance(source, SpeechSource):  # the audio also depends on the host's espeak-ng
        from controller.pipeline.speech import espeak_version

        return f"espeak-ng {espeak_version()}"
    return "spec-only"  # packaged and generated data are fully described by their spec and tool versions


def _merge(parts: list, task: str):
    shaped = [p for p in parts if len(p[0])] or parts  # an empty source (nothing collected yet) has no shape
    shapes = {p[0].shape[1:] for p in shaped}
    if len(shapes) > 1:
        raise StageError(f"dataset sources give samples of different shapes {sorted(shapes)}; "
                         "make them agree (preprocessing.resize / window)")
    x = np.concatenate([p[0] for p in shaped])
    if task == "regression":
        return x, np.concatenate([p[1] for p in parts]).astype(np.float32), None
    classes = list(dict.fromkeys(c for p in parts for c in (p[2] or [])))  # first-seen order, stable
    if any(p[2] is None for p in parts):
        raise StageError("a classification dataset needs labelled sources; one source gives no classes")
    y = np.concatenate([np.array([classes.index(p[2][i]) for i in p[1]], dtype=np.int64) for p in parts])
    return x, y, classes


def _window(x: np.ndarray, y: np.ndarray, size: int, stride: int, budget: DatasetBudget):
    if x.ndim == 2:  # one long series per sample row: treat as (n, time, 1)
        x = x[..., None]
    if x.shape[1] < size:
        raise StageError(f"window size {size} is longer than the samples ({x.shape[1]} steps)")
    starts = range(0, x.shape[1] - size + 1, stride)
    budget.fits("preprocessing.window", len(x) * len(starts) * size * math.prod(x.shape[2:]),
                "the windows of the samples hold")
    xs = np.concatenate([x[:, s:s + size] for s in starts])
    ys = np.concatenate([y for _ in starts])
    return xs, ys


def _split_sizes(n: int, ratios: tuple[float, float, float]) -> tuple[int, int]:
    """(test, validation) sample counts of the whole dataset."""
    n_test = max(1, int(round(n * ratios[2])))
    n_val = int(round(n * ratios[1]))
    if n - n_test - n_val < 1:
        raise StageError(f"{n} samples are too few for the split ratios")
    return n_test, n_val


def _shares(total: int, counts: np.ndarray) -> np.ndarray:
    """`total` shared out in proportion to `counts`, summing exactly to `total` (largest remainders,
    ties to the lower class index: deterministic), never more than a class has."""
    exact = total * counts / counts.sum()
    shares = np.floor(exact).astype(np.int64)
    for c in sorted(range(len(counts)), key=lambda c: (-(exact[c] - shares[c]), c))[:total - int(shares.sum())]:
        shares[c] += 1
    return np.minimum(shares, counts)


def _split_indices(n: int, ratios: tuple[float, float, float], seed: int,
                   labels: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Seeded indices of each split; with `labels` (stratified), each class is cut in the same
    proportions, so that a 27-row test split of a 59/71/48 dataset holds 9/11/7 rather than chance's."""
    rng = np.random.default_rng(seed)
    n_test, n_val = _split_sizes(n, ratios)
    order = rng.permutation(n)
    # The test split is cut first: nothing fitted later (normalisation, training, calibration) sees it.
    if labels is None:
        return {"test": order[:n_test], "validation": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    classes = np.unique(labels)
    members = [order[labels[order] == c] for c in classes]  # each class in the seeded order
    counts = np.array([len(m) for m in members])
    tests = _shares(n_test, counts)
    vals = _shares(n_val, counts - tests)
    parts = {"test": [], "validation": [], "train": []}
    for m, t, v in zip(members, tests, vals):
        parts["test"].append(m[:t])
        parts["validation"].append(m[t:t + v])
        parts["train"].append(m[t + v:])
    # Shuffled again so that no split is sorted by class (the order carries no meaning, the seed fixes it).
    return {split: rng.permutation(np.concatenate(chunks)) for split, chunks in parts.items()}


def class_counts(snapshot: Snapshot) -> dict[str, list[int]] | None:
    """Samples per class (in class order) of each split; None for regression."""
    if not snapshot.classes:
        return None
    return {split: np.bincount(snapshot.y(split), minlength=len(snapshot.classes)).astype(int).tolist()
            for split in SPLITS}


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


def build_snapshot(spec: DatasetSpec, base: Path, *, root: Path | None = None,
                   limits: Limits = DEFAULT_LIMITS) -> Snapshot:
    """Every source read, merged, windowed, split (seeded) and normalised with train-only statistics.

    Files are read only inside `root`, the repository (default: `base`, the spec file's folder, itself).
    """
    budget = DatasetBudget(limits)
    x, y, classes = _merge([read_source(s, base, spec, root=root, budget=budget) for s in spec.sources], spec.task)
    prep = spec.preprocessing
    if prep.resize and x.ndim == 4 and x.shape[1:3] != (prep.resize.height, prep.resize.width):
        budget.fits("preprocessing.resize", len(x) * prep.resize.height * prep.resize.width * x.shape[3],
                    "the resized samples hold")
        x = _resize(x, prep.resize.height, prep.resize.width)
    params: dict = {}
    if prep.window:
        x, y = _window(x, y, prep.window.size, prep.window.stride, budget)
        params["window"] = {"size": prep.window.size, "stride": prep.window.stride}
    if prep.audioFeatures:
        x, params["audio_features"] = _audio_features(x, prep.audioFeatures, budget)
    stratified = spec.task == "classification" and spec.split.stratify
    parts = _split_indices(len(x), (spec.split.train, spec.split.validation, spec.split.test), spec.split.seed,
                           y if stratified else None)
    params["normalize"] = normalisation(x[parts["train"]], prep.normalize.method)
    arrays = {}
    for split in SPLITS:
        arrays[f"x_{split}"] = apply_normalisation(x[parts[split]], params["normalize"])
        arrays[f"y_{split}"] = y[parts[split]]
    return Snapshot(task=spec.task, classes=classes, arrays=arrays, preprocessing=params)


def _audio_features(x: np.ndarray, spec: AudioFeatures, budget: DatasetBudget) -> tuple[np.ndarray, dict]:
    """Clips (n, samples[, 1]) -> (n, frames, features, 1) and the front end's parameters, stored with the model."""
    from runtimes.audio_features import features
    from runtimes.audio_features import front_end
    from runtimes.audio_features import output_shape

    params = front_end(spec.kind, spec.sampleRate, spec.frameMs, spec.strideMs, spec.melBins, spec.coefficients,
                       spec.lowerHz, spec.upperHz)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 1):
        raise StageError(f"preprocessing.audioFeatures needs mono audio clips, not samples of shape {x.shape[1:]}")
    shape = output_shape(params, x.shape[1])
    if shape[0] < 1:
        raise StageError(f"preprocessing.audioFeatures: the clips ({x.shape[1]} samples) are shorter than one "
                         f"frame ({params['frame_length']} samples at {spec.frameMs:g} ms)")
    budget.fits("preprocessing.audioFeatures", len(x) * math.prod(shape), "the features of the clips hold")
    return features(x, params), params


def _resize(x: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(x), height, width, x.shape[3]), dtype=np.float32)
    for i, image in enumerate(x):
        for c in range(x.shape[3]):
            out[i, :, :, c] = np.asarray(Image.fromarray(image[:, :, c].astype(np.float32), mode="F")
                                         .resize((width, height), Image.BILINEAR))
    return out
