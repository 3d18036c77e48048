"""Checking what the controller signed: Ed25519 signatures over whole desired states, over the
artifact manifests inside them and over key endorsements, then the artifact's size and sha256.
Devices hold the controller's public keys (one provisioned, later ones learnt from endorsements,
`TrustedKeys`) and run these checks before anything else; the controller's `Signer` is
`controller.devices.signing`.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from specs.errors import DesiredRejected
from specs.errors import SignatureError
from specs.v1alpha1.protocol import MAX_DESIRED_BYTES
from specs.v1alpha1.protocol import DesiredState
from specs.v1alpha1.protocol import KeyEndorsement
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import SignedManifest
from specs.v1alpha1.protocol import signed_bytes

PRIVATE_KEY_FILE = "signing-key.pem"
PUBLIC_KEY_FILE = "signing-key.pub.pem"


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


TrustedKeys = Mapping[str, Ed25519PublicKey]   # key id -> public key


def raw_public_key(public_key: Ed25519PublicKey) -> str:
    """The key as an endorsement carries it: base64 of its 32 raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def trusting(keys: Ed25519PublicKey | TrustedKeys) -> TrustedKeys:
    return {key_id(keys): keys} if isinstance(keys, Ed25519PublicKey) else keys


def _signature_valid(public_key: Ed25519PublicKey, signature: str, data: bytes) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True


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


def verify_manifest(signed: SignedManifest, keys: Ed25519PublicKey | TrustedKeys) -> Manifest:
    """Return the manifest when it is signed by a trusted key; raise SignatureError otherwise."""
    trusted = trusting(keys)
    public_key = trusted.get(signed.keyId)
    if public_key is None:
        raise SignatureError(f"manifest {signed.manifest.name}@{signed.manifest.version} is signed by key "
                             f"{signed.keyId}, but this device trusts key {', '.join(sorted(trusted))}")
    if not _signature_valid(public_key, signed.signature, signed.manifest.canonical_bytes()):
        raise SignatureError(f"manifest {signed.manifest.name}@{signed.manifest.version} has an invalid "
                             "signature: it was altered or not signed by the controller")
    return signed.manifest


def verify_desired(payload: bytes, keys: Ed25519PublicKey | TrustedKeys) -> DesiredState:
    """The signature check a device runs first on a desired-state payload: the document as received,
    less `signature`, in canonical bytes (`signed_bytes`), signed by a trusted key; then the manifest
    inside it. Raise DesiredRejected (with the event reason) for anything else; nothing of the payload
    is echoed in the message."""
    trusted = trusting(keys)
    if len(payload) > MAX_DESIRED_BYTES:
        raise DesiredRejected("TooLarge", f"desired state of {len(payload)} bytes, at most {MAX_DESIRED_BYTES}")
    try:
        document = json.loads(payload)
    except ValueError:
        raise DesiredRejected("Malformed", "desired state is not JSON") from None
    if not isinstance(document, dict):
        raise DesiredRejected("Malformed", "desired state is not a JSON object")
    signature, signer = document.get("signature"), document.get("keyId")
    if not isinstance(signature, str) or not isinstance(signer, str):
        raise DesiredRejected("SignatureInvalid", "desired state is not signed")
    public_key = trusted.get(signer)
    if public_key is None:
        raise DesiredRejected("SignatureInvalid", f"desired state is signed by key {signer[:16]!r}, which this "
                              f"device does not trust (it trusts {', '.join(sorted(trusted))})")
    try:
        data = signed_bytes(document)
    except ValueError:   # NaN or Infinity: never written by a controller
        raise DesiredRejected("SignatureInvalid", "desired state has an invalid signature") from None
    if not _signature_valid(public_key, signature, data):
        raise DesiredRejected("SignatureInvalid", "desired state has an invalid signature: it was altered or "
                              "not signed by the controller")
    try:
        desired = DesiredState.model_validate(document)
    except ValidationError as err:
        raise DesiredRejected("Malformed", f"signed desired state does not validate ({err.error_count()} "
                              "error(s)): is the controller newer than this device?") from None
    if desired.artifact is not None:
        try:
            verify_manifest(desired.artifact, trusted)
        except SignatureError as err:
            raise DesiredRejected("SignatureInvalid", str(err)) from None
    return desired


def endorsed_key(endorsement: KeyEndorsement, keys: TrustedKeys) -> Ed25519PublicKey:
    """The public key an endorsement vouches for, when a trusted key signed it; SignatureError otherwise."""
    endorser = keys.get(endorsement.signedBy)
    if endorser is None:
        raise SignatureError(f"key {endorsement.keyId} is endorsed by key {endorsement.signedBy}, which is not "
                             "trusted")
    if not _signature_valid(endorser, endorsement.signature, endorsement.signed_bytes()):
        raise SignatureError(f"the endorsement of key {endorsement.keyId} has an invalid signature")
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(endorsement.publicKey))
    if key_id(public_key) != endorsement.keyId:
        raise SignatureError(f"the endorsement of key {endorsement.keyId} carries a key whose id is "
                             f"{key_id(public_key)}")
    return public_key


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
