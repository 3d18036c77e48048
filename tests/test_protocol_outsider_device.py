"""A device written from docs/protocol.md alone ("Signed desired states", "Keys and rotation"): plain
paho-mqtt and `cryptography`, none of Origami's device code. It accepts what the controller signs,
follows a key rotation, and refuses what the doc says to refuse."""
from __future__ import annotations

import base64
import hashlib
import json
import queue

import paho.mqtt.client as paho
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controller.devices import signing
from controller.devices.hub import DeviceHub
from controller.devices.hub import desired_state
from controller.devices.signing import Signer
from controller.store.artifacts import ArtifactStore
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target

DEVICE, BOARD = "outsider-1", "rpi4"


class OutsiderDevice:
    def __init__(self, url: str, provisioned_pem: bytes) -> None:
        key = serialization.load_pem_public_key(provisioned_pem)
        self.keys = {self.key_id(key): key}
        self.last_sequence = 0
        self.outcomes: queue.Queue = queue.Queue()
        host, port = url.removeprefix("mqtt://").split(":")
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=DEVICE)
        self.client.on_connect = lambda c, *a: (c.subscribe(f"origami/v1/devices/{DEVICE}/desired", 1),
                                                c.subscribe("origami/v1/keys", 1))
        self.client.on_message = self.on_message
        self.client.connect(host, int(port))
        self.client.loop_start()

    @staticmethod
    def key_id(key: Ed25519PublicKey) -> str:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

    @staticmethod
    def canonical(document: dict) -> bytes:
        rest = {k: v for k, v in document.items() if k != "signature"}
        return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")

    def signed_by_trusted(self, document: dict, key_field: str) -> bool:
        key = self.keys.get(document.get(key_field))
        if key is None or not isinstance(document.get("signature"), str):
            return False
        try:
            key.verify(base64.b64decode(document["signature"]), self.canonical(document))
        except (InvalidSignature, ValueError):
            return False
        return True

    def on_message(self, client, userdata, message) -> None:
        if not message.payload:
            return
        document = json.loads(message.payload)
        if message.topic == "origami/v1/keys":
            for endorsement in document["keys"]:
                if endorsement["keyId"] not in self.keys and self.signed_by_trusted(endorsement, "signedBy"):
                    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(endorsement["publicKey"]))
                    if self.key_id(key) == endorsement["keyId"]:
                        self.keys[endorsement["keyId"]] = key
            self.outcomes.put(("keys", sorted(self.keys)))
            return
        if len(message.payload) > 16 * 1024 or not self.signed_by_trusted(document, "keyId"):
            self.outcomes.put(("SignatureInvalid", None))
        elif document["deviceId"] != DEVICE:
            self.outcomes.put(("NotForThisDevice", None))
        elif document["board"] != BOARD:
            self.outcomes.put(("NotForThisBoard", None))
        elif document["sequence"] < self.last_sequence:
            self.outcomes.put(("Replayed", None))
        else:
            self.last_sequence = document["sequence"]
            self.outcomes.put(("accepted", document["artifact"]["manifest"]["digest"]))

    def next(self):
        return self.outcomes.get(timeout=10)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_device_written_from_the_doc_verifies_what_the_controller_signs(mosquitto, tmp_path):
    state = tmp_path / "controller"
    signer = Signer.load_or_create(state)
    store = ArtifactStore(tmp_path / "artifacts")
    hub = DeviceHub(mosquitto.url, store, client_id="outsider-controller").start()
    device = OutsiderDevice(mosquitto.url, (state / "keys" / signing.PUBLIC_KEY_FILE).read_bytes())
    try:
        data = "modèle ✓".encode() * 100      # a manifest name with non-ASCII characters below
        manifest = Manifest(name="modèle-✓", version="1", digest=hashlib.sha256(data).hexdigest(), size=len(data),
                            target=Target(runtime="litert"))
        first = desired_state(signer, DEVICE, BOARD, 1, manifest, fleet="lab", maxLatencyMs=5.0)
        hub.set_desired(DEVICE, first)
        assert device.next() == ("accepted", manifest.digest)

        hub.set_desired(DEVICE, first.model_copy(update={"generation": 2}))   # altered after signing
        assert device.next() == ("SignatureInvalid", None)
        hub.set_desired(DEVICE, desired_state(signer, DEVICE, "jetson-nano", 2, manifest))
        assert device.next() == ("NotForThisBoard", None)
        hub.set_desired(DEVICE, first)
        hub.set_desired(DEVICE, desired_state(signer, DEVICE, BOARD, 2, manifest))
        assert [device.next(), device.next()] == [("accepted", manifest.digest), ("accepted", manifest.digest)]
        hub.set_desired(DEVICE, first)
        assert device.next() == ("Replayed", None)

        _, new_id = signing.rotate(state)
        rotated = Signer.load_or_create(state)
        hub.announce_keys(rotated.announcement())
        assert device.next() == ("keys", sorted([signer.key_id, new_id]))
        hub.set_desired(DEVICE, desired_state(rotated, DEVICE, BOARD, 3, manifest))
        assert device.next() == ("accepted", manifest.digest)
    finally:
        hub.link.publish_and_wait("origami/v1/keys", b"", retain=True)
        device.stop()
        hub.stop()
