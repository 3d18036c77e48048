"""A virtual BLE board (Bumble peripheral on a virtual controller) driven by the gateway's BoardLink over
a real GATT connection: advertising, MTU exchange, frames cut to the MTU, a cut link resumed."""
from __future__ import annotations

import pytest

from controller.devices.signing import Signer
from device.ble_radio import VirtualAir
from device.ble_service import advertising_data
from device.ble_service import parse_advertising
from device.ble_service import scan_response_data
from device.ble_service import segments
from device.gateway import BoardLink
from device.gateway.ble_link import BleCentral
from device.serial_frames import AckStatus
from device.serial_frames import FrameDecoder
from device.serial_frames import FrameType
from device.serial_frames import encode_json
from device.virtual.ble_board import VirtualBleBoard
from device.virtual.mcu_core import Faults
from specs.v1alpha1.catalogue import BUILTIN_PROFILES
from specs.v1alpha1.protocol import Manifest
from specs.v1alpha1.protocol import Target
from specs.v1alpha1.protocol import encode
from specs.v1alpha1.protocol import sha256_hex
from tests.tiny_tflite import dense_int8
from wire.ble_air import PREFERRED_ATT_MTU
from wire.ble_air import segment_size
from wire.ble_air import theoretical_rate


@pytest.fixture(scope="module")
def signer(tmp_path_factory) -> Signer:
    return Signer.load_or_create(tmp_path_factory.mktemp("controller"))


def signed(signer: Signer, model: bytes, version: str):
    return encode(signer.sign(Manifest(name="tiny", version=version, digest=sha256_hex(model), size=len(model),
                                       target=Target(runtime="tflm", board="nano33ble"))))


@pytest.fixture
def air():
    air = VirtualAir()
    yield air
    air.close()


@pytest.fixture
def ble(air, tmp_path, signer):
    """make(faults) -> (board, link, stream): a board advertising, the gateway's central connected to it."""
    made: list = []
    central = BleCentral.virtual(air)

    def make(faults: Faults | None = None, device_id: str = "nano-ble-1"):
        board = VirtualBleBoard(BUILTIN_PROFILES["nano33ble"], device_id, tmp_path / device_id, signer.public_key,
                                air=air, faults=faults).start()
        made.append(board)
        [found] = [b for b in central.scan(5, stop_after=len(made)) if device_id.startswith(b.name)]
        stream = central.open(found)
        link = BoardLink(stream)
        made.append(link)
        return board, link, stream

    yield make
    for thing in reversed(made):
        thing.close() if isinstance(thing, BoardLink) else thing.stop()
    central.close()


def test_frames_cut_to_the_mtu_reassemble_through_the_crc_decoder():
    frame = encode_json(FrameType.SAMPLES, {"sensor": "imu", "values": list(range(300))})
    parts = segments(frame, 247)
    assert all(len(p) <= 244 for p in parts) and len(parts) > 3
    decoder = FrameDecoder()
    frames = [f for p in parts for f in decoder.feed(p)]
    assert [f.json()["values"][-1] for f in frames] == [299]
    assert segment_size(23) == 20 and segment_size(1000) == 512  # never more than one attribute value


def test_the_advertisement_names_the_service_and_the_board_within_31_bytes():
    ad, response = advertising_data("nano-ble-sense-7"), scan_response_data("nano-ble-sense-7")
    assert len(ad) <= 31 and len(response) <= 31
    said = parse_advertising(ad)
    assert said.origami and said.name == "nano-ble" and not said.complete_name
    assert parse_advertising(response).name == "nano-ble-sense-7"
    assert not parse_advertising(b"\x05\x09ab").origami  # a truncated structure is ignored, not raised on


def test_theoretical_rate_grows_with_the_phy_and_shrinks_with_a_per_event_limit():
    one_m = theoretical_rate(PREFERRED_ATT_MTU)
    assert 80_000 < one_m < 110_000  # LE 1M with DLE: the textbook ~90-100 kB/s
    assert theoretical_rate(PREFERRED_ATT_MTU, phy_mbps=2) > 1.5 * one_m
    assert theoretical_rate(PREFERRED_ATT_MTU, packets_per_event=2) < one_m / 2


def test_a_ble_board_is_found_identified_and_installs_a_model_over_gatt(ble, signer):
    board, link, stream = ble()
    assert stream.mtu == PREFERRED_ATT_MTU and link.transport == "ble"
    hello, state = link.query()
    assert hello["deviceId"] == "nano-ble-1" and hello["profile"] == "nano33ble"
    assert state["modelDigest"] is None
    model = dense_int8()
    outcome = link.send_model(signed(signer, model, "1"), model, chunk_size=4096)
    assert outcome.status is AckStatus.INSTALLED, outcome.events
    assert board.active_model()["digest"] == sha256_hex(model) and outcome.resends == 0
    # Many writes per chunk: the frames were cut to the MTU and put back together by the board's decoder.
    assert stream.bytes_written > len(model) > 4 * segment_size(stream.mtu)
    assert board.decoder.crc_errors == 0


def test_a_link_cut_mid_transfer_reconnects_and_resumes_from_the_boards_offset(ble, signer):
    board, link, stream = ble(Faults(drop_link_after_chunks=2))
    model = dense_int8(units=48)
    outcome = link.send_model(signed(signer, model, "1"), model, chunk_size=1024)
    assert outcome.status is AckStatus.INSTALLED, outcome.events
    assert stream.reconnects == 1 and board.connections == 2
    # Resumed, not restarted: only the chunk lost with the link crossed twice.
    assert outcome.resends >= 1 and outcome.bytes_sent <= len(model) + 2 * 1024
    assert board.active_model()["digest"] == sha256_hex(model)

