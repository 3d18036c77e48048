"""Which `Host` and `Origin` headers this server answers: the guard against DNS rebinding and
cross-site writes.

DNS rebinding: a page on evil.example makes its own name resolve to 127.0.0.1, so the browser
sends the page's requests to the dashboard, and counts the answers as evil.example's to read. The
request still says `Host: evil.example`, so the server answers only the names it listens under:
loopback names and addresses on loopback, and the `--allowed-host` names the operator gives (a
reverse proxy's public name) otherwise. An IP address in `Host` cannot be rebound, so on a
wildcard listen address (0.0.0.0, ::) any address is accepted, never a name that was not given.

A state-changing request (POST and the like) carrying an `Origin` must come from a page of this
server: `http(s)://` and exactly the request's (already accepted) `Host`.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_HOST = 260  # a DNS name (253) with a port


def host_name(header: str | None) -> str | None:
    """The name or address of a `Host` header without its port (`[::1]:8080` -> `::1`), lower case;
    None when it is missing or malformed."""
    if not header or len(header) > MAX_HOST:
        return None
    header = header.strip().lower()
    if header.startswith("["):
        name, sep, rest = header[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name
    name, sep, port = header.partition(":")
    if sep and not port.isdigit():
        return None
    return name or None


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostPolicy:
    """The `Host` names a server answers to (lower case, no port)."""

    names: frozenset[str] = LOOPBACK_NAMES
    any_address: bool = False  # listening on a wildcard address: every IP literal is one of ours

    @classmethod
    def for_listen(cls, listen_host: str, allowed: list[str] | tuple[str, ...] = ()) -> HostPolicy:
        """Loopback names, the listen address itself, and the operator's `--allowed-host` names."""
        listen = listen_host.strip("[]").lower()
        names = set(LOOPBACK_NAMES) | {a.strip().lower().strip("[]") for a in allowed if a.strip()}
        if listen not in WILDCARDS:
            names.add(listen)
        return cls(frozenset(names), any_address=listen in WILDCARDS)

    def allows(self, host_header: str | None) -> bool:
        name = host_name(host_header)
        if name is None:
            return False
        return name in self.names or (self.any_address and _is_address(name))


def origin_matches(origin: str | None, host_header: str | None) -> bool:
    """A present `Origin` names this request's own `Host` (http or https: behind a TLS proxy the
    browser's scheme is https while we serve http); a missing one is a non-browser client."""
    if origin is None:
        return True
    if not host_header or len(origin) > MAX_HOST + 10:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.strip().lower() \
        and not parts.path and not parts.query
