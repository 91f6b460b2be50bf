"""A lean HTTP/1.1 load client for the ingestion benchmarks (asyncio, keep-alive, no dependencies).

The request bytes are built once before the clock starts, so the client spends its CPU on
sockets, not on JSON: on a 2-core machine the client shares the cores with the server, and
the less it takes the closer the figure is to the server's own capacity.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson


@dataclass
class LoadResult:
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_request(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
    ]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = None
    chunked = False
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]
    return status, await reader.readexactly(length or 0)


async def _worker(host: str, port: int, queue: asyncio.Queue[tuple[bytes, int]], result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            try:
                request, events = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            for attempt in range(20):
                started = time.perf_counter()
                writer.write(request)
                status, body = await _read_response(reader)
                result.latencies.append(time.perf_counter() - started)
                result.requests += 1
                if status == 202 or status == 200:
                    answer = orjson.loads(body)
                    result.accepted += int(answer.get("accepted", events))
                    result.rejected += len(answer.get("rejected", []))
                    break
                if status in (429, 503) and attempt < 19:
                    result.retries += 1
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                key = f"HTTP {status}"
                result.errors[key] = result.errors.get(key, 0) + 1
                break
    finally:
        writer.close()


async def _run(host: str, port: int, requests: list[tuple[bytes, int]], connections: int) -> LoadResult:
    queue: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    result = LoadResult()
    started = time.perf_counter()
    await asyncio.gather(*(_worker(host, port, queue, result) for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    return result


def post_all(host: str, port: int, requests: list[tuple[bytes, int]], connections: int = 8) -> LoadResult:
    """Send every prepared request (bytes, events in it) over ``connections`` keep-alive connections."""
    return asyncio.run(_run(host, port, requests, connections))


def post_one(host: str, port: int, request: bytes) -> tuple[int, bytes]:
    """One request, for probing the endpoint before the clock starts."""

    async def once() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request)
            return await asyncio.wait_for(_read_response(reader), timeout=30)
        finally:
            writer.close()

    return asyncio.run(once())


async def _paced_worker(
    host: str, port: int, queue: asyncio.Queue[tuple[float, bytes, int]], result: LoadResult, deadline: float
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                due, request, events = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if loop.time() > deadline:  # the server fell behind: stop at the planned duration
                return
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.perf_counter()
            writer.write(request)
            status, body = await _read_response(reader)
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            if status in (200, 202):
                result.accepted += int(orjson.loads(body).get("accepted", events))
            else:
                key = f"HTTP {status}"
                result.errors[key] = result.errors.get(key, 0) + 1
    finally:
        writer.close()


async def _run_paced(
    host: str, port: int, requests: list[tuple[bytes, int]], rate: float, connections: int
) -> LoadResult:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    queue: asyncio.Queue[tuple[float, bytes, int]] = asyncio.Queue()
    sent = 0
    for request, events in requests:
        queue.put_nowait((start + sent / rate, request, events))
        sent += events
    result = LoadResult()
    began = time.perf_counter()
    deadline = start + sent / rate
    await asyncio.gather(*(_paced_worker(host, port, queue, result, deadline) for _ in range(connections)))
    result.seconds = time.perf_counter() - began
    return result


def post_paced(
    host: str, port: int, requests: list[tuple[bytes, int]], rate: float, connections: int = 16
) -> LoadResult:
    """Send the requests on a schedule of ``rate`` events/s (as fast as possible once behind it).

    Stops at the end of the planned schedule even if requests remain, so a server slower
    than ``rate`` is loaded for the planned duration, not longer; ``accepted`` says how much got in.
    """
    return asyncio.run(_run_paced(host, port, requests, rate, connections))
