"""Bluetooth LE figures: the Origami GATT service (docs/ble.md) between the gateway's central and a
virtual Nano 33 BLE Sense, both on Bumble's virtual air in this process (real HCI, L2CAP, ATT, GATT;
no radio, so the link itself costs only Python time).

mtu:                          the ATT MTU the two agreed on (the gateway asks for 247).
payload_bytes_per_s:          stream bytes per second gateway -> board over the virtual link: 8 KiB frames
                              written back to back, timed until the board has read the last byte.
theoretical_bytes_per_s_1m / _2m:  the same stream on air for the connection the gateway asks for (15 ms
                              interval, Data Length Extension, LE 1M or 2M PHY): an upper bound from the
                              packets' air time (wire/ble_air.py), for comparison with a real radio.
ota_seconds:                  manifest to INSTALLED for a digits-sized int8 CNN (~56 KB): stop-and-wait
                              8 KiB chunks, the board's digest check, TFLM arena measure, health check.
ota_transfer_seconds_on_air_1m: that model's wire bytes at the 1M ceiling plus one round trip (two
                              intervals) per chunk for its ack: what the transfer alone would take on air.
wire_ratio:                   bytes on the GATT link during the update (stream bytes plus the ATT and L2CAP
                              headers of every write and notification, both directions) per model byte.

    .venv/bin/python bench/ble.py [--model model.tflite] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from controller.devices.signing import Signer
from device.ble_radio import VirtualAir
from device.gateway import BoardLink
from device.gateway.ble_link import BleCentral
from device.serial_frames import DEFAULT_CHUNK
from device.serial_frames import AckStatus
from device.serial_frames import encode_frame
from device.virtual.ble_board import VirtualBleBoard
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import sha256_hex
from wire.ble_air import ATT_HEADER
from wire.ble_air import CONNECTION_INTERVAL_MS
from wire.ble_air import L2CAP_HEADER
from wire.ble_air import round_trip_s
from wire.ble_air import theoretical_rate

PADDING_TYPE = 0xEE       # a frame type the board does not know: decoded, counted, ignored
STREAM_BYTES = 512 * 1024


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.002)


def link_bytes(stream) -> int:
    """Stream bytes both ways plus the ATT and L2CAP headers of each write and notification."""
    segments = stream.segments_written + stream.segments_read
    return stream.bytes_written + stream.bytes_read + segments * (ATT_HEADER + L2CAP_HEADER)


def measure(model: bytes, work: Path) -> dict:
    signer = Signer.load_or_create(work / "controller")
    air = VirtualAir()
    board = VirtualBleBoard(BUILTIN_PROFILES["nano33ble"], "bench-ble", work / "board", signer.public_key,
                            air=air).start()
    central = BleCentral.virtual(air)
    try:
        [found] = central.scan(5, stop_after=1)
        stream = central.open(found)
        link = BoardLink(stream)

        # 1. Raw stream throughput, gateway -> board.
        frame = encode_frame(PADDING_TYPE, bytes(DEFAULT_CHUNK))
        count = STREAM_BYTES // len(frame)
        target = board.bytes_received + count * len(frame)
        start = time.perf_counter()
        for _ in range(count):
            stream.write(frame)
        wait_until(lambda: board.bytes_received >= target, 120, "the board to read the stream")
        payload_rate = count * len(frame) / (time.perf_counter() - start)

        # 2. One model update, timed and counted on the link.
        manifest = signer.sign(Manifest(name="digits", version="1", digest=sha256_hex(model), size=len(model),
                                        target=Target(runtime="tflm", board="nano33ble")))
        before = link_bytes(stream)
        start = time.perf_counter()
        outcome = link.send_model(encode(manifest), model, chunk_size=DEFAULT_CHUNK)
        ota_seconds = time.perf_counter() - start
        if outcome.status is not AckStatus.INSTALLED:
            raise SystemExit(f"the update ended {outcome.status.name}: {outcome.events}")
        time.sleep(0.2)  # the EVENT and STATE notifications that follow the final ack
        wire = link_bytes(stream) - before
        mtu = stream.mtu
        link.close()
    finally:
        board.stop()
        central.close()
        air.close()
    rate_1m, rate_2m = theoretical_rate(mtu), theoretical_rate(mtu, phy_mbps=2)
    chunks = -(-len(model) // DEFAULT_CHUNK)
    return {
        "mtu": mtu,
        "payload_bytes_per_s": round(payload_rate),
        "payload_bytes_per_s_link": "virtual (Bumble LocalLink, in process)",
        "theoretical_bytes_per_s_1m": round(rate_1m),
        "theoretical_bytes_per_s_2m": round(rate_2m),
        "theoretical_link": f"{CONNECTION_INTERVAL_MS:g} ms interval, DLE 251 B, ATT MTU {mtu}",
        "ota_seconds": round(ota_seconds, 3),
        "ota_transfer_seconds_on_air_1m": round(wire / rate_1m + chunks * round_trip_s(), 3),
        "wire_ratio": round(wire / len(model), 4),
        "model_bytes": len(model),
        "wire_bytes": wire,
        "chunk_size": DEFAULT_CHUNK,
        "resends": outcome.resends,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="an int8 .tflite (default: a digits-sized CNN, ~56 KB)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.model:
        model = args.model.read_bytes()
    else:
        from tests.tiny_tflite import digits_cnn_int8

        model = digits_cnn_int8()
    with tempfile.TemporaryDirectory(prefix="origami-bench-ble-") as work:
        figures = measure(model, Path(work))
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:34} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
