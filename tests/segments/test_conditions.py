"""Every condition kind, operator, nesting and preset against the Python reference (helpers.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.query.compiler.params import Params
from analytics.segments import services
from analytics.segments.compiler import compile_members
from analytics.segments.definition import validate_definition
from analytics.segments.presets import PRESETS
from tests.factories import member_with_project
from tests.segments.helpers import World, expected, generate, members, store_world

NOW = datetime.now(UTC).replace(microsecond=0)
TIME_ZONE = "Europe/Berlin"


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any, clickhouse_store: Any) -> tuple[Any, World]:
    with django_db_blocker.unblock():
        _, project = member_with_project(timezone=TIME_ZONE)
    data = generate(project.id, now=NOW, time_zone=TIME_ZONE)
    deleted = tuple(sorted(data.persons)[:3])
    store_world(clickhouse_store, data, deleted=deleted)
    return project, data


def _check(world: tuple[Any, World], store: Any, definition: dict[str, Any]) -> set[str]:
    project, data = world
    segment = services.segment_create(project=project, name="t", definition=definition)
    got = members(store, project.id, segment.id, now=NOW)
    want = expected(segment.definition, data)
    assert got == want, (definition, sorted(got - want)[:5], sorted(want - got)[:5])
    return got


def _performed(event: str | None, **extra: Any) -> dict[str, Any]:
    return {"kind": "behavioral", "event": event, "filters": [], **extra}


def _and(*conditions: Any) -> dict[str, Any]:
    return {"op": "and", "conditions": list(conditions)}


BEHAVIORAL = [
    _performed("purchase", count_operator="gte", count=2, within_days=30),
    _performed("purchase", count_operator="gt", count=1, within_days=30),
    _performed("pageview", count_operator="eq", count=3, within_days=30),
    _performed("pageview", count_operator="lte", count=2, within_days=10),
    _performed("signup", count_operator="lt", count=1, within_days=20),
    _performed(None, count_operator="gte", count=10),
    _performed(
        "signup",
        filters=[{"key": "plan", "type": "event", "operator": "eq", "value": "pro"}],
        count_operator="gte",
        count=1,
        **{"from": (NOW - timedelta(days=60)).isoformat(), "to": (NOW - timedelta(days=5)).isoformat()},
    ),
    _performed(
        "purchase",
        filters={"op": "or", "conditions": [{"key": "$revenue", "operator": "gte", "value": 20}]},
        count=1,
        within_days=90,
    ),
    _performed(None, count_unit="days", count_operator="gte", count=4, within_days=30),
    _performed("pageview", count_unit="days", count_operator="eq", count=2, within_days=45),
    {"kind": "behavioral", "behavior": "not_performed", "event": "purchase", "within_days": 14},
    {"kind": "behavioral", "behavior": "not_performed", "event": None, "within_days": 3},
    {
        "kind": "behavioral",
        "behavior": "sequence",
        "event": "pageview",
        "then_event": "purchase",
        "window_seconds": 3 * 86400,
        "within_days": 60,
    },
    {
        "kind": "behavioral",
        "behavior": "sequence",
        "event": "pageview",
        "then_event": "pageview",
        "then_filters": [{"key": "plan", "operator": "eq", "value": "free"}],
        "window_seconds": 86400,
    },
    {"kind": "behavioral", "behavior": "first_seen", "within_days": 7},
    {"kind": "behavioral", "behavior": "first_seen", "within_days": 50},
    {"kind": "behavioral", "behavior": "last_seen", "more_than_days": 30},
    {"kind": "behavioral", "behavior": "last_seen", "more_than_days": 1, "negate": True},
]


@pytest.mark.django_db
@pytest.mark.parametrize("condition", BEHAVIORAL, ids=lambda c: f"{c.get('behavior', 'performed')}-{c.get('event')}")
def test_behavioral_conditions_match_the_reference(world, store, condition):
    _check(world, store, _and(condition))


PERSON = [
    ("plan", "eq", "pro"),
    ("plan", "eq", 42),
    ("plan", "neq", "pro"),
    ("plan", "in", ["pro", "Pro"]),
    ("plan", "not_in", ["pro", "free"]),
    ("plan", "contains", "PR"),
    ("plan", "not_contains", "r"),
    ("plan", "regex", "^P"),
    ("plan", "not_regex", "o$"),
    ("age", "gt", 30),
    ("age", "gte", 30),
    ("age", "lt", 45),
    ("age", "lte", 45),
    ("age", "between", [18, 45]),
    ("country", "is_set", None),
    ("country", "is_not_set", None),
    ("country", "in", ["DE", "FR"]),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("key", "operator", "value"), PERSON, ids=lambda v: str(v))
def test_person_property_operators_match_the_reference(world, store, key, operator, value):
    condition: dict[str, Any] = {"kind": "person", "key": key, "operator": operator}
    if value is not None:
        condition["value"] = value
    _check(world, store, _and(condition))


@pytest.mark.django_db
def test_the_issue_example_and_nested_groups_match_the_reference(world, store):
    pro_buyers = _and(
        _performed("purchase", count_operator="gte", count=2, within_days=30),
        {"kind": "person", "key": "plan", "operator": "eq", "value": "pro"},
    )
    nested = {
        "op": "or",
        "conditions": [
            pro_buyers,
            {
                "op": "and",
                "negate": True,
                "conditions": [
                    {
                        "op": "or",
                        "conditions": [_and({"kind": "person", "key": "country", "operator": "eq", "value": "DE"})],
                    },
                    {"kind": "behavioral", "behavior": "first_seen", "within_days": 30},
                ],
            },
            {"op": "and", "conditions": []},
        ],
    }
    got = _check(world, store, {**nested, "conditions": nested["conditions"][:2]})
    assert 0 < len(got) < len(world[1].event_persons())
    # an empty group is true, so OR-ing it in selects everyone
    assert _check(world, store, nested) == world[1].event_persons()


@pytest.mark.django_db
def test_segment_membership_and_its_negation(world, store):
    project, data = world
    inner_definition = _and(_performed("purchase", count_operator="gte", count=1, within_days=30))
    inner = services.segment_create(project=project, name="buyers", definition=inner_definition)
    inner_members = expected(inner.definition, data)
    outer = _and(
        {"kind": "segment", "segment": inner.id, "negate": True},
        {"kind": "person", "key": "country", "operator": "is_set"},
    )
    segment = services.segment_create(project=project, name="not buyers", definition=outer)
    got = members(store, project.id, segment.id, now=NOW)
    assert got == expected(segment.definition, data, {inner.id: inner_members})
    assert got
    assert not got & inner_members


@pytest.mark.django_db
@pytest.mark.parametrize("preset", PRESETS, ids=lambda preset: preset["key"])
def test_presets_match_the_reference(world, store, preset):
    got = _check(world, store, preset["definition"])
    if preset["key"] in ("active_monthly", "dormant", "paying_customers"):
        assert got, f"the generated data has {preset['key']}"


@pytest.mark.django_db
def test_hostile_keys_and_values_are_data(world, store):
    evil = "x') OR 1=1 --{project_id:UInt64}`"
    definition = _and(
        {"kind": "person", "key": evil, "operator": "eq", "value": evil},
        _performed(evil, filters=[{"key": evil, "operator": "neq", "value": evil}], count=0, count_operator="eq"),
    )
    assert _check(world, store, definition) == set()


def _sql(definition: dict[str, Any]) -> str:
    normalised, _ = validate_definition(definition)
    return compile_members(
        normalised, params=Params(project_id=1), now=NOW, time_zone="UTC", segment_sql=lambda sid, params: "SELECT 1"
    )


def test_events_are_limited_only_when_a_person_without_them_cannot_match():
    buyers = _performed("purchase", count_operator="gte", count=2, within_days=30)
    pro = {"kind": "person", "key": "plan", "operator": "eq", "value": "pro"}
    limited = _sql(_and(buyers, pro))
    assert "event IN {v" in limited
    assert "timestamp >= {v" in limited.split("GROUP BY")[0]
    # a person with no purchase may match: every event is grouped
    for definition in (
        {"op": "or", "conditions": [buyers, pro]},
        _and({**buyers, "negate": True}),
        _and(_performed("purchase", count_operator="lte", count=1, within_days=30)),
        _and(buyers, {"kind": "behavioral", "behavior": "first_seen", "within_days": 3}),
    ):
        sql = _sql(definition)
        assert " AND event IN" not in sql.split("GROUP BY")[0], definition
