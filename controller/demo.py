"""`make demo`: the lifecycle on the embedded defaults, on a copy of examples/digits-mixed kept in a
real git repository in a temp directory.

It does what really exists and says what it skips: starting a virtual fleet from the demo is not
wired yet; without devices nothing is rolled out and the fleets say they have no members.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import git

from controller.cli.main import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits-mixed"


def _step(title: str, argv: list[str], ok: tuple[int, ...] = (0,)) -> int:
    print(f"\n== {title}\n$ origami {' '.join(argv)}", flush=True)
    rc = main(argv)
    if rc not in ok:
        print(f"demo: step failed with exit code {rc}", file=sys.stderr)
    return rc


def run() -> int:
    work = Path(tempfile.mkdtemp(prefix="origami-demo-"))
    specs, state = work / "specs", work / "state"
    shutil.copytree(EXAMPLE, specs)
    repo = git.Repo.init(specs, initial_branch="main")
    repo.git.add(A=True)
    repo.index.commit("digits-mixed example")
    print(f"demo: spec repository {specs} (git, branch main); state in {state}")
    print("demo: SKIPPED: the virtual fleet (>= 20 devices, three board classes) and its rollouts. Starting "
          "virtual boards from the demo is not wired yet, so no device says hello and nothing is rolled out.")
    reconcile = ["reconcile", "--git", str(specs), "--once", "--state-dir", str(state)]
    steps = [
        ("Validate the spec repository", ["validate", str(specs)], (0,)),
        ("Plan against the (empty) state", ["plan", str(specs), "--state-dir", str(state)], (0,)),
        ("Reconcile the first commit: snapshot, train, squeeze, measure, gate", reconcile, (0, 3)),
        ("Status after the first commit", ["status", "--state-dir", str(state)], (0,)),
    ]
    for title, argv, ok in steps:
        if _step(title, argv, ok) not in ok:
            return 1
    fleets = specs / "fleets.yaml"
    fleets.write_text(fleets.read_text().replace("batchSize: 50%", "batchSize: 25%"))
    repo.index.add(["fleets.yaml"])
    sha = repo.index.commit("digits-linux: smaller batches").hexsha
    print(f"\ndemo: committed {sha[:12]} (rollout strategy only): the plan and the pass must rebuild nothing")
    for title, argv, ok in [
        ("Plan the rollout-only change against the recorded state", ["plan", str(specs), "--state-dir", str(state)],
         (0,)),
        ("Reconcile the new commit", reconcile, (0, 3)),
        ("Events", ["events", "--state-dir", str(state), "--limit", "20"], (0,)),
        ("Status table", ["get", "models", "--state-dir", str(state)], (0,)),
        ("Status", ["status", "--state-dir", str(state)], (0,)),
    ]:
        if _step(title, argv, ok) not in ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(run())
