"""Ed25519 manifest signing: key pair on first run, tampering and foreign keys are rejected."""
from __future__ import annotations

import hashlib
import stat

import pytest

from controller.devices import signing
from specs.errors import SignatureError
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import SignedManifest
from specs.v1alpha1.protocol import Target
from wire import manifests


def _manifest(data: bytes, version: str = "1") -> Manifest:
    return Manifest(name="digits", version=version, digest=hashlib.sha256(data).hexdigest(), size=len(data),
                    target=Target(runtime="litert"))


def test_key_pair_created_once_and_private_key_is_owner_only(tmp_path):
    first = signing.Signer.load_or_create(tmp_path)
    second = signing.Signer.load_or_create(tmp_path)
    assert first.key_id == second.key_id
    private = tmp_path / "keys" / signing.PRIVATE_KEY_FILE
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    public = manifests.load_public_key(tmp_path / "keys" / manifests.PUBLIC_KEY_FILE)
    assert manifests.key_id(public) == first.key_id


def test_signed_manifest_verifies_and_tampering_is_rejected(tmp_path):
    signer = signing.Signer.load_or_create(tmp_path)
    signed = signer.sign(_manifest(b"model bytes"))
    assert manifests.verify_manifest(signed, signer.public_key) == signed.manifest
    bigger = signed.manifest.model_copy(update={"size": signed.manifest.size + 1})
    with pytest.raises(SignatureError, match="invalid signature"):
        manifests.verify_manifest(SignedManifest(manifest=bigger, signature=signed.signature, keyId=signed.keyId),
                                signer.public_key)
    other = signing.Signer.load_or_create(tmp_path / "other")
    with pytest.raises(SignatureError, match="trusts key"):
        manifests.verify_manifest(other.sign(signed.manifest), signer.public_key)
    forged = SignedManifest(manifest=signed.manifest, signature=other.sign(signed.manifest).signature,
                            keyId=signer.key_id)
    with pytest.raises(SignatureError):
        manifests.verify_manifest(forged, signer.public_key)


def test_artifact_digest_and_size_checked(tmp_path):
    data = b"x" * 1000
    manifest = _manifest(data)
    path = tmp_path / "artifact"
    path.write_bytes(data)
    manifests.verify_artifact(manifest, path)
    path.write_bytes(b"y" + data[1:])
    with pytest.raises(SignatureError, match="sha256"):
        manifests.verify_artifact(manifest, path)
    path.write_bytes(data + b"!")
    with pytest.raises(SignatureError, match="bytes"):
        manifests.verify_artifact(manifest, path)


def test_missing_public_key_says_what_to_do(tmp_path):
    with pytest.raises(SignatureError, match="copy the controller"):
        manifests.load_public_key(tmp_path / "nope.pem")
