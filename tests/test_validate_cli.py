"""`origami validate` as CI uses it: exit codes, formats, all errors at once, no TensorFlow."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from controller.cli.main import main
from tests.conftest import EXAMPLES
from tests.conftest import ROOT

VALID = ["sine-mcu", "digits-mixed", "custom-model"]


@pytest.mark.parametrize("name", VALID)
def test_examples_validate(name, capsys):
    assert main(["validate", str(EXAMPLES / name)]) == 0
    assert "valid" in capsys.readouterr().out


def test_invalid_tree_reports_every_error_in_one_run(capsys):
    assert main(["validate", str(EXAMPLES / "invalid"), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    files = {e["file"].split("/")[0] for e in report["errors"]}
    # one run reaches every case directory, not just the first error
    assert files == {p.name for p in (EXAMPLES / "invalid").iterdir() if p.is_dir()}
    for error in report["errors"]:
        assert error["line"] >= 1 and error["col"] >= 1 and error["message"]


def test_github_format_prints_workflow_annotations(capsys):
    assert main(["validate", str(EXAMPLES / "invalid" / "negative-epochs"), "--format", "github"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    # paths from the repository root (the checkout), so that GitHub puts the annotation on the diff
    assert out == ["::error file=examples/invalid/negative-epochs/spec.yaml,line=10,col=13,title=Model/sine::"
                   "spec.training.epochs: Input should be greater than 0 (got -5)"]


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "--format", "xml"])
    assert exit_.value.code == 2


def test_validate_does_not_import_tensorflow():
    code = ("import sys; from controller.cli.main import main; "
            f"rc = main(['validate', {str(EXAMPLES / 'digits-mixed')!r}]); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_user_profile_overrides_builtin(tmp_path):
    from controller.loading import load_repository

    (tmp_path / "p.yaml").write_text(
        "apiVersion: origami/v1alpha1\nkind: DeviceProfile\nmetadata: {name: pico}\n"
        "spec: {board: Pico 2, family: mcu, cpu: Cortex-M33, clockMHz: 150, ram: 520KiB, flash: 4MiB,"
        " runtime: tflm, macsPerSecond: 3.0e7, transports: [usb-serial]}\n")
    repo = load_repository(tmp_path)
    assert repo.valid, repo.issues
    assert repo.profiles["pico"].spec.ram == 520 * 1024
    assert repo.profiles["nano33ble"].spec.ram == 256 * 1024


def test_byte_sizes_accept_units(tmp_path):
    from specs.v1alpha1.common import parse_byte_size

    assert parse_byte_size("256KiB") == 262144
    assert parse_byte_size("1 MB") == 1_000_000
    assert parse_byte_size(4096) == 4096
    with pytest.raises(ValueError):
        parse_byte_size("12 parsecs")
