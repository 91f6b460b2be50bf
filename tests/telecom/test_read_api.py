"""The provider-facing read API over HTTP: read keys, user detail, aggregates, vs Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.aggregation.models import Rollup
from analytics.aggregation.services import aggregation_run
from analytics.telecom.composed import composed_totals
from analytics.telecom.selectors import Range, _from_rollups
from tests.factories import member_with_project
from tests.telecom.data import action_key, actions, expected_aggregates, expected_detail, resent

PATH = "/api/v1/network-actions"
RANGE_FROM = datetime(2025, 9, 28, 6, tzinfo=UTC)
RANGE_TO = datetime(2025, 10, 29, tzinfo=UTC)


@pytest.fixture
def loaded(owner_and_project, post, store, client) -> dict[str, Any]:
    owner, project = owner_and_project
    project.retention_days = 3650
    project.save(update_fields=["retention_days"])
    messages = actions(300)
    for start in range(0, len(messages), 100):
        response = post({"batch": messages[start : start + 100]}, key=project.write_key, path=PATH)
        assert response.json()["rejected"] == []
    response = post({"batch": resent(messages)}, key=project.write_key, path=PATH)
    assert response.status_code == 202
    client.force_login(owner)
    created = client.post(
        f"/api/v1/projects/{project.id}/read-keys", {"label": "provider"}, content_type="application/json"
    )
    assert created.status_code == 201
    client.logout()
    return {"project": project, "messages": messages, "key": created.json()["key"], "key_id": created.json()["id"]}


def _get(client, key: str, path: str, **params: Any) -> Any:
    return client.get(path, params, headers={"Authorization": f"Bearer {key}"})


def test_read_key_is_created_once_shown_and_listed_without_the_secret(loaded, client, owner_and_project):
    owner, project = owner_and_project
    assert loaded["key"].startswith("rk_")
    client.force_login(owner)
    listed = client.get(f"/api/v1/projects/{project.id}/read-keys").json()
    assert [item["id"] for item in listed] == [loaded["key_id"]]
    assert "key" not in listed[0]
    assert listed[0]["prefix"] == loaded["key"][:9]


def test_user_detail_pages_through_the_actions_and_totals_match_python(loaded, client):
    user_id = "4790000002"
    expected = expected_detail(loaded["messages"], user_id, RANGE_FROM, RANGE_TO)
    params = {"from": "2025-09-28T06:00:00Z", "to": "2025-10-29T00:00:00Z", "limit": 7}
    seen: list[tuple[Any, ...]] = []
    cursor = None
    while True:
        response = _get(
            client, loaded["key"], f"/api/v1/users/{user_id}/detail", **params, **({"cursor": cursor} if cursor else {})
        )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["user_id"] == user_id
        assert len(body["actions"]) <= 7
        seen.extend(action_key(action) for action in body["actions"])
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == expected["actions"]
    assert len(seen) > 7
    assert body["totals"] == expected["totals"]


@pytest.mark.parametrize("period", ["day", "month"])
def test_aggregates_match_python(loaded, client, period):
    response = _get(
        client,
        loaded["key"],
        "/api/v1/aggregates",
        period=period,
        **{"from": "2025-09-28T06:00:00Z", "to": "2025-10-29T00:00:00Z"},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["period"] == period
    assert body["totals"] == expected_aggregates(loaded["messages"], period, RANGE_FROM, RANGE_TO)


def test_the_read_key_names_the_project_and_a_revoked_key_is_refused(loaded, client, owner_and_project, store):
    other_owner, other = member_with_project()
    client.force_login(other_owner)
    other_key = client.post(f"/api/v1/projects/{other.id}/read-keys", {}, content_type="application/json").json()["key"]
    # Someone else's project: 404 for its read keys.
    assert (
        client.post(
            f"/api/v1/projects/{loaded['project'].id}/read-keys", {}, content_type="application/json"
        ).status_code
        == 404
    )
    client.logout()
    empty = _get(
        client, other_key, "/api/v1/aggregates", **{"from": "2025-09-01T00:00:00Z", "to": "2025-11-01T00:00:00Z"}
    )
    assert empty.status_code == 200
    assert empty.json()["totals"] == []

    owner, project = owner_and_project
    client.force_login(owner)
    revoked = client.post(f"/api/v1/projects/{project.id}/read-keys/{loaded['key_id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    client.logout()
    assert _get(client, loaded["key"], "/api/v1/aggregates").status_code == 401


def test_bad_input_is_400_naming_the_parameter_and_no_key_is_401(loaded, client):
    key = loaded["key"]
    assert client.get("/api/v1/aggregates").status_code == 401
    assert _get(client, "rk_not-a-key", "/api/v1/aggregates").status_code == 401
    bad_period = _get(client, key, "/api/v1/aggregates", period="week")
    assert bad_period.status_code == 400
    assert "period" in bad_period.content.decode()
    bad_from = _get(client, key, "/api/v1/aggregates", **{"from": "yesterday"})
    assert bad_from.status_code == 400
    assert "from" in bad_from.json()["error"]["fields"]
    reversed_range = _get(
        client, key, "/api/v1/users/1/detail", **{"from": "2025-10-02T00:00:00Z", "to": "2025-10-01T00:00:00Z"}
    )
    assert reversed_range.status_code == 400
    bad_cursor = _get(client, key, "/api/v1/users/1/detail", cursor="nonsense")
    assert bad_cursor.status_code == 400
    assert "cursor" in bad_cursor.content.decode()
    assert _get(client, key, "/api/v1/users/1/detail", limit=0).status_code == 400


def test_the_project_aggregation_paths_still_answer(loaded, client, owner_and_project):
    owner, project = owner_and_project
    client.force_login(owner)
    assert client.get(f"/api/v1/projects/{project.id}/aggregates").status_code != 404
    assert client.get(f"/api/v1/projects/{project.id}/users/4790000001/detail").status_code == 200


@pytest.mark.parametrize(("period", "granularity"), [("day", "1d"), ("month", "1mo")])
def test_whole_days_or_months_come_from_the_rollups_with_the_same_figures(loaded, client, period, granularity):
    """Once the aggregation has run, a range of whole buckets is read from its rollups."""
    project = loaded["project"]
    params = {"period": period, "from": "2025-09-01T00:00:00Z", "to": "2025-12-01T00:00:00Z"}
    raw = _get(client, loaded["key"], "/api/v1/aggregates", **params).json()
    result = aggregation_run(project_id=project.id, granularity=granularity)
    assert Rollup.objects.filter(project_id=project.id, granularity=granularity).exists(), result

    from_rollups = _get(client, loaded["key"], "/api/v1/aggregates", **params)

    assert from_rollups.status_code == 200
    expected = expected_aggregates(
        loaded["messages"], period, datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)
    )
    assert from_rollups.json()["totals"] == expected
    assert raw["totals"] == expected
    whole = Range(datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))
    assert _from_rollups(project, period, whole) == expected  # the rollup path answered
    assert _from_rollups(project, period, Range(whole.start + timedelta(hours=1), whole.end)) is None


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
def test_other_ranges_add_rollups_and_raw_edges_up_to_the_same_figures(loaded, client, zone):
    """A range that is not whole buckets: whole buckets, days and hours inside it from the
    rollups, the rest and the unique users of partial buckets raw; the same figures."""
    project = loaded["project"]
    project.timezone = zone
    project.save(update_fields=["timezone"])
    for granularity in ("1h", "1d", "1mo"):
        aggregation_run(project_id=project.id, granularity=granularity)
    ranges = [
        ("2025-09-28T13:37:00Z", "2025-10-29T10:12:00Z"),  # mid-month to a ragged end, a whole month between
        ("2025-09-29T13:37:00Z", "2025-10-02T04:00:00Z"),  # across a month boundary, no whole month
        ("2025-10-03T01:30:00Z", "2025-10-03T22:10:00Z"),  # inside one UTC day: hours only
        ("2025-10-01T00:00:00Z", "2025-10-29T10:12:00Z"),  # whole days then a ragged end
    ]
    for period in ("day", "month"):
        for start, end in ranges:
            expected = expected_aggregates(loaded["messages"], period, _moment(start), _moment(end), zone)
            answer = _get(client, loaded["key"], "/api/v1/aggregates", period=period, **{"from": start, "to": end})
            assert answer.status_code == 200
            assert answer.json()["totals"] == expected, (period, start, end)
            composed = composed_totals(project, period, _moment(start), _moment(end))
            # None only where nothing comes from the rollups: hours of a zone whose offset is
            # not whole hours (the single raw read answered above).
            assert composed == expected or (composed is None and zone == "Asia/Kolkata"), (period, start, end)
        assert composed_totals(project, period, _moment(ranges[0][0]), _moment(ranges[0][1])) is not None
