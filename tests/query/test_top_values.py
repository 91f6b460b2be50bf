"""Top values (the read-back rankings) and unique distinct ids against plain Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.core.timeutils import to_epoch_ms
from analytics.query.model import Condition, DateRange, TopValuesQuery
from analytics.query.runner import run_top_values, run_trends
from tests.query.helpers import build, generate, moment_of, number_view, text_view
from tests.warehouse.helpers import new_project_id

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 10, tzinfo=UTC)
RANGE = DateRange(START + timedelta(hours=5), START + timedelta(hours=40))


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]]]:
    project_id = new_project_id()
    rows = generate(project_id, start=START, hours=48, count=500, seed=13)
    clickhouse_store.insert_events(rows, dedup_token=f"query-top-{project_id}")
    return project_id, rows


def expected(rows: list[dict[str, Any]], key: str, limit: int, keep: Any = lambda row: True) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        value = text_view(row, key) if key != "distinct_id" else row["distinct_id"]
        if RANGE.start <= moment_of(row) < RANGE.end and value is not None and keep(row):
            groups[value].append(row)
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[:limit]
    return [
        {
            "value": value,
            "events": len(group),
            "distinct_ids": len({row["distinct_id"] for row in group}),
            "first_ms": min(to_epoch_ms(moment_of(row)) for row in group),
            "last_ms": max(to_epoch_ms(moment_of(row)) for row in group),
        }
        for value, group in ranked
    ]


@pytest.mark.parametrize(("key", "limit"), [("event", 100), ("distinct_id", 7), ("plan", 5), ("$browser", 3)])
def test_top_values(loaded, key, limit):
    project_id, rows = loaded

    got = run_top_values(project_id=project_id, query=TopValuesQuery(key=key, date_range=RANGE, limit=limit))

    assert got == expected(rows, key, limit)


def test_top_values_of_one_event_with_filters(loaded):
    project_id, rows = loaded
    condition = Condition(key="amount", operator="gt", value=2.0)
    query = TopValuesQuery(key="distinct_id", date_range=RANGE, limit=50, event="pageview", filters=condition)

    got = run_top_values(project_id=project_id, query=query)

    def keep(row: dict[str, Any]) -> bool:
        number = number_view(row, "amount")
        return row["event"] == "pageview" and number is not None and number > 2

    assert got == expected(rows, "distinct_id", 50, keep)


def test_unique_distinct_ids(loaded):
    project_id, rows = loaded

    answer = run_trends(
        project_id=project_id,
        query=build(
            {"series": [{"event": None, "math": "unique_distinct_ids"}], "from": "2026-03-10", "to": "2026-03-11"}
        ),
    )

    assert answer["series"][0]["total"] == len({row["distinct_id"] for row in rows})
