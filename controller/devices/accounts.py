"""Who may log in to an Origami fleet's broker, and as what.

Two files in the broker directory `origami broker config` writes:
- `credentials.json` (mode 0600): account name -> password. Every enrolled device is there under
  its device id; so are the gateways and the service accounts (controller, collector, workers).
- `accounts.json` (no secrets): which accounts are services and which boards each gateway speaks
  for (boards behind a gateway have no login of their own).
A device id is enrolled when it has credentials and is not a service, or when a gateway carries it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from specs.errors import UsageError
from specs.v1alpha1.protocol import DEVICE_ID_PATTERN

CREDENTIALS_FILE = "credentials.json"
ACCOUNTS_FILE = "accounts.json"
PBKDF2_ITERATIONS = 101   # mosquitto_passwd's default for $7$
SALT_BYTES = 12
MAX_REGISTRY_BYTES = 16 * 1024 * 1024


def password_hash(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """`$7$iterations$salt$hash` as in Mosquitto 2's password file."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Check a password against a `$7$` line of a Mosquitto password file, in constant time."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit() or not 1 <= int(parts[2]) <= 1_000_000:
        return False
    try:
        salt, expected = base64.b64decode(parts[3], validate=True), base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(parts[2]), len(expected) or 64)
    return hmac.compare_digest(digest, expected)


def check_device_id(device_id: str) -> str:
    if not re.match(DEVICE_ID_PATTERN, device_id):
        raise UsageError(f"device id '{device_id[:80]}' must be lowercase letters, digits and '-' (at most 63), "
                         "as it becomes an MQTT topic level and a broker user name")
    return device_id


@dataclass(frozen=True)
class Accounts:
    """The roles of the broker's accounts (what `accounts.json` holds)."""

    controller: str = "controller"
    collector: str = "collector"
    workers: tuple[str, ...] = ("worker",)
    gateways: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # gateway id -> its boards
    tenants: Mapping[str, str] = field(default_factory=dict)   # device id -> its tenant (absent: `default`)
    namespaces: tuple[str, ...] = ()   # the tenants besides `default`: each has its own service accounts

    def tenant_of(self, device_id: str) -> str:
        return self.tenants.get(device_id, "default")

    def controller_of(self, tenant: str) -> str:
        """The controller's account in `tenant`'s namespace (one connection per account: one per tenant)."""
        return self.controller if tenant == "default" else f"{self.controller}-{tenant}"

    def collector_of(self, tenant: str) -> str:
        return self.collector if tenant == "default" else f"{self.collector}-{tenant}"

    @property
    def services(self) -> tuple[str, ...]:
        tenanted = [name for t in self.namespaces for name in (self.controller_of(t), self.collector_of(t))]
        return (self.controller, self.collector, *self.workers, *tenanted)

    def boards(self) -> set[str]:
        return {board for boards in self.gateways.values() for board in boards}

    def to_json(self) -> str:
        data = {"controller": self.controller, "collector": self.collector, "workers": list(self.workers),
                "gateways": {g: sorted(b) for g, b in sorted(self.gateways.items())}}
        if self.tenants or self.namespaces:  # only with tenants: a single-team registry stays as before
            data["tenants"] = dict(sorted(self.tenants.items()))
            data["namespaces"] = sorted(self.namespaces)
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Accounts:
        data = json.loads(text)
        names = [data["controller"], data["collector"], *data["workers"]]
        gateways = {str(g): tuple(str(b) for b in boards) for g, boards in dict(data.get("gateways", {})).items()}
        if not all(isinstance(n, str) and n for n in names):
            raise ValueError("account names must be strings")
        tenants = {str(d): str(t) for d, t in dict(data.get("tenants", {})).items()}
        namespaces = tuple(str(t) for t in data.get("namespaces", []))
        return cls(data["controller"], data["collector"], tuple(data["workers"]), gateways, tenants, namespaces)


def load_accounts(directory: Path) -> Accounts:
    """`accounts.json` of a broker directory; the defaults when it does not exist (older configs)."""
    path = Path(directory) / ACCOUNTS_FILE
    if not path.exists():
        return Accounts()
    try:
        return Accounts.from_json(_read_bounded(path))
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"{ACCOUNTS_FILE} in the broker directory is not what `origami broker config` writes; "
                         "run it again to rewrite it") from None


def load_credentials(directory: Path) -> dict[str, str]:
    path = Path(directory) / CREDENTIALS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(_read_bounded(path))
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ValueError
        return data
    except ValueError:
        raise UsageError(f"{CREDENTIALS_FILE} in the broker directory is not the JSON object `origami broker "
                         "config` writes; fix or delete it (deleting changes every password)") from None


def enrolled_devices(credentials: Iterable[str], accounts: Accounts) -> frozenset[str]:
    """Device ids with credentials (services excluded), plus the boards behind each gateway."""
    return frozenset(set(credentials) - set(accounts.services)) | accounts.boards()


def _read_bounded(path: Path) -> str:
    with open(path, "rb") as handle:
        data = handle.read(MAX_REGISTRY_BYTES + 1)
    if len(data) > MAX_REGISTRY_BYTES:
        raise ValueError("too large")
    return data.decode("utf-8")
