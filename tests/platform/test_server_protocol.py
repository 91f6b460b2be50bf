"""GuardedHttpToolsProtocol and RequestLimits in this process: uvicorn in a thread, a small ASGI app behind.

The same mechanisms as tests/platform/test_server_limits.py (which drives `manage.py serve`),
here with settings changed per test and the pieces seen one at a time.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from django.test import override_settings

from analytics.devtools.ports import free_port
from analytics.platform.server import GuardedHttpToolsProtocol, RequestLimits, connections_per_address
from tests.platform.test_server_limits import read_response

LARGE_PATH = "/upload"


async def echo_length(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body and answers its length."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = json.dumps({"size": size}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def server() -> Iterator[tuple[int, uvicorn.Server]]:
    port = free_port()
    config = uvicorn.Config(
        RequestLimits(echo_length, large_body_paths=[LARGE_PATH]),
        host="127.0.0.1",
        port=port,
        http=GuardedHttpToolsProtocol,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_keep_alive=1,
    )
    instance = uvicorn.Server(config)
    instance.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # not the main thread
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port, instance
    instance.should_exit = True
    thread.join(timeout=20)


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0))


def request(port: int, raw: bytes, source: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    with connect(port, source) as sock:
        sock.sendall(raw)
        return read_response(sock)


@override_settings(SERVER_MAX_CONNECTIONS_PER_ADDRESS=3, SERVER_HEADER_TIMEOUT=1)
def test_the_per_address_cap_refuses_the_next_connection_and_frees_its_slots(
    server: tuple[int, uvicorn.Server],
) -> None:
    port, instance = server
    held = [connect(port, "127.0.0.20") for _ in range(3)]
    try:
        with connect(port, "127.0.0.20") as extra:
            status, headers, body = read_response(extra)
        assert (status, headers["retry-after"]) == (503, "1")
        assert json.loads(body)["error"]["code"] == "too_many_connections"
        # Another address is not affected.
        assert request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", source="127.0.0.21")[0] == 200
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while connections_per_address(instance.server_state).get("127.0.0.20"):
        assert time.monotonic() < deadline, "the closed connections were not uncounted"
        time.sleep(0.05)
    assert request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", source="127.0.0.20")[0] == 200


@override_settings(SERVER_HEADER_TIMEOUT=1)
def test_a_second_request_on_a_kept_alive_connection_also_has_a_header_timeout(
    server: tuple[int, uvicorn.Server],
) -> None:
    port, _ = server
    with connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(sock)[0] == 200
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and stall inside the headers
        status, _headers, body = read_response(sock)
    assert status == 408
    assert json.loads(body)["error"]["code"] == "header_timeout"


@override_settings(REQUEST_MAX_BODY_BYTES=1024)
def test_body_limits_by_path(server: tuple[int, uvicorn.Server]) -> None:
    port, _ = server
    small = request(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + b"x" * 1024)
    assert (small[0], json.loads(small[2])) == (200, {"size": 1024})
    declared = request(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n")
    assert declared[0] == 413
    chunked = request(
        port,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + b"x" * 2048 + b"\r\n0\r\n\r\n",
    )
    assert (chunked[0], json.loads(chunked[2])["error"]["code"]) == (413, "payload_too_large")
    # The large-body path is bounded downstream (by the ingestion fast path in the product).
    large = request(port, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n" + b"x" * 4096)
    assert (large[0], json.loads(large[2])) == (200, {"size": 4096})


@override_settings(SERVER_BODY_TIMEOUT=1)
def test_a_slow_body_gets_408(server: tuple[int, uvicorn.Server]) -> None:
    port, _ = server
    status, headers, body = request(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
    assert (status, headers["connection"]) == (408, "close")
    assert json.loads(body)["error"]["code"] == "body_timeout"
