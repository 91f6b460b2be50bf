"""``rollups_of_pieces``: the results of ``aggregates_for`` for several pieces at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.aggregation.granularity import Granularity
from analytics.aggregation.selectors import aggregates_for, rollups_of_pieces
from analytics.aggregation.services import aggregation_run
from analytics.core.errors import ApplicationError
from tests.aggregation.helpers import insert, random_events
from tests.factories import member_with_project

NOW = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)


def _key(row: dict) -> tuple:
    return (row["bucket"], row["event"])


def _comparable(rows: list[dict]) -> list[dict]:
    """Sorted, float measures rounded: the live rows come from two ClickHouse reads whose
    parallel float sums may differ in the last bits."""

    def rounded(value: object) -> object:
        if isinstance(value, dict):
            return {name: rounded(item) for name, item in value.items()}
        return float(f"{value:.9g}") if isinstance(value, float) else value

    return [rounded(row) for row in sorted(rows, key=_key)]


pytestmark = pytest.mark.django_db


def test_each_piece_gets_what_aggregates_for_answers(store):
    _, project = member_with_project(timezone="Asia/Kolkata")
    insert(random_events(project.id, NOW - timedelta(days=40), timedelta(days=40), count=600, seed=3))
    for granularity in ("1h", "1d", "1mo"):
        aggregation_run(project_id=project.id, granularity=granularity, now=NOW - timedelta(hours=30))
    pieces = [
        (Granularity.MONTH, (NOW - timedelta(days=40), NOW)),  # final months and a live one
        (Granularity.DAY, (NOW - timedelta(days=20, hours=3), NOW - timedelta(days=2))),
        (Granularity.HOUR, (NOW - timedelta(days=3, minutes=20), NOW - timedelta(days=2, hours=5))),
        (Granularity.HOUR, (NOW - timedelta(hours=40), NOW - timedelta(hours=1))),  # past the watermark
        (Granularity.DAY, (NOW - timedelta(days=20, hours=3), NOW - timedelta(days=2))),  # the same twice
    ]

    found = rollups_of_pieces(project=project, pieces=pieces)

    assert len(found) == len(pieces)
    for (granularity, (start, end)), results in zip(pieces, found, strict=True):
        expected = aggregates_for(project=project, granularity=granularity, start=start, end=end)["results"]
        assert _comparable(results) == _comparable(expected)
    assert all(found[:4])
    assert any(not row["final"] for row in found[3])  # the live part is there too


def test_a_piece_longer_than_its_granularity_serves_is_refused():
    _, project = member_with_project()
    with pytest.raises(ApplicationError, match="range too long"):
        rollups_of_pieces(project=project, pieces=[(Granularity.HOUR, (NOW - timedelta(days=400), NOW))])
