"""Live updates: the per-project window and messages of stored batches, and the WebSocket
/ws/projects/<id>/live/ refusing foreign origins (host or port), non-members and anonymous
clients."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from analytics.streams.live import WINDOW_SECONDS, last_minute, recent_by_second, window_add
from config.asgi import application
from tests.dashboards.conftest import iso, store_events
from tests.factories import UserFactory, member_with_project

pytestmark = pytest.mark.django_db(transaction=True)

HOST = b"127.0.0.1:8000"


def session_cookie(user: Any) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def communicator(project_id: int, *, cookie: bytes | None, origin: bytes = b"http://" + HOST) -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", HOST)]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/projects/{project_id}/live/", headers=headers)


def attempt(project_id: int, **kwargs: Any) -> tuple[bool, Any]:
    async def run() -> tuple[bool, Any]:
        socket = communicator(project_id, **kwargs)
        connected, code = await socket.connect(timeout=5)
        await socket.disconnect()
        return connected, code

    return async_to_sync(run)()


def test_a_member_on_the_same_origin_is_accepted() -> None:
    user, project = member_with_project()
    assert attempt(project.id, cookie=session_cookie(user))[0] is True


def test_a_logged_out_client_is_refused() -> None:
    _, project = member_with_project()
    assert attempt(project.id, cookie=None) == (False, 4401)


def test_a_non_member_is_refused_like_a_missing_project() -> None:
    _, project = member_with_project()
    stranger_cookie = session_cookie(UserFactory())
    assert attempt(project.id, cookie=stranger_cookie) == (False, 4404)
    assert attempt(10**9, cookie=stranger_cookie) == (False, 4404)


@pytest.mark.parametrize(
    "origin",
    [
        b"http://127.0.0.1:9999",  # an allowed host, another port
        b"http://localhost:8000",  # an allowed host, not the one the socket was opened on
        b"http://127.0.0.1",  # the default port, not the one the socket was opened on
        b"https://evil.example",  # not an allowed host at all
        b"null",
    ],
)
def test_a_foreign_origin_is_refused_even_for_a_member(origin: bytes) -> None:
    user, project = member_with_project()
    connected, _ = attempt(project.id, cookie=session_cookie(user), origin=origin)
    assert connected is False


def test_a_stored_batch_reaches_the_members_socket_with_the_window(store: Any) -> None:
    user, project = member_with_project()
    cookie = session_cookie(user)
    now = datetime.now(UTC)
    fresh = [{"event": "tick", "distinct_id": f"u{n}", "timestamp": iso(now - timedelta(seconds=n))} for n in range(5)]
    backfill = [{"event": "old", "distinct_id": "u9", "timestamp": iso(now - timedelta(days=3))} for _ in range(3)]

    async def scenario() -> list[dict[str, Any]]:
        socket = communicator(project.id, cookie=cookie)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await sync_to_async(store_events, thread_sensitive=False)(project, fresh + backfill)
        messages = [await socket.receive_json_from(timeout=5)]
        await socket.disconnect()
        return messages

    started = time.monotonic()
    messages = async_to_sync(scenario)()
    assert time.monotonic() - started < 5
    assert messages[0]["stored"] == 8  # every stored row
    assert messages[0]["recent"] == 5  # the backfill moves neither "today" nor the window
    assert messages[0]["last_minute"] == 5


def test_recent_rows_are_counted_by_project_and_event_second() -> None:
    now = 1_800_000_000.5
    offsets = [0.2, -0.4, -1.0, -30.0, -59.9, -60.5, -61.0, -3600.0, 30.0, 61.0]
    projects = [1, 1, 2, 1, 2, 1, 2, 1, 1, 2]
    millis = [int((now + offset) * 1000) for offset in offsets]
    table = pa.table(
        {"project_id": pa.array(projects, pa.uint64()), "timestamp": pa.array(millis, pa.timestamp("ms", tz="UTC"))}
    )
    expected: dict[tuple[int, int], int] = {}
    for project, ms in zip(projects, millis, strict=True):
        if now - WINDOW_SECONDS <= ms / 1000 < now + 60:
            key = (project, ms // 1000)
            expected[key] = expected.get(key, 0) + 1
    assert recent_by_second(table, now=now) == expected


def test_the_last_minute_sums_the_sixty_seconds_up_to_now() -> None:
    project_id = 987_654_321
    now = 1_800_000_000
    counts = {now - age: age + 1 for age in range(0, 90, 7)}
    for second, count in counts.items():
        window_add(project_id, second, count)
    expected = sum(count for second, count in counts.items() if now - WINDOW_SECONDS < second <= now)
    assert last_minute(project_id, now=now) == expected
    assert last_minute(project_id + 1, now=now) == 0
