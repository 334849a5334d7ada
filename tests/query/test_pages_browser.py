"""Every page in a real headless Chromium, over live data sent to a running receiver.

Each page loads without console errors, asks nothing of any host but the receiver, and its
charts are SVG elements that carry the data; hostile text shows as text.
"""

import re
import urllib.parse

import pytest

from benchmarks.browser import Browser
from tests.query.browser import chromium_path
from tests.query.pagedata import (
    HOSTILE_ID,
    HOSTILE_ROUTE,
    HOSTILE_SERVICE,
    HOSTILE_TEXT,
    base_url,
    populate,
    with_api,
)

pytestmark = pytest.mark.slow  # a real Chromium per test: about 15 s each on 2 cores
BAD = "#dc2626"
PAGES = [
    "/ui",
    "/ui/experiments/checkout-v2",
    "/ui/experiments/ghost-exp",
    "/ui/incident",
    "/ui/coverage",
    "/ui/propagation",
    "/ui/burn",
    "/ui/lag",
    "/ui/cardinality",
]


@pytest.fixture
def browser():
    chromium_path()
    started = Browser()
    yield started
    started.close()


@pytest.fixture
def live(make_receiver):
    server = make_receiver(with_api())
    populate(server)
    return server


def _local_only(requests: list[str], server) -> None:
    origin = base_url(server)
    assert requests, "the page made no request at all"
    assert all(url.startswith(origin + "/") for url in requests), requests


def test_every_page_loads_with_charts_and_stays_on_the_machine(live, browser):
    """What the on-call engineer sees: no console error, no request off the machine, and on
    each page the chart that answers its question, drawn from the data sent."""
    dialogs = []
    browser.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path in PAGES:
        response, visit = browser.open(f"{base_url(live)}{path}?last=1h")
        assert response.status == 200, path
        assert visit.errors == [], (path, visit.errors)
        _local_only(visit.requests, live)
        assert browser.page.locator("script").count() == 0, path
    assert dialogs == []


def test_experiment_page_shows_the_bad_variant_at_a_glance(live, browser):
    """B fails more than control: a red banner says so, B's interval bar is red and lies right
    of zero, both variants have points on the error-rate and p95 charts, the registry's create
    and start are annotations, and the unit, method and sample sizes are stated."""
    browser.open(f"{base_url(live)}/ui/experiments/checkout-v2?last=1h")
    page = browser.page
    assert "Variant B is worse than control" in page.locator(".banner.bad").first.inner_text()
    # The error-rate row of B ("B · error_rate" when the report has per-metric estimates).
    bar = page.locator('svg[data-chart="interval"] g.interval[data-label^="B"]').first
    assert bar.get_attribute("data-colour") == BAD
    charts = page.locator('svg[data-chart="line"]')
    assert charts.count() == 3  # error rate, p95, and the cumulative difference over the run
    assert charts.nth(2).get_attribute("aria-label").startswith("Cumulative error rate")
    for i in range(2):
        for variant in ("B (worse)", "control"):
            series = charts.nth(i).locator(f'g.series[data-series="{variant}"]')
            assert int(series.get_attribute("data-points")) >= 10
            assert series.locator("circle").count() >= 10
    markers = charts.first.locator("g.marker")
    shown = [markers.nth(i).get_attribute("data-marker") for i in range(markers.count())]
    assert {label for group in shown for label in group.split("|")} == {
        "create",
        "start",
        "update",
    }
    changes = page.locator("table").last.inner_text()
    assert "artifacts.B.model: ranker-v7 → ranker-v8" in changes
    facts = page.locator("p.facts").first.inner_text()
    assert "Unit" in facts and "Method" in facts and "B 960" in facts and "control 960" in facts
    record = page.locator("dl.record").inner_text()
    assert "payments-team" in record and HOSTILE_TEXT in record
    variants = page.locator("main").inner_text()
    assert "model: ranker-v8" in variants
    assert "{'" not in page.locator("main").inner_text()  # no Python reprs


def test_a_broken_split_is_a_banner(live, browser):
    """split-check's traffic is 700/300 against registered weights of 50/50: the page opens
    with the sample-ratio banner and the index flags it."""
    origin = base_url(live)
    browser.open(f"{origin}/ui/experiments/split-check?last=1h")
    banner = browser.page.locator(".banner.bad", has_text="Sample ratio mismatch").inner_text()
    assert "B 300" in banner and "control 700" in banner and "50.0%" in banner
    browser.open(f"{origin}/ui?last=1h")
    row = browser.page.locator("tr", has_text="split-check").inner_text()
    assert "sample ratio mismatch" in row


