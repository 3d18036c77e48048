"""After a restart the controller re-sends what it recorded; a payload devices would ignore (from
before signed desired states, or signed by a key rotated out since) is signed again first."""
from __future__ import annotations

import hashlib

from controller.devices import signing
from controller.devices.signing import Signer
from controller.reconciler.loop import Reconciler
from controller.state import InstallRecord
from controller.state import StateStore
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import encode
from wire.manifests import verify_desired


class Link:
    def __init__(self) -> None:
        self.sent: dict[str, DesiredState] = {}

    def set_desired(self, device_id: str, desired: DesiredState) -> None:
        self.sent[device_id] = desired


def _old_payload(signer: Signer, device_id: str) -> dict:
    data = b"model"
    manifest = Manifest(name="m", version="1", digest=hashlib.sha256(data).hexdigest(), size=len(data),
                        target=Target(runtime="litert"))
    return {"deviceId": device_id, "generation": 1, "artifact": signer.sign(manifest).model_dump(mode="json"),
            "chunkSize": 65536, "healthCheck": True, "issuedAt": 10.0}


def test_stale_payloads_are_resigned_and_current_ones_resent_as_recorded(tmp_path):
    state = tmp_path / "state"
    old_signer = Signer.load_or_create(state)
    store = StateStore(tmp_path / "s.db")
    for device_id, board in (("known-1", "rpi4"), ("fresh-1", None)):
        store.observe_device(device_id, board=board, seen_at=1.0)
        store.record_install(InstallRecord(f"{device_id}:1", device_id, "f", "1", "d", "rollout", 1.0),
                             _old_payload(old_signer, device_id))
    signing.rotate(state)
    signer = Signer.load_or_create(state)
    link = Link()
    Reconciler(store, None, None, link, signer, clock=lambda: 2_000.0).resend_desired()

    assert set(link.sent) == {"known-1"}   # no board known yet: nothing until its hello
    sent = link.sent["known-1"]
    assert sent.keyId == signer.key_id and sent.board == "rpi4" and sent.sequence == 2_000_000
    assert sent.generation == 1 and sent.fleet == "f"
    keys = {old_signer.key_id: old_signer.public_key, signer.key_id: signer.public_key}
    assert verify_desired(encode(sent), keys) == sent
    assert store.desired()["known-1"].payload == sent.model_dump(mode="json")   # recorded as sent

    again = Link()
    Reconciler(store, None, None, again, signer, clock=lambda: 3_000.0).resend_desired()
    assert again.sent["known-1"] == sent   # already current: the same bytes, the same sequence
