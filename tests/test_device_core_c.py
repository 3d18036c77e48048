"""The device core's portable C (firmware_templates/device_core/) compiled for the host and called
through ctypes: SHA-256 against hashlib, frames against device/serial_frames.py, the JSON scanner's
refusals. Cheap (one gcc call), so the C is checked in the default suite without QEMU."""
from __future__ import annotations

import ctypes
import hashlib
import random
import shutil
import subprocess

import pytest

from controller.firmware.render import TEMPLATES
from device.serial_frames import FrameDecoder
from device.serial_frames import FrameType
from device.serial_frames import encode_frame

CORE = TEMPLATES / "device_core"
pytestmark = pytest.mark.skipif(not shutil.which("gcc"), reason="needs a host C compiler (gcc)")


class Span(ctypes.Structure):
    _fields_ = [("at", ctypes.c_char_p), ("len", ctypes.c_uint32)]


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    out = tmp_path_factory.mktemp("core") / "libcore.so"
    sources = [str(CORE / f"origami_{name}.c") for name in ("sha256", "json", "frame")]
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", f"-I{CORE}", *sources, "-o", str(out)],
                   check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(out))


def sha256_hex(core, data: bytes) -> str:
    ctx = ctypes.create_string_buffer(160)
    digest = ctypes.create_string_buffer(32)
    core.origami_sha256_init(ctx)
    for i in range(0, len(data), 37):  # odd pieces cross block boundaries
        core.origami_sha256_update(ctx, data[i:i + 37], ctypes.c_size_t(len(data[i:i + 37])))
    core.origami_sha256_final(ctx, digest)
    return digest.raw.hex()


def test_sha256_equals_hashlib(core):
    rng = random.Random(7)
    for size in (0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 8192 + 3):
        data = rng.randbytes(size)
        assert sha256_hex(core, data) == hashlib.sha256(data).hexdigest(), size


def test_frames_round_trip_with_python_and_resync_after_damage(core):
    core.origami_crc32.restype = ctypes.c_uint32
    assert core.origami_crc32(b"123456789", ctypes.c_size_t(9), ctypes.c_uint32(0)) == 0xCBF43926

    sent: list[bytes] = []
    writer = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)(
        lambda p, n: sent.append(ctypes.string_at(p, n)))
    core.origami_frame_send(writer, ctypes.c_uint8(FrameType.STATE), b'{"a":1}', ctypes.c_uint32(7))
    frames = FrameDecoder().feed(b"".join(sent))
    assert [(f.type, f.payload) for f in frames] == [(FrameType.STATE, b'{"a":1}')]

    received: list[tuple[int, bytes]] = []
    on_frame = ctypes.CFUNCTYPE(None, ctypes.c_uint8, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32)(
        lambda t, p, n: received.append((t, ctypes.string_at(p, n))))
    decoder = ctypes.create_string_buffer(64)
    buffer = ctypes.create_string_buffer(256 + 13)
    core.origami_decoder_init(decoder, buffer, ctypes.c_uint32(256))
    damaged = bytearray(encode_frame(FrameType.CHUNK, b"\0\0\0\0chunk"))
    damaged[12] ^= 0xFF
    oversized = bytearray(encode_frame(FrameType.QUERY, b"x" * 300))
    stream = b"noise" + bytes(damaged) + bytes(oversized[:9]) + encode_frame(FrameType.QUERY) + \
        encode_frame(FrameType.MANIFEST, b"{}")
    for byte in stream:
        core.origami_decoder_feed(decoder, ctypes.c_uint8(byte), on_frame)
    assert received == [(FrameType.QUERY, b""), (FrameType.MANIFEST, b"{}")]
    crc_errors, header_errors = (int.from_bytes(decoder.raw[24 + 4 * i:28 + 4 * i], "little") for i in range(2))
    assert crc_errors == 1 and header_errors >= 1


def member(core, doc: bytes, key: bytes) -> tuple[int, bytes]:
    value = Span()
    code = core.origami_json_member(Span(doc, len(doc)), key, ctypes.byref(value))
    return code, (ctypes.string_at(value.at, value.len) if code == 0 else b"")


def test_json_scanner_returns_the_raw_member_and_refuses_what_is_odd(core):
    signed = b'{"keyId":"k","manifest":{"digest":"ab","size":12,"target":{"board":null}},"signature":"c2ln"}'
    assert member(core, signed, b"manifest") == (0, b'{"digest":"ab","size":12,"target":{"board":null}}')
    assert member(core, signed, b"absent")[0] == -1
    for odd in (b'{"a":1,"a":2}', b'{"a":1', b'{"a":1}x', b'{"a":01}', b'{"a":"\x01"}', b'{"\\u0061":1}',
                b'[{"a":1}]', b'{"a":' + b"[" * 20 + b"]" * 20 + b"}", b'{"a":tru}', b""):
        assert member(core, odd, b"a")[0] == -2, odd
    out = ctypes.create_string_buffer(16)
    for text, expected in ((b'"plain"', 5), (b'"with\\"escape"', -1), (b'"' + b"x" * 16 + b'"', -1), (b"12", -1)):
        assert core.origami_json_string(Span(text, len(text)), out, ctypes.c_uint32(16)) == expected, text
    number = ctypes.c_uint32()
    for text, expected in ((b"4294967295", 0), (b"4294967296", -1), (b"-1", -1), (b"1.5", -1), (b"007", -1)):
        assert core.origami_json_uint(Span(text, len(text)), ctypes.byref(number)) == expected, text


def test_base64_decode_matches_python_and_refuses_malformed(core):
    import base64

    out = ctypes.create_string_buffer(64)
    for raw in (b"", b"a", b"ab", b"abc", bytes(range(64))):
        text = base64.b64encode(raw)
        assert core.origami_base64_decode(text, ctypes.c_uint32(len(text)), out, ctypes.c_uint32(64)) == len(raw)
        assert out.raw[:len(raw)] == raw
    for bad in (b"abc", b"a=bc", b"ab=c", b"@@@@", b"YQ==YQ=="):
        assert core.origami_base64_decode(bad, ctypes.c_uint32(len(bad)), out, ctypes.c_uint32(64)) == -1, bad
