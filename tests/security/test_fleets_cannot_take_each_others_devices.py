"""A new Fleet cannot silently take devices from another: overlapping selectors are an error at
validate time unless the Fleets say which wins (`spec.priority`), and membership follows it."""
from __future__ import annotations

import pytest

from controller.planning.membership import assign_fleets
from controller.state.records import DeviceRecord
from specs.v1alpha1 import Fleet
from tests.security.attacker import assert_clean_refusal
from tests.security.attacker import origami

SPECS = """apiVersion: origami/v1alpha1
kind: Dataset
metadata: {name: d}
spec: {task: classification, sources: [{type: packaged, name: sklearn.iris}]}
---
apiVersion: origami/v1alpha1
kind: Model
metadata: {name: m}
spec: {dataset: d, architecture: {preset: mlp}, training: {epochs: 1}}
"""
FLEET = """---
apiVersion: origami/v1alpha1
kind: Fleet
metadata: {name: %s}
spec:
  model: m
  selector: %s
"""


def fleets_file(tmp_path, *fleets: tuple[str, str], extra: str = "") -> None:
    (tmp_path / "specs.yaml").write_text(SPECS)
    (tmp_path / "fleets.yaml").write_text("".join(FLEET % fleet for fleet in fleets) + extra)


@pytest.mark.parametrize(("existing", "newcomer", "why"), [
    ("{boards: [rpi4]}", "{}", "Fleet/takeover selects any board"),
    ("{}", "{}", "both select any board"),
    ("{boards: [rpi4, pico], matchLabels: {site: lab}}", "{boards: [pico, jetson-nano]}", "both select board pico"),
])
def test_a_fleet_that_can_claim_another_fleets_devices_is_a_located_error_on_the_later_one(tmp_path, existing,
                                                                                             newcomer, why):
    fleets_file(tmp_path, ("production", existing), ("takeover", newcomer))
    output = assert_clean_refusal(origami("validate", str(tmp_path)), tmp_path)
    assert (f"fleets.yaml:14:3: Fleet/takeover: spec.selector: can claim the same devices as Fleet/production at "
            f"fleets.yaml:4: {why} and their matchLabels do not contradict; tell the selectors apart with a label, "
            "or set distinct spec.priority values (the higher takes the device)") in output.splitlines()


@pytest.mark.parametrize(("existing", "newcomer"), [
    ("{boards: [rpi4]}", "{boards: [pico]}"),
    ("{matchLabels: {site: lab}}", "{matchLabels: {site: home}}"),
])
def test_fleets_whose_selectors_cannot_meet_are_valid(tmp_path, existing, newcomer):
    fleets_file(tmp_path, ("production", existing), ("other", newcomer))
    done = origami("validate", str(tmp_path))
    assert done.returncode == 0, done.stdout


def test_distinct_priorities_make_overlapping_fleets_valid_and_the_higher_takes_the_device(tmp_path):
    fleets_file(tmp_path, ("production", "{boards: [rpi4]}\n  priority: 10"), ("canary", "{}\n  priority: 20"),
                ("spare", "{matchLabels: {site: lab}}"))
    done = origami("validate", str(tmp_path))
    assert done.returncode == 0, done.stdout

    def fleet(name, priority=None, **selector):
        return Fleet.model_validate({"apiVersion": "origami/v1alpha1", "kind": "Fleet", "metadata": {"name": name},
                                     "spec": {"model": "m", "selector": selector, "priority": priority}})

    fleets = {"a-production": fleet("a-production", 10, boards=["rpi4"]), "z-canary": fleet("z-canary", 20),
              "b-spare": fleet("b-spare", matchLabels={"site": "lab"})}
    devices = [DeviceRecord(f"dev{i}", board, labels, {}, {}, None, None, True, 0.0, 0.0)
               for i, (board, labels) in enumerate([("rpi4", {}), ("pico", {"site": "lab"}), ("pico", {})])]
    members, conflicts = assign_fleets(fleets, devices)
    assert {name: [d.device_id for d in found] for name, found in members.items()} == {
        "z-canary": ["dev0", "dev1", "dev2"], "a-production": [], "b-spare": []}
    assert conflicts == {"a-production": ["dev0"], "b-spare": ["dev1"]}  # what priority decided, for a Warning
    members, conflicts = assign_fleets({**fleets, "z-canary": fleet("z-canary")}, devices)  # priority 0 now
    assert [d.device_id for d in members["a-production"]] == ["dev0"]
    assert [d.device_id for d in members["b-spare"]] == ["dev1"] and conflicts == {"z-canary": ["dev0", "dev1"]}
