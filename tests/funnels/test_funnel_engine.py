"""The funnel engine against the plain-Python reference (tests/funnels/reference.py)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.funnels.runner import run_actors, run_funnel, run_histogram, run_trend
from analytics.funnels.serializers import FunnelQuerySerializer
from analytics.query import membership
from tests.funnels.reference import attributed, counted_persons, generate, step_table
from tests.query.helpers import generate_persons
from tests.warehouse.helpers import new_project_id

START = datetime(2026, 3, 10, tzinfo=UTC)
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
RANGE = {"from": "2026-03-10", "to": "2026-03-11"}


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]]]:
    project_id = new_project_id()
    rows = generate(project_id, start=START, persons=300, seed=11)
    clickhouse_store.insert_events(rows, dedup_token=f"funnels-engine-{project_id}")
    return project_id, rows


def build(body: dict[str, Any], time_zone: str = "UTC") -> Any:
    serializer = FunnelQuerySerializer(data=body, context={"time_zone": time_zone, "now": NOW})
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data["query"]


def engine(project_id: int, body: dict[str, Any], time_zone: str = "UTC") -> dict[str, Any]:
    return run_funnel(project_id=project_id, query=build(body, time_zone))


def expected(rows: list[dict[str, Any]], body: dict[str, Any], time_zone: str = "UTC") -> list[dict[str, Any]]:
    query = build(body, time_zone)
    persons = counted_persons(rows, body, query.date_from, query.date_to)
    return step_table([attempt for _, attempt in persons.values()], len(body["steps"]))


def numbers(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("count", "conversion_from_start", "conversion_from_previous", "dropped")
    keys += ("median_seconds_to_convert", "avg_seconds_to_convert")
    return [{key: pytest.approx(step[key]) if step[key] is not None else None for key in keys} for step in steps]


STEPS = [{"event": "a"}, {"event": "b"}, {"event": "c"}]


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize("window", [1, 60, 3600, 6 * 3600, 90 * 24 * 3600])
def test_each_order_and_window_matches_the_reference(loaded, order, window):
    project_id, rows = loaded
    body = {"steps": STEPS, "window_seconds": window, "order": order, **RANGE}

    answer = engine(project_id, body)

    assert numbers(answer["steps"]) == numbers(expected(rows, body))
    assert [step["event"] for step in answer["steps"]] == ["a", "b", "c"]


def test_the_data_set_exercises_the_funnel(loaded):
    project_id, _ = loaded
    body = {"steps": STEPS, "window_seconds": 6 * 3600, "order": "ordered", **RANGE}

    counts = [step["count"] for step in engine(project_id, body)["steps"]]

    assert counts[0] > 50
    assert 0 < counts[2] < counts[1] < counts[0], counts


EXCLUSIONS = [
    [{"event": "x", "from_step": 0, "to_step": 1}],
    [{"event": "x", "from_step": 1}],
    [
        {"event": "x"},
        {
            "event": "noise",
            "from_step": 1,
            "to_step": 2,
            "properties": [{"key": "plan", "operator": "eq", "value": "pro"}],
        },
    ],
]


@pytest.mark.parametrize("order", ["ordered", "strict"])
@pytest.mark.parametrize("exclusions", EXCLUSIONS)
def test_exclusions_void_attempts_as_the_reference_does(loaded, order, exclusions):
    project_id, rows = loaded
    body = {"steps": STEPS, "window_seconds": 6 * 3600, "order": order, "exclusions": exclusions, **RANGE}

    answer = engine(project_id, body)

    assert numbers(answer["steps"]) == numbers(expected(rows, body))
    plain = engine(project_id, {**body, "exclusions": []})
    assert answer["steps"][0]["count"] < plain["steps"][0]["count"]


def test_step_filters_several_events_and_global_filters(loaded):
    project_id, rows = loaded
    body = {
        "steps": [
            {"event": ["a", "b"]},
            {"event": "c", "properties": [{"key": "plan", "operator": "in", "value": ["pro", "team"]}]},
            {
                "event": ["d", "a"],
                "properties": {
                    "op": "or",
                    "conditions": [
                        {"key": "amount", "operator": "gte", "value": 5},
                        {"key": "plan", "operator": "is_not_set"},
                    ],
                },
            },
        ],
        "filters": [{"key": "plan", "operator": "neq", "value": "free"}],
        "window_seconds": 24 * 3600,
        **RANGE,
    }

    answer = engine(project_id, body)

    assert numbers(answer["steps"]) == numbers(expected(rows, body))
    assert answer["steps"][0]["event"] == "a or b"
    assert answer["steps"][2]["count"] > 0


def breakdown_expected(rows, body):
    query = build(body)
    persons = counted_persons(rows, body, query.date_from, query.date_to)
    groups: dict[str, list[Any]] = {}
    for _, attempt in persons.values():
        groups.setdefault(attributed(attempt, body["breakdown"]), []).append(attempt)
    return {value or None: numbers(step_table(attempts, len(body["steps"]))) for value, attempts in groups.items()}


@pytest.mark.parametrize(
    "breakdown",
    [
        {"key": "plan"},
        {"key": "plan", "attribution": "last_touch"},
        {"key": "plan", "attribution": "step", "step": 1},
        {"key": "plan", "attribution": "step", "step": 0},
    ],
)
@pytest.mark.parametrize("order", ["ordered", "unordered"])
def test_breakdown_attribution_matches_the_reference(loaded, breakdown, order):
    project_id, rows = loaded
    body = {"steps": STEPS, "window_seconds": 6 * 3600, "order": order, "breakdown": breakdown, **RANGE}

    answer = engine(project_id, body)

    got = {group["breakdown_value"]: numbers(group["steps"]) for group in answer["breakdown"]}
    assert got == breakdown_expected(rows, body)
    assert numbers(answer["steps"]) == numbers(expected(rows, body))
    entered = [group["steps"][0]["count"] for group in answer["breakdown"]]
    assert entered == sorted(entered, reverse=True)


def test_breakdown_limit_puts_the_rest_in_other(loaded):
    project_id, rows = loaded
    body = {"steps": STEPS, "window_seconds": 6 * 3600, "breakdown": {"key": "plan", "limit": 2}, **RANGE}

    answer = engine(project_id, body)

    values = [group["breakdown_value"] for group in answer["breakdown"]]
    assert len(values) == 3
    assert values[-1] == "$other"
    assert answer["breakdown"][-1]["is_other"] is True
    full = breakdown_expected(rows, {**body, "breakdown": {"key": "plan"}})
    top = sorted(full.items(), key=lambda item: (-item[1][0]["count"].expected, item[0] or ""))[:2]
    assert values[:2] == [value for value, _ in top]
    assert sum(group["steps"][0]["count"] for group in answer["breakdown"]) == answer["steps"][0]["count"]


@pytest.mark.parametrize("time_zone", ["America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"])
def test_dates_are_read_in_the_project_zone(loaded, time_zone):
    project_id, rows = loaded
    body = {"steps": STEPS, "window_seconds": 3600, "order": "ordered", **RANGE}

    answer = engine(project_id, body, time_zone)

    assert numbers(answer["steps"]) == numbers(expected(rows, body, time_zone))
    assert answer["from"].startswith("2026-03-10T00:00:00")
    assert answer["steps"] != engine(project_id, body)["steps"]


def test_an_empty_period_is_zeros(loaded):
    project_id, _ = loaded
    body = {"steps": STEPS, "window_seconds": 3600, "from": "2025-01-01", "to": "2025-01-31"}

    answer = engine(project_id, body)

    assert [step["count"] for step in answer["steps"]] == [0, 0, 0]
    assert [step["conversion_from_start"] for step in answer["steps"]] == [0.0, 0.0, 0.0]
    assert answer["steps"][1]["median_seconds_to_convert"] is None
    with_breakdown = engine(project_id, {**body, "breakdown": {"key": "plan"}})
    assert with_breakdown["breakdown"] == []
    assert [step["count"] for step in with_breakdown["steps"]] == [0, 0, 0]


@pytest.mark.parametrize(("interval", "time_zone"), [("day", "America/New_York"), ("week", "Europe/Berlin")])
def test_conversion_trend_per_entry_bucket_in_the_project_zone(loaded, interval, time_zone):
    project_id, rows = loaded
    body = {"steps": STEPS, "window_seconds": 6 * 3600, "from": "2026-03-09", "to": "2026-03-12"}
    query = build(body, time_zone)
    zone = ZoneInfo(time_zone)

    answer = run_trend(project_id=project_id, query=query, interval=interval, to_step=2)

    persons = counted_persons(rows, body, query.date_from, query.date_to)
    entered: Counter[str] = Counter()
    converted: Counter[str] = Counter()
    for _, attempt in persons.values():
        local = datetime.fromtimestamp(attempt.times[0] / 1000, tz=zone).date()
        if interval == "week":
            local -= timedelta(days=local.weekday())
        key = datetime.combine(local, time(0), tzinfo=zone).isoformat()
        entered[key] += 1
        converted[key] += len(attempt.times) > 2
    got = {p["bucket"]: (p["entered"], p["converted"]) for p in answer["points"]}
    assert {key: value for key, value in got.items() if value[0]} == {k: (entered[k], converted[k]) for k in entered}
    assert all(
        p["conversion_rate"] == pytest.approx(p["converted"] / p["entered"]) for p in answer["points"] if p["entered"]
    )


def test_time_to_convert_histogram_matches_the_reference(loaded):
    project_id, rows = loaded
    body = {"steps": STEPS, "window_seconds": 24 * 3600, **RANGE}
    query = build(body)

    answer = run_histogram(project_id=project_id, query=query, from_step=0, to_step=2, bins=4)

    persons = counted_persons(rows, body, query.date_from, query.date_to)
    seconds = [(a.times[2] - a.times[0]) / 1000 for _, a in persons.values() if len(a.times) > 2]
    low, high = min(seconds), max(seconds)
    width = (high - low) / 4
    expected_bins = Counter(min(int((s - low) // width), 3) for s in seconds)
    assert answer["persons"] == len(seconds)
    assert [b["persons"] for b in answer["bins"]] == [expected_bins[i] for i in range(4)]
    assert answer["bins"][0]["from_seconds"] == pytest.approx(low)
    assert answer["bins"][-1]["to_seconds"] == pytest.approx(high)


def test_actors_pages_cover_the_reference_persons(loaded):
    project_id, rows = loaded
    body = {"steps": STEPS, "window_seconds": 6 * 3600, "order": "strict", **RANGE}
    query = build(body)
    persons = counted_persons(rows, body, query.date_from, query.date_to)

    for status, step, wanted in (("converted", 1, lambda n: n > 1), ("dropped", 2, lambda n: n == 2)):
        seen, cursor = [], None
        while True:
            page = run_actors(project_id=project_id, query=query, step=step, status=status, cursor=cursor, limit=7)
            seen += [result["person_id"] for result in page["results"]]
            cursor = page["next"]
            if cursor is None:
                break
        assert seen == sorted(person for person, (_, a) in persons.items() if wanted(len(a.times)))


@pytest.fixture
def static_segments(loaded):
    """The segments app's resolver hook, given here by a stand-in for static segments of distinct ids
    (the segments app registers the real one); the previous resolver is restored afterwards."""
    members = {7: [f"p{n}" for n in range(0, 300, 3)]}
    previous = membership._resolver

    def resolve(*, project_id: int, segment_id: int, params: Any) -> tuple[str, str]:
        if segment_id not in members:
            raise membership.SegmentMissing(segment_id)
        ids = params.add(members[segment_id], "Array(String)")
        return (
            "person_id",
            f"(SELECT person_id FROM events WHERE project_id = {{project_id:UInt64}} AND distinct_id IN {ids})",
        )

    membership.register_segment_resolver(resolve)
    yield members
    membership._resolver = previous


@pytest.mark.parametrize("negate", [False, True])
def test_a_segment_filter_keeps_or_leaves_out_its_persons(loaded, static_segments, negate):
    project_id, rows = loaded
    segment = {"type": "segment", "key": "id", "operator": "not_in" if negate else "in", "value": 7}
    body = {"steps": STEPS, "window_seconds": 6 * 3600, "segment": segment, **RANGE}

    answer = engine(project_id, body)

    inside = set(static_segments[7])
    kept = [row for row in rows if (row["distinct_id"] in inside) != negate]
    assert numbers(answer["steps"]) == numbers(expected(kept, {**body, "segment": None}))
    assert 0 < answer["steps"][0]["count"] < engine(project_id, {**body, "segment": None})["steps"][0]["count"]


@pytest.fixture(scope="module")
def with_persons(loaded, clickhouse_store):
    """The persons of ``loaded`` (some with newer versions, deleted, or no row) and the rows
    with each person's latest live properties attached as ``row["person"]``."""
    project_id, rows = loaded
    tables, expected_persons = generate_persons(project_id, rows)
    for index, table in enumerate(tables):
        clickhouse_store.insert_arrow("persons", table, dedup_token=f"funnels-persons-{project_id}-{index}")
    return project_id, [{**row, "person": expected_persons[row["person_id"]]} for row in rows], expected_persons


