"""The JavaScript tracker in headless Chromium against the live test server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.factories import member_with_project
from tests.ingestion.conftest import stored

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for_events(
    store: Any, project_id: int, expected: int, timeout: float = 15.0, page: Any = None
) -> list[dict[str, Any]]:
    """Poll the store; with ``page``, wait in Playwright so its route handlers run meanwhile."""
    deadline = time.monotonic() + timeout
    rows = stored(store, project_id)
    while len(rows) < expected and time.monotonic() < deadline:
        if page is None:
            time.sleep(0.2)
        else:
            page.wait_for_timeout(200)
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


def test_a_lone_surrogate_loses_only_its_event_and_names_are_cut_by_code_point(live_server, store, browser_page):
    _, project = member_with_project()
    url = f"{live_server.url}/static/js/tracker-example.html?key={project.write_key}&flush=200&batch=100"
    long_name = "x" * 199 + "\U0001f600"  # 201 UTF-16 units, 200 code points

    browser_page.goto(url)
    browser_page.evaluate(
        """(name) => {
            analytics.track("bad", {note: "cut " + "\\ud83d"});  // a lone high surrogate
            analytics.track(name + "tail");
            analytics.track("good");
        }""",
        long_name,
    )

    wait_for_events(store, project.id, 3)
    time.sleep(0.5)  # nothing more arrives
    assert sorted(row["event"] for row in stored(store, project.id)) == sorted(["$pageview", long_name, "good"])


def test_events_the_server_refuses_by_index_are_dropped_and_the_rest_resent(live_server, store, browser_page):
    _, project = member_with_project()
    url = f"{live_server.url}/static/js/tracker-example.html?key={project.write_key}&flush=600000&batch=3"
    refused: list[list[str]] = []

    def refuse_event_a_once(route: Any) -> None:
        names = [item["event"] for item in json.loads(route.request.post_data)["batch"]]
        if "a" in names and not refused:
            refused.append(names)
            error = {"code": "invalid_events", "message": "x", "rejected": [{"index": names.index("a"), "error": "x"}]}
            route.fulfill(status=400, content_type="application/json", body=json.dumps({"error": error}))
        else:
            route.continue_()

    browser_page.route("**/api/v1/events", refuse_event_a_once)
    browser_page.goto(url)
    browser_page.evaluate('() => { analytics.track("a"); analytics.track("b"); }')  # the third event sends
    browser_page.wait_for_function("() => !analytics.sending && analytics.queue.length === 2")
    browser_page.evaluate("() => analytics.flush()")

    rows = wait_for_events(store, project.id, 2, page=browser_page)
    assert refused == [["$pageview", "a", "b"]]
    assert sorted(row["event"] for row in rows) == ["$pageview", "b"]


def test_429_and_5xx_are_retried_with_backoff(live_server, store, browser_page):
    _, project = member_with_project()
    url = f"{live_server.url}/static/js/tracker-example.html?key={project.write_key}&flush=200&batch=100"
    answers = [429, 503]
    seen: list[float] = []

    def fail_twice(route: Any) -> None:
        seen.append(time.monotonic())
        if answers:
            status = answers.pop(0)
            route.fulfill(status=status, headers={"Retry-After": "1"}, body="{}", content_type="application/json")
        else:
            route.continue_()

    browser_page.route("**/api/v1/events", fail_twice)
    browser_page.goto(url)

    rows = wait_for_events(store, project.id, 1, page=browser_page)
    assert len(seen) == 3, seen
    assert [row["event"] for row in rows] == ["$pageview"]
    assert seen[1] - seen[0] >= 0.9  # Retry-After: 1
    assert seen[2] - seen[1] >= 0.9
