"""Ed25519 signatures over artifact manifests (digest, size, version, target).

The controller creates its key pair on first run under its state directory and signs every
manifest it puts in a desired state; devices hold the public key (provisioned once) and
verify the signature, then the artifact's size and sha256, before installing anything.
"""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controller.errors import SignatureError
from controller.logs import get_logger
from specs.v1alpha1.protocol import Manifest, SignedManifest

log = get_logger("devices.signing")

PRIVATE_KEY_FILE = "signing-key.pem"
PUBLIC_KEY_FILE = "signing-key.pub.pem"


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read a provisioned public key (PEM); a wrong file is a user error with a clear message."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except FileNotFoundError:
        raise SignatureError(f"public key {path} does not exist: copy the controller's "
                             f"{PUBLIC_KEY_FILE} from its state directory to the device") from None
    except ValueError as err:
        raise SignatureError(f"{path} is not a PEM public key: {err}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


class Signer:
    """The controller's signing key. `Signer.load_or_create(state_dir)` on startup."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def load_or_create(cls, state_dir: Path) -> "Signer":
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


def verify_manifest(signed: SignedManifest, public_key: Ed25519PublicKey) -> Manifest:
    """Return the manifest when its signature is valid for `public_key`; raise SignatureError otherwise."""
    expected = key_id(public_key)
    if signed.keyId != expected:
        raise SignatureError(f"manifest {signed.manifest.name}@{signed.manifest.version} is signed by key "
                             f"{signed.keyId}, but this device trusts key {expected}")
    try:
        signature = base64.b64decode(signed.signature, validate=True)
        public_key.verify(signature, signed.manifest.canonical_bytes())
    except (InvalidSignature, ValueError):
        raise SignatureError(f"manifest {signed.manifest.name}@{signed.manifest.version} has an invalid "
                             "signature: it was altered or not signed by the controller") from None
    return signed.manifest


def verify_artifact(manifest: Manifest, path: Path) -> None:
    """Check the artifact file's size and sha256 against a verified manifest."""
    size = Path(path).stat().st_size
    if size != manifest.size:
        raise SignatureError(f"artifact {manifest.name}@{manifest.version} is {size} bytes, "
                             f"the signed manifest says {manifest.size}")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != manifest.digest:
        raise SignatureError(f"artifact {manifest.name}@{manifest.version} has sha256 {digest.hexdigest()[:12]}..., "
                             f"the signed manifest says {manifest.digest[:12]}...")
