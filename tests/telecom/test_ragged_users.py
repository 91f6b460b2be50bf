"""Unique users of ragged ranges from ``action_user_days`` (migration 0008) plus raw edges.

Each answer of ``composed_totals`` is compared with one raw read of the range (what the API
answers without rollups) and with plain Python over the messages, in zones with whole-hour,
half-hour and 45-minute offsets and across DST changes, before and after a user is
forgotten. The data: 900 actions of 40 users over 40 days from 2025-09-25, so unique users
differ between days, types and months (Europe/Berlin and America/St_Johns leave summer time
on 2025-10-26 and 2025-11-02).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from analytics.aggregation.services import aggregation_run
from analytics.core.timeutils import to_epoch_ms
from analytics.privacy import services as privacy
from analytics.telecom.composed import _epoch_ranges, _foldable, _plan, _users_query, composed_totals
from analytics.telecom.queries.actions import (
    RAW_PIECE,
    USERS_PIECE,
    FoldedUsers,
    composed_read_query,
    composed_unique_users_query,
    global_measures_query,
    global_totals_query,
)
from analytics.telecom.selectors import _total
from analytics.warehouse.guard import Query
from analytics.warehouse.store import get_store
from tests.telecom.data import actions, expected_aggregates, resent

PATH = "/api/v1/network-actions"
ZONES = ["UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"]
RANGES = [
    ("2025-09-28T13:37:00Z", "2025-11-01T10:12:00Z"),  # ragged both ends, October whole in UTC
    ("2025-09-26T05:10:00Z", "2025-10-29T23:59:00Z"),  # two partial months, across the DST end
    ("2025-10-03T01:30:00Z", "2025-10-20T22:10:00Z"),  # inside one month
    ("2025-10-25T19:00:00Z", "2025-11-03T06:45:00Z"),  # both DST ends inside, into November
]


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def stored(project, post) -> dict[str, Any]:
    project.retention_days = 3650
    project.save(update_fields=["retention_days"])
    messages = actions(900, users=40, seed=11)
    for start in range(0, len(messages), 150):
        response = post({"batch": messages[start : start + 150]}, key=project.write_key, path=PATH)
        assert response.json()["rejected"] == []
    # Copies an hour later (the same actions): dropped before they reach the table and its view.
    assert post({"batch": resent(messages)}, key=project.write_key, path=PATH).status_code == 202
    return {"project": project, "messages": messages}


def _raw(project: Any, period: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    query = global_totals_query(
        project_id=project.id,
        start_ms=to_epoch_ms(start),
        end_ms=to_epoch_ms(end),
        tz_name=project.timezone,
        period=period,
    )
    return [{**_total(row), "unique_users": int(row["unique_users"])} for row in get_store().query(query).dicts()]


def _check_all(project: Any, messages: list[dict[str, Any]]) -> int:
    """Every range and period: composed == one raw read == Python. Returns how many answers
    took users from the day sets (so a test cannot pass without reading them)."""
    from_day_sets = 0
    for period in ("day", "month"):
        for start_text, end_text in RANGES:
            start, end = _moment(start_text), _moment(end_text)
            composed = composed_totals(project, period, start, end)
            expected = expected_aggregates(messages, period, start, end, project.timezone)
            assert _raw(project, period, start, end) == expected, (period, start_text, end_text)
            assert composed == expected, (project.timezone, period, start_text, end_text)
            from_day_sets += bool(_plan(period, start, end, project.timezone).user_days)
    return from_day_sets


@pytest.mark.parametrize("zone", ZONES)
def test_ragged_ranges_equal_one_raw_read(stored, zone):
    project = stored["project"]
    project.timezone = zone
    project.save(update_fields=["timezone"])
    for granularity in ("1h", "1d", "1mo"):
        aggregation_run(project_id=project.id, granularity=granularity)

    assert _check_all(project, stored["messages"]) >= len(RANGES)


def test_a_forgotten_user_leaves_the_day_sets(stored, store):
    project = stored["project"]
    project.timezone = "Europe/Berlin"
    project.save(update_fields=["timezone"])
    for granularity in ("1h", "1d", "1mo"):
        aggregation_run(project_id=project.id, granularity=granularity)
    gone = "4790000003"

    deletion = privacy.deletion_request(project=project, distinct_id=gone, user=None, run=False)
    assert privacy.deletion_execute(deletion_id=str(deletion.id), distinct_id=gone).state == "verified"

    left = [message for message in stored["messages"] if message["user_id"] != gone]
    assert _check_all(project, left) >= len(RANGES)
    rows = store.query(
        Query(
            name="test.action_user_days",
            sql=(
                "SELECT count() FROM action_user_days WHERE project_id = {project_id:UInt64} "
                "AND user_hash = reinterpretAsUInt128(sipHash128({gone:String}))"
            ),
            params={"project_id": project.id, "gone": gone},
        )
    ).scalar()
    assert rows == 0


def test_the_day_sets_hold_exactly_the_stored_actions(stored, store):
    """The view's rows, folded, are one row per (month, type, user) with the UTC days of
    that user's stored actions: the same as computing them from ``events`` now."""
    params = {"project_id": stored["project"].id}
    folded = (
        "SELECT month, event, user_hash, groupBitOr(days) AS mask FROM action_user_days "
        "WHERE project_id = {project_id:UInt64} GROUP BY month, event, user_hash ORDER BY month, event, user_hash"
    )
    direct = (
        "SELECT toStartOfMonth(timestamp, 'UTC') AS month, event, reinterpretAsUInt128(sipHash128(distinct_id)) "
        "AS user_hash, groupBitOr(bitShiftLeft(toUInt32(1), toDayOfMonth(timestamp, 'UTC') - 1)) AS mask "
        "FROM events WHERE project_id = {project_id:UInt64} GROUP BY month, event, user_hash "
        "ORDER BY month, event, user_hash"
    )
    from_view = store.query(Query(name="test.folded", sql=folded, params=params)).rows()
    assert from_view == store.query(Query(name="test.direct", sql=direct, params=params)).rows()
    assert len(from_view) > 200


