"""A transfer cut at a random chunk resumes from the last good offset; a corrupt chunk is sent
again alone. "Re-sent" counts bytes that reached the device twice (at most the chunk that was
being received when the link died) and chunk bytes the controller sent again."""
from __future__ import annotations

import random

from device.virtual.linux_board import Faults
from tests.device_rig import model_bytes

CHUNK = 16 * 1024


def test_cut_at_random_chunk_resumes_from_last_good_offset(rig):
    data = model_bytes(300_000, seed=9)
    chunks = -(-len(data) // CHUNK)
    cut = random.Random().randrange(1, chunks - 1)
    board = rig.board("res-1", faults=Faults(drop_at_chunk=cut), retry_seconds=2.0)
    manifest = rig.deploy("res-1", data, "1", chunk_size=CHUNK)
    state = rig.wait_state("res-1", lambda s: s.modelDigest == manifest.digest, timeout=30)
    assert board.fault_log.dropped_at == [cut], "the connection was really cut"
    stats = rig.hub.sender.stats[("res-1", manifest.digest)]
    assert stats.requests >= 2, "the device asked again after the cut"
    # The device received the lost chunk again at most: everything before it was kept on disk.
    assert state.lastUpdate.bytesReceived - len(data) <= CHUNK, (cut, state.lastUpdate.bytesReceived)
    # The controller resent only what was in flight when the link died (its window), never from zero.
    assert stats.resent_bytes <= 4 * CHUNK, stats
    assert stats.sent_bytes - stats.resent_bytes == len(data)
    assert state.health == "ok"


def test_corrupt_chunk_is_resent_alone(rig):
    data = model_bytes(200_000, seed=10)
    board = rig.board("res-2", faults=Faults(corrupt_chunk=3))
    manifest = rig.deploy("res-2", data, "1", chunk_size=CHUNK)
    rig.wait_state("res-2", lambda s: s.modelDigest == manifest.digest)
    assert board.fault_log.corrupted_at == [3]
    stats = rig.hub.sender.stats[("res-2", manifest.digest)]
    assert stats.resent_bytes == CHUNK and stats.requests == 1
