"""What a device trusts and what it has applied, persisted beside its slots, and the checks every
desired state goes through before it may change anything (docs/protocol.md, "Device checks"):

1. signature, by a trusted controller key, over the whole message (`wire.manifests.verify_desired`);
2. the device id is this device's;
3. the board is this device's board class;
4. the sequence is not below the last one applied (equal: the same desired state delivered again).

Only then does the caller look at what it refused before. A desired state failing a check raises
`DesiredRejected` and changes nothing here. `Keyring` holds the trusted keys: the provisioned one
and every key endorsed since by a key already trusted (`KeyAnnouncement`).
"""
from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from specs.errors import DesiredRejected
from specs.errors import SignatureError
from specs.v1alpha1.protocol import MAX_KEY_ANNOUNCEMENT_BYTES
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import KeyAnnouncement
from wire.files import atomic_write
from wire.manifests import endorsed_key
from wire.manifests import key_id
from wire.manifests import raw_public_key
from wire.manifests import verify_desired

KEYS_FILE = "trusted-keys.json"
SEQUENCE_FILE = "desired-sequence.json"
WARNING_INTERVAL_S = 60.0


class Keyring:
    """The controller keys this device trusts, oldest first; persisted in `root/trusted-keys.json`."""

    def __init__(self, root: Path, provisioned: Ed25519PublicKey) -> None:
        self.path = Path(root) / KEYS_FILE
        self._lock = threading.Lock()
        self._keys: dict[str, Ed25519PublicKey] = {key_id(provisioned): provisioned}
        if self.path.exists():
            for raw in json.loads(self.path.read_text()).get("keys", []):
                key = Ed25519PublicKey.from_public_bytes(base64.b64decode(raw))
                self._keys.setdefault(key_id(key), key)

    def keys(self) -> dict[str, Ed25519PublicKey]:
        with self._lock:
            return dict(self._keys)

    @property
    def newest(self) -> str:
        """The id of the key learnt last (the provisioned one until a rotation reaches the device)."""
        with self._lock:
            return list(self._keys)[-1]

    def learn(self, payload: bytes) -> list[str]:
        """Add every key the announcement endorses with a key already trusted (walking the chain, so
        several rotations are caught up at once); the ids added. An endorsement by no trusted key
        raises DesiredRejected after the valid ones are kept: nothing it names is trusted."""
        if len(payload) > MAX_KEY_ANNOUNCEMENT_BYTES:
            raise DesiredRejected("TooLarge", f"key announcement of {len(payload)} bytes, "
                                  f"at most {MAX_KEY_ANNOUNCEMENT_BYTES}")
        try:
            announcement = KeyAnnouncement.model_validate_json(payload)
        except ValidationError as err:
            raise DesiredRejected("Malformed", f"key announcement does not validate ({err.error_count()} "
                                  "error(s))") from None
        added: list[str] = []
        refused: list[str] = []
        with self._lock:
            for endorsement in announcement.keys:
                if endorsement.keyId in self._keys:
                    continue
                try:
                    self._keys[endorsement.keyId] = endorsed_key(endorsement, self._keys)
                except (SignatureError, ValueError) as err:
                    refused.append(str(err))
                    continue
                added.append(endorsement.keyId)
            if added:
                atomic_write(self.path, json.dumps({"keys": [raw_public_key(k) for k in self._keys.values()]},
                                                   indent=1).encode())
        if refused:
            raise DesiredRejected("KeyNotTrusted", f"key announcement refused in part: {refused[0]}"
                                  + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""))
        return added


class DesiredGuard:
    """Checks 1-4 above, and the last applied sequence (persisted in `root/desired-sequence.json`)."""

    def __init__(self, root: Path, device_id: str, board: Callable[[], str], keyring: Keyring) -> None:
        self.path = Path(root) / SEQUENCE_FILE
        self.device_id = device_id
        self.board = board
        self.keyring = keyring
        self.last_sequence = json.loads(self.path.read_text())["sequence"] if self.path.exists() else 0

    def check(self, payload: bytes) -> DesiredState:
        desired = verify_desired(payload, self.keyring.keys())
        if desired.deviceId != self.device_id:
            raise DesiredRejected("NotForThisDevice", f"desired state for device {desired.deviceId}, "
                                  f"this is {self.device_id}")
        board = self.board()
        if desired.board != board:
            raise DesiredRejected("NotForThisBoard", f"desired state for board {desired.board[:64]!r}, "
                                  f"this device is {board!r}")
        if desired.sequence < self.last_sequence:
            raise DesiredRejected("Replayed", f"desired state sequence {desired.sequence} is older than the "
                                  f"last one applied ({self.last_sequence}): a replay")
        return desired

    def applied(self, desired: DesiredState) -> None:
        """Remember `desired` as the newest applied, before acting on it (a restart then refuses older ones)."""
        if desired.sequence > self.last_sequence:
            atomic_write(self.path, json.dumps({"sequence": desired.sequence}).encode())
            self.last_sequence = desired.sequence


class WarningLimiter:
    """At most one Warning event per reason per interval: a flood of forgeries costs one event a minute."""

    def __init__(self, interval: float = WARNING_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}

    def admit(self, reason: str) -> bool:
        now = self.clock()
        last = self._last.get(reason)
        if last is not None and now - last < self.interval:
            return False
        self._last[reason] = now
        return True
