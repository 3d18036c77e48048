"""`origami samples ls|label|export` on a real index filled through the collector's ingest path."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from controller.cli.main import main
from controller.collect.index import SampleIndex
from controller.collect.ingest import Collector
from controller.collect.ingest import _Message
from controller.store.artifacts import ArtifactStore
from device.capture import WindowKey
from device.capture import encode_batch
from specs.v1alpha1.protocol import samples_topic


@pytest.fixture
def state(tmp_path):
    """Two devices, two sessions of 3 windows each (the second unlabelled), ingested for real."""
    index = SampleIndex(tmp_path / "origami-state.db")
    store = ArtifactStore(tmp_path / ".origami" / "artifacts")
    collector = Collector("mqtt://127.0.0.1:1", index, store)       # never started: fed directly
    rng = np.random.default_rng(0)
    messages = []
    for d, device in enumerate(("dev-a", "dev-b")):
        for s, (session, label) in enumerate((("walk-1", "walk"), ("mixed-1", None))):
            key = WindowKey("accel", 50.0, (4, 3), "float32", session, label)
            arrays = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3)]
            times = [1000.0 + 100 * s + 10 * d + i for i in range(3)]
            messages.append(_Message(samples_topic(device), encode_batch(device, key, arrays, times, s, "b"), s, 0))
    messages.append(_Message(samples_topic("dev-a"), b"garbage", 9, 0))
    collector.ingest(messages)
    index.close()
    return tmp_path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ls_counts_and_rejected(state, capsys):
    code, out, _ = run(capsys, "samples", "ls", "--state-dir", str(state), "-o", "json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 12
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)
    code, out, _ = run(capsys, "samples", "ls", "--state-dir", str(state), "--counts", "-o", "json")
    counts = json.loads(out)
    assert counts["labels"] == {"": 6, "walk": 6}
    assert counts["devices"]["dev-a"]["rejected"] == 1 and counts["devices"]["dev-b"]["windows"] == 6
    code, out, _ = run(capsys, "samples", "ls", "--state-dir", str(state), "--rejected")
    assert "dev-a" in out and "Malformed" in out


def test_label_by_session_range_and_id_then_export(state, capsys, tmp_path):
    code, out, _ = run(capsys, "samples", "label", "run", "--session", "mixed-1", "--device", "dev-a",
                       "--state-dir", str(state))
    assert code == 0 and out.startswith("3 sample(s) labelled 'run'")
    code, out, _ = run(capsys, "samples", "label", "jump", "--since", "1110", "--until", "1112",
                       "--state-dir", str(state))
    assert out.startswith("2 sample(s)")                           # dev-b's first two mixed windows
    code, out, _ = run(capsys, "samples", "ls", "--state-dir", str(state), "--unlabelled", "-o", "json")
    (last,) = json.loads(out)
    code, out, _ = run(capsys, "samples", "label", "jump", "--id", str(last["id"]), "--state-dir", str(state))
    code, out, _ = run(capsys, "samples", "ls", "--state-dir", str(state), "--counts", "-o", "json")
    assert json.loads(out)["labels"] == {"jump": 3, "run": 3, "walk": 6}

    npz = tmp_path / "out.npz"
    code, out, _ = run(capsys, "samples", "export", "--state-dir", str(state), "--label", "walk", "--out", str(npz))
    assert code == 0
    with np.load(npz) as data:
        assert data["x"].shape == (6, 4, 3) and set(data["y"].tolist()) == {"walk"}
        assert sorted(set(data["device"].tolist())) == ["dev-a", "dev-b"]
    table = tmp_path / "out.csv"
    run(capsys, "samples", "export", "--state-dir", str(state), "--label", "walk", "--out", str(table))
    with open(table) as f:
        rows = list(csv.reader(f))
    assert rows[0][-1] == "label" and len(rows[0]) == 13 and len(rows) == 7
    values = np.array([[float(v) for v in row[:-1]] for row in rows[1:]], dtype=np.float32)
    np.testing.assert_allclose(values, np.load(npz)["x"].reshape(6, -1), atol=1e-5)   # the ingested values


def test_user_mistakes_are_errors_not_tracebacks(state, capsys, tmp_path):
    code, _, err = run(capsys, "samples", "label", "x", "--session", "nope", "--state-dir", str(state))
    assert code == 2 and "no samples in session 'nope'" in err
    code, _, err = run(capsys, "samples", "label", "x", "--state-dir", str(state))
    assert code == 2 and "choose what to label" in err
    code, _, err = run(capsys, "samples", "label", "x", "--id", "9999", "--state-dir", str(state))
    assert code == 2 and "no sample with id 9999" in err
    code, _, err = run(capsys, "samples", "ls", "--state-dir", str(tmp_path / "empty"))
    assert code == 2 and "no state store" in err
