"""Operator commands read the state store (another process's) and record pause/resume/undo."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml

from controller.reconciler.conditions import with_conditions
from controller.state import InstallRecord
from controller.state import ObjectStatus
from controller.state import RolloutRecord
from controller.state import StateStore
from tests.conftest import ROOT


def origami(*argv, cwd):
    return subprocess.run([sys.executable, "-m", "controller.cli.main", *argv], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


CHOICE = "int8 LiteRT on the CPU: int8 (55968 B), the most accurate that fits (accuracy 0.9889)"


def _populate(path):
    store = StateStore(path / "origami-state.db")
    store.record_commit("a" * 40, "git", True, [], [])
    fleet = with_conditions(ObjectStatus("Fleet", "digits-linux", "a" * 40, "digits-cnn-123",
                                         detail={"members": 3, "updated": 1, "phase": "progressing",
                                                 "target": "digits-cnn-123", "version": "digits-cnn-123",
                                                 "releases": {"digits-cnn-123": {"rpi4": {
                                                     "variant": "int8", "note": CHOICE}}}}), 1.0,
                            ready=(False, "RollingOut", "1/3 on digits-cnn-123"),
                            reconciling=(True, "RollingOut", "1/3"))
    store.put_object(fleet)
    store.put_rollout(RolloutRecord("digits-linux", target="digits-cnn-123", phase="progressing"))
    store.observe_device("rpi-1", board="rpi4", labels={}, hello={})
    store.observe_device("rpi-1", reported={"modelVersion": "digits-cnn-123"}, reported_version="digits-cnn-123",
                         healthy=True)
    store.record_install(InstallRecord("rpi-1:1", "rpi-1", "digits-linux", "digits-cnn-123", "ab" * 32, "canary",
                                       1.0), {"generation": 1})
    store.emit("Fleet", "digits-linux", "RolloutStarted", "rolling out digits-cnn-123")
    store.close()


def test_status_get_describe_events_in_every_format(tmp_path):
    _populate(tmp_path)
    out = origami("status", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Fleet/digits-linux" in out.stdout and "Reconciling" in out.stdout and "1/3" in out.stdout
    data = json.loads(origami("get", "fleets", "-o", "json", cwd=tmp_path).stdout)
    assert data[0]["name"] == "digits-linux" and data[0]["status"] == "Reconciling"
    devices = yaml.safe_load(origami("get", "devices", "-o", "yaml", cwd=tmp_path).stdout)
    assert devices[0]["id"] == "rpi-1" and devices[0]["desired"] == "digits-cnn-123"
    text = origami("describe", "fleet/digits-linux", cwd=tmp_path).stdout
    assert "RolloutStarted" in text and "Reconciling" in text
    assert f"  variant per board:\n    rpi4: int8: {CHOICE}\n" in text  # which variant each board gets, and why
    human = origami("describe", "device/rpi-1", cwd=tmp_path).stdout    # for a person, not JSON
    assert human.startswith("Device/rpi-1: rpi4") and "rpi-1:1" in human and "{" not in human
    device = json.loads(origami("describe", "device/rpi-1", "-o", "json", cwd=tmp_path).stdout)
    assert [i["install_id"] for i in device["installs"]] == ["rpi-1:1"]
    events = json.loads(origami("events", "-o", "json", cwd=tmp_path).stdout)
    assert [e["reason"] for e in events] == ["RolloutStarted"]


def test_rollout_pause_resume_undo_are_recorded_for_the_loop(tmp_path):
    _populate(tmp_path)
    assert origami("rollout", "pause", "digits-linux", cwd=tmp_path).returncode == 0
    store = StateStore(tmp_path / "origami-state.db")
    assert store.rollout("digits-linux").paused
    assert origami("rollout", "resume", "digits-linux", cwd=tmp_path).returncode == 0
    assert origami("rollout", "undo", "digits-linux", cwd=tmp_path).returncode == 0
    r = store.rollout("digits-linux")
    assert not r.paused and r.undo_requested
    assert [e.reason for e in store.events()][-3:] == ["Paused", "Resumed", "UndoRequested"]


def test_user_mistakes_are_messages_not_tracebacks(tmp_path):
    out = origami("status", cwd=tmp_path)
    assert out.returncode == 1 and "run `origami reconcile` first" in out.stderr and "Traceback" not in out.stderr
    _populate(tmp_path)
    out = origami("rollout", "pause", "nope", cwd=tmp_path)
    assert out.returncode == 2 and "has no rollout yet" in out.stderr
    out = origami("describe", "widget/x", cwd=tmp_path)
    assert out.returncode == 2 and "unknown kind 'widget'" in out.stderr


def test_kinds_are_named_as_in_kubectl_and_a_missing_object_is_not_a_usage_error(tmp_path):
    _populate(tmp_path)
    for word in ("fleets", "fleet", "fl", "Fleet"):
        out = origami("get", word, "-o", "json", cwd=tmp_path)
        assert out.returncode == 0, (word, out.stderr)
        assert [f["name"] for f in json.loads(out.stdout)] == ["digits-linux"]
    one = origami("get", "fleet", "digits-linux", cwd=tmp_path)
    assert one.returncode == 0 and "digits-linux" in one.stdout
    missing = origami("get", "fleet", "nope", cwd=tmp_path)
    assert missing.returncode == 1 and "fleet 'nope' not found" in missing.stderr and "Traceback" not in missing.stderr
    assert origami("describe", "fleet/nope", cwd=tmp_path).returncode == 1
    assert origami("get", "gizmos", cwd=tmp_path).returncode == 2             # an unknown kind is a usage error
    empty = origami("get", "models", cwd=tmp_path)
    assert empty.returncode == 0 and empty.stdout.strip() == "No resources found."
    assert origami("get", "models", "-o", "json", cwd=tmp_path).stdout.strip() == "[]"
    events = json.loads(origami("events", "--for", "fleet/digits-linux", "-o", "json", cwd=tmp_path).stdout)
    assert [e["reason"] for e in events] == ["RolloutStarted"]              # the kind in any case


def test_rollout_status_says_where_the_fleet_stands_and_watch_ends_on_ready_or_stalled(tmp_path):
    _populate(tmp_path)
    out = origami("rollout", "status", "digits-linux", cwd=tmp_path)
    assert out.returncode == 0 and "1/3 updated to digits-cnn-123" in out.stdout
    waited = origami("rollout", "status", "digits-linux", "--watch", "--timeout", "1", cwd=tmp_path)
    assert waited.returncode == 1 and "still rolling out" in waited.stdout
    store = StateStore(tmp_path / "origami-state.db")
    halted = with_conditions(ObjectStatus("Fleet", "digits-linux", "a" * 40, "digits-cnn-123",
                                          detail={"members": 3, "updated": 1, "phase": "halted"}), 2.0,
                             ready=(False, "RolloutHalted", "2 failed"),
                             stalled=(True, "RolloutHalted", "2 devices failed digits-cnn-123"))
    store.put_object(halted)
    store.close()
    stalled = origami("rollout", "status", "digits-linux", "-w", cwd=tmp_path)
    assert stalled.returncode == 1 and "2 devices failed digits-cnn-123" in stalled.stdout
    assert origami("rollout", "status", "nope", cwd=tmp_path).returncode == 1


def test_events_since_takes_a_duration_or_a_sequence_number(tmp_path):
    _populate(tmp_path)
    recent = json.loads(origami("events", "--since", "1h", "-o", "json", cwd=tmp_path).stdout)
    assert [e["reason"] for e in recent] == ["RolloutStarted"]
    assert json.loads(origami("events", "--since", "0s", "-o", "json", cwd=tmp_path).stdout) == []  # none that new
    assert json.loads(origami("events", "--since", "1", "-o", "json", cwd=tmp_path).stdout) == []  # after seq 1
    bad = origami("events", "--since", "yesterday", cwd=tmp_path)
    assert bad.returncode == 2 and "a duration (30s, 10m, 2h, 1d)" in bad.stderr
