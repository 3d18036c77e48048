"""The device core of a virtual microcontroller: the serial protocol's frames in, frames out.

It runs the real TFLM interpreter (tflite-micro, via runtimes.tflm) with the board's
RAM as its budget and refuses a model that does not fit; it verifies the Ed25519-signed
manifest and the artifact digest before installing; it keeps two slots and rolls back when
the new model fails its health check. What carries the bytes is a subclass's job (`_send`, and
calling `receive`): a pseudo-terminal (`mcu_board.VirtualMCU`) or a GATT service (`ble_board`).

Faults (for tests and demos): corrupt chunk frames on the wire, fail the health check, stay silent.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from device.serial_frames import MAX_PAYLOAD
from device.serial_frames import OVERHEAD
from device.serial_frames import AckStatus
from device.serial_frames import Frame
from device.serial_frames import FrameDecoder
from device.serial_frames import FrameType
from device.serial_frames import decode_chunk
from device.serial_frames import encode_ack
from device.serial_frames import encode_json
from specs.errors import SignatureError
from specs.errors import StageError
from specs.v1alpha1.budget import board_budget
from specs.v1alpha1.device_profile import DeviceProfile
from specs.v1alpha1.protocol import SignedManifest
from wire import __version__ as origami_version
from wire.logs import get_logger

log = get_logger("agent.virtual_mcu")

# What a status shows beside the board's CPU (the hello's `cpu` is the device's `arch`): no firmware
# runs here, unlike the emulated boards on QEMU (and the ESP32-S3's Xtensa has no emulator here at all).
VIRTUAL_BOARD = "virtual board: TFLM in Python, no firmware"
# What the firmware itself keeps in RAM besides the arena: the serial receive buffer.
SERIAL_RX_BYTES = MAX_PAYLOAD + OVERHEAD


@dataclass
class Faults:
    corrupt_chunks: int = 0        # flip a byte in this many incoming chunk frames (CRC must catch it)
    fail_health_check: bool = False
    silent: bool = False           # read everything, answer nothing (a hung or absent board)
    tamper_chunks: int = 0         # rewrite this many chunk frames with a valid CRC (an attacker on the link)
    drop_link_after_chunks: int = 0  # BLE board: cut the connection once after this many chunk frames


@dataclass
class _Transfer:
    signed: SignedManifest
    received: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)


def ram_budget(profile: DeviceProfile) -> int:
    """Bytes a tensor arena may take on this board (its RAM less the serial receive buffer)."""
    return board_budget(profile.spec, SERIAL_RX_BYTES).ram


class McuCore:
    """One virtual board's firmware logic; subclasses carry the bytes (`_send`) and feed `receive`."""

    def __init__(self, profile: DeviceProfile, device_id: str, storage: str | Path,
                 public_key: Ed25519PublicKey, *, faults: Faults | None = None,
                 firmware_version: str = origami_version) -> None:
        self.profile = profile
        self.device_id = device_id
        self.storage = Path(storage)
        self.storage.mkdir(parents=True, exist_ok=True)
        self.public_key = public_key
        self.faults = faults or Faults()
        self.firmware_version = firmware_version
        self.decoder = FrameDecoder()
        self._transfer: _Transfer | None = None
        self._state = self._load_state()
        self.installs = 0  # completed installs (observable by tests)
        self.bytes_received = 0  # link bytes fed to `receive` (observable by benchmarks)
        self._microphone = None

    def _send(self, frame: bytes) -> None:
        raise NotImplementedError

    def receive(self, data: bytes) -> None:
        """Bytes from the link, in order: whole frames are handled as they complete."""
        self.bytes_received += len(data)
        errors_before = self.decoder.crc_errors + self.decoder.header_errors
        data = self._inject_wire_faults(data)
        for frame in self.decoder.feed(data):
            if not self.faults.silent:
                self._handle(self._tampered(frame))
        if (self.decoder.crc_errors + self.decoder.header_errors > errors_before and self._transfer
                and not self.faults.silent):
            # A damaged frame mid-transfer was probably a chunk: ask for it again at once.
            self._send(encode_ack(self._transfer.received, AckStatus.RESEND))

    def _inject_wire_faults(self, data: bytes) -> bytes:
        if self.faults.corrupt_chunks and self._transfer and len(data) > 64:
            self.faults.corrupt_chunks -= 1
            damaged = bytearray(data)
            damaged[len(damaged) // 2] ^= 0x5A
            return bytes(damaged)
        return data

    def _tampered(self, frame: Frame) -> Frame:
        """A chunk rewritten by someone who recomputed the CRC: only the signed digest can catch it."""
        if self.faults.tamper_chunks and frame.type is FrameType.CHUNK and len(frame.payload) > 4:
            self.faults.tamper_chunks -= 1
            payload = bytearray(frame.payload)
            payload[-1] ^= 0xFF
            return Frame(frame.type, bytes(payload))
        return frame

    def send_samples(self, window: dict) -> None:
        """A sensor window, as the firmware's sampler sends it (docs/serial.md SAMPLES)."""
        self._send(encode_json(FrameType.SAMPLES, window))

    def listen(self, windows: int, *, label: str | None = None, session: str | None = None,
               window: int = 16_000) -> int:
        """Stream `windows` windows of the board's virtual microphone (`device/microphone.py`: it replays
        the room's utterances) as SAMPLES frames of int16 PCM, as the firmware's audio sampler would."""
        from device.microphone import Microphone
        from device.sample_frames import pcm_body

        if self._microphone is None:   # one microphone per board: its random state continues
            self._microphone = Microphone(self.device_id)
        mic = self._microphone
        for _ in range(windows):
            self.send_samples(pcm_body(mic.window(window, label), sensor=mic.sensor, rate_hz=mic.rate_hz,
                                       label=label, session=session))
        return windows

    # --- persistent state: two slots and which one is active ------------------------------

    def _state_path(self) -> Path:
        return self.storage / "state.json"

    def _load_state(self) -> dict:
        if self._state_path().exists():
            return json.loads(self._state_path().read_text())
        return {"activeSlot": None, "slots": {"a": None, "b": None}, "lastUpdate": None, "health": "unknown",
                "healthReason": "no model installed", "arenaBytes": None}

    def _save_state(self) -> None:
        tmp = self._state_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, sort_keys=True))
        os.replace(tmp, self._state_path())

    def active_model(self) -> dict | None:
        slot = self._state["activeSlot"]
        return self._state["slots"][slot] if slot else None

    # --- protocol -------------------------------------------------------------------------

    def hello(self) -> dict:
        spec = self.profile.spec
        usb = spec.usb[0] if spec.usb else None
        return {"deviceId": self.device_id, "profile": self.profile.metadata.name, "board": spec.board,
                "firmwareVersion": self.firmware_version, "ram": spec.ram, "flash": spec.flash,
                "maxPayload": MAX_PAYLOAD, "runtime": "tflm", "cpu": f"{spec.cpu}, {VIRTUAL_BOARD}",
                "usb": f"{usb.vid:04x}:{usb.pid:04x}" if usb else None}

    def state(self) -> dict:
        active = self.active_model()
        slots = [{"name": name, **({"version": s["version"], "digest": s["digest"]} if s else {})}
                 for name, s in sorted(self._state["slots"].items())]
        return {"activeSlot": self._state["activeSlot"], "slots": slots,
                "modelVersion": active["version"] if active else None,
                "modelDigest": active["digest"] if active else None,
                "health": self._state["health"], "healthReason": self._state["healthReason"],
                "arenaBytes": self._state["arenaBytes"], "lastUpdate": self._state["lastUpdate"]}

    def _event(self, reason: str, message: str, digest: str | None = None, warning: bool = False) -> None:
        self._send(encode_json(FrameType.EVENT, {"type": "Warning" if warning else "Normal", "reason": reason,
                                                 "message": message, "digest": digest}))

    def _handle(self, frame: Frame) -> None:
        if frame.type is FrameType.QUERY:
            self._send(encode_json(FrameType.HELLO, self.hello()))
            self._send(encode_json(FrameType.STATE, self.state()))
        elif frame.type is FrameType.MANIFEST:
            self._begin(frame.payload)
        elif frame.type is FrameType.CHUNK:
            self._chunk(frame.payload)

    def _refuse(self, reason: str, message: str, digest: str | None, version: str | None,
                received: int = 0) -> None:
        self._transfer = None
        self._state["lastUpdate"] = {"digest": digest or "", "version": version or "", "outcome": "rejected",
                                     "reason": message, "bytesReceived": received}
        self._save_state()
        log.warning("virtual MCU refused an update", extra={"device": self.device_id, "reason": reason,
                                                             "detail": message})
        self._event(reason, message, digest, warning=True)
        self._send(encode_ack(received, AckStatus.REFUSED))
        self._send(encode_json(FrameType.STATE, self.state()))

    def _begin(self, payload: bytes) -> None:
        try:
            signed = SignedManifest.model_validate_json(payload)
        except ValidationError as err:
            self._refuse("ManifestInvalid", f"manifest does not parse: {err.errors()[0]['msg']}", None, None)
            return
        from wire.manifests import verify_manifest

        manifest = signed.manifest
        try:
            verify_manifest(signed, self.public_key)
        except SignatureError as err:
            self._refuse("SignatureInvalid", str(err), manifest.digest, manifest.version)
            return
        board = self.profile.metadata.name
        if manifest.target.runtime != "tflm" or manifest.target.kind != "model":
            self._refuse("WrongTarget", f"artifact is a {manifest.target.runtime} {manifest.target.kind}; "
                         "this board installs TFLM models only", manifest.digest, manifest.version)
            return
        if manifest.target.board not in (None, board):
            self._refuse("WrongTarget", f"artifact is built for {manifest.target.board}, this board is {board}",
                         manifest.digest, manifest.version)
            return
        slot_capacity = self.profile.spec.flash // 2
        if manifest.size > slot_capacity:
            self._refuse("ModelTooLarge", f"model of {manifest.size} B exceeds a flash slot of {slot_capacity} B",
                         manifest.digest, manifest.version)
            return
        active = self.active_model()
        if active and active["digest"] == manifest.digest:
            self._send(encode_ack(manifest.size, AckStatus.INSTALLED))  # already runs it: idempotent
            self._send(encode_json(FrameType.STATE, self.state()))
            return
        staged = self.storage / "staging.bin"
        if self._transfer and self._transfer.signed.manifest.digest == manifest.digest:
            pass  # resume: keep what was received
        else:
            staged.write_bytes(b"")
            self._transfer = _Transfer(signed)
        self._send(encode_ack(self._transfer.received, AckStatus.OK))

    def _chunk(self, payload: bytes) -> None:
        transfer = self._transfer
        if transfer is None:
            self._send(encode_ack(0, AckStatus.REFUSED))
            return
        offset, data = decode_chunk(payload)
        if offset != transfer.received:
            self._send(encode_ack(transfer.received, AckStatus.RESEND))
            return
        with open(self.storage / "staging.bin", "ab") as f:
            f.write(data)
        transfer.digest.update(data)
        transfer.received += len(data)
        manifest = transfer.signed.manifest
        if transfer.received < manifest.size:
            self._send(encode_ack(transfer.received, AckStatus.OK))
            return
        if transfer.received > manifest.size or transfer.digest.hexdigest() != manifest.digest:
            self._refuse("DigestMismatch", f"received {transfer.received} B with sha256 "
                         f"{transfer.digest.hexdigest()[:12]}..., the signed manifest says {manifest.size} B "
                         f"{manifest.digest[:12]}...", manifest.digest, manifest.version, transfer.received)
            return
        self._install(transfer)

    def _install(self, transfer: _Transfer) -> None:
        manifest = transfer.signed.manifest
        model = (self.storage / "staging.bin").read_bytes()
        budget = ram_budget(self.profile)
        try:
            needed = _measure_arena(model)
        except StageError as err:
            self._refuse("ModelUnsupported", f"TFLM cannot run the model: {err}", manifest.digest,
                         manifest.version, transfer.received)
            return
        if needed > budget:
            self._refuse("ModelTooLarge", f"model needs a {needed} B tensor arena; {self.profile.metadata.name} "
                         f"has {budget} B of RAM for it ({self.profile.spec.ram} B total)",
                         manifest.digest, manifest.version, transfer.received)
            return
        previous = self._state["activeSlot"]
        slot = "b" if previous == "a" else "a"
        os.replace(self.storage / "staging.bin", self.storage / f"slot-{slot}.tflite")
        self._state["slots"][slot] = {"version": manifest.version, "digest": manifest.digest,
                                      "installedAt": round(time.time(), 3)}
        self._transfer = None
        healthy, why = self._health_check(model, budget)
        if healthy:
            self._state.update(activeSlot=slot, health="ok", healthReason="", arenaBytes=needed)
            outcome, status, reason = "installed", AckStatus.INSTALLED, "Installed"
            message = f"{manifest.name}@{manifest.version} runs from slot {slot} with a {needed} B arena"
            self.installs += 1
        else:
            # The previous slot stays active: the board never left its last good model.
            outcome, status, reason = "rolled-back", AckStatus.ROLLED_BACK, "RolledBack"
            message = f"health check failed ({why}); slot {previous or 'none'} stays active"
        self._state["lastUpdate"] = {"digest": manifest.digest, "version": manifest.version, "outcome": outcome,
                                     "reason": "" if healthy else message, "bytesReceived": manifest.size}
        self._save_state()
        log.info("virtual MCU update", extra={"device": self.device_id, "outcome": outcome, "slot": slot})
        self._event(reason, message, manifest.digest, warning=not healthy)
        self._send(encode_ack(manifest.size, status))
        self._send(encode_json(FrameType.STATE, self.state()))

    def _health_check(self, model: bytes, budget: int) -> tuple[bool, str]:
        """Load the model in TFLM with the board's budget and run one inference on a zero probe."""
        if self.faults.fail_health_check:
            return False, "injected fault: probe inference failed"
        try:
            _run_probe(model, budget)
        except StageError as err:
            return False, str(err)
        return True, ""


def _measure_arena(model: bytes) -> int:
    from runtimes.tflm import measure_arena

    return measure_arena(model).arena_bytes


def _run_probe(model: bytes, arena_bytes: int) -> None:
    import numpy as np
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    from runtimes.tflm import run_tflm

    graph = schema.Model.GetRootAsModel(bytearray(model), 0).Subgraphs(0)
    shape = graph.Tensors(graph.Inputs(0)).ShapeAsNumpy()
    run_tflm(model, np.zeros((1, *shape), np.float32), arena_bytes=arena_bytes)
