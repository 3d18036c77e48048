"""Artifacts from a static HTTP server: the controller publishes into a directory Debian's nginx
serves, the signed desired state names the URL, and the device fetches it with Range requests,
resumes a cut download where it stopped, and installs only what matches the signed digest."""
from __future__ import annotations

from controller.store.publish import DirectoryPublisher
from tests.device_rig import model_bytes
from tests.static_http import CuttingRelay


def deploy_by_url(rig, nginx, device_id: str, data: bytes, base_url: str | None = None):
    publisher = DirectoryPublisher(nginx.root, base_url or nginx.url, rig.store)
    manifest = rig.manifest(data, "1")
    url = publisher.publish(manifest.digest)
    rig.generation += 1
    rig.hub.set_desired(device_id, rig.desired(device_id, manifest, artifactUrl=url))
    return manifest, url


def test_device_fetches_the_artifact_from_nginx_not_over_mqtt(rig, nginx):
    data = model_bytes(200_000, seed=21)
    rig.board("http-1")
    manifest, url = deploy_by_url(rig, nginx, "http-1", data)
    state = rig.wait_state("http-1", lambda s: s.modelDigest == manifest.digest, timeout=30)
    assert state.health == "ok" and state.lastUpdate.outcome == "installed"
    assert state.lastUpdate.bytesReceived == len(data)
    assert ("http-1", manifest.digest) not in rig.hub.sender.stats, "no chunk went over MQTT"
    assert (f"/{manifest.digest}", 206, "bytes=0-", len(data)) in nginx.requests()


def test_cut_download_resumes_with_a_range_request(rig, nginx):
    data = model_bytes(600_000, seed=22)
    relay = CuttingRelay(nginx.port, after=150_000)  # the first answer is cut mid-body
    try:
        rig.board("http-2")
        manifest, _ = deploy_by_url(rig, nginx, "http-2", data, base_url=relay.url)
        state = rig.wait_state("http-2", lambda s: s.modelDigest == manifest.digest, timeout=40)
    finally:
        relay.close()
    assert relay.cut_connections == 1
    ranges = [(header, sent) for path, status, header, sent in nginx.requests()
              if path == f"/{manifest.digest}" and status == 206]
    assert len(ranges) == 2, ranges
    resumed_at = int(ranges[1][0].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at < len(data), "the second request started where the first was cut"
    assert ranges[1][1] == len(data) - resumed_at, "only the missing bytes were sent again"
    assert state.lastUpdate.bytesReceived == len(data), "no byte reached the device twice"
    assert ("http-2", manifest.digest) not in rig.hub.sender.stats


def test_the_publisher_needs_both_flags_and_an_http_url(tmp_path):
    import argparse

    import pytest

    from controller.cli.reconcile import make_publisher
    from controller.store.artifacts import ArtifactStore
    from specs.errors import UsageError

    store = ArtifactStore(tmp_path / "artifacts")
    with pytest.raises(UsageError, match="go together"):
        make_publisher(argparse.Namespace(artifact_publish_dir=str(tmp_path / "www"), artifact_base_url=None), store)
    with pytest.raises(UsageError, match="http:// or https://"):
        make_publisher(argparse.Namespace(artifact_publish_dir=str(tmp_path / "www"),
                                          artifact_base_url="file:///etc"), store)
    publisher = make_publisher(argparse.Namespace(artifact_publish_dir=str(tmp_path / "www"),
                                                  artifact_base_url="https://cdn.example/o/"), store)
    digest = store.put_bytes(b"model bytes")
    assert publisher.publish(digest) == f"https://cdn.example/o/{digest}"
    assert (tmp_path / "www" / digest).read_bytes() == b"model bytes"
    assert [p.name for p in (tmp_path / "www").iterdir()] == [digest], "no temporary file left"
