"""Hand-built persons for the documented edges: window ends, equal moments, re-entry, ``to``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.funnels.compiler import compile_steps
from analytics.funnels.runner import actor_distinct_ids, run_actors, run_funnel, run_trend
from analytics.funnels.serializers import FunnelQuerySerializer
from tests.warehouse.helpers import event_row, new_project_id

T = datetime(2026, 3, 10, 12, tzinfo=UTC)
NOW = datetime(2026, 3, 20, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def person(project_id: int, name: str, *events: tuple[str, datetime]) -> list[dict[str, Any]]:
    person_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{project_id}-{name}"))
    return [
        event_row(project_id, event=event, distinct_id=name, person_id=person_id, timestamp=at, received_at=at)
        for event, at in events
    ]


def funnel(project_id: int, **body: Any) -> dict[str, Any]:
    body = {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "window_seconds": 60, **body}
    body.setdefault("from", "2026-03-10T00:00:00Z")
    body.setdefault("to", "2026-03-11T00:00:00Z")
    serializer = FunnelQuerySerializer(data=body, context={"time_zone": "UTC", "now": NOW})
    assert serializer.is_valid(), serializer.errors
    return run_funnel(project_id=project_id, query=serializer.validated_data["query"])


def counts(answer: dict[str, Any]) -> list[int]:
    return [step["count"] for step in answer["steps"]]


@pytest.fixture
def project_id(store: Any) -> int:
    return new_project_id()


def load(store: Any, project_id: int, *people: list[dict[str, Any]]) -> None:
    store.insert_events([row for rows in people for row in rows], dedup_token=f"funnels-edges-{uuid.uuid4()}")


def test_the_window_end_is_inclusive_to_the_millisecond(store, project_id):
    load(
        store,
        project_id,
        person(project_id, "on-the-edge", ("a", T), ("b", T + timedelta(seconds=30)), ("c", T + timedelta(seconds=60))),
        person(
            project_id, "one-ms-late", ("a", T), ("b", T + timedelta(seconds=30)), ("c", T + timedelta(seconds=60) + MS)
        ),
    )

    assert counts(funnel(project_id)) == [2, 2, 1]


def test_wide_sort_keys_when_the_offset_and_mask_do_not_fit_64_bits(store, project_id):
    # A century of range and 23 mask bits: the events travel as UInt128 keys, same answers.
    load(
        store,
        project_id,
        person(project_id, "on-the-edge", ("a", T), ("b", T + timedelta(seconds=30)), ("c", T + timedelta(seconds=60))),
        person(project_id, "late", ("a", T), ("b", T + timedelta(seconds=30)), ("c", T + timedelta(seconds=60) + MS)),
        person(project_id, "excluded", ("a", T), ("x", T + MS), ("b", T + timedelta(seconds=1))),
    )
    body = {"from": "1920-01-01T00:00:00Z", "exclusions": [{"event": "x", "from_step": 0, "to_step": 1}] * 20}
    serializer = FunnelQuerySerializer(
        data={
            "steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}],
            **body,
            "window_seconds": 60,
            "to": "2026-03-11T00:00:00Z",
        },
        context={"time_zone": "UTC", "now": NOW},
    )
    assert serializer.is_valid(), serializer.errors
    assert "toUInt128(" in compile_steps(project_id=project_id, query=serializer.validated_data["query"]).sql

    assert counts(funnel(project_id, **body)) == [2, 2, 1]


def test_a_later_step_at_the_same_moment_does_not_count(store, project_id):
    load(store, project_id, person(project_id, "same-ms", ("a", T), ("b", T), ("c", T + MS)))

    assert counts(funnel(project_id)) == [1, 0, 0]


def test_the_attempt_that_reaches_furthest_counts_ties_the_earliest(store, project_id):
    load(
        store,
        project_id,
        person(
            project_id,
            "re-entry",
            ("a", T),
            ("b", T + timedelta(seconds=10)),
            ("a", T + timedelta(minutes=10)),
            ("b", T + timedelta(minutes=10, seconds=5)),
            ("c", T + timedelta(minutes=10, seconds=50)),
        ),
        person(
            project_id,
            "tie",
            ("a", T),
            ("b", T + timedelta(seconds=20)),
            ("a", T + timedelta(hours=1)),
            ("b", T + timedelta(hours=1, seconds=2)),
        ),
    )

    answer = funnel(project_id)

    assert counts(answer) == [2, 2, 1]
    # re-entry counts its second attempt (5 s, 45 s); tie its first (20 s, not 2 s)
    assert answer["steps"][1]["median_seconds_to_convert"] == pytest.approx(12.5)
    assert answer["steps"][2]["median_seconds_to_convert"] == pytest.approx(45)


def test_entry_is_in_from_to_and_later_steps_may_follow_to(store, project_id):
    to = datetime(2026, 3, 11, tzinfo=UTC)
    load(
        store,
        project_id,
        person(
            project_id, "late-steps", ("a", to - MS), ("b", to + timedelta(seconds=1)), ("c", to + timedelta(seconds=2))
        ),
        person(project_id, "enters-at-to", ("a", to), ("b", to + timedelta(seconds=1))),
        person(project_id, "before-from", ("a", T - timedelta(days=2)), ("b", T - timedelta(days=2) + MS)),
    )

    assert counts(funnel(project_id)) == [1, 1, 1]


def test_strict_order_stops_at_any_other_event_in_between(store, project_id):
    load(
        store,
        project_id,
        person(project_id, "clean", ("a", T), ("b", T + MS * 2), ("c", T + MS * 3)),
        person(project_id, "interrupted", ("a", T), ("noise", T + MS), ("b", T + MS * 2), ("c", T + MS * 3)),
        person(project_id, "noise-at-same-moment", ("a", T), ("b", T + MS), ("noise", T + MS), ("c", T + MS * 3)),
    )

    assert counts(funnel(project_id, order="strict")) == [3, 2, 2]
    assert counts(funnel(project_id, order="ordered")) == [3, 3, 3]


def test_unordered_counts_steps_done_in_any_order(store, project_id):
    load(
        store,
        project_id,
        person(project_id, "backwards", ("c", T), ("b", T + MS), ("a", T + MS * 2)),
        person(project_id, "two-of-three", ("b", T), ("a", T + timedelta(seconds=59))),
        person(project_id, "too-slow", ("b", T), ("a", T + timedelta(seconds=61))),
    )

    assert counts(funnel(project_id, order="unordered")) == [3, 2, 1]


def test_an_exclusion_between_the_steps_voids_only_that_attempt(store, project_id):
    load(
        store,
        project_id,
        person(project_id, "excluded", ("a", T), ("x", T + MS), ("b", T + MS * 2)),
        person(project_id, "x-at-the-step-moment", ("a", T), ("x", T), ("b", T + MS * 2)),
        person(project_id, "retried", ("a", T), ("x", T + MS), ("a", T + MS * 3), ("b", T + MS * 4)),
        person(project_id, "x-after-b", ("a", T), ("b", T + MS * 2), ("x", T + MS * 3)),
    )
    exclusions = [{"event": "x", "from_step": 0, "to_step": 1}]

    answer = funnel(project_id, exclusions=exclusions)

    assert counts(answer) == [3, 3, 0]
    query = {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "window_seconds": 60}
    assert counts(funnel(project_id, **query)) == [4, 4, 0]


def test_who_converted_and_who_dropped_a_page_at_a_time(store, project_id):
    people = [person(project_id, f"done-{n}", ("a", T), ("b", T + MS), ("c", T + MS * 2)) for n in range(5)]
    people += [person(project_id, f"stuck-{n}", ("a", T), ("b", T + MS)) for n in range(3)]
    load(store, project_id, *people)
    body = {"steps": [{"event": "a"}, {"event": "b"}, {"event": "c"}], "window_seconds": 60}
    body.update({"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"})
    serializer = FunnelQuerySerializer(data=body, context={"time_zone": "UTC", "now": NOW})
    assert serializer.is_valid()
    query = serializer.validated_data["query"]

    seen, cursor = [], None
    while True:
        page = run_actors(project_id=project_id, query=query, step=2, status="converted", cursor=cursor, limit=2)
        seen += [result["distinct_ids"] for result in page["results"]]
        cursor = page["next"]
        if cursor is None:
            break
    dropped = run_actors(project_id=project_id, query=query, step=2, status="dropped")

    assert sorted(seen) == [[f"done-{n}"] for n in range(5)]
    assert sorted(result["distinct_ids"][0] for result in dropped["results"]) == [f"stuck-{n}" for n in range(3)]
    assert all(result["reached_steps"] == 2 for result in dropped["results"])
    assert dropped["next"] is None


def test_every_distinct_id_of_the_selected_persons(store, project_id):
    merged = person(project_id, "web-id", ("a", T), ("b", T + MS))
    merged += [{**row, "distinct_id": "app-id"} for row in person(project_id, "web-id", ("b", T + MS * 2))]
    load(store, project_id, merged, person(project_id, "other", ("a", T)))
    body = {"steps": [{"event": "a"}, {"event": "b"}], "window_seconds": 60}
    body.update({"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"})
    serializer = FunnelQuerySerializer(data=body, context={"time_zone": "UTC", "now": NOW})
    assert serializer.is_valid()
    query = serializer.validated_data["query"]

    converted = actor_distinct_ids(project_id=project_id, query=query, step=1, status="converted")
    dropped = actor_distinct_ids(project_id=project_id, query=query, step=1, status="dropped")

    assert converted == ["app-id", "web-id"]
    assert dropped == ["other"]


def test_trend_days_across_a_daylight_saving_change(store, project_id):
    zone = ZoneInfo("America/New_York")  # clocks went forward on 2026-03-08
    before = datetime(2026, 3, 7, 23, 30, tzinfo=zone)
    after = datetime(2026, 3, 8, 23, 30, tzinfo=zone)
    load(
        store,
        project_id,
        person(project_id, "before", ("a", before), ("b", before + timedelta(seconds=5))),
        person(project_id, "after", ("a", after)),
    )
    body = {"steps": [{"event": "a"}, {"event": "b"}], "window_seconds": 60, "from": "2026-03-07", "to": "2026-03-09"}
    serializer = FunnelQuerySerializer(data=body, context={"time_zone": "America/New_York", "now": NOW})
    assert serializer.is_valid(), serializer.errors

    answer = run_trend(project_id=project_id, query=serializer.validated_data["query"], interval="day", to_step=1)

    assert [(p["bucket"], p["entered"], p["converted"]) for p in answer["points"]] == [
        ("2026-03-07T00:00:00-05:00", 1, 1),
        ("2026-03-08T00:00:00-05:00", 1, 0),
        ("2026-03-09T00:00:00-04:00", 0, 0),
    ]
    assert [p["conversion_rate"] for p in answer["points"]] == [1.0, 0.0, 0.0]
