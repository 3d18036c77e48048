"""The controller's Ed25519 signing key: created on first run under the state directory, used to
sign every manifest put in a desired state. Devices check the signatures with `wire.manifests`.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from specs.errors import SignatureError
from specs.v1alpha1.protocol import Manifest, SignedManifest
from wire.logs import get_logger
from wire.manifests import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, key_id, public_pem

log = get_logger("devices.signing")


class Signer:
    """The controller's signing key. `Signer.load_or_create(state_dir)` on startup."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def load_or_create(cls, state_dir: Path) -> Signer:
        """Load `state_dir/keys/signing-key.pem`, or create the pair there (private key mode 0600)."""
        keys = Path(state_dir) / "keys"
        private_path = keys / PRIVATE_KEY_FILE
        if private_path.exists():
            try:
                key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
            except ValueError as err:
                raise SignatureError(f"{private_path} is not a readable PEM private key ({err}); "
                                     "restore it from backup or delete it to create a new key "
                                     "(devices must then be re-provisioned)") from None
            if not isinstance(key, Ed25519PrivateKey):
                raise SignatureError(f"{private_path} is not an Ed25519 key")
            return cls(key)
        keys.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # Write then rename, created 0600 from the start: never a half-written or world-readable key.
        tmp = private_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.replace(tmp, private_path)
        (keys / PUBLIC_KEY_FILE).write_bytes(public_pem(key.public_key()))
        signer = cls(key)
        log.info("created signing key pair", extra={"key_id": signer.key_id, "dir": str(keys)})
        return signer

    def sign(self, manifest: Manifest) -> SignedManifest:
        signature = self._private.sign(manifest.canonical_bytes())
        return SignedManifest(manifest=manifest, signature=base64.b64encode(signature).decode("ascii"),
                              keyId=self.key_id)



