"""`origami build [PATH] [--model NAME]`: run the ML pipeline and print each variant's figures.

Stages are keyed and cached exactly as the controller keys them, in the artifact store of
`--state-dir`: a model built here is not trained again by `origami reconcile` on the same state dir,
and `origami plan` lists nothing to train for it. Each model builds in the sandboxed build worker, with
the controller's limits, as under `origami reconcile`."""
from __future__ import annotations

import json
import sys

from controller.cli.limits_option import add_limits_option
from controller.cli.limits_option import add_repo_code_option
from controller.cli.limits_option import limits_from_args
from controller.cli.limits_option import repo_code_from_args
from controller.cli.output import add_state_flag
from controller.cli.progress import progress_for
from controller.loading import load_repository
from controller.pipeline.cards import class_counts_line
from specs.errors import SpecError
from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("build", help="build (train, squeeze, measure) the models of a spec repository")
    p.add_argument("path", nargs="?", default=".", help="spec repository (default: .)")
    p.add_argument("--model", action="append", help="only this model (repeatable; default: every model)")
    add_state_flag(p)
    add_limits_option(p)
    add_repo_code_option(p)
    p.add_argument("--output", "-o", choices=["text", "json"], default="text")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def _metric(v) -> str:
    if v.accuracy is not None:
        return f"acc {v.accuracy:.4f}"
    return f"mae {v.mae:.4f}" if v.mae is not None else "-"


def _gate(v) -> str:
    if not v.passed:
        return "FAILED: " + ", ".join(v.gate["failing_figures"])
    return "passed (not for TFLM)" if "tflm" in v.ineligible else "passed"


def _distinct(v) -> str:
    """The most distinct kernel values of any layer (clustering to 16 shows 16)."""
    return str(max(v.distinct_weights.values())) if v.distinct_weights else "-"


def render_table(build) -> str:
    head = ["variant", "quant", "size B", "gzip B", "C array B", "metric (TFLM)", "metric (LiteRT)", "arena B",
            "MACs", "params (non-zero)", "distinct/layer", "gate"]
    rows = []
    for v in build.variants:
        litert = v.litert.get("accuracy", v.litert.get("mae"))
        quant = v.quantization + (f"+lut{v.compression['bits']}" if v.compression else "")
        rows.append([v.name, quant, str(v.size_bytes), str(v.gzip_bytes), str(v.c_array_bytes),
                     _metric(v) if v.tflm else "-", f"{litert:.4f}",
                     str(v.arena_bytes) if v.arena_bytes is not None else "-", str(v.macs),
                     f"{v.parameters} ({v.nonzero_parameters})", _distinct(v), _gate(v)])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + rows]
    lines += [f"{v.name}: not eligible for TFLM boards: {v.ineligible['tflm']}"
              for v in build.variants if v.passed and "tflm" in v.ineligible]
    key = "accuracy" if build.task == "classification" else "mae"
    stages = ", ".join(f"{k} {n}" for k, n in sorted(build.executions.items())) or "none (all cached)"
    return (f"model {build.model} (dataset {build.dataset}, snapshot {build.dataset_digest[:12]}, "
            f"keras {build.model_digest[:12]}, float {key} {build.training['metrics'][key]:.4f}, "
            f"{build.training['epochs_run']} epochs)\n" + "\n".join(lines) + f"\nstages run: {stages}"
            + (f"\n{counts}" if (counts := class_counts_line(build.classes, build.class_counts)) else ""))


def runtime_shortfalls(repo, build) -> list[str]:
    """The implicit gate of each target runtime: boards of the Model's fleets that no passed variant
    can go to (a TFLM board with no variant TFLM runs in int8), said with the reasons."""
    problems = []
    for fleet_name, fleet in sorted(repo.fleets.items()):
        if fleet.spec.model != build.model:
            continue
        boards = [b for b in fleet.spec.selector.boards
                  if b in repo.profiles and repo.profiles[b].spec.runtime == "tflm"]
        if boards and not any(v.passed and "tflm" not in v.ineligible for v in build.variants):
            why = "; ".join(f"{v.name}: {v.ineligible.get('tflm') or 'failed its gates'}" for v in build.variants)
            problems.append(f"Fleet/{fleet_name}: no variant of {build.model} can go to its TFLM boards "
                            f"({', '.join(boards)}): {why}")
    return problems


def run(args) -> int:
    from controller.planning.keys import model_keys
    from controller.reconciler.sandbox import SandboxedBuilder

    limits = limits_from_args(args)
    repo = load_repository(args.path, limits)
    if not repo.valid:
        raise SpecError(repo.issues)
    names = args.model or sorted(repo.models)
    unknown = [n for n in names if n not in repo.models]
    if unknown:
        raise UsageError(f"no Model named {unknown[0]!r} in {args.path}; models: {', '.join(sorted(repo.models))}")
    if not names:
        raise UsageError(f"{args.path} defines no Model to build")
    builder = SandboxedBuilder(args.state_dir, allow_repo_code=repo_code_from_args(args), limits=limits)
    progress = progress_for(args.quiet)
    try:
        builds = [builder.run_build(repo, name, model_keys(repo, name), progress) for name in names]
    finally:
        progress.close()
    shortfalls = [problem for b in builds for problem in runtime_shortfalls(repo, b)]
    if args.output == "json":
        print(json.dumps([b.to_dict() for b in builds], indent=2, default=str))
    else:
        print("\n\n".join(render_table(b) for b in builds))
    for problem in shortfalls:
        print(f"origami build: {problem}", file=sys.stderr)
    return 0 if all(v.passed for b in builds for v in b.variants) and not shortfalls else 3