def test_person_breakdown_and_person_conditions_in_steps(with_persons):
    project_id, rows, expected_persons = with_persons
    steps = [
        {"event": "a"},
        {"event": "b", "properties": [{"key": "plan", "type": "person", "operator": "neq", "value": "free"}]},
        {"event": "c"},
    ]
    body = {
        "steps": steps,
        "window_seconds": 6 * 3600,
        "breakdown": {"key": "plan", "type": "person", "limit": 50},
        **RANGE,
    }

    answer = engine(project_id, body)

    query = build(body)
    groups: dict[str, list[Any]] = {}
    for person_id, (_, attempt) in counted_persons(rows, body, query.date_from, query.date_to).items():
        value = attributed(attempt, body["breakdown"], expected_persons[person_id])
        groups.setdefault(value, []).append(attempt)
    expected_groups = {value or None: numbers(step_table(attempts, 3)) for value, attempts in groups.items()}
    got = {group["breakdown_value"]: numbers(group["steps"]) for group in answer["breakdown"]}
    assert got == expected_groups
    assert len(got) > 3
    assert numbers(answer["steps"]) == numbers(expected(rows, body))


def test_actors_carry_the_persons_latest_live_properties(with_persons):
    project_id, _, expected_persons = with_persons
    query = build({"steps": STEPS, "window_seconds": 6 * 3600, **RANGE})

    page = run_actors(project_id=project_id, query=query, step=0, status="converted", limit=1000)

    assert len(page["results"]) > 50
    assert all(result["properties"] == expected_persons[result["person_id"]] for result in page["results"])
    assert any(result["properties"] == {} for result in page["results"])


