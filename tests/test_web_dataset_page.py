"""The dataset page without a browser: collected samples with their sessions and sparklines, filters
and pages, and the label form's protections (token, CSRF, same origin)."""
from __future__ import annotations

import re

import httpx
import pytest

from controller.collect.index import Selection
from controller.web.pages import SAMPLES_PER_PAGE
from controller.web.samples import sparkline_svg
from tests.web_seed import serve_collected


@pytest.fixture
def served(tmp_path):
    with serve_collected(tmp_path) as (server, store, index, token), httpx.Client(base_url=server.url) as client:
        yield client, store, index, token


def ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)"', html)]


def test_the_page_lists_the_sources_windows_newest_first_with_sparklines(served):
    client, _, index, _ = served
    html = client.get("/datasets/gestures").text
    expected = [r.id for r in index.select(Selection(sensor="accel", fleet="mcu", window=32))][::-1]
    assert ids(html) == expected[:SAMPLES_PER_PAGE]
    assert html.count('<svg class="spark"') == len(ids(html))
    assert re.findall(r'<tr data-session="([^"]+)"', html) == ["s-mixed", "s-shake", "s-idle"]
    unlabelled = client.get("/datasets/gestures", params={"label": "-", "device": "dev-1"}).text
    assert ids(unlabelled) == [r.id for r in index.select(Selection(session="s-mixed"))][::-1]
    assert client.get("/datasets/nope").status_code == 404


def test_pages_cover_the_selection_once_newest_first(served, monkeypatch):
    client, _, index, _ = served
    monkeypatch.setattr("controller.web.pages.SAMPLES_PER_PAGE", 4)
    expected = [r.id for r in index.select(Selection(sensor="accel", fleet="mcu", window=32))][::-1]
    pages = [client.get("/datasets/gestures", params={"page": n, "device": "dev-1"}).text for n in (1, 2, 3)]
    dev1 = [r.id for r in index.select(Selection(sensor="accel", fleet="mcu", window=32, device="dev-1"))][::-1]
    assert [i for html in pages for i in ids(html)] == dev1 and len(dev1) == 9
    assert 'id="prev"' not in pages[0] and 'id="next"' in pages[0] and "page 3 of 3" in pages[2]
    assert "device=dev-1" in re.search(r'href="([^"]+)" id="next"', pages[0]).group(1)  # filters kept
    assert ids(client.get("/datasets/gestures", params={"page": 4}).text) == expected[12:16]
    beyond = client.get("/datasets/gestures", params={"page": 99}).text
    assert ids(beyond) == [] and "no samples match" in beyond


def test_the_label_form_needs_the_token_csrf_and_our_origin(served):
    client, store, index, token = served
    client.get("/datasets/gestures")
    csrf = client.cookies["origami_csrf"]
    form = {"csrf": csrf, "token": token, "label": "idle", "how": "session", "session": "s-idle"}
    assert client.post("/datasets/gestures/label", data={**form, "token": ""}).status_code == 401
    assert client.post("/datasets/gestures/label", data={**form, "csrf": "forged"}).status_code == 403
    assert client.post("/datasets/gestures/label", data=form,
                       headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/datasets/gestures/label", data={**form, "label": "a/b"}).status_code == 422
    assert client.post("/datasets/gestures/label", data={**form, "session": "nope"}).status_code == 404
    assert client.post("/datasets/gestures/label", data={**form, "how": "one"}).status_code == 422  # none ticked
    assert index.count(Selection(labels=("idle",))) == 0
    done = client.post("/datasets/gestures/label", data=form)
    assert done.status_code == 303 and index.count(Selection(labels=("idle",))) == 6
    notice = client.get(done.headers["location"]).text
    assert "operator operator (dashboard): label &#39;idle&#39; on session s-idle (6 changed)" in notice


def test_sparkline_draws_one_line_per_channel_inside_the_box():
    import numpy as np

    svg = sparkline_svg(np.stack([np.sin(np.linspace(0, 6, 64)), np.zeros(64), np.arange(64.0)], axis=1),
                        width=100, height=20)
    lines = re.findall(r'points="([^"]+)"', svg)
    assert len(lines) == 3
    points = [tuple(map(float, p.split(","))) for line in lines for p in line.split()]
    assert all(0 <= x <= 99 and 0 <= y <= 19 for x, y in points)
    assert len(re.findall(r'points="', sparkline_svg(np.ones((8, 8)) * 3))) == 1  # an image: flattened, flat
