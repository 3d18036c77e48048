"""/metrics scraped while the real loop rolls out to virtual boards, parsed with prometheus-client's
own parser: the series that describe a rollout move, and operator actions are counted."""
from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.dashboard_world import rollout_world

FLEET = "metrics"


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{url}/metrics").text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


@pytest.fixture(scope="module")
def world(tmp_path_factory, mosquitto, shared_artifacts):
    world = rollout_world(tmp_path_factory, mosquitto, shared_artifacts, FLEET, boards=4, pause_seconds=1)
    yield world
    world.close()


def test_rollout_series_move_while_the_fleet_rolls_out(world):
    world.wait_progressing()
    before = scrape(world.url)
    world.wait("two more members updated", lambda: world.updated() >= value(
        before, "origami_rollout_updated_devices", fleet=FLEET) + 2, timeout=60)
    after = scrape(world.url)

    assert value(after, "origami_reconcile_passes_total", outcome="ok") > \
        value(before, "origami_reconcile_passes_total", outcome="ok")
    assert value(after, "origami_reconcile_pass_duration_seconds_count") > \
        value(before, "origami_reconcile_pass_duration_seconds_count")
    assert value(after, "origami_rollout_updated_devices", fleet=FLEET) >= \
        value(before, "origami_rollout_updated_devices", fleet=FLEET) + 2
    assert value(after, "origami_rollout_step", fleet=FLEET) > value(before, "origami_rollout_step", fleet=FLEET)
    assert value(after, "origami_rollout_members_devices", fleet=FLEET) == 4
    assert value(after, "origami_ota_bytes_sent_total") > value(before, "origami_ota_bytes_sent_total")
    # Every artifact byte sent is at least the artifact (chunk headers on top).
    artifact = next(iter(world.store.object("Fleet", FLEET).fleet.releases.values()))["rpi4"]
    assert value(after, "origami_ota_bytes_sent_total") >= artifact["size"] * value(
        after, "origami_rollout_updated_devices", fleet=FLEET)
    # Every device on the broker, this fleet's four and any other test's boards, as the store has them.
    online = [d for d in world.store.devices() if d.online and d.board == "rpi4"]
    assert value(after, "origami_devices", state="online", board="rpi4") == len(online) >= 4
    assert value(after, "origami_mqtt_connected", link="devices") == 1
    assert value(after, "origami_rollout_failures", fleet=FLEET) == 0
    # dataset, train, squeeze and cards: each ran or came from the stage cache.
    assert total(after, "origami_stage_cache_hits_total") + total(after, "origami_stage_cache_misses_total") >= 4


def test_samples_ingested_are_counted_by_sensor(world):
    before = scrape(world.url)
    stored = world.record(f"{FLEET}-walk", boards=2, windows=8)
    after = scrape(world.url)
    assert value(after, "origami_samples_ingested_total", sensor="accel") == \
        value(before, "origami_samples_ingested_total", sensor="accel") + stored == \
        world.collection.index.count() and stored == 16
    # A label set through the API is an operator action like the rollout ones.
    answer = httpx.post(f"{world.url}/api/v1/samples/label", json={"label": "idle", "session": f"{FLEET}-walk"},
                        headers={"Authorization": f"Bearer {world.token}"})
    assert answer.status_code == 200 and answer.json()["changed"] == stored
    assert value(scrape(world.url), "origami_operator_actions_total", action="label") == \
        value(before, "origami_operator_actions_total", action="label") + 1


def test_operator_actions_are_counted_by_kind(world):
    headers = {"Authorization": f"Bearer {world.token}"}
    before = scrape(world.url)
    assert httpx.post(f"{world.url}/api/v1/fleets/{FLEET}/rollout/pause", headers=headers).status_code == 200
    paused = scrape(world.url)
    assert value(paused, "origami_operator_actions_total", action="pause") == \
        value(before, "origami_operator_actions_total", action="pause") + 1
    assert value(paused, "origami_rollout_paused", fleet=FLEET) == 1
    assert httpx.post(f"{world.url}/api/v1/fleets/{FLEET}/rollout/resume", headers=headers).status_code == 200
    resumed = scrape(world.url)
    assert value(resumed, "origami_operator_actions_total", action="resume") == \
        value(before, "origami_operator_actions_total", action="resume") + 1
    assert value(resumed, "origami_rollout_paused", fleet=FLEET) == 0
    world.wait("the fleet to converge after resuming", lambda: world.store.rollout(FLEET).phase == "complete",
               timeout=60)
    done = scrape(world.url)
    assert value(done, "origami_rollout_updated_devices", fleet=FLEET) == 4
    assert value(done, "origami_rollout_phase", fleet=FLEET, phase="complete") == 1


def test_mqtt_gauge_follows_the_link(world):
    world.hub.link.stop()
    assert value(scrape(world.url), "origami_mqtt_connected", link="devices") == 0
