"""The options of `origami reconcile` that serve the dashboard and the API: where (`--listen`), under
which host names (`--allowed-host`), how many event streams at once (`--max-streams`), and the git
webhook's secret (`--webhook-secret-file`)."""
from __future__ import annotations

import os


def add_listen_flags(parser) -> None:
    parser.add_argument("--listen", default=None, metavar="HOST:PORT",
                        help="serve the dashboard, the API (/api/v1) and /metrics here, e.g. 127.0.0.1:8080")
    parser.add_argument("--allowed-host", action="append", metavar="NAME",
                        default=[h for h in os.environ.get("ORIGAMI_ALLOWED_HOSTS", "").split(",") if h.strip()],
                        help="a host name the dashboard answers to besides the listen address and loopback "
                             "names (a reverse proxy's public name); repeat for several "
                             "(env ORIGAMI_ALLOWED_HOSTS, comma-separated)")
    # The default lives in controller.web.streams, not imported here: that would load the web
    # stack for every command.
    parser.add_argument("--max-streams", type=int, default=None, metavar="N",
                        help="live event streams open at once (default 32; beyond: 503 with Retry-After)")


    parser.add_argument("--webhook-secret-file", default=os.environ.get("ORIGAMI_WEBHOOK_SECRET_FILE"), metavar="FILE",
                        help="accept GitHub-style push webhooks at /api/v1/hooks/git signed with the secret on this "
                             "file's first line (X-Hub-Signature-256); each starts a pass at once "
                             "(env ORIGAMI_WEBHOOK_SECRET_FILE)")


def listen_options(args) -> dict:
    """The keyword arguments of `start_dashboard` that the flags above set."""
    return {"allowed_hosts": tuple(args.allowed_host or ()), "max_streams": args.max_streams,
            "webhook_secret_file": args.webhook_secret_file}
