"""The serial framing: round trips, and resync after corrupted bytes without losing good frames."""
from __future__ import annotations

import random

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from device.serial_frames import HEADER_SIZE
from device.serial_frames import MAX_PAYLOAD
from device.serial_frames import AckStatus
from device.serial_frames import Frame
from device.serial_frames import FrameDecoder
from device.serial_frames import FrameType
from device.serial_frames import decode_ack
from device.serial_frames import decode_chunk
from device.serial_frames import encode_ack
from device.serial_frames import encode_chunk
from device.serial_frames import encode_frame
from device.serial_frames import encode_json

payloads = st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=8)


def test_frames_round_trip_in_one_read_and_byte_by_byte():
    stream = encode_json(FrameType.HELLO, {"board": "pico"}) + encode_chunk(8192, b"\x01" * 8192) + encode_ack(16384,
                                                                                                               AckStatus.OK)
    whole = FrameDecoder().feed(stream)
    decoder = FrameDecoder()
    trickled = [frame for i in range(len(stream)) for frame in decoder.feed(stream[i:i + 1])]
    assert whole == trickled
    assert whole[0].type is FrameType.HELLO and whole[0].json() == {"board": "pico"}
    assert decode_chunk(whole[1].payload) == (8192, b"\x01" * 8192)
    assert decode_ack(whole[2].payload) == (16384, AckStatus.OK)


def test_crc_mismatch_drops_only_the_damaged_frame_and_resyncs():
    frames = [encode_frame(FrameType.SAMPLES, bytes([i]) * 100) for i in range(5)]
    damaged = bytearray(frames[2])
    damaged[HEADER_SIZE + 40] ^= 0xFF
    decoder = FrameDecoder()
    got = decoder.feed(b"".join(frames[:2]) + bytes(damaged) + b"".join(frames[3:]))
    assert [f.payload[0] for f in got] == [0, 1, 3, 4]
    assert decoder.crc_errors == 1


def test_corrupted_length_is_rejected_at_once_instead_of_waiting_for_bytes():
    good = encode_frame(FrameType.EVENT, b"{}")
    damaged = bytearray(encode_frame(FrameType.STATE, b"x" * 50))
    damaged[4] ^= 0x10  # length field: now claims far more bytes than will ever come
    decoder = FrameDecoder()
    got = decoder.feed(bytes(damaged) + good)
    assert got == [Frame(FrameType.EVENT, b"{}")]
    assert decoder.header_errors >= 1


def test_oversized_payload_is_refused_by_the_encoder():
    try:
        encode_frame(FrameType.CHUNK, b"\0" * (MAX_PAYLOAD + 1))
    except ValueError as err:
        assert "exceeds" in str(err)
    else:
        raise AssertionError("an oversized frame was encoded")


@settings(max_examples=150, deadline=None)
@given(payloads, st.integers(min_value=0, max_value=2**32 - 1), st.binary(max_size=64))
def test_random_corruption_never_crashes_and_keeps_untouched_frames(bodies, seed, garbage):
    rng = random.Random(seed)
    encoded = [encode_frame(FrameType.SAMPLES, body) for body in bodies]
    victim = rng.randrange(len(encoded))
    damaged = bytearray(encoded[victim])
    damaged[rng.randrange(len(damaged))] ^= rng.randrange(1, 256)
    stream = garbage + b"".join(encoded[:victim]) + bytes(damaged) + b"".join(encoded[victim + 1:])
    decoder = FrameDecoder()
    got = []
    pos = 0
    while pos < len(stream):  # arbitrary read sizes, as a serial port returns them
        step = rng.randint(1, 97)
        got += decoder.feed(stream[pos:pos + step])
        pos += step
    expected = [Frame(FrameType.SAMPLES, b) for i, b in enumerate(bodies) if i != victim]
    # A changed byte breaks the magic, the header check or the CRC: only the victim is lost.
    assert got == expected
    assert decoder.crc_errors + decoder.header_errors + decoder.skipped_bytes > 0
