"""Event POSTs through the real ASGI application take the fast path (no middleware stack)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson
import psycopg
import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.db import connection

from analytics.ingestion.selectors import forget_local
from config.asgi import application
from tests.factories import member_with_project
from tests.ingestion.conftest import event, stored


def call(
    path: str, body: bytes | list[bytes], *, method: str = "POST", headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, dict[bytes, bytes], bytes, int]:
    """Drive config.asgi.application; returns status, headers, body and the chunks it read."""
    chunks = body if isinstance(body, list) else [body]
    headers = list(headers or [])
    if not any(name == b"host" for name, _ in headers):
        headers.insert(0, (b"host", b"127.0.0.1"))
    read = 0
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), *(headers or [])],
        "client": ("198.51.100.7", 5000),
        "server": ("127.0.0.1", 8000),
    }
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        await asyncio.sleep(3600)  # a client that stays connected until it has its answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {name.lower(): value for name, value in message["headers"]}
        else:
            answer["body"] += message.get("body", b"")

    async_to_sync(application)(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"], read


def test_event_post_is_accepted_with_request_id_and_cors(project, store):
    status, headers, body, _ = call(
        "/api/v1/events",
        orjson.dumps({"batch": [event(), event("b")]}),
        headers=[
            (b"x-api-key", project.write_key.encode()),
            (b"origin", b"https://shop.example"),
            (b"x-request-id", b"req-123"),
        ],
    )

    assert (status, orjson.loads(body)) == (202, {"accepted": 2, "rejected": []})
    assert headers[b"x-request-id"] == b"req-123"
    assert headers[b"access-control-allow-origin"] == b"https://shop.example"
    assert b"access-control-allow-credentials" not in headers
    assert stored(store, project.id)[0]["ip"] == "198.51.100.0"


def test_oversize_body_is_refused_while_it_streams_in(project):
    chunk = b" " * (1024 * 1024)
    status, _, body, read = call(
        "/api/v1/events",
        [b'{"batch": ['] + [chunk] * 20 + [b"]}"],
        headers=[(b"x-api-key", project.write_key.encode())],
    )

    assert status == 413
    assert orjson.loads(body)["error"]["code"] == "payload_too_large"
    assert read <= 7  # stopped reading after about 5 MB of the 20


def test_segment_call_takes_the_fast_path(project, store):
    auth = b"Basic " + base64.b64encode(project.write_key.encode() + b":")
    status, headers, body, _ = call(
        "/v1/track", orjson.dumps({"userId": "u", "event": "Signed Up"}), headers=[(b"authorization", auth)]
    )

    assert status == 200
    assert orjson.loads(body)["success"] is True
    assert b"x-frame-options" not in headers  # Django's middleware stack did not run


def test_other_requests_still_go_through_django(project):
    status, headers, _, _ = call("/healthz", b"", method="GET")
    preflight, preflight_headers, _, _ = call(
        "/api/v1/events",
        b"",
        method="OPTIONS",
        headers=[
            (b"origin", b"https://shop.example"),
            (b"access-control-request-method", b"POST"),
            (b"access-control-request-headers", b"x-api-key"),
        ],
    )

    assert status == 200
    assert b"x-frame-options" in headers  # set by Django's middleware
    assert preflight == 200
    assert b"access-control-allow-origin" in preflight_headers


def test_a_host_outside_allowed_hosts_is_refused(project, store):
    status, _, body, chunks_read = call(
        "/api/v1/events",
        orjson.dumps(event()),
        headers=[(b"x-api-key", project.write_key.encode()), (b"host", b"evil.example")],
    )

    assert status == 400
    assert orjson.loads(body)["error"]["code"] == "disallowed_host"
    assert chunks_read == 0  # refused before the body was read
    assert stored(store, project.id) == []


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced(store):
    """The fast path sends no request signals; a key lookup must still survive a dropped connection."""
    _, project = member_with_project()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "autocommit": True}) as other:  # what a database restart does to it
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
    forget_local(write_key=project.write_key)
    cache.clear()

    status, _, body, _ = call(
        "/api/v1/events", orjson.dumps(event()), headers=[(b"x-api-key", project.write_key.encode())]
    )

    assert (status, orjson.loads(body)) == (202, {"accepted": 1, "rejected": []})
    assert len(stored(store, project.id)) == 1
