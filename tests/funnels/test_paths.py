"""User paths: a hand-built data set with known answers, and generated data against the reference."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.funnels.paths import run_paths
from analytics.funnels.serializers import PathsQuerySerializer
from tests.funnels.reference import generate, reference_paths
from tests.warehouse.helpers import event_row, new_project_id

T = datetime(2026, 3, 10, 12, tzinfo=UTC)
NOW = datetime(2026, 3, 20, tzinfo=UTC)
RANGE = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"}


def person(project_id: int, name: str, *events: tuple[str, str]) -> list[dict[str, Any]]:
    """Events one second apart; ``("$pageview", "/pricing")`` or ``("signup", "")``."""
    person_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{project_id}-{name}"))
    return [
        event_row(
            project_id,
            event=event,
            url=url,
            distinct_id=name,
            person_id=person_id,
            timestamp=T + timedelta(seconds=n),
            received_at=T + timedelta(seconds=n),
        )
        for n, (event, url) in enumerate(events)
    ]


def paths(project_id: int, body: dict[str, Any]) -> dict[str, Any]:
    serializer = PathsQuerySerializer(data={**RANGE, **body}, context={"time_zone": "UTC", "now": NOW})
    assert serializer.is_valid(), serializer.errors
    return run_paths(project_id=project_id, query=serializer.validated_data["query"])


def as_dicts(answer: dict[str, Any]) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    nodes = {node["id"]: node["value"] for node in answer["nodes"]}
    edges = {(edge["source"], edge["target"]): edge["value"] for edge in answer["edges"]}
    return nodes, edges


@pytest.fixture(scope="module")
def site(clickhouse_store: Any) -> int:
    project_id = new_project_id()
    home, pricing, docs, signup = ("$pageview", "/"), ("$pageview", "/pricing"), ("$pageview", "/docs"), ("signup", "")
    people = [
        person(project_id, "u1", home, pricing, signup),
        person(project_id, "u2", home, pricing, pricing, signup),  # a reload collapses
        person(project_id, "u3", home, docs, pricing),
        person(project_id, "u4", home, ("$pageview", "/docs?q=1#x"), home),
        person(project_id, "u5", pricing, signup),  # never saw the home page
    ]
    clickhouse_store.insert_events([row for rows in people for row in rows], dedup_token=f"paths-{project_id}")
    return project_id


def test_events_after_a_start_event(site):
    answer = paths(
        site,
        {
            "start": {"event": "$pageview", "properties": [{"key": "$current_url", "operator": "eq", "value": "/"}]},
            "depth": 3,
        },
    )

    nodes, edges = as_dicts(answer)
    assert answer["persons"] == 4
    # pageviews in a row are one node: u1 and u2 go on to signup, u3 and u4 stay on pageviews
    assert nodes == {"0_$pageview": 4, "1_signup": 2}
    assert edges == {("0_$pageview", "1_signup"): 2}


def test_pageview_urls_after_the_home_page(site):
    body = {"start": {"event": "$pageview", "properties": [{"key": "$current_url", "operator": "eq", "value": "/"}]}}

    nodes, edges = as_dicts(paths(site, {**body, "path_type": "url", "depth": 4}))

    # signup is not a pageview (nor the anchor): left out; "/docs?q=1#x" is "/docs"
    assert nodes == {"0_/": 4, "1_/pricing": 2, "1_/docs": 2, "2_/pricing": 1, "2_/": 1}
    assert edges == {
        ("0_/", "1_/pricing"): 2,
        ("0_/", "1_/docs"): 2,
        ("1_/docs", "2_/pricing"): 1,
        ("1_/docs", "2_/"): 1,
    }


def test_urls_before_an_end_event_end_at_the_last_step(site):
    nodes, edges = as_dicts(paths(site, {"end": {"event": "signup"}, "path_type": "url", "depth": 3}))

    assert nodes == {"2_signup": 3, "1_/pricing": 3, "0_/": 2}
    assert edges == {("1_/pricing", "2_signup"): 3, ("0_/", "1_/pricing"): 2}


def test_top_edges_per_step_send_the_rest_to_other(site):
    body = {"start": {"event": "$pageview", "properties": [{"key": "$current_url", "operator": "eq", "value": "/"}]}}

    nodes, edges = as_dicts(paths(site, {**body, "path_type": "url", "depth": 3, "edges_per_step": 1}))

    # step 1: /docs and /pricing tie at 2 persons, ties go by name: /docs is kept;
    # step 2: (/docs, /) and (/docs, /pricing) tie at 1: (/docs, /) is kept
    assert nodes == {"0_/": 4, "1_/docs": 2, "1_$other": 2, "2_/": 1, "2_$other": 1}
    assert edges == {
        ("0_/", "1_/docs"): 2,
        ("0_/", "1_$other"): 2,
        ("1_/docs", "2_/"): 1,
        ("1_/docs", "2_$other"): 1,
    }


def test_an_empty_period_is_an_empty_sankey(site):
    answer = paths(site, {"start": {"event": "signup"}, "from": "2025-01-01", "to": "2025-01-02"})

    assert answer == {"nodes": [], "edges": [], "persons": 0, "truncated": False}


@pytest.fixture(scope="module")
def generated(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]]]:
    project_id = new_project_id()
    rows = generate(project_id, start=datetime(2026, 3, 10, tzinfo=UTC), persons=200, seed=5)
    clickhouse_store.insert_events(rows, dedup_token=f"paths-generated-{project_id}")
    return project_id, rows


@pytest.mark.parametrize(
    "body",
    [
        {"start": {"event": "a"}, "depth": 5, "edges_per_step": 3},
        {"start": {"event": ["a", "b"]}, "depth": 10, "edges_per_step": 50, "window_seconds": 3600},
        {"end": {"event": "c"}, "depth": 4, "edges_per_step": 2},
        {"start": {"event": "a"}, "depth": 6, "exclude_events": ["noise", "b", "a"]},
        {"end": {"event": "d", "properties": [{"key": "plan", "operator": "eq", "value": "pro"}]}, "depth": 6},
    ],
)
def test_generated_paths_match_the_reference(generated, body):
    project_id, rows = generated
    start_ms = int(datetime(2026, 3, 10, tzinfo=UTC).timestamp() * 1000)

    answer = paths(project_id, body)

    nodes, edges = as_dicts(answer)
    expected = reference_paths(rows, body, start_ms, start_ms + 86_400_000)
    assert answer["persons"] == expected["persons"] > 0
    assert nodes == expected["nodes"]
    assert edges == expected["edges"]
