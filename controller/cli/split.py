"""`origami split explain MODEL --device BOARD [PATH]`: every valid cut, its figures and cost, and the choice.

The model is built through the pipeline (trained once, then taken from the artifact store), every
head is converted to int8 and measured on TFLM (or estimated with --estimate), and the cost model is
applied with the board's DeviceProfile and the link of the Fleet that runs the model on that board.
"""
from __future__ import annotations

from controller.cli.output import add_output_flag
from controller.cli.output import add_state_flag
from controller.cli.output import emit
from controller.cli.output import table
from controller.cli.progress import progress_for
from controller.loading import load_repository
from specs.errors import SpecError
from specs.errors import StageError
from specs.errors import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser("split", help="explain how a model is split between a board and the edge")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    e = verbs.add_parser("explain", help="show every valid cut with its figures, cost and the choice")
    e.add_argument("model", help="Model name")
    e.add_argument("path", nargs="?", default=".", help="spec repository (default: .)")
    e.add_argument("--device", required=True, help="DeviceProfile (board) name, built-in or from the repository")
    e.add_argument("--fleet", default=None, help="take the link from this Fleet (default: the Fleet that runs "
                                                  "MODEL on BOARD, else the first Fleet running MODEL)")
    e.add_argument("--bandwidth", type=float, default=None, help="link bandwidth in bytes/s (overrides the Fleet)")
    e.add_argument("--latency-ms", type=float, default=None, help="per-message latency in ms (overrides the Fleet)")
    e.add_argument("--ble", action="store_true",
                   help="the board sits behind a gateway on Bluetooth LE: its link figures (docs/ble.md) instead of "
                        "the Fleet's; --bandwidth and --latency-ms still override")
    e.add_argument("--worker", default=None, help="DeviceProfile whose MAC rate the tail worker has (default rpi4)")
    e.add_argument("--estimate", action="store_true",
                   help="estimate head flash and arena from the graph instead of converting and measuring on TFLM")
    add_state_flag(e)
    e.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    add_output_flag(e)
    e.set_defaults(func=run_explain)


def _fleet_link(repo, model: str, board: str, fleet_name: str | None):
    from specs.v1alpha1.fleet import Link

    if fleet_name is not None:
        if fleet_name not in repo.fleets:
            raise UsageError(f"no Fleet named {fleet_name!r}; fleets: {', '.join(sorted(repo.fleets)) or 'none'}")
        return repo.fleets[fleet_name].spec.link, fleet_name
    running = [f for f in repo.fleets.values() if f.spec.model == model]
    on_board = [f for f in running if board in f.spec.selector.boards]
    chosen = (on_board or running or [None])[0]
    return (chosen.spec.link, chosen.name) if chosen else (Link(), None)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def render(decision, link_source: str) -> str:
    headers = ["", "cut after", "place", "head params", "tail params", "head MACs", "tail MACs", "crossing",
               "cross B", "head flash B", "head arena B", "fits", "device ms", "link ms", "worker ms",
               "total ms", "energy ms"]
    rows = []
    for row in decision.table:
        cut = decision.profile.cut(row.layer)
        fits = "yes" if row.feasible else "no (" + ", ".join(
            what for what, ok in (("RAM", row.fits_ram), ("flash", row.fits_flash)) if not ok) + ")"
        rows.append(["*" if row.layer == decision.layer else "", row.layer, row.placement, cut.head_params,
                     cut.tail_params, cut.head_macs, cut.tail_macs, "x".join(map(str, cut.crossing_shape)) or "-",
                     cut.crossing_bytes, cut.head_flash_bytes, cut.head_arena_bytes, fits, _ms(row.device_s),
                     _ms(row.transfer_s), _ms(row.remote_s), _ms(row.latency_s), _ms(row.energy_s)])
    measured = "measured on TFLM" if any(c.measured for c in decision.profile.cuts) else "estimated"
    header = (f"model {decision.model} on {decision.device}: {len(decision.table)} valid cuts of "
              f"{decision.profile.layers} layers (head figures {measured})\n"
              f"budget after the {decision.budget.reserve} B firmware reserve: RAM {decision.budget.ram} B, "
              f"flash {decision.budget.flash} B; device {decision.device_macs:.3g} MAC/s, "
              f"worker {decision.worker_macs:.3g} MAC/s\n"
              f"link ({link_source}): {decision.link.bandwidth:.0f} B/s, {decision.link.latency_s * 1000:g} ms "
              f"per message\n")
    verdict = (f"\nchoice ({decision.policy}, {decision.objective}): "
               + (f"split after {decision.layer}" if decision.split else "no split (whole model on the device)")
               + f", {_ms(decision.chosen.latency_s)} ms modelled; {decision.reason}")
    return header + table(headers, rows) + verdict


def run_explain(args) -> int:
    from controller.pipeline.build import build_model
    from controller.pipeline.datasets import Snapshot
    from controller.pipeline.tf_runtime import import_tf
    from controller.planning.keys import model_keys
    from controller.reconciler.wiring import artifact_dir
    from controller.split import plan_split
    from controller.split.cost import LinkSpeed
    from controller.split.cost import ble_link
    from controller.split.cost import link_from_spec
    from controller.store import ArtifactStore
    from controller.store import StageCache

    repo = load_repository(args.path)
    if not repo.valid:
        raise SpecError(repo.issues)
    if args.model not in repo.models:
        raise UsageError(f"no Model named {args.model!r} in {args.path}; models: {', '.join(sorted(repo.models))}")
    profiles = repo.profiles
    if args.device not in profiles:
        raise UsageError(f"no DeviceProfile named {args.device!r}; boards: {', '.join(sorted(profiles))}")
    if args.worker is not None and args.worker not in profiles:
        raise UsageError(f"no DeviceProfile named {args.worker!r} for --worker; boards: {', '.join(sorted(profiles))}")
    spec_link, fleet = _fleet_link(repo, args.model, args.device, args.fleet)
    speed = ble_link() if args.ble else link_from_spec(spec_link)
    speed = LinkSpeed(bandwidth=args.bandwidth or speed.bandwidth,
                      latency_s=speed.latency_s if args.latency_ms is None else args.latency_ms / 1000.0)
    if speed.bandwidth <= 0:
        raise UsageError("--bandwidth must be positive (bytes per second)")
    source = ", ".join(filter(None, ["BLE (docs/ble.md)" if args.ble else f"Fleet/{fleet}" if fleet
                                     else "Link defaults",
                                     "--bandwidth" if args.bandwidth else "", "--latency-ms" if args.latency_ms
                                     is not None else ""]))

    progress = progress_for(args.quiet)
    say = None if args.quiet else progress
    store = ArtifactStore(artifact_dir(args.state_dir))
    try:
        build = build_model(repo, args.model, model_keys(repo, args.model), store, StageCache(store), say)
        _, keras = import_tf()
        keras_model = keras.models.load_model(store.path(build.model_digest), compile=False)
        snapshot = Snapshot.decode(store.read_bytes(build.dataset_digest))
        worker_macs = profiles[args.worker].spec.macsPerSecond if args.worker else None
        decision = plan_split(keras_model, profiles[args.device], speed, repo.models[args.model].spec.split,
                              worker_macs=worker_macs, representative_data=snapshot.x("train"),
                              measure=not args.estimate, progress=say, name=args.model)
    except StageError as err:
        raise StageError(f"Model/{args.model} on {args.device}: {err}") from err  # no traceback: a spec problem
    finally:
        progress.close()
    emit({**decision.to_dict(), "linkSource": source}, args.output, lambda: render(decision, source))
    return 0
