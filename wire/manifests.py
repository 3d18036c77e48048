"""Checking what the controller signed: Ed25519 signatures over artifact manifests, then the
artifact's size and sha256. Devices hold the controller's public key (provisioned once) and run
these checks before installing anything; the controller's `Signer` is
`controller.devices.signing`.
"""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from specs.errors import SignatureError
from specs.v1alpha1.protocol import Manifest, SignedManifest

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
