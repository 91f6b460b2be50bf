"""WebSocket /ws/live/: refused for anonymous users, non-members and foreign origins."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from analytics.core.live import live_group
from config.asgi import application
from tests.factories import UserFactory, member_with_project

# Channels closes "old" database connections around each database call, which would close
# the connection holding a test transaction; committed data is what a live server sees anyway.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://127.0.0.1:8000"


def session_cookie(user: object) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def communicator(path: str, *, cookie: bytes | None = None, origin: bytes = ORIGIN) -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


async def _attempt(path: str, *, cookie: bytes | None = None, origin: bytes = ORIGIN) -> tuple[bool, object]:
    socket = communicator(path, cookie=cookie, origin=origin)
    connected, code = await socket.connect(timeout=5)
    await socket.disconnect()
    return connected, code


def attempt(path: str, **kwargs: object) -> tuple[bool, object]:
    return async_to_sync(_attempt)(path, **kwargs)


def test_member_is_accepted_and_receives_live_updates() -> None:
    user, project = member_with_project()
    cookie = session_cookie(user)

    async def scenario() -> dict:
        socket = communicator(f"/ws/live/?project={project.id}", cookie=cookie)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await get_channel_layer().group_send(live_group(project.id), {"type": "live.update", "events": 3})
        message = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)() == {"events": 3}


def test_anonymous_is_refused() -> None:
    _, project = member_with_project()
    connected, code = attempt(f"/ws/live/?project={project.id}")
    assert not connected
    assert code == 4401


def test_non_member_is_refused() -> None:
    _, project = member_with_project()
    stranger = UserFactory()
    connected, code = attempt(f"/ws/live/?project={project.id}", cookie=session_cookie(stranger))
    assert not connected
    assert code == 4404


def test_missing_or_malformed_project_is_refused() -> None:
    user, _ = member_with_project()
    cookie = session_cookie(user)
    assert attempt("/ws/live/", cookie=cookie)[0] is False
    assert attempt("/ws/live/?project=1%20OR%201=1", cookie=cookie)[0] is False


def test_foreign_origin_is_refused_even_for_a_member() -> None:
    user, project = member_with_project()
    connected, _ = attempt(
        f"/ws/live/?project={project.id}", cookie=session_cookie(user), origin=b"https://evil.example"
    )
    assert not connected
