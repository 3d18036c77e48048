"""The dashboard's pages in real headless Chromium over a seeded state store: lists of every kind,
pending objects, one time format, the devices page, a halted fleet, the model and dataset pages,
the rollout chart, accessibility checks and a phone-sized viewport."""
from __future__ import annotations

import re

import pytest

from tests.accessibility import axe_violations
from tests.accessibility import fetch_axe
from tests.accessibility import own_problems
from tests.browser import requires_chromium
from tests.browser import screenshot
from tests.dashboard_seed import HALTED
from tests.dashboard_seed import seeded_dashboard
from tests.web_seed import FLEET

pytestmark = requires_chromium
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    with seeded_dashboard(tmp_path_factory.mktemp("seeded")) as world:
        yield world


def test_nav_lists_every_kind_with_declared_objects_pending(seeded, page):
    page.goto(seeded.url + "/")
    for label, path, names in (("Datasets", "/datasets", ["digits", "gestures"]),
                               ("Models", "/models", ["digits", "draft"]),
                               ("Fleets", "/fleets", sorted([FLEET, HALTED, "later"]))):
        page.click(f"nav >> text={label}")
        page.wait_for_url(f"**{path}")
        assert page.get_attribute(f"nav a[href='{path}']", "aria-current") == "page"
        listed = page.eval_on_selector_all("#objects tbody tr", "rows => rows.map(r => r.dataset.name)")
        assert listed == names
    # `later` and `draft` are declared in the applied commit but never reconciled: Pending, not 404.
    assert page.text_content("#objects tr[data-name='later'] .badge") == "Pending"
    assert page.text_content(f"#objects tr[data-name='{HALTED}'] .badge") == "Halted"
    screenshot(page, "fleets")
    with page.expect_response(lambda r: r.url.endswith("/fleets/later")) as answer:
        page.click("#objects >> text=later")
    assert answer.value.status == 200
    assert "not reconciled it yet" in page.text_content("#pending")
    assert '"model": "draft"' in page.text_content("#spec")
    answer = page.goto(seeded.url + "/models/draft")
    assert answer.status == 200 and page.locator("h1 .badge", has_text="Pending").count() == 1
    assert page.goto(seeded.url + "/fleets/never-declared").status == 404


def test_every_time_is_one_format_relative_with_rfc3339(seeded, page):
    for path in ("/", "/fleets", f"/fleets/{FLEET}", "/devices", "/devices/dev-0", "/models/digits", "/events"):
        page.goto(seeded.url + path)
        times = page.eval_on_selector_all("time", "ts => ts.map(t => [t.dateTime, t.title, t.textContent])")
        assert times, path
        for datetime, title, text in times:
            assert RFC3339.match(datetime) and title == datetime, (path, datetime)
            assert re.match(r"^(just now|\d+ (s|min|h|d) ago|in \d+ (s|min|h|d))$", text), (path, text)
    # The live event trail adds rows in the same format.
    page.goto(seeded.url + "/events")
    seeded.store.emit("Fleet", FLEET, "Noted", "a new event while the page is open")
    row = page.locator("#events tr[data-seq]", has_text="a new event while the page is open")
    row.wait_for()
    assert RFC3339.match(row.locator("time").get_attribute("datetime"))


def _column(page, name: str) -> list[str]:
    return page.eval_on_selector_all(f"#devices tbody td.{name}", "cells => cells.map(c => c.textContent.trim())")


def _ids(page) -> list[str]:
    return page.eval_on_selector_all("#devices tbody tr[data-id]", "rows => rows.map(r => r.dataset.id)")


def test_devices_filter_sort_page_with_reasons_and_versions(seeded, page):
    page.goto(seeded.url + "/devices")
    assert len(_ids(page)) == 50 and "of 66 matching (66 known)" in page.text_content("#device-count")
    page.click("#next")
    assert page.text_content("#page") == "2" and len(_ids(page)) == 16
    # Filter by fleet and state: the two failed members of the halted fleet, with the fleet's reason.
    page.goto(seeded.url + "/devices")
    page.select_option("#filter-fleet", HALTED)
    page.select_option("#filter-state", "failed")
    page.click("#device-filters button")
    assert _ids(page) == [f"{HALTED}-01", f"{HALTED}-02"]
    assert _column(page, "reason") == ["failed v2: health check failed"] * 2
    # Target vs current: the CLI's DESIRED and REPORTED, the difference flagged.
    page.goto(seeded.url + "/devices?q=dev-5")
    assert _ids(page) == ["dev-5"] and _column(page, "current") == ["v1"]
    assert _column(page, "target")[0].startswith("v2") and page.locator("tr.behind .tag").count() == 1
    # Text search covers reasons; sort by a column, then the other way.
    page.goto(seeded.url + "/devices?q=generation")
    assert _ids(page) == ["dev-1"]
    page.goto(seeded.url + "/devices?fleet=mcu")
    page.click("th[data-column=sync] a")
    assert page.get_attribute("th[data-column=sync]", "aria-sort") == "ascending"
    states = _column(page, "sync")
    assert states == sorted(states) and len(states) == 6
    page.click("th[data-column=sync] a")
    assert page.get_attribute("th[data-column=sync]", "aria-sort") == "descending"
    assert _column(page, "sync") == sorted(states, reverse=True)
    assert page.locator("#filter-fleet option[selected]").text_content() == "mcu"  # the filter survives sorting
    screenshot(page, "devices")


