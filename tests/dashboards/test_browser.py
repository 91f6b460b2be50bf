"""The pages in headless Chromium against a real ASGI server: log in, charts drawn, the live
counter moving when events arrive through the API, the empty state turning into the overview,
404 for a non-member, and no Content-Security-Policy violations anywhere."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.dashboards.browser import COLLECT_CSP_VIOLATIONS, DRAWN_PIXELS, asgi_server, log_in
from tests.dashboards.conftest import iso, store_events
from tests.factories import ProjectFactory, member_with_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(store: Any) -> Iterator[str]:
    with asgi_server() as url:
        yield url


def send_events(base_url: str, write_key: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base_url}/api/v1/events",
        data=json.dumps({"batch": events}).encode(),
        headers={"Content-Type": "application/json", "X-Api-Key": write_key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def sample_events(count: int, *, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "event": ("page_view", "signup", "purchase")[n % 3],
            "distinct_id": f"user-{n % 7}",
            "timestamp": iso(now - timedelta(hours=n % 40, minutes=n)),
            "properties": {"$current_url": f"https://shop.test/p{n % 5}", "$referrer": "https://www.google.com/"},
        }
        for n in range(count)
    ]


# The value of the current (open) bucket of the overview's events-over-time chart.
CURRENT_BUCKET = """() => {
  const chart = window.analyticsPages.charts().find(c => c.el.hasAttribute("data-live-chart"));
  return chart.data.series[0].data[chart.data.current_index];
}"""


def number(page: Any, selector: str) -> int:
    return int(page.inner_text(selector).replace(",", "").strip() or 0)


def test_log_in_see_drawn_charts_and_the_live_counter_move(server: str, browser_page: Any) -> None:
    user, project = member_with_project()
    store_events(project, sample_events(60, now=datetime.now(UTC)))
    page = browser_page
    page.add_init_script(COLLECT_CSP_VIOLATIONS)
    page.set_viewport_size({"width": 1280, "height": 900})

    log_in(page, server, user.email)
    assert page.url == f"{server}/"
    page.wait_for_selector("#ts-title")
    for chart in ("[data-chart=timeseries-data]", "[data-chart=top-events-data]", "[data-chart=kinds-data]"):
        page.wait_for_selector(f"{chart} canvas", timeout=15_000)
        page.wait_for_function(f"() => ({DRAWN_PIXELS})('{chart}') > 500", timeout=10_000)
    assert "user-" in page.inner_text("#content")  # the top-users table
    page.wait_for_function("() => document.querySelector('[data-live-state]').textContent === 'live'", timeout=10_000)

    before_today = number(page, "[data-live-today]")
    before_bucket = page.evaluate(CURRENT_BUCKET)
    now = datetime.now(UTC)
    fresh = [{"event": "live_test", "distinct_id": "live-user", "timestamp": iso(now)} for _ in range(7)]
    sent = time.monotonic()
    assert send_events(server, project.write_key, fresh)["accepted"] == 7
    page.wait_for_function(
        f"() => Number(document.querySelector('[data-live-today]').textContent.replace(/,/g, '')) >= {before_today + 7}",
        timeout=5_000,
    )
    elapsed = time.monotonic() - sent
    assert elapsed < 2.0, f"the counter moved after {elapsed:.2f} s"
    assert number(page, "[data-live-minute]") >= 7
    assert page.evaluate(CURRENT_BUCKET) == before_bucket + 7  # the open bucket of the chart moved too
    assert page.evaluate("window.__cspViolations") == []


def test_the_empty_state_turns_into_the_overview_when_the_first_event_arrives(server: str, browser_page: Any) -> None:
    user, project = member_with_project()
    page = browser_page
    page.add_init_script(COLLECT_CSP_VIOLATIONS)
    log_in(page, server, user.email)
    assert project.write_key in page.inner_text("#curl-example")
    assert project.write_key in page.inner_text("#python-example")
    page.wait_for_function("() => document.querySelector('[data-live-state]').textContent === 'live'", timeout=10_000)

    send_events(
        server, project.write_key, [{"event": "first", "distinct_id": "u1", "timestamp": iso(datetime.now(UTC))}]
    )
    page.wait_for_selector("#ts-title", timeout=10_000)  # the overview, without a manual reload
    page.wait_for_function(f"() => ({DRAWN_PIXELS})('[data-chart=timeseries-data]') > 100", timeout=10_000)
    assert page.evaluate("window.__cspViolations") == []


def test_a_non_member_gets_404(server: str, browser_page: Any) -> None:
    user, _ = member_with_project()
    foreign = ProjectFactory()
    page = browser_page
    log_in(page, server, user.email)
    for path in (f"/projects/{foreign.id}/", f"/projects/{foreign.id}/web/", f"/projects/{foreign.id}/settings/"):
        response = page.goto(f"{server}{path}")
        assert response is not None
        assert response.status == 404, path


def test_the_counter_reconnects_and_catches_up_with_what_it_missed(server: str, browser_page: Any) -> None:
    user, project = member_with_project()
    store_events(project, sample_events(10, now=datetime.now(UTC)))
    page = browser_page
    log_in(page, server, user.email)
    live_state = "() => document.querySelector('[data-live-state]').textContent"
    page.wait_for_function(f"{live_state} === 'live'", timeout=10_000)
    before_today = number(page, "[data-live-today]")

    page.evaluate("() => document.querySelector('[data-live]').live.socket.close()")
    page.wait_for_function(f"{live_state}.startsWith('reconnecting')", timeout=5_000)
    now = datetime.now(UTC)
    missed = [
        {"event": "missed", "distinct_id": f"m{n}", "timestamp": iso(now - timedelta(seconds=n))} for n in range(4)
    ]
    assert send_events(server, project.write_key, missed)["accepted"] == 4
    page.wait_for_function(f"{live_state} === 'live'", timeout=10_000)  # back after its backoff
    page.wait_for_function(
        f"() => Number(document.querySelector('[data-live-today]').textContent.replace(/,/g, '')) >= {before_today + 4}",
        timeout=5_000,
    )
