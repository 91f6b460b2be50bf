"""Live notifications: tell a project's dashboards that events arrived.

After a request is accepted the view calls :func:`notify`; counts are summed per
project and sent to the Channels group :func:`analytics.core.live.live_group` at
most about once a second per project and process, as ``{"type": "live.update",
"accepted": n}``. Sending happens in a task of its own, so the request never waits.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.layers import get_channel_layer

from analytics.core.live import live_group
from analytics.core.logging import get_logger
from analytics.ingestion import metrics

log = get_logger(__name__)

MIN_INTERVAL_SECONDS = 1.0

_pending: dict[int, int] = {}
_last_sent: dict[int, float] = {}
_scheduled: dict[int, asyncio.AbstractEventLoop] = {}  # project -> loop holding its delayed send
_tasks: set[asyncio.Task[Any]] = set()


def notify(project_id: int, accepted: int) -> None:
    """Count ``accepted`` events for the project's live group (call from the event loop)."""
    if accepted <= 0:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    _pending[project_id] = _pending.get(project_id, 0) + accepted
    waiting_on = _scheduled.get(project_id)
    if waiting_on is loop and not loop.is_closed():
        return  # a delayed send on this loop will carry the sum
    wait = _last_sent.get(project_id, 0.0) + MIN_INTERVAL_SECONDS - time.monotonic()
    if wait <= 0:
        _send(loop, project_id)
    else:
        _scheduled[project_id] = loop
        loop.call_later(wait, _send, loop, project_id)


def _send(loop: asyncio.AbstractEventLoop, project_id: int) -> None:
    if _scheduled.get(project_id) is loop:
        del _scheduled[project_id]
    accepted = _pending.pop(project_id, 0)
    if not accepted:
        return
    _last_sent[project_id] = time.monotonic()
    task = loop.create_task(_group_send(project_id, accepted))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _group_send(project_id: int, accepted: int) -> None:
    try:
        layer = get_channel_layer()
        if layer is not None:
            await asyncio.wait_for(
                layer.group_send(live_group(project_id), {"type": "live.update", "accepted": accepted}), timeout=2
            )
    except Exception as error:
        metrics.LIVE_NOTIFY_ERRORS.inc()
        log.warning("ingest.live.notify_failed", project_id=project_id, error=type(error).__name__)


async def drain() -> None:
    """Wait for notifications already being sent (shutdown and tests)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
