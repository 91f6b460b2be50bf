"""Screenshots of every page at 1280 px and 390 px, light and dark, with demo data and with
an empty project, under var/screenshots/ (for people to look at), checking on the way that
each page loads without errors, keeps to the viewport's width and breaks no CSP rule."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.platform.demo import demo_load
from tests.dashboards.browser import COLLECT_CSP_VIOLATIONS, SCREENSHOTS, asgi_server, log_in, screenshot
from tests.dashboards.conftest import iso, store_events
from tests.factories import ProjectFactory, member_with_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The elements reaching furthest right, to name the culprit when a page is too wide.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .map(el => [Math.round(el.getBoundingClientRect().right), el.tagName + '.' + el.className])
  .sort((a, b) => b[0] - a[0]).slice(0, 5)"""
SIZES = {"1280": {"width": 1280, "height": 900}, "390": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")


@pytest.fixture
def server(store: Any) -> Iterator[str]:
    with asgi_server() as url:
        yield url


def settle(page: Any) -> None:
    """Wait until every card has loaded (no skeleton left) and the charts are drawn."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => !document.querySelector('.skeleton')", timeout=20_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-chart]')].every(el => el.querySelector('canvas'))", timeout=10_000
    )


def site_visits(now: datetime, visits: int = 240) -> list[dict[str, Any]]:
    """Web visits with ``$pageview`` (what the JavaScript tracker sends) over the last 30 days."""
    rng = random.Random(19)
    pages = ("/", "/pricing", "/features", "/docs", "/blog/launch", "/signup")
    referrers = ("", "", "https://www.google.com/", "https://news.ycombinator.com/", "https://www.reddit.com/r/x")
    agents = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    )
    events = []
    for visit in range(visits):
        moment = now - timedelta(days=30 * rng.random() ** 0.8, minutes=5)
        visitor = rng.randrange(80)
        utm = rng.choice(("", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=launch"))
        referrer = rng.choice(referrers)
        for step in range(1 + int(rng.expovariate(0.7))):
            events.append(
                {
                    "event": "$pageview",
                    "distinct_id": f"visitor-{visitor}",
                    "timestamp": iso(moment + timedelta(seconds=40 * step)),
                    "properties": {
                        "$current_url": "https://shop.example" + rng.choice(pages) + (utm if step == 0 else ""),
                        "$referrer": referrer if step == 0 else "",
                        "$session_id": f"visit-{visit}",
                        "$user_agent": agents[visitor % len(agents)],
                        "$country": ("DE", "US", "GB", "FR", "IN")[visitor % 5],
                    },
                }
            )
    return events


def test_screenshots_of_every_page(server: str, browser_page: Any) -> None:
    user, project = member_with_project(name="Demo shop")
    empty = ProjectFactory(organisation=project.organisation, name="New app")
    demo_load(project_id=project.id, total=4000)
    store_events(project, site_visits(datetime.now(UTC)))
    page = browser_page
    page.add_init_script(COLLECT_CSP_VIOLATIONS)
    for name, size in SIZES.items():
        for scheme in SCHEMES:
            page.set_viewport_size(size)
            page.emulate_media(color_scheme=scheme)
            page.context.clear_cookies()
            page.goto(f"{server}/login/")
            screenshot(page, f"login-{name}-{scheme}")
            log_in(page, server, user.email)
            pages = {
                "overview": f"/projects/{project.id}/",
                "overview-compare-30d": f"/projects/{project.id}/?range=30d&compare=1",
                "web": f"/projects/{project.id}/web/?range=30d",
                "web-filtered": f"/projects/{project.id}/web/?range=30d&f=referrer:www.google.com",
                "users": f"/projects/{project.id}/users/?range=30d",
                "user-web": f"/projects/{project.id}/users/web-user-1/",
                "user-telecom": f"/projects/{project.id}/users/msisdn-491700000000/",
                "settings": f"/projects/{project.id}/settings/",
                "empty-project": f"/projects/{empty.id}/",
            }
            for label, path in pages.items():
                response = page.goto(f"{server}{path}")
                assert response is not None
                assert response.status == 200, path
                settle(page)
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= size["width"], f"{label} at {name}px is {width}px wide: {page.evaluate(WIDEST)}"
                screenshot(page, f"{label}-{name}-{scheme}")
                if (label, name, scheme) == ("overview", "1280", "light"):  # docs/overview.png comes from this one
                    page.screenshot(path=str(SCREENSHOTS / "overview-first-screen.png"))
    assert page.evaluate("window.__cspViolations") == []
