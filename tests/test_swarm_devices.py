"""Simulated devices at scale: hundreds on one MQTT connection, each checking its signed desired
state with the agent's own code, fetching over HTTP (nginx) or in chunks, verifying the digest."""
from __future__ import annotations

import time

from controller.devices.signing import Signer
from controller.store.publish import DirectoryPublisher
from device.virtual.swarm import Swarm
from tests.device_rig import model_bytes

COUNT = 200


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_swarm_on_one_connection_installs_over_http_and_chunks(rig, nginx, tmp_path):
    swarm = Swarm(rig.url, rig.signer.public_key, tmp_path / "swarm", COUNT, prefix="swarm",
                  boards=("rpi4", "jetson-nano"), client_id=f"swarm-{tmp_path.name[-20:]}").start()
    try:
        assert wait_for(lambda: sum(1 for d in rig.hub.hellos() if d.startswith("swarm-")) == COUNT, 30)
        data = model_bytes(20_000, seed=31)
        manifest = rig.manifest(data, "1")
        url = DirectoryPublisher(nginx.root, nginx.url, rig.store).publish(manifest.digest)
        for i, device_id in enumerate(sorted(swarm.devices)):
            board = swarm.devices[device_id].capabilities.board_class
            rig.board_classes[device_id] = board
            rig.hub.set_desired(device_id, rig.desired(device_id, manifest, **({"artifactUrl": url} if i % 2 else {})))
        assert swarm.wait(lambda s: s.installed(manifest.digest) == COUNT, 60), swarm.installed(manifest.digest)
        assert wait_for(lambda: sum(1 for d, s in rig.hub.states().items()
                                    if d.startswith("swarm-") and s.modelDigest == manifest.digest) == COUNT, 30)
        by_http = sum(1 for path, status, _, _ in nginx.requests() if path.endswith(manifest.digest) and status == 206)
        by_chunks = sum(1 for (device, digest) in rig.hub.sender.stats if digest == manifest.digest)
        assert (by_http, by_chunks) == (COUNT // 2, COUNT // 2)
        assert all(d.installs == 1 for d in swarm.devices.values())
    finally:
        swarm.stop()


def test_a_swarm_device_ignores_a_desired_state_it_cannot_verify(rig, tmp_path):
    swarm = Swarm(rig.url, rig.signer.public_key, tmp_path / "swarm", 3, prefix="forge",
                  client_id=f"forge-{tmp_path.name[-20:]}").start()
    try:
        assert wait_for(lambda: "forge-000001" in rig.hub.hellos(), 20)
        rig.board_classes["forge-000001"] = "rpi4"
        manifest = rig.manifest(model_bytes(1_000, seed=32), "1")
        intruder = Signer.load_or_create(tmp_path / "intruder")
        rig.hub.set_desired("forge-000001", rig.desired("forge-000001", manifest, signer=intruder))
        event = rig.wait_event("forge-000001", "SignatureInvalid")
        assert event.type == "Warning"
        assert swarm.installed(manifest.digest) == 0
        assert ("forge-000001", manifest.digest) not in rig.hub.sender.stats, "nothing was even requested"
    finally:
        swarm.stop()