def _merge_user_days(store) -> None:
    store.command("OPTIMIZE TABLE action_user_days FINAL")


@pytest.mark.parametrize("zone", ZONES)
def test_merged_day_sets_count_users_without_one_set(stored, store, zone):
    """Once a month of ``action_user_days`` is one part, its periods are counted from the
    folded rows (``FINAL``, ``FoldedUsers``): the same answers, and that way is taken."""
    project = stored["project"]
    project.timezone = zone
    project.save(update_fields=["timezone"])
    for granularity in ("1h", "1d", "1mo"):
        aggregation_run(project_id=project.id, granularity=granularity)
    _merge_user_days(store)

    assert _check_all(project, stored["messages"]) >= len(RANGES)
    folded = 0
    for period in ("day", "month"):
        for start_text, end_text in RANGES:
            plan = _plan(period, _moment(start_text), _moment(end_text), project.timezone)
            folded += _users_query(project, plan, period).sql.count("FROM action_user_days FINAL")
    assert folded >= 3


def _users_all_folded(project: Any, period: str, start: datetime, end: datetime) -> tuple[dict[tuple, int], int]:
    """The unique users of the partial buckets with every period that can go the folded way
    sent that way, whatever the parts of the table: ``FINAL`` must fold rows not merged yet."""
    plan = _plan(period, start, end, project.timezone)
    folded, day_sets, ranges = [], [], []
    for bucket, users in sorted(plan.users.items()):
        found = _foldable(users)
        if found is None:
            day_sets.extend((bucket, month, mask) for month, mask in users.masks.items())
            ranges.extend(users.edges)
            continue
        month, edge_mask = found
        folded.append(FoldedUsers(bucket, month, users.masks[month], edge_mask, _epoch_ranges(users.edges)))
    query = composed_unique_users_query(
        project_id=project.id,
        day_sets=day_sets,
        ranges=_epoch_ranges(ranges),
        tz_name=project.timezone,
        period=period,
        folded=folded,
    )
    rows = get_store().query(query).dicts()
    return {(str(row["period"]), row["event"]): int(row["unique_users"]) for row in rows}, len(folded)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_folded_users_fold_the_parts_not_merged_yet(stored, store, zone):
    project = stored["project"]
    project.timezone = zone
    project.save(update_fields=["timezone"])
    parts = store.query_unscoped_admin(
        "test.parts",
        "SELECT count() FROM system.parts WHERE database = currentDatabase() "
        "AND table = 'action_user_days' AND active AND partition_id = '202510'",
    ).scalar()
    assert parts > 1  # the fixture's batches are separate inserts
    folded_periods = 0
    for period in ("day", "month"):
        for start_text, end_text in RANGES:
            start, end = _moment(start_text), _moment(end_text)
            users, count = _users_all_folded(project, period, start, end)
            folded_periods += count
            expected = expected_aggregates(stored["messages"], period, start, end, zone)
            compared = 0
            for row in expected:
                key = (row["date"], row["type"])
                if key in users:
                    assert users.pop(key) == row["unique_users"], (zone, period, start_text, end_text, key)
                    compared += 1
            assert compared >= 5, (zone, period, start_text, end_text)
            # A type with no action in a partial bucket may come back as 0 (the answer drops it).
            assert not any(users.values()), (zone, period, start_text, end_text, users)
    assert folded_periods >= 3


def test_one_composed_read_answers_what_its_two_reads_answer(stored):
    """The minutes' measures and the partial buckets' users in one query (UNION ALL, rows
    tagged by piece) give exactly the rows of the two queries run on their own."""
    project = stored["project"]
    # A 45-minute offset: the edges' hours are not UTC hours, so they are read raw whole
    # (hours of actions, where whole-hour zones leave a few minutes).
    project.timezone = "Asia/Kathmandu"
    project.save(update_fields=["timezone"])
    start, end = _moment(RANGES[0][0]), _moment(RANGES[0][1])
    plan = _plan("day", start, end, project.timezone)
    assert plan.raw
    assert plan.partial
    measures = global_measures_query(
        project_id=project.id, ranges=_epoch_ranges(plan.raw), tz_name=project.timezone, period="day"
    )
    users = _users_query(project, plan, "day")
    store = get_store()
    combined = store.query(composed_read_query(measures=measures, users=users)).dicts()

    def rows_of(piece: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        rows = [{name: row[name] for name in columns} for row in combined if row["piece"] == piece]
        return sorted(rows, key=lambda row: (row["period"], row["event"]))

    measure_columns = ("period", "event", "count", "duration_sec", "bytes_up", "bytes_down")
    assert rows_of(RAW_PIECE, measure_columns) == store.query(measures).dicts() != []
    assert rows_of(USERS_PIECE, ("period", "event", "unique_users")) == store.query(users).dicts() != []
    alone = store.query(composed_read_query(measures=None, users=users)).dicts()
    assert {row["piece"] for row in alone} == {USERS_PIECE}


def test_a_composed_read_refuses_two_values_for_one_parameter(project):
    first = Query(name="a", sql="SELECT 1", params={"project_id": project.id, "tz": "UTC"})
    second = Query(name="b", sql="SELECT 1", params={"project_id": project.id, "tz": "Europe/Berlin"})
    with pytest.raises(ValueError, match="'tz' differs"):
        composed_read_query(measures=first, users=second)
    with pytest.raises(ValueError, match="at least one read"):
        composed_read_query(measures=None, users=None)
