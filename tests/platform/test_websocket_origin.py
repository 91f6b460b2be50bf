"""The WebSocket origin check compares the port too: another service on an allowed host is foreign."""

from __future__ import annotations

import pytest

from analytics.platform.origin import same_origin
from tests.factories import member_with_project
from tests.platform.test_websocket import attempt, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_from_another_port_of_the_same_host_is_refused() -> None:
    user, project = member_with_project()
    cookie = session_cookie(user)
    path = f"/ws/live/?project={project.id}"
    assert attempt(path, cookie=cookie, origin=b"http://127.0.0.1:8000")[0] is True
    assert attempt(path, cookie=cookie, origin=b"http://127.0.0.1:9999")[0] is False
    assert attempt(path, cookie=cookie, origin=b"http://127.0.0.1")[0] is False
    assert attempt(path, cookie=cookie, origin=b"https://127.0.0.1:8000")[0] is True  # TLS in front, same port
    assert attempt(path, cookie=cookie, origin=b"null")[0] is False
    assert attempt(path, cookie=cookie, origin=b"file://127.0.0.1:8000")[0] is False


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://localhost:8000", "localhost:8000", True),
        ("http://LOCALHOST:8000", "localhost:8000", True),
        ("http://localhost:8001", "localhost:8000", False),
        ("https://localhost", "localhost", True),
        ("https://localhost:443", "localhost", True),
        ("http://localhost", "localhost", True),
        ("http://localhost:8080", "localhost", False),
        ("https://localhost", "localhost:443", True),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("http://[::1]:8001", "[::1]:8000", False),
        ("http://evil.example:8000", "evil.example:8000", False),  # not in ALLOWED_HOSTS
        ("http://localhost:99999", "localhost:8000", False),
        ("http://localhost:8000", None, False),
        (None, "localhost:8000", False),
    ],
)
def test_same_origin(origin: str | None, host: str | None, same: bool) -> None:
    assert same_origin(origin, host) is same
