"""`origami artifacts ls|show`: what the content-addressed store holds and what produced it."""
from __future__ import annotations

import json

from controller.store import ArtifactStore
from wire.text import printable


def register(subparsers) -> None:
    p = subparsers.add_parser("artifacts", help="list or show artifacts in the content-addressed store")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    ls = verbs.add_parser("ls", help="list artifacts (digest, size, kind, model, variant)")
    ls.add_argument("--kind", help="only this kind (tflite, keras-model, dataset-snapshot, model-card, ...)")
    show = verbs.add_parser("show", help="show one artifact's metadata (a unique digest prefix is enough)")
    show.add_argument("digest")
    show.add_argument("--content", action="store_true", help="print the content too (text artifacts)")
    for sub in (ls, show):
        sub.add_argument("--store", default=None, help="artifact store directory (default: .origami/artifacts)")
        sub.add_argument("--output", "-o", choices=["text", "json"], default="text")
    p.set_defaults(func=run)


def run(args) -> int:
    store = ArtifactStore(args.store)
    if args.verb == "ls":
        infos = [i for i in store.list() if not args.kind or i.metadata.get("kind") == args.kind]
        if args.output == "json":
            print(json.dumps([i.to_dict() for i in infos], indent=2))
            return 0
        print(f"{'DIGEST':14}{'SIZE':>10}  {'KIND':18}{'MODEL':18}VARIANT")
        for i in infos:
            m = i.metadata
            print(printable(f"{i.digest[:12]:14}{i.size:>10}  {m.get('kind', '-'):18}"
                            f"{m.get('model', m.get('dataset', '-')):18}{m.get('variant', '-')}"))
        return 0
    digest = store.resolve(args.digest)
    info = {"digest": digest, "path": str(store.path(digest)), "metadata": store.metadata(digest)}
    if args.output == "json":
        print(json.dumps(info, indent=2))
    else:
        print(f"digest: {digest}\npath: {info['path']}")
        for key, value in sorted(info["metadata"].items()):
            print(printable(f"{key}: {value}"))
    if args.content:
        data = store.read_bytes(digest)
        try:
            print(printable(data.decode("utf-8")).replace("\\x0a", "\n"))  # lines kept, controls shown
        except UnicodeDecodeError:
            print(f"({len(data)} bytes of binary content)")
    return 0
