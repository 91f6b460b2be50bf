"""The rollup path and the raw-events path give the same answer on the same data."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.aggregation.services import aggregation_run
from analytics.query.runner import run_trends
from tests.factories import member_with_project
from tests.query.helpers import build
from tests.warehouse.helpers import event_row

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
# Across the change to summer time (2026-03-29) and a month boundary.
START = datetime(2026, 3, 23, tzinfo=BERLIN).astimezone(UTC)
SPAN = timedelta(days=14)
NOW = datetime(2026, 4, 20, 12, tzinfo=UTC)


def _insert(store: Any, project_id: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(900):
        moment = START + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))
        rows.append(
            event_row(
                project_id,
                event=rng.choice(["pageview", "pageview", "purchase"]),
                distinct_id=f"user-{rng.randrange(30)}",
                timestamp=moment,
                received_at=moment,
            )
        )
    store.insert_events(rows, dedup_token=f"query-rollup-{project_id}")
    return rows


def _run(project: Any, body: dict[str, Any]) -> dict[str, Any]:
    query = build(body, time_zone=project.timezone, now=NOW)
    return run_trends(project_id=project.id, query=query)


def _lines(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (line["label"], tuple((point["bucket"], point["value"]) for point in line["points"]), line["total"])
        for line in answer["series"]
    ]


CASES = [
    {"series": [{"event": "pageview"}, {"event": None}], "interval": "day", "from": "2026-03-23", "to": "2026-04-05"},
    {"series": [{"event": "purchase"}], "interval": "week", "from": "2026-03-23", "to": "2026-04-05"},
    {"series": [{"event": None}], "interval": "month", "from": "2026-02-01", "to": "2026-03-31"},
    {"series": [{"event": "pageview"}], "interval": "hour", "from": "2026-03-28", "to": "2026-03-30"},
    {"series": [{"event": "pageview"}], "interval": "day", "from": "2026-03-30", "to": "2026-04-05", "compare": True},
]


@pytest.mark.parametrize("body", CASES, ids=lambda body: body["interval"] + ("-compare" if "compare" in body else ""))
def test_rollup_and_raw_events_agree(store, body):
    _, project = member_with_project(timezone="Europe/Berlin")
    rows = _insert(store, project.id, seed=len(str(body)))

    before = _run(project, body)
    for granularity in ("1h", "1d", "1mo"):
        assert aggregation_run(project_id=project.id, granularity=granularity, now=NOW).status == "done"
    after = _run(project, body)

    assert before["source"] == "events"
    assert after["source"] == "rollup"
    assert {line["source"] for line in after["series"]} == {"rollup"}
    assert _lines(after) == _lines(before)
    # And both equal a count in plain Python over the local dates of the range.
    local_first, local_last = (datetime.fromisoformat(body[end]).date() for end in ("from", "to"))
    inside = Counter(
        row["event"] for row in rows if local_first <= row["timestamp"].astimezone(BERLIN).date() <= local_last
    )
    first = body["series"][0]["event"]
    assert after["series"][0]["total"] == (inside.total() if first is None else inside[first])


NOT_EXACT = [
    # A property filter, a breakdown, a math the rollups cannot add up, a partial bucket.
    {"series": [{"event": None, "filters": [{"key": "plan", "operator": "is_not_set"}]}]},
    {"series": [{"event": None}], "breakdown": {"key": "$browser"}},
    {"series": [{"event": None, "math": "unique_users"}]},
    {"series": [{"event": None}], "from": "2026-03-23T10:30:00"},
    {"series": [{"event": None}], "to": "2026-04-20T12:00:00Z"},  # past the watermark
]


@pytest.mark.parametrize("override", NOT_EXACT)
def test_questions_the_rollups_cannot_answer_exactly_read_events(store, override):
    _, project = member_with_project(timezone="Europe/Berlin")
    _insert(store, project.id, seed=1)
    for granularity in ("1h", "1d"):
        aggregation_run(project_id=project.id, granularity=granularity, now=NOW)
    body = {"interval": "day", "from": "2026-03-23", "to": "2026-04-05", **override}

    assert _run(project, body)["source"] == "events"


def test_hours_of_a_half_hour_zone_read_events(store):
    _, project = member_with_project(timezone="Asia/Kolkata")
    _insert(store, project.id, seed=2)
    aggregation_run(project_id=project.id, granularity="1h", now=NOW)
    body = {"series": [{"event": None}], "interval": "hour", "from": "2026-03-28", "to": "2026-03-29"}

    answer = _run(project, body)

    assert answer["source"] == "events"
    assert sum(point["value"] for point in answer["series"][0]["points"]) == answer["series"][0]["total"]
