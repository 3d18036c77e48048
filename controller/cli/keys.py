"""`origami keys show|rotate`: the controller's signing keys (docs/security.md, "Signed desired states").

`--key-passphrase-file` (or `ORIGAMI_KEY_PASSPHRASE`) is shared with `origami reconcile`: the
private key is encrypted with it (PKCS8, best available encryption) when it is created or rotated.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from controller.cli.output import add_state_flag
from wire.secret_files import read_first_line

MAX_PASSPHRASE_BYTES = 4096


def add_passphrase_flag(parser) -> None:
    parser.add_argument("--key-passphrase-file", default=None, metavar="FILE",
                        help="file whose first line is the signing key's passphrase (default: env "
                             "ORIGAMI_KEY_PASSPHRASE; none: the key is stored unencrypted, mode 0600)")


def passphrase_from_args(args) -> bytes | None:
    """The passphrase from --key-passphrase-file, else from the environment, else None."""
    from controller.devices.signing import PASSPHRASE_ENV

    path = getattr(args, "key_passphrase_file", None)
    if path:
        return read_first_line(path, "--key-passphrase-file", max_bytes=MAX_PASSPHRASE_BYTES)
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


def register(subparsers) -> None:
    p = subparsers.add_parser("keys", help="show or rotate the controller's signing keys")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    show = verbs.add_parser("show", help="print the current key id, retired keys and endorsements")
    add_state_flag(show)
    show.add_argument("-o", "--output", choices=["text", "json"], default="text")
    show.set_defaults(func=show_keys)
    rotate = verbs.add_parser("rotate", help="create a new signing key endorsed by the current one; the "
                                             "controller announces it to devices on its next start")
    add_state_flag(rotate)
    add_passphrase_flag(rotate)
    rotate.set_defaults(func=rotate_keys)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def show_keys(args) -> int:
    from controller.devices.signing import key_ids

    info = key_ids(Path(args.state_dir or "."))
    if args.output == "json":
        print(json.dumps(info, indent=2))
        return 0
    print(f"current  {info['current']}{'  (encrypted)' if info['encrypted'] else ''}")
    for retired in info["retired"]:
        print(f"retired  {retired}")
    for e in info["endorsements"]:
        print(f"endorsed {e['keyId']} by {e['signedBy']}")
    return 0


def rotate_keys(args) -> int:
    from controller.devices.signing import rotate

    old, new = rotate(Path(args.state_dir or "."), passphrase_from_args(args))
    print(f"rotated: {old} -> {new}; restart the controller to announce {new} to devices (a device "
          f"that trusts {old} trusts {new} once it has seen the announcement)")
    return 0
