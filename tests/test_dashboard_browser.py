"""The dashboard in real headless Chromium while the real loop rolls a model out to virtual boards."""
from __future__ import annotations

import httpx
import pytest

from controller.collect.index import Selection
from tests.browser import requires_chromium
from tests.browser import screenshot
from tests.dashboard_world import rollout_world

pytestmark = requires_chromium
FLEET = "lab"


@pytest.fixture(scope="module")
def world(tmp_path_factory, mosquitto, shared_artifacts):
    world = rollout_world(tmp_path_factory, mosquitto, shared_artifacts, FLEET, boards=8, pause_seconds=3)
    world.wait_progressing()
    yield world
    world.close()


def test_fleet_page_shows_progress_advancing_without_a_reload(world, page):
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    page.goto(f"{world.url}/fleets/{FLEET}")
    members = int(page.text_content("#members"))
    first = int(page.text_content("#updated"))
    assert members == 8 and first < members
    # The page's own polling must show a later count than the one it was rendered with.
    page.wait_for_function("n => +document.getElementById('updated').textContent > n", arg=first, timeout=60_000)
    later = int(page.text_content("#updated"))
    assert later > first
    assert later <= world.updated()  # never ahead of the state store
    assert page.locator("#steps li.done").count() >= 1
    assert page.locator("#boards tbody tr td").first.text_content() == "rpi4"
    assert navigations == [f"{world.url}/fleets/{FLEET}"]  # one load, no reload
    screenshot(page, "fleet")


def test_pause_without_a_token_is_refused(world, page):
    page.goto(f"{world.url}/fleets/{FLEET}")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#pause")
    assert answer.value.status == 401
    assert "need a valid operator token" in page.text_content("#problem")
    assert world.store.rollout(FLEET).paused is False
    # A wrong token, and the API without one, are refused the same way.
    page.goto(f"{world.url}/fleets/{FLEET}")
    page.fill("#token", "not-the-token")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#pause")
    assert answer.value.status == 401
    assert httpx.post(f"{world.url}/api/v1/fleets/{FLEET}/rollout/pause").status_code == 401
    assert world.store.rollout(FLEET).paused is False
    assert not [e for e in world.store.events(kind="Fleet", name=FLEET) if e.reason == "Paused"]


def test_a_form_posted_from_another_site_is_refused_even_with_the_token(world):
    with httpx.Client(base_url=world.url) as client:
        client.get(f"/fleets/{FLEET}")  # sets the CSRF cookie
        csrf = client.cookies["origami_csrf"]
        forged = client.post(f"/fleets/{FLEET}/rollout/pause", data={"csrf": csrf, "token": world.token},
                             headers={"Origin": "http://evil.example"})
        no_csrf = client.post(f"/fleets/{FLEET}/rollout/pause", data={"token": world.token})
    assert forged.status_code == 403 and no_csrf.status_code == 403
    assert world.store.rollout(FLEET).paused is False


def test_pause_with_the_token_pauses_the_rollout(world, page):
    page.goto(f"{world.url}/fleets/{FLEET}")
    page.fill("#token", world.token)
    page.click("#pause")
    page.wait_for_url(f"**/fleets/{FLEET}?done=pause")
    assert world.store.rollout(FLEET).paused is True
    event = [e for e in world.store.events(kind="Fleet", name=FLEET) if e.reason == "Paused"][-1]
    assert event.message == "operator operator (dashboard): rollout pause"
    page.wait_for_function("document.getElementById('paused').textContent === 'yes'")
    if world.store.rollout(FLEET).phase == "progressing":
        # Paused: passes go on, but no member is assigned the new version any more.
        sent = len(world.store.installs())
        passes = world.metrics.passes.labels("ok")._value.get()
        world.wait("three more passes", lambda: world.metrics.passes.labels("ok")._value.get() >= passes + 3)
        assert len(world.store.installs()) == sent
    screenshot(page, "fleet-paused")


