"""`python -m controller.reconciler.build_worker`: one model's build, in a process of its own.

The controller (`controller.reconciler.sandbox.SandboxedBuilder`) writes a JSON job on stdin:

    {"revision": DIR, "model": NAME, "keys": {dataset, train, variants, cards}, "artifacts": DIR,
     "limits": {max_epochs: ..., ...}, "allow_repo_code": BOOL, "rlimits": {"RLIMIT_CPU": [soft, hard], ...},
     "view": null | {"hidden": [...], "binds": {path: writable}, "tmpfs_bytes": N},
     "collected": null (no collector) | {source key: pinned snapshot manifest digest}}

Before anything else runs (and before numpy or TensorFlow start threads) the worker applies the
resource limits and, with a `view`, hides the state directory (`controller.reconciler.confinement`).
Then it runs the ordinary `build_model`, which writes the stages into the artifact store and stage
cache; the controller reads them back from there. On stdout it writes JSON lines only:
`{"progress": TEXT}` while it works, then `{"done": {"executions": {...}}}`, or `{"error": TEXT}` with
a one-line user error (exit 1; `"budget": true` when a limit stopped it). Anything else a library
(or the repository's code) prints goes to stderr, which the controller keeps only for its logs.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import traceback
from collections.abc import Callable
from typing import IO
from typing import Any

MAX_JOB_BYTES = 1024 * 1024


class Protocol:
    """The JSON lines to the controller, on a private copy of stdout."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def send(self, **message: Any) -> None:
        self.stream.write(json.dumps(message) + "\n")
        self.stream.flush()


def apply_rlimits(rlimits: dict[str, list[int]]) -> None:
    """Soft and hard limits alike: the repository's code cannot raise a hard limit again."""
    for name, (soft, hard) in rlimits.items():
        resource.setrlimit(getattr(resource, name), (soft, hard))


def run_job(job: dict[str, Any], send: Callable[..., None]) -> dict[str, int]:
    """Build the job's model; the stages that ran, per kind."""
    from controller.limits import Limits
    from controller.loading import load_repository
    from controller.pipeline.build import build_model
    from controller.planning.keys import ModelKeys
    from controller.store.artifacts import ArtifactStore
    from controller.store.stage_cache import StageCache
    from specs.errors import SpecError
    from specs.errors import StageError

    limits = Limits(**job["limits"])
    repo = load_repository(job["revision"], limits)
    if not repo.valid:
        raise SpecError(repo.issues)
    if job["model"] not in repo.models:
        raise StageError(f"no Model named {job['model']!r} in this revision")
    store = ArtifactStore(job["artifacts"])
    cache = StageCache(store)
    if job.get("collected") is not None:  # collected samples: the snapshots the controller pinned
        from controller.collect.snapshot import PinnedManifests
        from controller.pipeline.collected import register_collected_provider
        from controller.planning.keys import dataset_key

        register_collected_provider(PinnedManifests(store, job["collected"]))
        # A snapshot pinned between planning and this start would be built under the old key: refuse.
        if dataset_key(repo, repo.models[job["model"]].spec.dataset) != job["keys"]["dataset"]:
            raise StageError(f"Model {job['model']}: its collected samples were pinned anew after this build was "
                             "planned; the next reconcile pass builds the new snapshot")
    build_model(repo, job["model"], ModelKeys(**job["keys"]), store, cache, lambda line: send(progress=line),
                allow_repo_code=bool(job["allow_repo_code"]), limits=limits)
    return dict(cache.executions)


def memory_message(job: dict[str, Any]) -> str:
    from controller.limits import Limits
    from controller.limits import how_to_raise
    from controller.limits import show_bytes

    limit = Limits(**job["limits"]).max_build_memory_bytes
    return (f"Model {job['model']}: the build ran out of memory at the limit of {show_bytes(limit)}; "
            f"{how_to_raise('max_build_memory_bytes')}")


def main() -> int:
    protocol = Protocol(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)  # print() of any library or module lands on stderr, never in the protocol
    job: dict[str, Any] = {}
    try:
        job = json.loads(sys.stdin.read(MAX_JOB_BYTES))
        apply_rlimits(job.get("rlimits") or {})
        if job.get("view"):
            from controller.reconciler.confinement import View
            from controller.reconciler.confinement import confine

            confine(View.from_dict(job["view"]))
        executions = run_job(job, protocol.send)
    except MemoryError:
        protocol.send(error=memory_message(job), budget=True)
        return 1
    except Exception as err:  # each kind of failure becomes one line for the controller
        from controller.reconciler.confinement import ConfinementError
        from specs.errors import OrigamiError

        if isinstance(err, ConfinementError):
            protocol.send(error=f"the build sandbox could not be set up ({err}); the build did not run")
        elif isinstance(err, OrigamiError):
            protocol.send(error=str(err))
        else:
            traceback.print_exc()  # the controller's log only: a traceback may name host paths
            protocol.send(error=f"build crashed: {type(err).__name__}")
            return 2
        return 1
    protocol.send(done={"executions": executions})
    return 0


if __name__ == "__main__":
    sys.exit(main())
