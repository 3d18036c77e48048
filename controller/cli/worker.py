"""`origami worker --broker URL --tail FILE...`: serve split tails over MQTT until interrupted."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from controller.cli.broker_flags import add_broker_flags
from controller.cli.broker_flags import connection_from_args
from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="serve the tails of split models over MQTT (LiteRT)")
    p.add_argument("--tail", action="append", required=True, metavar="FILE",
                   help="a tail .tflite to serve (repeatable)")
    p.add_argument("--client-id", default="origami-worker")
    add_broker_flags(p, username_help="the worker's account (`origami broker config --worker NAME`)")
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
    worker = TailWorker(connection_from_args(args), tails, args.client_id)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    for tail in worker.runners:
        print(f"serving tail {tail} on {split_request_topic(tail, '+')}", file=sys.stderr, flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
    print(f"served {worker.stats.served} requests, rejected {worker.stats.rejected}", file=sys.stderr)
    return 0
