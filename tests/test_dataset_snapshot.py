"""Dataset snapshots: every source kind, seeded splits, train-only normalisation, content addressing."""
from __future__ import annotations

import hashlib
import wave

import numpy as np
import pytest

from controller.pipeline.collected import CollectedSamples
from controller.pipeline.collected import register_collected_provider
from controller.pipeline.datasets import Snapshot
from controller.pipeline.datasets import build_snapshot
from specs.errors import StageError
from specs.v1alpha1.dataset import DatasetSpec


def spec(sources, task="classification", **extra) -> DatasetSpec:
    return DatasetSpec.model_validate({"task": task, "sources": sources, **extra})


def digest(snapshot: Snapshot) -> str:
    return hashlib.sha256(snapshot.encode()).hexdigest()


def test_same_inputs_same_digest_and_roundtrip(tmp_path):
    gestures = [{"type": "generated", "generator": "gestures", "samples": 200, "seed": 1, "noise": 0.05}]
    a, b = build_snapshot(spec(gestures), tmp_path), build_snapshot(spec(gestures), tmp_path)
    assert digest(a) == digest(b)
    assert a.classes == ["idle", "shake", "circle", "tilt"] and a.input_shape == (64, 3)
    decoded = Snapshot.decode(a.encode())
    assert digest(decoded) == digest(a) and decoded.preprocessing == a.preprocessing
    other_seed = spec(gestures, split={"seed": 2})
    assert digest(build_snapshot(other_seed, tmp_path)) != digest(a)


def test_splits_are_disjoint_and_normalisation_is_fitted_on_train_only(tmp_path):
    s = spec([{"type": "generated", "generator": "sine", "samples": 1000, "seed": 5}], task="regression",
             split={"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 9})
    snap = build_snapshot(s, tmp_path)
    sizes = [len(snap.y(p)) for p in ("train", "validation", "test")]
    assert sizes == [600, 200, 200]
    rows = {p: {tuple(r) for r in snap.x(p)} for p in ("train", "validation", "test")}
    assert not rows["train"] & rows["test"] and not rows["validation"] & rows["test"]
    assert abs(snap.x("train").mean()) < 1e-5 and abs(snap.x("train").std() - 1) < 1e-4
    assert abs(snap.x("test").mean()) > 1e-5  # test data was transformed, not fitted
    normalize = snap.preprocessing["normalize"]
    raw_test = snap.x("test") * normalize["scale"][0] + normalize["offset"][0]
    np.testing.assert_allclose(np.sin(raw_test[:, 0]), snap.y("test"), atol=1e-5)  # noise 0: y = sin(x)


def test_csv_npz_and_merged_sources(tmp_path):
    (tmp_path / "a.csv").write_text("f1,f2,label\n" + "".join(f"{i},{i * 2},{'yes' if i % 2 else 'no'}\n"
                                                              for i in range(20)))
    np.savez(tmp_path / "b.npz", x=np.ones((10, 2), np.float32), y=np.array(["yes"] * 10))
    s = spec([{"type": "files", "format": "csv", "path": "a.csv", "target": "label"},
              {"type": "files", "format": "npz", "path": "b.npz"}], preprocessing={"normalize": {"method": "none"}})
    snap = build_snapshot(s, tmp_path)
    assert snap.classes == ["no", "yes"] and snap.input_shape == (2,)
    assert sum(len(snap.y(p)) for p in ("train", "validation", "test")) == 30
    with pytest.raises(StageError, match="no column named 'missing'"):
        build_snapshot(spec([{"type": "files", "format": "csv", "path": "a.csv", "target": "missing"}]), tmp_path)


def test_image_folders_resized_and_wav_folders(tmp_path):
    from PIL import Image

    for label, value in (("cat", 30), ("dog", 220)):
        folder = tmp_path / "images" / label
        folder.mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((12, 10), value + i, np.uint8)).save(folder / f"{i}.png")
        wav_folder = tmp_path / "audio" / label
        wav_folder.mkdir(parents=True)
        for i in range(6):
            with wave.open(str(wav_folder / f"{i}.wav"), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
                w.writeframes((np.sin(np.arange(400 + i) * value / 1000) * 20000).astype("<i2").tobytes())
    images = build_snapshot(spec([{"type": "files", "format": "images", "path": "images"}],
                                 preprocessing={"resize": {"height": 8, "width": 8}}), tmp_path)
    assert images.input_shape == (8, 8, 1) and images.classes == ["cat", "dog"]
    audio = build_snapshot(spec([{"type": "files", "format": "wav", "path": "audio"}]), tmp_path)
    assert audio.input_shape == (405, 1)


def test_collected_source_needs_a_provider_with_samples(tmp_path):
    s = spec([{"type": "collected", "fleet": "f", "sensor": "imu", "window": 4, "labels": ["a", "b"]}])
    register_collected_provider(None)
    with pytest.raises(StageError, match="collector"):
        build_snapshot(s, tmp_path)

    class Provider:
        def __init__(self, n):
            self.n = n

        def digest(self, source):
            return f"n{self.n}"

        def samples(self, source):
            return CollectedSamples(np.ones((self.n, 4, 3), np.float32), ["a", "b"] * (self.n // 2), f"n{self.n}")

    try:
        register_collected_provider(Provider(0))
        with pytest.raises(StageError, match="no labelled samples"):
            build_snapshot(s, tmp_path)
        register_collected_provider(Provider(20))
        assert build_snapshot(s, tmp_path).input_shape == (4, 3)
    finally:
        register_collected_provider(None)


def test_windowing_cuts_long_series_into_labelled_windows(tmp_path):
    series = np.arange(4 * 100 * 3, dtype=np.float32).reshape(4, 100, 3)
    np.savez(tmp_path / "long.npz", x=series, y=np.array(["a", "b", "a", "b"]))
    s = spec([{"type": "files", "format": "npz", "path": "long.npz"}],
             preprocessing={"normalize": {"method": "none"}, "window": {"size": 20, "stride": 10}})
    snap = build_snapshot(s, tmp_path)
    assert snap.input_shape == (20, 3) and snap.preprocessing["window"] == {"size": 20, "stride": 10}
    windows = np.concatenate([snap.x(p) for p in ("train", "validation", "test")])
    labels = np.concatenate([snap.y(p) for p in ("train", "validation", "test")])
    assert len(windows) == 4 * 9
    for window, label in zip(windows, labels):  # each window is a contiguous slice of its own series
        sample = int(window[0, 0]) // 300
        assert np.array_equal(window, series[sample, int(window[0, 0]) % 300 // 3:][:20])
        assert snap.classes[label] == ["a", "b"][sample % 2]
