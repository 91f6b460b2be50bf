"""`manage.py serve` limits hostile clients: header/body read timeouts, body sizes, connections per address.

One real server process (embedded mode) with short timeouts; raw sockets play the clients.
Timing appears only as generous bounds (socket and request timeouts), never as a speed claim.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.platform.test_serve import _RUN_VARIABLES, ROOT, running_server

pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 2
BODY_TIMEOUT = 2
KEEPALIVE_TIMEOUT = 1
PER_ADDRESS = 50
BODY_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    data_dir = tmp_path_factory.mktemp("serve-limits")
    env = {key: value for key, value in os.environ.items() if key not in _RUN_VARIABLES}
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "ANALYTICS_MODE": "embedded",
            "ANALYTICS_PROFILE": "dev",
            "SERVER_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            "SERVER_BODY_TIMEOUT": str(BODY_TIMEOUT),
            "SERVER_KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT),
            "SERVER_MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS),
            "REQUEST_MAX_BODY_BYTES": str(BODY_LIMIT),
        }
    )
    for command in (["migrate", "--noinput", "-v0"], ["clickhouse_migrate"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=300, capture_output=True
        )
    with running_server(env, data_dir / "serve.log") as (_process, server_port):
        yield server_port


def connect(port: int, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response; reads until the server closes or the body is complete."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def healthz(port: int) -> int:
    # The timeout is the test's bound, not a speed claim.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
        return int(response.status)


def test_200_half_open_connections_are_held_while_healthz_answers_then_cut_off(port: int) -> None:
    sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]  # PER_ADDRESS each: 200 in all
    with ExitStack() as stack:
        held = []
        for source in sources:
            for _ in range(PER_ADDRESS):
                sock = stack.enter_context(connect(port, source))
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")  # and stall
                held.append(sock)
        assert len(held) == 200
        assert healthz(port) == 200

        # One more from a saturated address is refused at once with 503.
        with connect(port, sources[0]) as extra:
            status, headers, body = read_response(extra)
            assert status == 503
            assert headers["connection"] == "close"
            assert json.loads(body)["error"]["code"] == "too_many_connections"
        assert healthz(port) == 200

        # The stalled ones are answered 408 and closed once the header timeout passes.
        for sock in held[:: PER_ADDRESS // 2]:
            sock.settimeout(HEADER_TIMEOUT + 15)
            status, _headers, body = read_response(sock)
            assert status == 408
            assert json.loads(body)["error"]["code"] == "header_timeout"
            assert sock.recv(1) == b""
    # Their addresses have their connections back.
    with connect(port, sources[0]) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(port: int) -> None:
    with connect(port, "127.0.0.6", timeout=HEADER_TIMEOUT + 15) as sock:
        status, _headers, _body = read_response(sock)
        assert status == 408
        assert sock.recv(1) == b""


def test_an_idle_keep_alive_connection_is_closed(port: int) -> None:
    with connect(port, "127.0.0.10", timeout=KEEPALIVE_TIMEOUT + 15) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, headers, _body = read_response(sock)
        assert status == 200
        assert headers.get("connection") != "close"
        assert sock.recv(1) == b""  # closed by the server once idle, not by this client


def test_a_stalled_body_gets_408(port: int) -> None:
    with connect(port, "127.0.0.7", timeout=BODY_TIMEOUT + 15) as sock:
        sock.sendall(
            b"POST /api/v1/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"email": '
        )
        status, headers, body = read_response(sock)
        assert status == 408
        assert headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "body_timeout"


@pytest.mark.parametrize("path", ["/api/v1/projects", "/healthz", "/api/v1/auth/token/", "/no/such/path"])
def test_a_declared_oversize_body_is_refused_before_it_is_sent(port: int, path: str) -> None:
    with connect(port, "127.0.0.8") as sock:
        # Only the headers: the answer must not wait for the 500 MB that would follow.
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {500 * 1024 * 1024}\r\n\r\n".encode()
        )
        status, headers, body = read_response(sock)
        assert status == 413
        assert headers["connection"] == "close"
        assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_an_unauthenticated_chunked_body_is_cut_off_at_the_limit(port: int) -> None:
    chunk = b"x" * 16384
    sent = 0
    with connect(port, "127.0.0.9") as sock:
        sock.sendall(
            b"POST /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sock.settimeout(0.05)
        answer = b""
        while sent < 64 * 1024 * 1024:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer:
                break
        sock.settimeout(10)
        while b"payload_too_large" not in answer and (more := sock.recv(65536)):
            answer += more
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"payload_too_large" in answer
    # Cut off near the limit (socket buffers hold a few more chunks), not after the whole stream.
    assert sent < 64 * 1024 * 1024


def test_event_posts_keep_their_larger_limit(port: int) -> None:
    # Bigger than REQUEST_MAX_BODY_BYTES, within INGEST_MAX_BODY_BYTES: the ingestion API answers
    # (here: the key is unknown), not the server's size limit.
    payload = json.dumps({"api_key": "wk_unknown", "batch": [{"event": "e", "properties": {"p": "v" * 200_000}}]})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/events",
        data=payload.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    assert len(payload) > BODY_LIMIT
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    error = json.loads(caught.value.read())["error"]
    assert caught.value.code in {400, 401, 403}, error
    assert error["code"] != "payload_too_large"
