"""The controller's Ed25519 signing keys: created on first run under `<state>/keys/`, used to sign
every desired state (and the manifest inside it). Devices check the signatures with `wire.manifests`.

Layout of `<state>/keys/`:
- `signing-key.pem`: the current private key (PKCS8, 0600; encrypted when a passphrase is given),
- `signing-key.pub.pem`: its public key, what a new device is provisioned with,
- `retired/<key id>.pem`: keys rotated out, kept (they signed the endorsements devices rely on),
- `endorsements.json`: every rotation, oldest first: the new public key signed by the old one. The
  controller announces them (`KeyAnnouncement`, retained) so a device that trusts an older key
  learns the newer ones.
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from specs.errors import KeyPassphraseError
from specs.errors import SignatureError
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import KeyAnnouncement
from specs.v1alpha1.protocol import KeyEndorsement
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import SignedManifest
from wire.files import atomic_write
from wire.logs import get_logger
from wire.manifests import PRIVATE_KEY_FILE
from wire.manifests import PUBLIC_KEY_FILE
from wire.manifests import key_id
from wire.manifests import load_public_key
from wire.manifests import public_pem
from wire.manifests import raw_public_key

log = get_logger("devices.signing")

ENDORSEMENTS_FILE = "endorsements.json"
RETIRED_DIR = "retired"
PASSPHRASE_ENV = "ORIGAMI_KEY_PASSPHRASE"
_HOW_TO_PASS = f"pass --key-passphrase-file FILE or set {PASSPHRASE_ENV}"


def _load_private(path: Path, passphrase: bytes | None) -> Ed25519PrivateKey:
    """Read one private key; an encrypted one needs `passphrase`, an unencrypted one ignores it."""
    data = path.read_bytes()
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    try:
        key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except TypeError:  # encrypted, no passphrase given
        raise KeyPassphraseError(f"the signing key {path.name} is encrypted and no passphrase was given: "
                                 f"{_HOW_TO_PASS}") from None
    except ValueError:
        if encrypted:
            raise KeyPassphraseError(f"the passphrase does not decrypt the signing key {path.name}: check "
                                     f"--key-passphrase-file or {PASSPHRASE_ENV}") from None
        raise SignatureError(f"the signing key {path.name} is not a readable PEM private key; restore it from "
                             "backup or delete it to create a new key (devices must then be re-provisioned)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"the signing key {path.name} is not an Ed25519 key")
    return key


def _write_private(path: Path, key: Ed25519PrivateKey, passphrase: bytes | None) -> None:
    """PKCS8, encrypted when a passphrase is given; created 0600, written then renamed."""
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _endorsements(keys: Path) -> list[KeyEndorsement]:
    path = keys / ENDORSEMENTS_FILE
    if not path.exists():
        return []
    return [KeyEndorsement.model_validate(e) for e in json.loads(path.read_text())]


class Signer:
    """The controller's current signing key. `Signer.load_or_create(state_dir)` on startup."""

    def __init__(self, private_key: Ed25519PrivateKey, endorsements: list[KeyEndorsement] | None = None) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)
        self.endorsements = list(endorsements or [])

    @classmethod
    def load_or_create(cls, state_dir: Path, passphrase: bytes | None = None) -> Signer:
        """Load `state_dir/keys/signing-key.pem`, or create the pair there (encrypted when `passphrase`)."""
        keys = Path(state_dir) / "keys"
        private_path = keys / PRIVATE_KEY_FILE
        if private_path.exists():
            return cls(_load_private(private_path, passphrase), _endorsements(keys))
        key = Ed25519PrivateKey.generate()
        _write_private(private_path, key, passphrase)
        atomic_write(keys / PUBLIC_KEY_FILE, public_pem(key.public_key()))
        signer = cls(key)
        log.info("created signing key pair", extra={"key_id": signer.key_id, "encrypted": bool(passphrase)})
        return signer

    def sign(self, manifest: Manifest) -> SignedManifest:
        signature = self._private.sign(manifest.canonical_bytes())
        return SignedManifest(manifest=manifest, signature=base64.b64encode(signature).decode("ascii"),
                              keyId=self.key_id)

    def sign_desired(self, desired: DesiredState) -> DesiredState:
        """The desired state signed as a whole by the current key (any older signature replaced)."""
        unsigned = desired.model_copy(update={"keyId": self.key_id, "signature": None})
        signature = self._private.sign(unsigned.signed_bytes())
        return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode("ascii")})

    def endorse(self, public_key) -> KeyEndorsement:
        """`public_key` vouched for by this key."""
        unsigned = KeyEndorsement(keyId=key_id(public_key), publicKey=raw_public_key(public_key),
                                  signedBy=self.key_id, signature="-")
        signature = self._private.sign(unsigned.signed_bytes())
        return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode("ascii")})

    def announcement(self) -> KeyAnnouncement:
        return KeyAnnouncement(keys=self.endorsements)


def rotate(state_dir: Path, passphrase: bytes | None = None) -> tuple[str, str]:
    """A new current key, endorsed by the old one; the old one is kept under `retired/`.
    Returns (old key id, new key id). The controller announces the endorsement on its next start."""
    keys = Path(state_dir) / "keys"
    if not (keys / PRIVATE_KEY_FILE).exists():
        raise SignatureError("there is no signing key to rotate in this state directory yet: run "
                             "`origami reconcile` once, or pass the right --state-dir")
    old = Signer.load_or_create(state_dir, passphrase)
    new_key = Ed25519PrivateKey.generate()
    endorsement = old.endorse(new_key.public_key())
    retired = keys / RETIRED_DIR / f"{old.key_id}.pem"
    # Order matters for a crash: the old key is copied aside and the endorsement written before the
    # current key is replaced, so at every point the current key is one devices can come to trust.
    _write_private(retired, old._private, passphrase)
    chain = [e.model_dump(mode="json") for e in old.endorsements + [endorsement]]
    atomic_write(keys / ENDORSEMENTS_FILE, json.dumps(chain, indent=1).encode())
    _write_private(keys / PRIVATE_KEY_FILE, new_key, passphrase)
    atomic_write(keys / PUBLIC_KEY_FILE, public_pem(new_key.public_key()))
    log.info("rotated signing key", extra={"old_key_id": old.key_id, "key_id": endorsement.keyId})
    return old.key_id, endorsement.keyId


def key_ids(state_dir: Path) -> dict[str, object]:
    """What `origami keys show` prints, from public material only (no passphrase needed)."""
    keys = Path(state_dir) / "keys"
    if not (keys / PUBLIC_KEY_FILE).exists():
        raise SignatureError("there is no signing key in this state directory yet: run `origami reconcile` "
                             "once, or pass the right --state-dir")
    current = key_id(load_public_key(keys / PUBLIC_KEY_FILE))
    encrypted = b"ENCRYPTED" in (keys / PRIVATE_KEY_FILE).read_bytes() if (keys / PRIVATE_KEY_FILE).exists() \
        else False
    chain = _endorsements(keys)
    retired = sorted(p.stem for p in (keys / RETIRED_DIR).glob("*.pem")) if (keys / RETIRED_DIR).exists() else []
    return {"current": current, "encrypted": encrypted, "retired": retired,
            "endorsements": [{"keyId": e.keyId, "signedBy": e.signedBy, "issuedAt": e.issuedAt} for e in chain]}
