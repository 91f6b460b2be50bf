"""The read API over gRPC: the same answers as HTTP and Python, auth via metadata, health."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from grpc_health.v1 import health_pb2, health_pb2_grpc

from analytics.telecom.grpc_server import SERVICE_NAME, build_server
from analytics.telecom.proto import telecom_pb2, telecom_pb2_grpc
from analytics.telecom.services import read_key_create, read_key_revoke
from tests.factories import member_with_project
from tests.telecom.data import action_key, actions, expected_aggregates, expected_detail, resent

START = datetime(2025, 9, 28, 6, tzinfo=UTC)
END = datetime(2025, 10, 29, tzinfo=UTC)
RANGE = {"from": "2025-09-28T06:00:00Z", "to": "2025-10-29T00:00:00Z"}


@pytest.fixture
def loaded(transactional_db, store, post) -> dict[str, Any]:
    # transactional_db: the server's worker threads read the read key through their own connections.
    _owner, project = member_with_project(retention_days=3650)
    messages = actions(250, users=4, seed=3)
    for start in range(0, len(messages), 125):
        assert (
            post(
                {"batch": messages[start : start + 125]}, key=project.write_key, path="/api/v1/network-actions"
            ).json()["rejected"]
            == []
        )
    post({"batch": resent(messages, every=5)}, key=project.write_key, path="/api/v1/network-actions")
    record, raw_key = read_key_create(project=project, label="grpc")
    return {"project": project, "messages": messages, "key": raw_key, "record": record}


@pytest.fixture
def channel() -> Iterator[grpc.Channel]:
    server, port = build_server("127.0.0.1", 0, workers=2)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as open_channel:
            yield open_channel
    finally:
        server.stop(None).wait()


def _auth(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


def test_health_reports_serving(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_get_user_detail_pages_and_matches_python_and_http(loaded, channel, client):
    stub = telecom_pb2_grpc.TelecomReadStub(channel)
    user_id = "4790000001"
    seen: list[tuple[Any, ...]] = []
    cursor = ""
    while True:
        answer = stub.GetUserDetail(
            telecom_pb2.GetUserDetailRequest(user_id=user_id, limit=9, cursor=cursor, **RANGE),
            metadata=_auth(loaded["key"]),
            timeout=30,
        )
        page = MessageToDict(answer, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        for action in page["actions"]:
            action.setdefault("duration_sec", None)
            action.setdefault("bytes_down", None)
            action["bytes_down"] = None if action["bytes_down"] is None else int(action["bytes_down"])
            action["duration_sec"] = None if action["duration_sec"] is None else int(action["duration_sec"])
        seen.extend(action_key(action) for action in page["actions"])
        cursor = answer.next
        if not cursor:
            break
    expected = expected_detail(loaded["messages"], user_id, START, END)
    assert seen == expected["actions"]
    assert len(seen) > 9
    totals = {
        name: [
            {
                "date": item.date,
                "type": item.type,
                "count": item.count,
                "duration_sec": item.duration_sec,
                "bytes_up": item.bytes_up,
                "bytes_down": item.bytes_down,
            }
            for item in getattr(answer.totals, name)
        ]
        for name in ("day", "month")
    }
    assert totals == expected["totals"]
    # The same answer as HTTP, action for action.
    http = client.get(
        f"/api/v1/users/{user_id}/detail",
        {**RANGE, "limit": 1000},
        headers={"Authorization": f"Bearer {loaded['key']}"},
    ).json()
    assert [action_key(action) for action in http["actions"]] == seen
    assert http["totals"] == totals


@pytest.mark.parametrize("period", ["day", "month"])
def test_get_global_agg_matches_python(loaded, channel, period):
    stub = telecom_pb2_grpc.TelecomReadStub(channel)
    answer = stub.GetGlobalAgg(
        telecom_pb2.GetGlobalAggRequest(period=period, **RANGE), metadata=_auth(loaded["key"]), timeout=30
    )

    assert answer.period == period
    got = [
        {
            "date": item.date,
            "type": item.type,
            "count": item.count,
            "duration_sec": item.duration_sec,
            "bytes_up": item.bytes_up,
            "bytes_down": item.bytes_down,
            "unique_users": item.unique_users,
        }
        for item in answer.totals
    ]
    assert got == expected_aggregates(loaded["messages"], period, START, END)


def test_auth_and_bad_arguments_have_their_status_codes(loaded, channel):
    stub = telecom_pb2_grpc.TelecomReadStub(channel)
    request = telecom_pb2.GetGlobalAggRequest(period="month", **RANGE)
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetGlobalAgg(request, timeout=10)
    assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as bad_period:
        stub.GetGlobalAgg(telecom_pb2.GetGlobalAggRequest(period="week"), metadata=_auth(loaded["key"]), timeout=10)
    assert bad_period.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "period" in bad_period.value.details()
    with pytest.raises(grpc.RpcError) as bad_from:
        stub.GetUserDetail(
            telecom_pb2.GetUserDetailRequest(user_id="1", **{"from": "soon"}), metadata=_auth(loaded["key"]), timeout=10
        )
    assert bad_from.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "from" in bad_from.value.details()
    read_key_revoke(key=loaded["record"])
    with pytest.raises(grpc.RpcError) as revoked:
        stub.GetGlobalAgg(request, metadata=_auth(loaded["key"]), timeout=10)
    assert revoked.value.code() == grpc.StatusCode.UNAUTHENTICATED
