"""The dashboard's pages in real headless Chromium over a seeded state store: lists of every kind,
pending objects, one time format, the devices page, a halted fleet, the model and dataset pages,
the rollout chart, accessibility checks and a phone-sized viewport."""
from __future__ import annotations

import re

import pytest

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
    for label, path, names in (("Datasets", "/datasets", ["digits"]), ("Models", "/models", ["digits", "draft"]),
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
