"""Channels consumer for live updates of a project's numbers.

Connect to ``/ws/projects/<id>/live/`` (or the older ``/ws/live/?project=<id>``) with a
logged-in session. Refused (closed before accepting) when

- the user is anonymous (close code 4401);
- the project is malformed, missing or not one of the user's projects (4404: members only,
  and a stranger cannot tell a foreign project from a missing one);
- the Origin is not this very site: asgi.py's SameOriginValidator (``origin.py``) refuses an
  Origin whose host and port differ from the Host header before this consumer runs, and the
  consumer checks host *and port* against the Host again (4403), so a page served on another
  port of an allowed host cannot connect.

Producers send to the group :func:`live_group` with ``{"type": "live.update", ...}``
(analytics/streams/live.py for stored batches, analytics/ingestion/live.py for accepted
requests); every key but ``type`` is forwarded to the browser as JSON.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from analytics.accounts.selectors import projects_for_user
from analytics.core.live import live_group, register_loop

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def _host_and_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        return (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 80)
    except ValueError:
        return None


def same_origin(scope: dict[str, Any]) -> bool:
    """Whether the Origin header names the host and port the socket was opened on."""
    origin = urlsplit(_header(scope, b"origin"))
    if origin.scheme not in ("http", "https") or not origin.netloc:
        return False
    socket_scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    ours = _host_and_port(_header(scope, b"host"), socket_scheme)
    theirs = _host_and_port(origin.netloc, origin.scheme)
    return ours is not None and ours == theirs and bool(ours[0])


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not same_origin(self.scope):
            await self.close(code=4403)
            return
        project_id = str(self.scope.get("url_route", {}).get("kwargs", {}).get("project_id", ""))
        if not project_id:
            query = parse_qs(self.scope.get("query_string", b"").decode())
            project_id = (query.get("project") or [""])[0]
        if not project_id.isdigit() or not await self._is_member(user, int(project_id)):
            await self.close(code=4404)
            return
        register_loop(asyncio.get_running_loop())
        self.group_name = live_group(int(project_id))
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        group = getattr(self, "group_name", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def live_update(self, message: dict[str, Any]) -> None:
        await self.send_json({key: value for key, value in message.items() if key != "type"})

    @database_sync_to_async
    def _is_member(self, user: Any, project_id: int) -> bool:
        return projects_for_user(user=user).filter(pk=project_id).exists()