def test_actors_of_a_breakdown_value_and_of_other(loaded):
    project_id, rows = loaded
    body = {"steps": STEPS, "window_seconds": 6 * 3600, "breakdown": {"key": "plan", "limit": 2}, **RANGE}
    query = build(body)
    answer = engine(project_id, body)
    persons = counted_persons(rows, body, query.date_from, query.date_to)

    for group in answer["breakdown"]:
        wanted = "$other" if group["is_other"] else (group["breakdown_value"] or "")
        page = run_actors(
            project_id=project_id, query=query, step=1, status="converted", breakdown_value=wanted, limit=1000
        )
        assert len(page["results"]) == group["steps"][1]["count"]
        dropped = run_actors(
            project_id=project_id, query=query, step=1, status="dropped", breakdown_value=wanted, limit=1000
        )
        assert len(dropped["results"]) == group["steps"][1]["dropped"]
    top = {group["breakdown_value"] or "" for group in answer["breakdown"] if not group["is_other"]}
    others = run_actors(
        project_id=project_id, query=query, step=0, status="converted", breakdown_value="$other", limit=1000
    )
    expected_others = sorted(p for p, (_, a) in persons.items() if attributed(a, body["breakdown"]) not in top)
    assert [result["person_id"] for result in others["results"]] == expected_others


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize(
    "steps",
    [
        [{"event": "a"}, {"event": "a"}, {"event": "b"}],
        [{"event": "a"}, {"event": ["a", "b"]}, {"event": "c"}, {"event": "a"}],
        [{"event": "noise"}, {"event": "noise", "properties": [{"key": "amount", "operator": "is_set"}]}],
    ],
)
def test_steps_that_share_events_match_the_reference(loaded, order, steps):
    project_id, rows = loaded
    body = {"steps": steps, "window_seconds": 3 * 3600, "order": order, **RANGE}

    answer = engine(project_id, body)

    assert numbers(answer["steps"]) == numbers(expected(rows, body))
    assert answer["steps"][1]["count"] > 0