def test_a_halted_fleet_is_red_with_its_reason_linked_and_a_retry(seeded, page):
    page.goto(f"{seeded.url}/fleets/{HALTED}")
    colour = page.eval_on_selector("#progress-bar", "el => getComputedStyle(el).backgroundColor")
    assert colour == "rgb(201, 55, 44)"
    assert "halted" in page.get_attribute("#progress", "aria-valuetext")
    assert "failureThreshold 2" in page.text_content("#halted-reason")
    page.click("#halted-events")
    page.wait_for_url("**/events?kind=Fleet&name=field#event-*")
    anchor = page.evaluate("location.hash")
    assert "RolloutHalted" in page.text_content(f"{anchor}")
    # Retry without the token is refused; with it, the request is recorded for the loop's next pass.
    page.goto(f"{seeded.url}/fleets/{HALTED}")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#retry-halted")
    assert answer.value.status == 401 and seeded.store.rollout(HALTED).retry_requested is False
    page.goto(f"{seeded.url}/fleets/{HALTED}")
    page.fill("#retry-token", seeded.token)
    page.click("#retry-halted")
    page.wait_for_url(f"**/fleets/{HALTED}?done=retry")
    assert seeded.store.rollout(HALTED).retry_requested is True
    assert [e for e in seeded.store.events(kind="Fleet", name=HALTED) if "rollout retry" in e.message]
    screenshot(page, "fleet-halted")


def test_model_page_variant_per_board_chart_and_one_confusion_matrix(seeded, page):
    page.goto(seeded.url + "/models/digits")
    # Which variant each board got, and the selection rule's reason.
    rows = page.eval_on_selector_all("#assignments tbody tr", "rows => rows.map(r => [r.dataset.fleet, "
                                     "r.dataset.board, r.querySelector('.variant').textContent, "
                                     "r.querySelector('.why').textContent])")
    assert [r[:3] for r in rows] == [[HALTED, "esp32s3", "int8"], [FLEET, "nano33ble", "int8"],
                                     [FLEET, "pico", "int8"]]
    assert all("fits (arena 9216 B" in r[3] for r in rows)
    # The size chart: KiB ticks, both gates, the front through int8 only, labelled points apart.
    chart = page.locator("svg#size-chart")
    assert chart.get_attribute("role") == "img" and "Pareto front: int8" in chart.locator("desc").text_content()
    ticks = page.eval_on_selector_all("#size-chart .axis text[text-anchor=middle]", "ts => ts.map(t => t.textContent)")
    assert "80" in ticks and ".tflite size (KiB)" in ticks  # 81920 B is drawn at 80 KiB
    guides = page.eval_on_selector_all("#size-chart .guide", "gs => gs.map(g => g.dataset.guide)")
    assert guides == ["maxSize 64 KiB", "minAccuracy 0.9"]
    assert page.locator("#size-chart circle.front").count() == 1
    boxes = page.eval_on_selector_all("#size-chart text.point-label", "ts => ts.map(t => t.getBBox())"
                                      ".map(b => [b.x, b.y, b.width, b.height])")
    for i, a in enumerate(boxes):  # no two point labels overlap
        for b in boxes[i + 1:]:
            assert a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]
    assert page.locator("#fronts tr[data-board=pico]", has_text="float32: not an int8 variant TFLM runs").count()
    # One confusion matrix, the passing variant first, switched by the selector without a reload.
    assert page.locator("#card img[id=confusion]").count() == 1
    first = page.get_attribute("#confusion", "src")
    assert "/int8/" in first and "variant int8" in page.get_attribute("#confusion", "alt")
    page.select_option("#confusion-variant", "float32")
    page.wait_for_function("document.getElementById('confusion').src.includes('/float32/')")
    page.wait_for_function("document.getElementById('confusion').complete")
    assert page.eval_on_selector("#confusion", "i => i.naturalWidth") == 3  # the float32 matrix's own PNG
    assert "variant float32" in page.get_attribute("#confusion", "alt")
    alts = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.alt)")
    assert alts and all(a and not a.endswith(".png") for a in alts)
    screenshot(page, "model-digits")


