"""A controller (DeviceHub + signer + artifact store) and virtual Linux boards on a real broker,
shared by the device tests."""
from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path

from controller.devices.hub import DeviceHub
from controller.devices.hub import desired_state
from controller.devices.signing import Signer
from controller.store.artifacts import ArtifactStore
from device.virtual.linux_board import Faults
from device.virtual.linux_board import VirtualLinuxBoard
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import ReportedState
from specs.v1alpha1.protocol import Target

SINE = Path(__import__("tflite_micro").__file__).parent / "python/tflite_micro/sine_float.tflite"
if not SINE.exists():
    SINE = next(Path(__import__("tflite_micro").__file__).parent.rglob("sine_float.tflite"))


def model_bytes(padding: int = 0, seed: int = 0) -> bytes:
    """A real LiteRT model (TFLM's sine example); trailing bytes give distinct, larger artifacts
    that still load (a flatbuffer ignores bytes after its root)."""
    return SINE.read_bytes() + random.Random(seed).randbytes(padding)


class Rig:
    def __init__(self, url: str, tmp: Path, *, username: str | None = None, password: str | None = None) -> None:
        self.url, self.tmp = url, tmp
        self.store = ArtifactStore(tmp / "artifacts")
        self.signer = Signer.load_or_create(tmp / "controller")
        self.hub = DeviceHub(url, self.store, username=username, password=password,
                             client_id=f"controller-{tmp.name[-20:]}").start()
        self.boards: list[VirtualLinuxBoard] = []
        self.board_classes: dict[str, str] = {}   # device id -> the board its desired states name
        self.generation = 0

    def board(self, device_id: str, faults: Faults | None = None, **kwargs) -> VirtualLinuxBoard:
        board = VirtualLinuxBoard(device_id, self.url, self.tmp / "disks" / device_id, self.signer.public_key,
                                  faults=faults, **kwargs).start()
        self.boards.append(board)
        self.board_classes[device_id] = board.agent.config.capabilities().board_class
        return board

    def manifest(self, data: bytes, version: str) -> Manifest:
        digest = self.store.put_bytes(data)
        return Manifest(name="sine", version=version, digest=digest, size=len(data),
                        target=Target(runtime="litert", precision="float32"))

    def deploy(self, device_id: str, data: bytes, version: str, chunk_size: int = 16 * 1024,
               signer: Signer | None = None) -> Manifest:
        manifest = self.manifest(data, version)
        self.generation += 1
        self.hub.set_desired(device_id, self.desired(device_id, manifest, chunk_size=chunk_size, signer=signer))
        return manifest

    def desired(self, device_id: str, manifest: Manifest | None, *, signer: Signer | None = None, **options):
        """A desired state for one of the rig's boards, signed as the controller signs it."""
        hello = self.hub.hellos().get(device_id)
        board = self.board_classes.get(device_id) or (hello.capabilities.board_class if hello else "rpi4")
        return desired_state(signer or self.signer, device_id, board, self.generation, manifest, **options)

    def wait_event(self, device_id: str, reason: str, timeout: float = 20.0):
        """The next event `reason` from `device_id` among the hub's reports (others are dropped)."""
        import queue

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                report = self.hub.reports.get(timeout=0.1)
            except queue.Empty:
                continue
            if report.device_id == device_id and report.channel == "events" and report.message.reason == reason:
                return report.message
        raise AssertionError(f"{device_id} never sent a {reason} event")

    def wait_state(self, device_id: str, until, timeout: float = 20.0) -> ReportedState:
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.hub.states().get(device_id)
            if state is not None and until(state):
                return state
            time.sleep(0.02)
        raise AssertionError(f"{device_id} never reached the expected state; last: {state}")

    def close(self) -> None:
        for board in self.boards:
            board.stop()
        self.hub.stop()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

