"""Operator tokens, sessions and cross-site request protection for the dashboard and the API.

A token is created on the first run and handed over once, in a file only its owner can read
(`operator-token`, mode 0600, never on stdout or stderr: those end up in service logs); only a
salted scrypt hash is kept, in `operator-tokens.json` next to the state store (mode 0600). Actions need a token: as
`Authorization: Bearer <token>` on the API, or typed into the dashboard (which may keep a
session cookie after `/login`). Browser forms carry a double-submit CSRF token (cookie + hidden
field) and their `Origin`, when sent, must be this server (`controller.web.hosts`).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from controller.tenancy.roles import DEFAULT_TENANT
from controller.tenancy.roles import LEGACY_ROLE
from controller.tenancy.roles import Principal
from controller.tenancy.roles import check_role
from controller.tenancy.roles import check_tenant_name
from specs.errors import AuthError
from wire.files import atomic_write
from wire.logs import get_logger

log = get_logger("web.auth")
TOKEN_FILE = "operator-tokens.json"
FIRST_TOKEN_FILE = "operator-token"  # the first run's plain token, for the operator to collect
SESSION_COOKIE = "origami_session"
CSRF_COOKIE = "origami_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}


def _hash(token: str, salt: bytes) -> bytes:
    return hashlib.scrypt(token.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Operator:
    name: str
    via: str  # "token" (bearer or typed into a form) or "session"


class TokenStore:
    """Named operator tokens, stored hashed, each bound to a tenant and a role (entries written
    before tenancy have neither: `default`/`operator`, see controller.tenancy.roles). Thread-safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._verified: dict[bytes, Principal] = {}  # sha256(token) -> who: skip scrypt for a token seen before

    def _entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            return json.loads(self.path.read_text())["tokens"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise AuthError(f"{self.path}: unreadable operator token file ({err}); move it aside and restart "
                            "to create a new token") from err

    def names(self) -> list[str]:
        return [e["name"] for e in self._entries()]

    def holders(self, tenant: str | None = None) -> list[Principal]:
        """Who holds a token (of `tenant`, or of every tenant), without any secret."""
        every = [_principal(e) for e in self._entries()]
        return [p for p in every if tenant is None or p.tenant == tenant]

    def create(self, name: str, *, tenant: str = DEFAULT_TENANT, role: str = LEGACY_ROLE) -> str:
        """A new token for `name` in `tenant` with `role` (replacing that name's old one in that
        tenant); the plain token is returned once."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise AuthError(f"operator name {name!r}: use letters, digits, '-' and '_'")
        check_tenant_name(tenant)
        check_role(role)
        token = secrets.token_urlsafe(32)
        salt = os.urandom(16)
        with self._lock:
            entries = [e for e in self._entries() if (e["name"], _principal(e).tenant) != (name, tenant)]
            entries.append({"name": name, "tenant": tenant, "role": role, "salt": salt.hex(),
                            "scrypt": _hash(token, salt).hex(), "created": time.time()})
            atomic_write(self.path, json.dumps({"tokens": entries}, indent=2).encode())
            os.chmod(self.path, 0o600)
            self._verified.clear()
        log.info("operator token created", extra={"operator": name, "tenant": tenant, "role": role,
                                                  "file": str(self.path)})
        return token

    def verify(self, token: str | None) -> str | None:
        """The operator's name for a valid token, else None."""
        who = self.principal(token)
        return who.name if who else None

    def principal(self, token: str | None) -> Principal | None:
        """Who a valid token belongs to (name, tenant, role), else None."""
        if not token or len(token) > 512:
            return None
        quick = hashlib.sha256(token.encode()).digest()
        with self._lock:
            if quick in self._verified:
                return self._verified[quick]
            for entry in self._entries():
                if hmac.compare_digest(_hash(token, bytes.fromhex(entry["salt"])), bytes.fromhex(entry["scrypt"])):
                    self._verified[quick] = _principal(entry)
                    return self._verified[quick]
        return None


def _principal(entry: dict) -> Principal:
    return Principal(entry["name"], entry.get("tenant", DEFAULT_TENANT), entry.get("role", LEGACY_ROLE))


def ensure_operator_token(state_dir: str | Path, name: str = "operator") -> tuple[TokenStore, str | None]:
    """The token store of a state directory; on the first run also the new token, to show once."""
    tokens = TokenStore(Path(state_dir) / TOKEN_FILE)
    if tokens.names():
        return tokens, None
    return tokens, tokens.create(name)


def _create_private(path: Path) -> int:
    """A new file of mode 0600, open for writing. Never replaces a file (O_EXCL) nor follows a
    symlink planted at `path`: AuthError instead."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError as err:
        raise AuthError(f"{path.name} already exists; move it aside (or delete it) and try again") from err
    except OSError as err:
        raise AuthError(f"cannot create {path.name}: {err.strerror}") from err
    os.fchmod(fd, 0o600)  # whatever the umask
    return fd


def write_secret(path: str | Path, secret: str) -> Path:
    """`secret` and a newline in a new private file (see `_create_private`)."""
    path = Path(path)
    with os.fdopen(_create_private(path), "w") as f:
        f.write(secret + "\n")
    return path


def hand_over_first_token(state_dir: str | Path, name: str = "operator") -> tuple[TokenStore, Path | None]:
    """The token store of a state directory; on the first run also a new token for `name`, written to
    `STATE/operator-token` (0600) for the operator to collect; the path is returned, never the token.
    The file is created before the token, so a left-over file stops us before any token exists."""
    tokens = TokenStore(Path(state_dir) / TOKEN_FILE)
    if tokens.names():
        return tokens, None
    path = Path(state_dir) / FIRST_TOKEN_FILE
    fd = _create_private(path)
    with os.fdopen(fd, "w") as f:
        try:
            f.write(tokens.create(name) + "\n")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return tokens, path


class Sessions:
    """Browser sessions after `/login`: random ids held in memory (a restart logs everyone out)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[Principal, float]] = {}

    def open(self, who: Principal | str) -> str:
        """A session for `who` (a bare name: the default tenant's operator, as before roles)."""
        sid = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            self._sessions[sid] = (who if isinstance(who, Principal) else Principal(who), now + SESSION_SECONDS)
        return sid

    def who(self, sid: str | None) -> str | None:
        holder = self.holder(sid)
        return holder.name if holder else None

    def holder(self, sid: str | None) -> Principal | None:
        if not sid:
            return None
        with self._lock:
            entry = self._sessions.get(sid)
        return entry[0] if entry and entry[1] > time.time() else None

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_matches(cookie: str | None, submitted: str | None) -> bool:
    return bool(cookie) and bool(submitted) and hmac.compare_digest(cookie.encode(), submitted.encode())
