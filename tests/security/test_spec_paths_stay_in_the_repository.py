"""A spec never reads a file outside its repository, and no message shows a file's contents.

Each attack is committed to a real git repository and met on a clone, as CI meets a pull request:
`origami validate` (and `origami plan`) refuse it at the spec's line, and the pipeline's readers,
which see the checkout, refuse it again with the repository-relative path only.
"""
from __future__ import annotations

import os
import re

import pytest

from controller.pipeline.datasets import build_snapshot
from controller.pipeline.datasets import source_input_digest
from specs.errors import StageError
from specs.v1alpha1.dataset import DatasetSpec
from tests.security.attacker import SECRET
from tests.security.attacker import assert_clean_refusal
from tests.security.attacker import origami
from tests.security.attacker import secret_beside
from tests.security.attacker import spec_repository

DATASET = """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: stolen}
spec:
  task: classification
  sources: [{type: files, format: %(format)s, path: %(path)s%(target)s}]
"""
LOCATED = re.compile(r"^dataset\.yaml:6:\d+: Dataset/stolen: spec\.sources\[0\]\.path: (.*)$", re.M)


def dataset(path: str, format: str = "csv") -> str:
    return DATASET % {"path": path, "format": format, "target": ", target: label" if format == "csv" else ""}


def spec_of(path: str, format: str = "csv") -> DatasetSpec:
    target = {"target": "label"} if format == "csv" else {}
    return DatasetSpec.model_validate({"task": "classification",
                                       "sources": [{"type": "files", "format": format, "path": path, **target}]})


def refusals(tmp_path, clone, path: str, format: str = "csv") -> tuple[str, str]:
    """What validate says at the source's line, and what the reader says on the checkout (a commit
    checked out unvalidated); neither shows the secret or a host path."""
    output = assert_clean_refusal(origami("validate", str(clone)), tmp_path)
    with pytest.raises(StageError) as refused:
        build_snapshot(spec_of(path, format), clone, root=clone)
    stage = str(refused.value)
    assert SECRET not in stage and str(tmp_path) not in stage
    return LOCATED.search(output).group(1), stage


@pytest.mark.parametrize(("path", "why"), [
    ("../outside/secret.csv", "leaves the spec repository"),
    ("sub/../../outside/secret.csv", "leaves the spec repository"),
    ("../../../../../../../../etc/passwd", "leaves the spec repository"),
    ("/etc/passwd", "is absolute"),
])
def test_a_files_source_that_climbs_out_is_refused_at_its_line_and_nothing_is_read(tmp_path, path, why):
    secret_beside(tmp_path)
    clone = spec_repository(tmp_path, {"dataset.yaml": dataset(path)})
    located, stage = refusals(tmp_path, clone, path)
    assert located.startswith(f"{path!r} {why}") and why in stage


def test_an_absolute_path_to_a_file_beside_the_repository_is_refused_unread(tmp_path):
    outside = secret_beside(tmp_path)
    clone = spec_repository(tmp_path, {"dataset.yaml": dataset(str(outside / "secret.csv"))})
    done = origami("validate", str(clone))
    assert done.returncode == 1 and SECRET not in done.stdout + done.stderr
    assert "is absolute; write it relative to this spec file's folder" in LOCATED.search(done.stdout).group(1)


def test_a_committed_symlink_to_a_file_outside_is_refused_by_validate_and_by_the_reader(tmp_path):
    secret_beside(tmp_path)
    clone = spec_repository(tmp_path, {"dataset.yaml": dataset("data/train.csv")},
                            symlinks={"data/train.csv": "../../outside/secret.csv"})
    located, stage = refusals(tmp_path, clone, "data/train.csv")
    assert located == "'data/train.csv' resolves outside the spec repository (through a symlink)"
    assert stage == "dataset path 'data/train.csv' resolves outside the spec repository (through a symlink)"
    with pytest.raises(StageError, match="through a symlink"):
        source_input_digest(spec_of("data/train.csv").sources[0], clone, root=clone)


def test_a_symlink_inside_a_class_folder_is_refused_by_validate_and_by_the_reader(tmp_path):
    secret_beside(tmp_path)
    clone = spec_repository(tmp_path, {"dataset.yaml": dataset("audio", format="wav"), "audio/yes/a.wav": b"RIFF"},
                            symlinks={"audio/no/b.wav": "../../../outside/secret.csv"})
    located, stage = refusals(tmp_path, clone, "audio", format="wav")
    assert located == "'audio' holds 'no/b.wav', which resolves outside the spec repository (through a symlink)"
    assert stage == "audio: holds 'no/b.wav', which resolves outside the spec repository (through a symlink)"


def test_a_yaml_symlink_leaving_the_repository_is_not_loaded_and_is_an_error_at_the_file(tmp_path):
    secret_beside(tmp_path)
    clone = spec_repository(tmp_path, {"dataset.yaml": dataset("x.csv").replace("stolen", "own"),
                                       "x.csv": "a,b\n1,2\n"},
                            symlinks={"planted.yaml": "../outside/planted.yaml"})
    done = origami("validate", "--format", "json", str(clone))
    assert_clean_refusal(done, tmp_path)
    assert '"ref": "Dataset/planted"' not in done.stdout  # the outside spec was never loaded
    assert '"file": "planted.yaml",\n      "line": 1,\n      "col": 1' in done.stdout
    assert "this spec file resolves outside the spec repository (through a symlink); it is not read" in done.stdout


def test_plan_refuses_a_data_folder_outside_the_repository_without_opening_anything_in_it(tmp_path):
    # A FIFO blocks whoever opens it for reading: had plan hashed the folder, it would hang and time out.
    folder = secret_beside(tmp_path) / "folder"
    folder.mkdir()
    os.mkfifo(folder / "trap.csv")
    clone = spec_repository(tmp_path, {"dataset.yaml": dataset("../outside/folder", format="images"),
                                       "linked.yaml": dataset("pictures", format="images").replace("stolen", "linked")},
                            symlinks={"pictures": "../outside/folder"})
    done = origami("plan", str(clone), "--state-dir", str(tmp_path / "state"))
    output = assert_clean_refusal(done, tmp_path)
    assert "dataset.yaml:6:" in output and "'../outside/folder' leaves the spec repository" in output
    assert "linked.yaml:6:" in output
    assert "'pictures' resolves outside the spec repository (through a symlink)" in output


def test_a_csv_cell_that_is_not_a_number_is_reported_by_row_and_column_not_by_its_text(tmp_path):
    clone = spec_repository(tmp_path, {"dataset.yaml": dataset("data/train.csv"),
                                       "data/train.csv": f"width,height,label\n1,2,a\n3,{SECRET},b\n"})
    assert origami("validate", str(clone)).returncode == 0
    with pytest.raises(StageError) as refused:
        build_snapshot(spec_of("data/train.csv"), clone, root=clone)
    assert str(refused.value) == "data/train.csv: row 3, column 'height': not a number"


def test_a_data_file_inside_the_repository_still_reads_from_a_sub_folder_spec(tmp_path):
    clone = spec_repository(tmp_path, {"specs/dataset.yaml": dataset("../data/train.csv"),
                                       "data/train.csv": "f,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20))})
    assert origami("validate", str(clone)).returncode == 0
    snapshot = build_snapshot(spec_of("../data/train.csv"), clone / "specs", root=clone)
    assert snapshot.classes == ["0", "1"] and snapshot.input_shape == (1,)
    with pytest.raises(StageError, match="leaves the spec repository"):  # without the root, only its own folder
        build_snapshot(spec_of("../data/train.csv"), clone / "specs")
