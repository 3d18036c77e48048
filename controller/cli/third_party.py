"""`origami third-party verify|fetch`: the pinned source trees firmware builds compile against
(TFLM, flatbuffers, gemmlowp, ruy, kissfft, CMSIS, CMSIS-NN, Monocypher), checked against the lock
(`controller/firmware/third_party.lock.json`) or fetched from upstream and verified."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("third-party", help="verify or fetch the pinned third-party trees of firmware builds")
    sub = p.add_subparsers(dest="third_party_command", metavar="ACTION", required=True)
    verify = sub.add_parser("verify", help="check a third-party tree against the lock (exit 1 when it differs)")
    verify.add_argument("--path", type=Path, default=None,
                        help="the tree (default: $ORIGAMI_THIRD_PARTY, else ../shared/third_party)")
    verify.add_argument("--output", "-o", choices=["text", "json"], default="text")
    verify.set_defaults(func=run_verify)
    fetch = sub.add_parser("fetch", help="fetch the locked commits from upstream into DIR, each folder verified")
    fetch.add_argument("dir", type=Path, help="where the tree goes (then set ORIGAMI_THIRD_PARTY to it)")
    fetch.add_argument("--mirror", action="append", default=[], metavar="FOLDER=URL",
                       help="fetch FOLDER from URL instead of its upstream (a mirror; the digest still binds)")
    fetch.add_argument("--output", "-o", choices=["text", "json"], default="text")
    fetch.set_defaults(func=run_fetch)


def _default_root() -> Path:
    from controller.firmware.tflm_library import third_party_root

    return third_party_root().root


def run_verify(args) -> int:
    from controller.firmware.third_party import verify_tree

    root = args.path if args.path is not None else _default_root()
    check = verify_tree(root)
    if args.output == "json":
        print(json.dumps(check.to_dict(), indent=2))
    else:
        for folder in check.folders:
            figures = f"{folder.files} files" if folder.status != "missing" else "absent"
            print(f"{folder.name:<14} {folder.status:<8} {figures}")
        print("the tree matches the lock" if check.ok else
              f"{len(check.problems())} folder(s) differ from the lock: firmware built from this tree is not "
              "the pinned one (origami third-party fetch DIR rebuilds it)")
    return 0 if check.ok else 1


def _mirrors(values: list[str]) -> dict[str, str]:
    from controller.firmware.third_party import ThirdPartyError

    out = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url:
            raise ThirdPartyError(f"--mirror {value!r}: expected FOLDER=URL")
        out[name] = url
    return out


def run_fetch(args) -> int:
    from controller.firmware.third_party import fetch_tree

    report = fetch_tree(args.dir, mirrors=_mirrors(args.mirror),
                        progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.output == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"fetched {len(report.fetched)} folder(s), {len(report.already)} already verified; "
              f"use it with ORIGAMI_THIRD_PARTY={args.dir}")
    return 0
