"""`make demo`: the main job on the embedded defaults, step by step, on the example repository."""
from __future__ import annotations

import sys

from controller.cli.main import main

EXAMPLE = "examples/digits-mixed"


def run() -> int:
    steps = [
        ("Validate the example spec repository", ["validate", EXAMPLE]),
        ("Plan what reconciling it would do", ["plan", EXAMPLE]),
    ]
    for title, argv in steps:
        print(f"\n== {title}: origami {' '.join(argv)}", flush=True)
        rc = main(argv)
        if rc != 0:
            print(f"demo: step failed with exit code {rc}", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(run())
