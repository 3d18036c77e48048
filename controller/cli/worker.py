"""`origami worker --broker URL --tail FILE...`: serve split tails over MQTT until interrupted."""
from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="serve the tails of split models over MQTT (LiteRT)")
    p.add_argument("--broker", default=os.environ.get("ORIGAMI_BROKER", "mqtt://127.0.0.1:1883"),
                   help="MQTT broker URL (default: $ORIGAMI_BROKER or mqtt://127.0.0.1:1883)")
    p.add_argument("--tail", action="append", required=True, metavar="FILE",
                   help="a tail .tflite to serve (repeatable)")
    p.add_argument("--client-id", default="origami-worker")
    p.add_argument("--username", default=os.environ.get("ORIGAMI_MQTT_USERNAME"))
    p.add_argument("--password", default=os.environ.get("ORIGAMI_MQTT_PASSWORD"))
    p.set_defaults(func=run)


def run(args) -> int:
    from controller.split.worker import TailWorker
    from specs.v1alpha1.split import split_request_topic

    tails = []
    for name in args.tail:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"--tail {name}: no such file")
        tails.append(path.read_bytes())
    worker = TailWorker(args.broker, tails, args.client_id, username=args.username, password=args.password)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    for tail in worker.runners:
        print(f"serving tail {tail} on {split_request_topic(tail)}", file=sys.stderr, flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
    print(f"served {worker.stats.served} requests, rejected {worker.stats.rejected}", file=sys.stderr)
    return 0
