"""The user detail's edges: a page boundary among actions at one instant, and totals that read
only the top-level measures (``meta`` may hold keys of the same names; durations may be
fractional), each against what the messages say."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.telecom.data import totals

PATH = "/api/v1/network-actions"
USER = "4791000001"
RANGE = {"from": "2025-10-01T00:00:00Z", "to": "2025-11-01T00:00:00Z"}


def _message(index: int, kind: str, started_at: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.UUID(int=(index * 0x9E3779B97F4A7C15 + 12345) % (1 << 128), version=4)),
        "source_id": "provider-1",
        "user_id": USER,
        "type": kind,
        "started_at": started_at,
        **fields,
    }


def _messages() -> list[dict[str, Any]]:
    messages = []
    # Twelve actions at one instant, then two later ones: with pages of 5 the boundaries
    # fall inside the group, where only the event id orders the actions.
    for index in range(12):
        messages.append(_message(index, "SMS_SENT", "2025-10-05T10:00:00Z", meta={"n": index}))
    messages.append(_message(12, "SMS_RECEIVED", "2025-10-05T10:00:01Z"))
    messages.append(_message(13, "SMS_SENT", "2025-10-06T00:00:00Z"))
    # meta with keys named like the measures: never counted.
    messages.append(
        _message(
            14,
            "SMS_RECEIVED",
            "2025-10-07T08:00:00Z",
            meta={"duration_sec": 999, "bytes_up": 5, "bytes_down": 7, "nested": {"duration_sec": 3}},
        )
    )
    messages.append(
        _message(
            15,
            "DATA",
            "2025-10-07T09:00:00Z",
            ended_at="2025-10-07T09:01:00Z",
            duration_sec=12.25,
            bytes_up=100,
            bytes_down=2000,
            meta={"bytes_up": 1_000_000, "bytes_down": 1_000_000, "duration_sec": 0.5},
        )
    )
    # DATA without a duration (absent: adds nothing, whatever meta says) and a short one.
    messages.append(_message(16, "DATA", "2025-10-07T10:00:00Z", bytes_up=7, bytes_down=8, meta={"duration_sec": 40}))
    messages.append(
        _message(
            17,
            "DATA",
            "2025-10-07T11:00:00Z",
            ended_at="2025-10-07T11:00:30Z",
            duration_sec=0.5,
            bytes_up=0,
            bytes_down=11,
        )
    )
    for index, duration in ((18, 30.5), (19, 60.25)):
        messages.append(
            _message(
                index,
                "CALL_OUT",
                f"2025-10-07T12:0{index - 18}:00Z",
                ended_at=f"2025-10-07T12:0{index - 18}:59Z",
                duration_sec=duration,
                bytes_up=0,
                bytes_down=0,
                meta={"duration_sec": 1000},
            )
        )
    return messages


@pytest.fixture
def read_key(owner_and_project, post, store, client) -> str:
    owner, project = owner_and_project
    project.retention_days = 3650
    project.save(update_fields=["retention_days"])
    response = post({"batch": _messages()}, key=project.write_key, path=PATH)
    assert response.json()["rejected"] == []
    client.force_login(owner)
    created = client.post(f"/api/v1/projects/{project.id}/read-keys", {}, content_type="application/json")
    client.logout()
    return created.json()["key"]


def _detail(client, key: str, **params: Any) -> dict[str, Any]:
    response = client.get(
        f"/api/v1/users/{USER}/detail", {**RANGE, **params}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_pages_split_actions_at_one_instant_without_loss_or_repeat(read_key, client):
    whole = _detail(client, read_key, limit=100)
    assert whole["next"] is None
    order = [action["event_id"] for action in whole["actions"]]
    assert sorted(order) == sorted(message["event_id"] for message in _messages())
    started = [action["started_at"] for action in whole["actions"]]
    assert started == sorted(started)

    paged: list[str] = []
    cursor = None
    pages = 0
    while True:
        body = _detail(client, read_key, limit=5, **({"cursor": cursor} if cursor else {}))
        assert len(body["actions"]) <= 5
        paged.extend(action["event_id"] for action in body["actions"])
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    # 20 actions in pages of 5: the first two boundaries fall among the twelve at 10:00:00.
    assert pages == 4
    assert paged == order


def test_totals_read_only_top_level_measures_with_fractional_durations(read_key, client):
    body = _detail(client, read_key, limit=1)
    expected = totals(_messages(), "day")
    assert body["totals"]["day"] == expected
    assert body["totals"]["month"] == totals(_messages(), "month")
    by_type = {(row["date"], row["type"]): row for row in body["totals"]["day"]}
    # Spelled out, so that a wrong expectation cannot hide a wrong answer.
    assert by_type[("2025-10-07", "DATA")] == {
        "date": "2025-10-07",
        "type": "DATA",
        "count": 3,
        "duration_sec": 12.75,
        "bytes_up": 107,
        "bytes_down": 2019,
    }
    assert by_type[("2025-10-07", "CALL_OUT")]["duration_sec"] == 90.75
    assert by_type[("2025-10-07", "SMS_RECEIVED")] == {
        "date": "2025-10-07",
        "type": "SMS_RECEIVED",
        "count": 1,
        "duration_sec": 0,
        "bytes_up": 0,
        "bytes_down": 0,
    }
