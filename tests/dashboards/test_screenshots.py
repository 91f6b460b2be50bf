"""Screenshots of every page at 1280 px and 390 px, light and dark, with demo data and with
an empty project, under var/screenshots/ (for people to look at), checking on the way that
each page loads without errors, keeps to the viewport's width and breaks no CSP rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from analytics.platform.demo import demo_load
from tests.dashboards.browser import COLLECT_CSP_VIOLATIONS, SCREENSHOTS, asgi_server, log_in, screenshot
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


def test_screenshots_of_every_page(server: str, browser_page: Any) -> None:
    user, project = member_with_project(name="Demo shop")
    empty = ProjectFactory(organisation=project.organisation, name="New app")
    demo_load(project_id=project.id, total=4000)
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
                "web-filtered": f"/projects/{project.id}/web/?range=30d&f=referrer:google.com",
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
