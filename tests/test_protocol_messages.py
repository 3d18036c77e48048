"""Protocol v1 payloads round-trip, chunks are binary with a small fixed header, topics are per device."""
from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from specs.v1alpha1 import protocol as p
from wire import topics


def test_desired_state_round_trips_and_omits_nothing_signed():
    manifest = p.Manifest(name="digits", version="3", digest="a" * 64, size=1234,
                          target=p.Target(runtime="litert", precision="int8"))
    desired = p.DesiredState(deviceId="dev-1", board="rpi4", generation=2, sequence=1_765_432_100_123,
                             artifact=p.SignedManifest(manifest=manifest, signature="c2ln", keyId="k" * 16),
                             maxLatencyMs=5.0, issuedAt=1765432100.5, signature="c2ln")
    wire = p.encode(desired)
    back = p.decode(p.DesiredState, wire)
    assert back == desired
    assert back.artifact.manifest.canonical_bytes() == manifest.canonical_bytes()
    # What a device computes from the bytes it received is what the controller signed.
    assert p.signed_bytes(json.loads(wire)) == desired.signed_bytes()
    assert desired.signed_bytes().startswith(b'{"artifact":{"keyId"') and b'"sequence":1765432100123' in \
        desired.signed_bytes()


def test_manifest_is_strict_and_reports_are_tolerant():
    with pytest.raises(ValidationError):
        p.Manifest.model_validate({"name": "m", "version": "1", "digest": "a" * 64, "size": 1,
                                   "target": {"runtime": "litert"}, "extra": 1})
    state = p.decode(p.ReportedState, b'{"deviceId":"d1","firmwareVersion":"1","newerField":true}')
    assert state.deviceId == "d1"


def test_device_id_must_be_one_topic_level():
    for bad in ["a/b", "+", "#", "A", ""]:
        with pytest.raises(ValidationError):
            p.Presence(deviceId=bad, online=True)


def test_chunk_header_is_small_and_digests_checked():
    data = bytes(range(256)) * 256
    whole = hashlib.sha256(data).hexdigest()
    payload = p.encode_chunk(whole, len(data), 0, data)
    assert len(payload) - len(data) == p.CHUNK_HEADER_SIZE <= 100
    chunk = p.decode_chunk(payload)
    assert chunk.intact() and chunk.last and chunk.digest == whole and chunk.data == data
    corrupted = bytearray(payload)
    corrupted[-1] ^= 0xFF
    assert not p.decode_chunk(bytes(corrupted)).intact()
    with pytest.raises(ValueError):
        p.decode_chunk(b"XXXX" + payload[4:])


def test_offer_reply_is_discriminated():
    refused = p.OFFER_REPLY.validate_json(p.encode(p.TransferRefused(digest="b" * 64, reason="unknown")))
    assert isinstance(refused, p.TransferRefused)
    offer = p.OFFER_REPLY.validate_json(p.encode(p.TransferOffer(digest="b" * 64, size=5, offset=0, chunkSize=4)))
    assert isinstance(offer, p.TransferOffer)


def test_topics_parse_back_to_device_and_channel():
    assert topics.parse(p.transfer_request_topic("dev-7")) == topics.TopicRef("dev-7", "transfer/request")
    assert topics.parse("other/thing") is None
    assert p.desired_topic("x1") in topics.device_subscriptions("x1")
    assert topics.all_devices("hello") == "origami/v1/devices/+/hello"
