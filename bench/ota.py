"""OTA update figures on a local Mosquitto.

wire_ratio:    bytes on the device's TCP connection (both directions, MQTT framing, PUBACKs,
               desired state, transfer, acks, state report) during one model update, divided by
               the artifact size. Counted by a TCP proxy between the device and the broker.
updates_per_s: N virtual Linux boards (the real agent; download, verify, install, LiteRT health
               check) all told to update at once: N / seconds until the last reports the model.

    .venv/bin/python bench/ota.py [--devices 200] [--model model.tflite] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from controller.devices.hub import DeviceHub
from controller.devices.hub import desired_state
from controller.devices.signing import Signer
from controller.store.artifacts import ArtifactStore
from device.virtual.linux_board import VirtualLinuxBoard
from device.virtual.simulate import fleet_specs
from device.virtual.simulate import start_fleet
from device.virtual.simulate import stop_fleet
from specs.v1alpha1.protocol import DEFAULT_CHUNK_SIZE
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target
from tests.conftest import start_mosquitto
from tests.conftest import stop_mosquitto


class CountingProxy:
    """Forwards one listening port to the broker and counts every byte in both directions."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.bytes = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                with self._lock:
                    self.bytes += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def model_file(path: Path) -> bytes:
    """A digits-sized CNN (about 21k parameters, as the design brief's reference), float32 LiteRT."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([
        tf.keras.layers.Input((8, 8, 1)),
        tf.keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
        tf.keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10, activation="softmax"),
    ])
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path.write_bytes(data)
    return data


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--model", type=Path, help="a .tflite file (default: build a small CNN with TensorFlow)")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="origami-bench-ota-"))
    data = args.model.read_bytes() if args.model else model_file(tmp / "model.tflite")
    broker = start_mosquitto(tmp / "broker")
    store = ArtifactStore(tmp / "artifacts")
    signer = Signer.load_or_create(tmp / "controller")
    hub = DeviceHub(broker.url, store, queue_reports=False).start()
    digest = store.put_bytes(data)
    manifest = Manifest(name="bench", version="1", digest=digest, size=len(data), target=Target(runtime="litert"))
    try:
        # 1. Wire bytes of one update, through a counting proxy.
        proxy = CountingProxy(broker.host, broker.port)
        board = VirtualLinuxBoard("wire-0", f"mqtt://127.0.0.1:{proxy.port}", tmp / "disks" / "wire-0",
                                  signer.public_key).start()
        wait_until(lambda: "wire-0" in hub.states(), 10, "the device's first state")
        time.sleep(0.2)
        before = proxy.bytes
        hub.set_desired("wire-0", desired_state(signer, "wire-0", "rpi4", 1, manifest, chunk_size=args.chunk_size))
        wait_until(lambda: hub.states()["wire-0"].modelDigest == digest, 30, "the update")
        time.sleep(0.2)  # the last PUBACKs
        wire = proxy.bytes - before
        board.stop()
        wire_ratio = wire / len(data)
        print(f"artifact {len(data)} B, {-(-len(data) // args.chunk_size)} chunk(s) of {args.chunk_size} B; "
              f"{wire} B on the wire for one update: wire_ratio {wire_ratio:.4f}")

        # 2. N devices updating at once.
        specs = fleet_specs(args.devices, broker.url, tmp / "fleet", signer.public_key, boards=["rpi4"], prefix="ota")
        t0 = time.monotonic()
        devices = start_fleet(specs, progress=lambda d, n: print(f"\rstarting devices {d}/{n}", end="",
                                                                 file=sys.stderr))
        ids = [s.device_id for s in specs]
        wait_until(lambda: all(i in hub.states() for i in ids), 120, "every device's first state")
        print(f"\n{args.devices} devices connected in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        start = time.monotonic()
        for device_id in ids:
            hub.set_desired(device_id, desired_state(signer, device_id, "rpi4", 1, manifest,
                                                     chunk_size=args.chunk_size))
        wait_until(lambda: sum(hub.states()[i].modelDigest == digest for i in ids) == len(ids), 600, "the fleet update")
        elapsed = time.monotonic() - start
        failed = [i for i in ids if hub.states()[i].health != "ok"]
        stop_fleet(devices)
        updates_per_s = len(ids) / elapsed
        print(f"{len(ids)} devices updated in {elapsed:.2f} s: updates_per_s {updates_per_s:.1f} "
              f"(unhealthy: {len(failed)})")
    finally:
        hub.stop()
        stop_mosquitto(broker)
    if args.json:
        print(json.dumps({"wire_ratio": round(wire_ratio, 4), "updates_per_s": round(updates_per_s, 2),
                          "artifact_bytes": len(data), "wire_bytes": wire, "devices": args.devices,
                          "chunk_size": args.chunk_size, "seconds": round(elapsed, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
