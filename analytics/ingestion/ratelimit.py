"""Per-project ingestion rate limit (events per second), sliding window.

Scale mode keeps the counters in Redis (one Lua script per request, atomic across every
web process); embedded mode keeps them in this process's memory. The limit is keyed by
project only, so nothing a client sends (such as a forged X-Forwarded-For) can move it
into a fresh bucket. A request larger than the whole limit is let through when its
window is empty, so a small limit can never lock a client out for good.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from typing import Any

from django.conf import settings

from analytics.core.logging import get_logger
from analytics.ingestion import metrics

log = get_logger(__name__)

# KEYS[1] current window, KEYS[2] previous window; ARGV limit, events, weight of the previous window (per mille).
_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local limit = tonumber(ARGV[1])
local events = tonumber(ARGV[2])
local estimate = math.floor(previous * tonumber(ARGV[3]) / 1000) + current
if estimate > 0 and estimate + events > limit then
  return 0
end
redis.call('INCRBY', KEYS[1], events)
redis.call('EXPIRE', KEYS[1], 3)
return 1
"""


def _window(now: float) -> tuple[int, int]:
    second = int(now)
    # Weight of the previous second still inside the sliding one-second window.
    return second, int((1.0 - (now - second)) * 1000)


def retry_after_seconds(now: float) -> int:
    return max(1, math.ceil(int(now) + 1 - now))


class LocalRateLimiter:
    """This process's memory: fine for the one-process embedded mode."""

    def __init__(self) -> None:
        self._windows: dict[int, list[int]] = {}  # project -> [second, current, previous]

    async def allow(self, project_id: int, limit: int, events: int) -> bool:
        now = time.time()
        second, weight = _window(now)
        state = self._windows.get(project_id)
        if state is None or state[0] < second - 1:
            state = [second, 0, 0]
        elif state[0] == second - 1:
            state = [second, 0, state[1]]
        estimate = state[2] * weight // 1000 + state[1]
        if estimate > 0 and estimate + events > limit:
            self._windows[project_id] = state
            return False
        state[1] += events
        self._windows[project_id] = state
        return True


class RedisRateLimiter:
    """Redis (asyncio client, one per event loop), shared by every web process."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def _client(self) -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            import redis.asyncio as redis

            client = redis.Redis.from_url(
                self.url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
            )
            entry = (client, client.register_script(_LUA))
            self._clients[loop] = entry
        return entry

    async def allow(self, project_id: int, limit: int, events: int) -> bool:
        now = time.time()
        second, weight = _window(now)
        base = f"{self.prefix}ingest-rl:{{{project_id}}}:"
        try:
            _, script = self._client()
            allowed = await script(keys=[f"{base}{second}", f"{base}{second - 1}"], args=[limit, events, weight])
        except Exception as error:  # Redis down: fail open (the bus still protects the store)
            metrics.RATE_LIMIT_ERRORS.inc()
            log.warning("ingest.rate_limit.backend_error", error=type(error).__name__)
            return True
        return bool(allowed)


_limiter: LocalRateLimiter | RedisRateLimiter | None = None


def get_rate_limiter() -> LocalRateLimiter | RedisRateLimiter:
    global _limiter
    if _limiter is None:
        backend = settings.INGEST_RATE_LIMIT_BACKEND
        cache_backend = settings.CACHES["default"]["BACKEND"]
        if backend == "redis" or (backend == "auto" and "redis" in cache_backend.lower()):
            prefix = settings.CACHES["default"].get("KEY_PREFIX") or "analytics"
            _limiter = RedisRateLimiter(settings.REDIS_URL, f"{prefix}:")
        else:
            _limiter = LocalRateLimiter()
    return _limiter


def reset_rate_limiter() -> None:
    global _limiter
    _limiter = None
