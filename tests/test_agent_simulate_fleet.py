"""`simulate` starts a fleet of real agents with boards and labels; all converge on one update."""
from __future__ import annotations

import pytest

from device.virtual.simulate import fleet_specs
from device.virtual.simulate import register_device_kind
from device.virtual.simulate import start_fleet
from device.virtual.simulate import stop_fleet
from specs.errors import UsageError
from tests.device_rig import model_bytes


def test_fleet_of_virtual_boards_updates(rig, tmp_path):
    specs = fleet_specs(4, rig.url, tmp_path / "fleet", rig.signer.public_key, boards=["rpi4", "jetson-nano"],
                        labels={"site": "lab"}, prefix="simt")
    devices = start_fleet(specs)
    try:
        for spec in specs:
            rig.wait_state(spec.device_id, lambda s: s.health == "unknown")
        hellos = rig.hub.hellos()
        assert {hellos[s.device_id].capabilities.profile for s in specs} == {"rpi4", "jetson-nano"}
        assert all(hellos[s.device_id].labels == {"site": "lab"} for s in specs)
        manifests = [rig.deploy(s.device_id, model_bytes(70_000, seed=11), "1") for s in specs]
        for spec, manifest in zip(specs, manifests):
            rig.wait_state(spec.device_id, lambda s, d=manifest.digest: s.modelDigest == d)
    finally:
        stop_fleet(devices)


def test_unknown_kind_and_board_are_usage_errors(rig, tmp_path):
    with pytest.raises(UsageError, match="unknown device kind"):
        start_fleet(fleet_specs(1, rig.url, tmp_path, rig.signer.public_key, boards=["rpi4"]), kind="nope")
    with pytest.raises(UsageError, match="microcontroller"):
        start_fleet(fleet_specs(1, rig.url, tmp_path, rig.signer.public_key, boards=["pico"]))
    register_device_kind("echo", lambda spec: type("Echo", (), {"device_id": spec.device_id,
                                                               "start": lambda self, timeout=None: self,
                                                               "stop": lambda self: None})())
    assert [d.device_id for d in start_fleet(fleet_specs(2, rig.url, tmp_path, rig.signer.public_key,
                                                         boards=["x"]), kind="echo")] == ["sim-0000", "sim-0001"]