def test_dataset_page_counts_classes_and_shows_a_sample_each(seeded, page):
    page.goto(seeded.url + "/datasets/digits")
    rows = page.eval_on_selector_all("#class-counts tbody tr", "rows => rows.map(r => [r.dataset.class, "
                                     "[...r.querySelectorAll('td')].map(c => c.textContent)])")
    assert [(name, cells[:4]) for name, cells in rows] == [
        ("zero", ["7", "2", "2", "11"]), ("one", ["5", "1", "2", "8"]), ("two", ["3", "1", "1", "5"])]
    sizes = page.eval_on_selector_all("#class-counts img.sample", "imgs => imgs.map(i => [i.naturalWidth, i.alt])")
    assert [s[0] for s in sizes] == [8, 8, 8] and "class one" in sizes[1][1]


def test_rollout_over_time_chart_from_the_event_trail(seeded, page):
    page.goto(f"{seeded.url}/fleets/{HALTED}")
    chart = page.locator("svg#rollout-chart")
    assert chart.get_attribute("role") == "img"
    assert "after 3 min, 1 updated and 1 install(s) sent (StepComplete)" in chart.locator("desc").text_content()
    assert page.locator("#rollout-chart circle.updated").count() == 5
    assert page.locator("#rollout-chart circle.halt").count() == 1
    ticks = page.eval_on_selector_all("#rollout-chart .axis text[text-anchor=middle]",
                                      "ts => ts.map(t => t.textContent)")
    assert ticks[0] == "0" and "time since the rollout started (min)" in ticks
    rows = page.eval_on_selector_all("#rollout-data tbody tr", "rows => rows.map(r => [...r.cells].slice(1)"
                                     ".map(c => c.textContent))")
    assert rows == [["RolloutStarted", "0", "0"], ["InstallsSent", "0", "1"], ["StepComplete", "1", "1"],
                    ["InstallsSent", "1", "11"], ["RolloutHalted", "1", "11"]]
    # A rollout still running ends at the fleet's count now.
    page.goto(f"{seeded.url}/fleets/{FLEET}")
    last = page.eval_on_selector_all("#rollout-data tbody tr", "rows => [...rows.at(-1).cells].map(c => c.textContent)")
    assert last[1:] == ["now", "1", "0"]


PAGES = ["/", "/datasets", "/models", "/fleets", f"/fleets/{FLEET}", f"/fleets/{HALTED}", "/fleets/later", "/devices",
         "/devices/dev-1", "/models/digits", "/datasets/digits", "/datasets/gestures", "/events", "/login"]


@pytest.fixture(scope="module")
def axe(tmp_path_factory):
    return fetch_axe(tmp_path_factory.mktemp("axe"))


def test_every_page_passes_the_accessibility_checks(seeded, page, axe):
    found = {}
    for path in PAGES:
        page.goto(seeded.url + path)
        problems = own_problems(page) + (axe_violations(page, axe) if axe else [])
        if problems:
            found[path] = problems
    assert found == {}
    if axe is None:
        pytest.skip("axe-core not fetched (no npm or registry): the checks of our own passed")


def test_the_accessibility_checks_catch_what_they_look_for(seeded, page, axe):
    """The checks above can fail: a low-contrast line, an unlabelled field and an image named by its file."""
    page.goto(seeded.url + "/devices")
    page.evaluate("""() => document.querySelector('main').insertAdjacentHTML('beforeend',
        '<p style="color:#aaa">faint text</p><input name="nolabel"><img src="/x.png" alt="x.png">')""")
    problems = own_problems(page)
    assert any(p.startswith("contrast") and "faint text" in p for p in problems)
    assert "unlabelled input nolabel" in problems and any(p.startswith("img alt x.png") for p in problems)
    if axe:
        rules = {v.split(":")[0] for v in axe_violations(page, axe)}
        assert {"color-contrast", "label"} <= rules


def test_a_600px_phone_gets_no_horizontal_page_scroll(seeded, browser):
    context = browser.new_context(viewport={"width": 600, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    try:
        wide = {}
        for path in PAGES:
            page.goto(seeded.url + path)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if width > 600:
                wide[path] = width
            name = "600-" + (path.strip("/").replace("/", "-") or "overview")
            screenshot(page, name)
        assert wide == {}  # wide tables scroll inside their own box, not the page
        page.goto(f"{seeded.url}/devices")
        box = page.eval_on_selector("#devices", "t => [t.scrollWidth, t.clientWidth]")
        assert box[1] <= 600  # the table's box fits; its content scrolls sideways within it
    finally:
        context.close()
