"""Channels consumer for live updates of a project's numbers.

Connect to ``/ws/live/?project=<id>`` with a logged-in session. Refused for anonymous
users and non-members; the origin (host and port) is checked by SameOriginValidator (origin.py).
Producers send to the group :func:`live_group` with ``{"type": "live.update", ...}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from analytics.accounts.selectors import projects_for_user
from analytics.core.live import live_group


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        project_id = (query.get("project") or [""])[0]
        if not project_id.isdigit() or not await self._is_member(user, int(project_id)):
            await self.close(code=4404)
            return
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
