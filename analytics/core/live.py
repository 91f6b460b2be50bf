"""The Channels groups of live updates: the one name the senders (ingestion, streams) and
the WebSocket consumer (platform) agree on, kept in the kernel so neither imports the other.

It also carries a message from a plain thread (the embedded batch writer, the Kafka
consumer) to a group. Channels' in-memory layer keeps its queues on the event loop of the
WebSocket consumers, and its queues are not thread-safe, so a sender in another thread must
hand the coroutine to that loop: the consumer registers its loop with :func:`register_loop`
when a socket connects. Without a registered, running loop (a consumer process in scale
mode, whose layer is Redis) the sender runs the coroutine on a loop of its own.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from channels.layers import get_channel_layer

SEND_TIMEOUT_SECONDS = 2.0

_web_loop: asyncio.AbstractEventLoop | None = None
_own_loops = threading.local()


def live_group(project_id: int) -> str:
    """The Channels group of a project's live updates."""
    return f"project-{int(project_id)}-live"


def register_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Remember the event loop that serves WebSockets in this process (the newest wins)."""
    global _web_loop  # one serving loop per process
    _web_loop = loop


def group_send_from_thread(group: str, message: dict[str, Any]) -> None:
    """Send ``message`` to a Channels group from a thread that runs no event loop.

    Raises what the layer raises (or TimeoutError); callers decide whether that matters.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _web_loop
    if loop is not None and loop.is_running() and not loop.is_closed():
        future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
        future.result(timeout=SEND_TIMEOUT_SECONDS)
        return
    own = getattr(_own_loops, "loop", None)
    if own is None or own.is_closed():
        own = asyncio.new_event_loop()
        _own_loops.loop = own
    own.run_until_complete(asyncio.wait_for(layer.group_send(group, message), SEND_TIMEOUT_SECONDS))