def test_event_trail_follows_live_and_every_main_page_renders(world, page):
    page.goto(f"{world.url}/events")
    rows = page.locator("#events tr[data-seq]").count()
    # The operator resumes through the API (bearer token); the trail shows it without a reload.
    answer = httpx.post(f"{world.url}/api/v1/fleets/{FLEET}/rollout/resume",
                        headers={"Authorization": f"Bearer {world.token}"})
    assert answer.status_code == 200 and answer.json()["by"] == "operator"
    page.wait_for_function("n => document.querySelectorAll('#events tr[data-seq]').length > n", arg=rows)
    page.locator("#events tr[data-seq]", has_text="rollout resume").wait_for()
    screenshot(page, "events")
    assert world.store.rollout(FLEET).paused is False

    # The rollout chart reads the real loop's messages: the canary's StepComplete counts an update.
    page.goto(f"{world.url}/fleets/{FLEET}")
    rows = page.eval_on_selector_all("#rollout-data tbody tr", "rows => rows.map(r => [...r.cells].slice(1)"
                                     ".map(c => c.textContent))")
    assert rows[0] == ["RolloutStarted", "0", "0"]
    steps = [int(updated) for what, updated, _ in rows if what in ("StepComplete", "RolloutComplete")]
    assert steps and steps[0] >= 1 and steps == sorted(steps)
    assert any(what == "InstallsSent" and int(sent) >= 1 for what, _, sent in rows)
    assert page.locator("#rollout-chart circle.updated").count() == len(rows)

    page.goto(world.url + "/")
    assert page.locator("#objects", has_text=f"Fleet/{FLEET}").count() == 1
    assert page.locator("#objects", has_text="Model/sine").count() == 1
    screenshot(page, "overview")

    page.goto(f"{world.url}/models/sine")
    page.locator("#card img").first.wait_for()
    loaded = page.eval_on_selector_all("#card img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
    assert loaded and all(loaded)  # training curves and size vs MAE, straight from the artifact store
    assert page.locator("#variants", has_text="int8").count() == 1
    assert page.locator("#arena", has_text="rpi4").count() == 1
    screenshot(page, "model")

    page.goto(f"{world.url}/datasets/sine")
    assert "Model" not in page.title() and page.locator("h1", has_text="Dataset sine").count() == 1
    screenshot(page, "dataset")

    page.goto(f"{world.url}/devices")
    device = f"{FLEET}-0"
    page.click(f"text={device}")
    page.wait_for_url(f"**/devices/{device}")
    assert page.locator("h2", has_text="Capabilities").count() == 1
    assert "rpi4" in page.content()
    screenshot(page, "device")


def test_label_a_session_and_single_samples_from_the_dataset_page(world, page):
    session = f"{FLEET}-walk"
    stored = world.record(session, boards=2, windows=6)
    world.wait("Dataset/gestures in the state store", lambda: world.store.object("Dataset", "gestures"))
    index = world.collection.index
    shaking = Selection(session=session, labels=("shake",))
    page.goto(f"{world.url}/datasets/gestures")
    row = page.locator(f"#sessions tr[data-session='{session}']")
    assert row.locator("td").nth(2).text_content() == str(stored)
    assert page.locator("#samples svg.spark polyline").count() >= 3 * min(stored, 25)  # x, y, z of each window

    # Without the token: refused, nothing labelled, nothing in the trail.
    row.locator("input[type=radio]").check()
    page.select_option("#label", "shake")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#label-session")
    assert answer.value.status == 401 and "need" in page.text_content("#problem")
    assert index.count(shaking) == 0
    assert not [e for e in world.store.events(kind="Dataset", name="gestures") if e.reason == "Labelled"]

    # With the token: the whole session, in the sample index, and an event naming the operator.
    page.goto(f"{world.url}/datasets/gestures")
    page.locator(f"#sessions tr[data-session='{session}'] input[type=radio]").check()
    page.select_option("#label", "shake")
    page.fill("#label-token", world.token)
    page.click("#label-session")
    page.wait_for_url("**/datasets/gestures?*done=*")
    assert index.count(shaking) == stored
    event = [e for e in world.store.events(kind="Dataset", name="gestures") if e.reason == "Labelled"][-1]
    assert event.message == f"operator operator (dashboard): label 'shake' on session {session} ({stored} changed)"
    assert page.text_content("#notice") == event.message

    # One by one: tick the newest sample and relabel it.
    newest = page.locator("#samples tbody tr").first
    sample_id = int(newest.get_attribute("data-id"))
    newest.locator("input[type=checkbox]").check()
    page.select_option("#label", "idle")
    page.fill("#label-token", world.token)
    page.click("#label-selected")
    page.wait_for_url("**/datasets/gestures?*done=*")
    assert index.select(Selection(ids=(sample_id,)))[0].label == "idle"
    assert index.count(shaking) == stored - 1
    assert page.locator(f"#samples tr[data-id='{sample_id}'] td.label").text_content() == "idle"
    screenshot(page, "dataset-samples")
