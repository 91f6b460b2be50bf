"""The JavaScript tracker in headless Chromium against the live test server."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.factories import member_with_project
from tests.ingestion.conftest import stored

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for_events(store: Any, project_id: int, expected: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows = stored(store, project_id)
    while len(rows) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = stored(store, project_id)
    return rows


def test_page_view_custom_event_and_identify_arrive(live_server, store, browser_page):
    _, project = member_with_project()
    url = f"{live_server.url}/static/js/tracker-example.html?key={project.write_key}&flush=200"

    browser_page.goto(url)
    browser_page.click("#buy")
    browser_page.click("#login")

    rows = wait_for_events(store, project.id, 3)
    by_event = {row["event"]: row for row in rows}
    assert set(by_event) == {"$pageview", "purchase", "$identify"}
    assert by_event["$pageview"]["url"].endswith(
        "/static/js/tracker-example.html?key=" + project.write_key + "&flush=200"
    )
    assert by_event["purchase"]["revenue"] == 49.5
    assert by_event["purchase"]["browser"] in {"Chrome", "HeadlessChrome", "Chromium"}
    assert by_event["$identify"]["distinct_id"] == "user-42"
    assert by_event["purchase"]["distinct_id"].startswith("anon-")
    assert by_event["$pageview"]["session_id"] == by_event["purchase"]["session_id"]
    assert by_event["purchase"]["lib"] == "web"


def test_events_queued_at_unload_are_sent_with_send_beacon(live_server, store, browser_page):
    _, project = member_with_project()
    # A long flush interval: only the unload hand-off can deliver these events.
    url = f"{live_server.url}/static/js/tracker-example.html?key={project.write_key}&flush=600000&batch=100"

    browser_page.goto(url)
    browser_page.click("#buy")
    browser_page.click("#buy")
    browser_page.click("#leave")

    rows = wait_for_events(store, project.id, 3)
    assert sorted(row["event"] for row in rows) == ["$pageview", "purchase", "purchase"]
