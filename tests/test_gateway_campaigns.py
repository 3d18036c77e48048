"""A gateway runs the Fleet's collection campaigns for the boards behind it (device/gateway/campaigns.py):
the board's windows of the requested sensor take the campaign's session and label until they add up
to its duration; a campaign runs once, also across a gateway restart; a request that is malformed or
meant for another board changes nothing."""
from __future__ import annotations

from device.gateway.campaigns import BoardCampaigns
from specs.v1alpha1.collection import CollectRequest
from specs.v1alpha1.protocol import Sample
from specs.v1alpha1.protocol import encode


def request(campaign: str = "kws-abc", device: str = "nano-1", **fields) -> bytes:
    body = dict(deviceId=device, campaign=campaign, fleet="kws", sensor="microphone", rateHz=16000,
                durationSeconds=2, window=16000, session="say-no") | fields
    return encode(CollectRequest(**body))


def window(sensor: str = "microphone", label: str | None = None, session: str | None = "qemu-microphone") -> Sample:
    return Sample(deviceId="nano-1", sensor=sensor, session=session, label=label, rateHz=16000, shape=[16000, 1],
                  dtype="int16", values=[0] * 16000)


def test_a_campaign_tags_the_windows_of_its_duration_and_then_stops(tmp_path):
    campaigns = BoardCampaigns("nano-1", tmp_path)
    assert campaigns.tag(window()).session == "qemu-microphone"       # before any campaign: the board's own
    assert campaigns.on_request(request(label="no")).campaign == "kws-abc"
    assert campaigns.tag(window(sensor="accelerometer")).session == "qemu-microphone"  # another sensor
    first, second, third = (campaigns.tag(window()) for _ in range(3))
    assert (first.session, first.label) == (second.session, second.label) == ("say-no", "no")
    assert (third.session, third.label) == ("qemu-microphone", None)  # two seconds recorded: the campaign ended
    assert campaigns.running is None and not campaigns.started.is_set()


def test_a_label_the_board_gave_is_kept_and_a_campaign_without_session_uses_its_id(tmp_path):
    campaigns = BoardCampaigns("nano-1", tmp_path)
    campaigns.on_request(request(label="no", session=None))
    tagged = campaigns.tag(window(label="yes"))
    assert (tagged.session, tagged.label) == ("kws-abc", "yes")


def test_a_finished_campaign_is_not_run_again_even_after_a_restart(tmp_path):
    campaigns = BoardCampaigns("nano-1", tmp_path)
    campaigns.on_request(request(durationSeconds=1))
    campaigns.tag(window())
    assert campaigns.on_request(request(durationSeconds=1)) is None     # the retained request again
    restarted = BoardCampaigns("nano-1", tmp_path)
    assert restarted.on_request(request(durationSeconds=1)) is None
    assert restarted.tag(window()).session == "qemu-microphone"
    assert restarted.on_request(request("kws-def", durationSeconds=1)) is not None  # a changed spec: a new one


def test_a_newer_campaign_replaces_the_running_one(tmp_path):
    campaigns = BoardCampaigns("nano-1", tmp_path)
    campaigns.on_request(request(durationSeconds=10))
    campaigns.tag(window())
    campaigns.on_request(request("kws-def", session="say-yes"))
    assert campaigns.tag(window()).session == "say-yes"
    assert campaigns.on_request(request(durationSeconds=10)) is None    # the replaced one counts as run


def test_malformed_foreign_and_empty_requests_change_nothing(tmp_path):
    campaigns = BoardCampaigns("nano-1", tmp_path)
    assert campaigns.on_request(b"") is None
    assert campaigns.on_request(b'{"deviceId": "nano-1", "campaign": ') is None
    assert campaigns.on_request(request(device="pico-9")) is None
    out_of_range = request().replace(b'"durationSeconds":2.0', b'"durationSeconds":-1.0')
    assert b"-1.0" in out_of_range and campaigns.on_request(out_of_range) is None
    assert campaigns.running is None and campaigns.tag(window()).session == "qemu-microphone"


def test_the_record_of_finished_campaigns_is_bounded(tmp_path):
    import json

    from device.gateway.campaigns import KEEP_FINISHED

    campaigns = BoardCampaigns("nano-1", tmp_path)
    for i in range(KEEP_FINISHED + 6):
        campaigns.on_request(request(f"kws-{i}", durationSeconds=1))
        campaigns.tag(window())
    kept = json.loads((tmp_path / "campaigns" / "nano-1.json").read_text())
    assert len(kept) == KEEP_FINISHED and kept[-1] == f"kws-{KEEP_FINISHED + 5}"
    assert BoardCampaigns("nano-1", tmp_path).on_request(request(f"kws-{KEEP_FINISHED + 5}")) is None
