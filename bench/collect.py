"""bench/collect.py: samples per second ingested from 100 virtual devices on a local Mosquitto, and
the collector's CPU seconds per 1,000 samples (one sample = one sensor window of 64 x 3 readings).

The devices run in a child process (100 MQTT connections, payloads encoded before the clock
starts), the collector in this one, so this process's CPU time is the collector's. Each round
publishes as fast as the devices can and ends when the collector has stored every window. Rounds:
batched (16 windows per message, what the capture sends) and unbatched (1 window per message, the
naive protocol), for the ratio.

    .venv/bin/python bench/collect.py [--devices 100] [--windows 160] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.collect.index import SampleIndex  # noqa: E402
from controller.collect.ingest import Collector  # noqa: E402
from controller.store.artifacts import ArtifactStore  # noqa: E402
from tests.conftest import start_mosquitto  # noqa: E402
from tests.conftest import stop_mosquitto  # noqa: E402


def devices_main(url: str, devices: int, windows: int, batch: int, prefix: str) -> None:
    """Child process: encode every batch, connect, say ready, publish on 'go', say done."""
    from device.capture import WindowKey
    from device.capture import encode_batch
    from device.signals import Accelerometer
    from specs.v1alpha1.protocol import samples_topic
    from wire.mqtt import MqttLink

    payloads = []
    for d in range(devices):
        device = f"{prefix}-{d:03d}"
        signal = Accelerometer(device)
        key = WindowKey("accel", 50.0, (64, 3), "float32", "bench", "shake")
        arrays = [signal.window(64, "shake") for _ in range(windows)]
        for seq, start in enumerate(range(0, windows, batch)):
            chunk = arrays[start:start + batch]
            times = [1000.0 + (start + i) * 1.28 for i in range(len(chunk))]
            payloads.append((d, samples_topic(device), encode_batch(device, key, chunk, times, seq, "bench")))
    links = [MqttLink(f"{prefix}-{d:03d}", url).start() for d in range(devices)]
    print("ready", flush=True)
    sys.stdin.readline()
    infos = [links[d].publish(topic, payload, qos=1) for d, topic, payload in payloads]
    for info in infos:
        info.wait_for_publish(60)
    print("done", flush=True)
    sys.stdin.readline()
    for link in links:
        link.stop()


def run_round(url: str, tmp: Path, devices: int, windows: int, batch: int, tag: str) -> dict:
    index = SampleIndex(tmp / f"{tag}.db")
    collector = Collector(url, index, ArtifactStore(tmp / f"{tag}-artifacts"), client_id=f"bench-collector-{tag}")
    collector.start()
    child = subprocess.Popen([sys.executable, __file__, "--devices-child", url, str(devices), str(windows), str(batch),
                              f"b{tag}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert child.stdout.readline().strip() == "ready", "device process did not start"
        total = devices * windows
        cpu0, t0 = time.process_time(), time.perf_counter()
        child.stdin.write("go\n")
        child.stdin.flush()
        ok = collector.wait_for(windows=total, timeout=600)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        if not ok:
            raise SystemExit(f"collector stored {collector.stats.windows} of {total} windows within 600 s")
        child.stdout.readline()
        child.stdin.write("stop\n")
        child.stdin.flush()
        child.wait(60)
    finally:
        if child.poll() is None:
            child.kill()
        collector.stop()
        index.close()
    stats = collector.stats
    return {"windows": total, "messages": stats.messages, "seconds": round(elapsed, 3),
            "samples_per_s": round(total / elapsed, 1), "messages_per_s": round(stats.messages / elapsed, 1),
            "cpu_s_per_1000": round(cpu / total * 1000, 4), "rounds": stats.rounds,
            "duplicates": stats.duplicates, "rejected": sum(stats.rejected.values())}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--devices-child":
        url, devices, windows, batch, prefix = sys.argv[2:7]
        devices_main(url, int(devices), int(windows), int(batch), prefix)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--windows", type=int, default=160, help="windows per device (batched round)")
    parser.add_argument("--batch", type=int, default=16, help="windows per message (batched round)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="origami-bench-collect-") as tmp_name:
        tmp = Path(tmp_name)
        broker = start_mosquitto(tmp / "broker")
        try:
            batched = run_round(broker.url, tmp, args.devices, args.windows, args.batch, "batched")
            print(f"batched   ({args.batch} windows/message): {batched['windows']} windows from {args.devices} "
                  f"devices in {batched['seconds']} s: {batched['samples_per_s']} samples/s, "
                  f"{batched['messages_per_s']} msg/s, {batched['cpu_s_per_1000']} CPU s per 1,000 samples",
                  flush=True)
            single = run_round(broker.url, tmp, args.devices, max(1, args.windows // 4), 1, "single")
            print(f"unbatched (1 window/message): {single['windows']} windows in {single['seconds']} s: "
                  f"{single['samples_per_s']} samples/s, {single['cpu_s_per_1000']} CPU s per 1,000 samples",
                  flush=True)
        finally:
            stop_mosquitto(broker)
    ratio = round(batched["samples_per_s"] / single["samples_per_s"], 2)
    print(f"batching: {ratio}x the samples per second of one window per message")
    if args.json:
        print(json.dumps({"samples_per_s": batched["samples_per_s"], "cpu_s_per_1000": batched["cpu_s_per_1000"],
                          "devices": args.devices, "windows_per_message": args.batch, "batched": batched,
                          "unbatched": single, "batching_speedup": ratio, "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
