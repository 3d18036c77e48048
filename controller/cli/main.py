"""Entry point of the `origami` command.

Commands are modules with `register(subparsers)`; each sets `func(args) -> int`.
Heavy imports (TensorFlow) happen inside the commands that need them, so that
`origami validate` stays fast in CI.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sqlite3
import sys

from specs.errors import OrigamiError
from wire import __version__
from wire.files import DISK_FULL_ADVICE
from wire.files import is_disk_full

COMMANDS = [
    "controller.cli.validate",
    "controller.cli.schema",
    "controller.cli.plan",
    "controller.cli.build",
    "controller.cli.artifacts",
    "controller.cli.gc",
    "controller.cli.status",
    "controller.cli.get",
    "controller.cli.describe",
    "controller.cli.events",
    "controller.cli.rollout",
    "controller.cli.operator_token",
    "controller.cli.keys",
    "controller.cli.reconcile",
    "controller.cli.gateway",
    "controller.cli.agent",
    "controller.cli.simulate",
    "controller.cli.broker",
    "controller.cli.split",
    "controller.cli.worker",
    "controller.cli.samples",
    "controller.cli.third_party",
    "controller.cli.completion",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="origami",
        description="Declarative GitOps reconciler for the TinyML lifecycle.",
    )
    parser.add_argument("--version", action="version", version=f"origami {__version__}")
    parser.add_argument("--log-level", default=os.environ.get("ORIGAMI_LOG_LEVEL", "WARNING"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="structured logs on stderr at this level (default WARNING, or ORIGAMI_LOG_LEVEL); "
                             "DEBUG also shows what TensorFlow and other native libraries print")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    from controller.cli.native_output import quiet_native_output
    from controller.cli.native_output import replay_native_output
    from wire.logs import configure_logging

    quiet_native_output(args.log_level)  # before any command imports TensorFlow
    configure_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except OrigamiError as err:
        print(f"origami: error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # `origami ... | head`
        sys.stderr.close()
        return 0
    except (OSError, sqlite3.OperationalError) as err:
        # A full disk met by code that does not translate it (a copy, a log file, a second database
        # connection): the advice, never a traceback. Anything else is a bug and keeps its traceback.
        if not (is_disk_full(err) or "disk is full" in str(err)):
            raise
        print(f"origami: error: {DISK_FULL_ADVICE}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("origami: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: its traceback, and what native code said just before
        replay_native_output()
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