def test_incident_propagation_and_burn_point_at_the_culprits(live, browser):
    """The index marks checkout-v2's B as failing and lists ghost-exp as unregistered; the
    incident page ranks checkout-v2 = B first with its interval; the propagation graph
    marks checkout -> inventory as the hop that loses the tag; burn rates list B."""
    origin = base_url(live)
    browser.open(f"{origin}/ui?last=1h")
    page = browser.page
    registered, unregistered = page.locator("table").nth(0), page.locator("table").nth(1)
    row = registered.locator("tr", has_text="checkout-v2").inner_text()
    assert "B: fail" in row
    assert "ghost-exp" in unregistered.inner_text()
    assert "checkout-v2" not in unregistered.inner_text()

    browser.open(f"{origin}/ui/incident?last=1h")
    first = page.locator("table").first.locator("tr").nth(1).inner_text()
    assert "checkout-v2 = B" in first and "[+" in first
    series = page.locator('svg[data-chart="line"] g.series[data-series="checkout-v2=B"]')
    assert int(series.get_attribute("data-points")) >= 10
    annotations = page.locator('svg[data-chart="line"] g.marker').first.get_attribute("data-marker")
    assert "create checkout-v2" in annotations.split("|")

    browser.open(f"{origin}/ui/incident?last=1h&service=search")
    banner = page.locator(".banner").first.inner_text()
    assert "No experiment variant has significantly more errors" in banner
    browser.open(f"{origin}/ui/incident?last=1h&service=serch")
    assert page.locator(".banner.good").count() == 0
    assert (
        "No verdict: no request from service 'serch'" in page.locator(".banner").first.inner_text()
    )

    browser.open(f"{origin}/ui/propagation?last=1h")
    losing = page.locator("svg[data-chart=graph] g.hop.losing")
    pairs = {
        (losing.nth(i).get_attribute("data-from"), losing.nth(i).get_attribute("data-to"))
        for i in range(losing.count())
    }
    assert ("checkout", "inventory") in pairs
    kept = page.locator('svg[data-chart=graph] g.hop[data-from="frontend"][data-to="checkout"]')
    assert kept.get_attribute("class") == "hop"

    browser.open(f"{origin}/ui/burn")
    assert page.locator('svg[data-chart=bar] g.bar[data-label="checkout-v2 = B"]').count() == 1


def test_hostile_ids_and_attribute_values_render_as_text(live, browser):
    """An experiment id with markup in the URL, a service name and a route with markup, and a
    registry description with a script all appear literally; nothing runs, no element is
    injected."""
    dialogs = []
    browser.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    origin = base_url(live)
    response, _ = browser.open(f"{origin}/ui/experiments/{urllib.parse.quote(HOSTILE_ID, safe='')}")
    assert response.status == 404
    assert browser.page.locator("h1").inner_text() == f"Experiment {HOSTILE_ID}"
    for path in ("/ui/coverage", "/ui/propagation", "/ui/lag", "/ui/cardinality"):
        browser.open(f"{origin}{path}?last=1h")
        text = browser.page.locator("main").inner_text()
        assert HOSTILE_SERVICE in text, path
        injected = browser.page.locator("main img, b:text-is('svc'), script")
        assert injected.count() == 0, path
    browser.open(f"{origin}/ui/coverage?last=1h")
    assert HOSTILE_ROUTE in browser.page.locator("table").first.inner_text()
    assert dialogs == []


def test_sign_in_from_the_browser(make_receiver, browser):
    """With a token set, the browser lands on the sign-in form, a wrong token is refused on
    the page, the right one leads to the page first asked for with an HttpOnly,
    SameSite=Strict cookie."""
    server = make_receiver(with_api("browser-token"))
    origin = base_url(server)
    _, visit = browser.open(f"{origin}/ui/propagation")
    page = browser.page
    assert page.url.startswith(f"{origin}/ui/signin")
    assert visit.errors == []
    page.fill("input[name=token]", "nope")
    page.click("button:text('sign in')")
    assert "wrong token" in page.locator(".banner.bad").inner_text()
    page.fill("input[name=token]", "browser-token")
    page.click("button:text('sign in')")
    page.wait_for_url(f"{origin}/ui/propagation")
    assert page.locator("h1").inner_text() == "Propagation"
    [cookie] = [c for c in browser.context.cookies() if c["name"] == "exptrace_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]


def _boxes(locator) -> list[dict]:
    return [locator.nth(i).bounding_box() for i in range(locator.count())]


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_chart_labels_stay_inside_and_apart(live, browser):
    """As Chromium lays them out: annotation labels overlap neither one another nor the
    legend and stay inside their chart; labels right of an interval chart are not cut off;
    the window's dates read as 24-hour UTC."""
    origin = base_url(live)
    for path in ("/ui/experiments/checkout-v2?last=15m", "/ui/incident?last=1h", "/ui?last=1h"):
        browser.open(f"{origin}{path}")
        page = browser.page
        for field in ("from", "to"):
            value = page.locator(f"input[name={field}]").input_value()
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", value), value
        charts = page.locator("svg.chart")
        for i in range(charts.count()):
            chart = charts.nth(i)
            frame = chart.bounding_box()
            labels = _boxes(chart.locator("text.marker-label"))
            legend = _boxes(chart.locator("g.legend"))
            for n, box in enumerate(labels):
                assert all(not _overlap(box, other) for other in labels[n + 1 :]), path
                assert all(not _overlap(box, other) for other in legend), path
            for box in labels + _boxes(chart.locator("text.value")):
                assert (
                    frame["x"] <= box["x"]
                    and box["x"] + box["width"] <= frame["x"] + frame["width"]
                ), path
