"""kubectl's habits on `origami get`: `-o wide|name|jsonpath=...`, `-l` selectors, `-w`, RFC 3339
times in structured output, and a shell completion script that bash accepts and that completes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from controller.cli.jsonpath import render
from controller.cli.main import main
from controller.cli.selectors import matches
from controller.cli.selectors import parse_selector
from controller.state import open_store
from specs.errors import UsageError
from tests.conftest import ROOT
from tests.web_seed import FLEET
from tests.web_seed import seeded_store

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def state(tmp_path):
    store = seeded_store(tmp_path)
    fleet = store.object("Fleet", FLEET)
    fleet.fleet.labels = {"team": "sensing", "tier": "canary"}
    store.put_object(fleet)
    store.observe_device("dev-3", labels={"site": "field"})
    return tmp_path


def cli(capsys, *argv) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_output_name_and_wide(state, capsys):
    code, out = cli(capsys, "get", "devices", "-o", "name", "--state-dir", str(state))
    assert code == 0 and out.splitlines() == [f"device/dev-{i}" for i in range(6)]
    code, out = cli(capsys, "get", "fleets", "-o", "wide", "--state-dir", str(state))
    header, row = out.splitlines()
    assert header.split()[-4:] == ["PENDING", "FAILED", "BOARDS", "LABELS"]
    assert row.startswith(FLEET) and row.endswith("team=sensing,tier=canary")
    code, out = cli(capsys, "get", "devices", "-o", "wide", "--state-dir", str(state))
    assert "LABELS" in out.splitlines()[0] and "site=field" in out


def test_jsonpath_reads_lists_as_kubectl_does(state, capsys):
    code, out = cli(capsys, "get", "devices", "-o", "jsonpath={.items[*].id}", "--state-dir", str(state))
    assert code == 0 and out.split() == [f"dev-{i}" for i in range(6)]
    code, out = cli(capsys, "get", "fleet", FLEET, "-o", 'jsonpath={[0].detail.labels.team}{"\\n"}',
                    "--state-dir", str(state))
    assert out == "sensing\n\n"
    data = {"items": [{"name": "a", "n": [1, 2]}, {"name": "b", "n": [3]}]}
    assert render("{.items[*].name}", data) == "a b" and render("{.items[-1].n}", data) == "[3]"
    assert render("{.items[*]['name']}", data) == "a b" and render("x={.missing}", data) == "x="
    with pytest.raises(UsageError, match="range"):
        render("{range .items[*]}{.name}{end}", data)
    with pytest.raises(UsageError, match="cannot read"):
        render("{.items..name}", data)


def test_selectors_pick_devices_and_fleets_by_label(state, capsys):
    code, out = cli(capsys, "get", "devices", "-l", "site=field", "-o", "name", "--state-dir", str(state))
    assert code == 0 and out.split() == ["device/dev-3"]
    code, out = cli(capsys, "get", "devices", "-l", "site!=field,site", "-o", "name", "--state-dir", str(state))
    assert "device/dev-3" not in out.split() and len(out.split()) == 5
    code, out = cli(capsys, "get", "fleets", "-l", "tier=canary", "-o", "name", "--state-dir", str(state))
    assert out.split() == [f"fleet/{FLEET}"]
    code, out = cli(capsys, "get", "fleets", "-l", "tier=stable", "--state-dir", str(state))
    assert out.strip() == "No resources found."
    assert main(["get", "models", "-l", "a=b", "--state-dir", str(state)]) == 2  # a usage error
    assert "keeps for fleets and devices" in capsys.readouterr().err
    assert matches(parse_selector("!gone,a==1"), {"a": "1"}) and not matches(parse_selector("a"), {})
    with pytest.raises(UsageError, match="not a requirement"):
        parse_selector("a b=c")


def test_structured_output_has_rfc3339_times(state, capsys):
    code, out = cli(capsys, "get", "devices", "-o", "json", "--state-dir", str(state))
    assert all(RFC3339.match(d["lastSeen"]) for d in json.loads(out))
    code, out = cli(capsys, "events", "-o", "json", "--state-dir", str(state))
    assert all(RFC3339.match(e["ts"]) for e in json.loads(out))
    code, out = cli(capsys, "describe", f"fleet/{FLEET}", "-o", "yaml", "--state-dir", str(state))
    assert re.search(r"updated_at: '\d{4}-\d\d-\d\dT[\d:.]+Z'", out)
    [fleet] = json.loads(cli(capsys, "get", "fleets", "-o", "json", "--state-dir", str(state))[1])
    assert all(RFC3339.match(c["since"]) for c in fleet["conditions"].values())
    assert fleet["next_attempt"] is None  # 0 in the store: never


def test_watch_prints_each_change(state):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    watcher = subprocess.Popen([sys.executable, "-m", "controller.cli.main", "get", "devices", "-w", "-o", "name",
                                "-l", "site", "--state-dir", str(state)], stdout=subprocess.PIPE, text=True,
                               env=env)
    try:
        first = [watcher.stdout.readline().strip() for _ in range(6)]
        assert first == [f"device/dev-{i}" for i in range(6)]
        time.sleep(1.5)  # a poll sees nothing new: nothing printed (checked by the next line being dev-2)
        open_store(state).observe_device("dev-2", reported={"modelVersion": "v9"}, reported_version="v9")
        assert watcher.stdout.readline().strip() == "device/dev-2"
    finally:
        watcher.kill()
        watcher.wait()


def test_completion_script_completes_commands_kinds_and_flags(tmp_path):
    script = subprocess.run([sys.executable, "-m", "controller.cli.main", "completion", "bash"], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    (tmp_path / "origami.bash").write_text(script)
    probe = f"""source {tmp_path / 'origami.bash'}
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); COMPREPLY=(); _origami; echo "${{COMPREPLY[*]}}"; }}
t origami ro
t origami get f
t origami get fleets --sel
t origami rollout ""
t origami get devices -o j
"""
    lines = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "rollout"
    assert lines[1].split() == ["fleets", "fleet"]
    assert lines[2] == "--selector"
    assert {"status", "pause", "resume", "undo", "retry", "--watch"} <= set(lines[3].split())
    assert lines[4].split() == ["json", "jsonpath="]
    zsh = subprocess.run([sys.executable, "-m", "controller.cli.main", "completion", "zsh"], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout
    assert zsh.startswith("#compdef origami") and "bashcompinit" in zsh
