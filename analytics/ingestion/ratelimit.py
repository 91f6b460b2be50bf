"""Per-project ingestion rate limit (events per second), sliding window.

Scale mode keeps the counters in Redis (one Lua script per request, atomic across every
web process); embedded mode keeps them in this process's memory. The limit is keyed by
project only, so nothing a client sends (such as a forged X-Forwarded-For) can move it
into a fresh bucket. A request larger than the whole limit is let through when its
window is empty, so a small limit can never lock a client out for good.

A Redis round trip through redis-py costs the web process as much CPU as validating a
few dozen events, so the checks of one project that arrive while a call for it is in
flight wait for the next call and go together: one script call for all of them, each
still judged in arrival order, atomically, against the shared window (what one call per
request did).
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

# KEYS[1] current window, KEYS[2] previous window; ARGV[1] weight of the previous window (per
# mille), then the limit and the events of each request in arrival order. One answer per
# request (1 allowed, 0 refused), exactly as if each had made its own call in that order.
_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = math.floor(tonumber(redis.call('GET', KEYS[2]) or '0') * tonumber(ARGV[1]) / 1000)
local answers = {}
local added = 0
for i = 2, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  local events = tonumber(ARGV[i + 1])
  local estimate = previous + current
  if estimate > 0 and estimate + events > limit then
    answers[#answers + 1] = 0
  else
    current = current + events
    added = added + events
    answers[#answers + 1] = 1
  end
end
if added > 0 then
  redis.call('INCRBY', KEYS[1], added)
  redis.call('EXPIRE', KEYS[1], 3)
end
return answers
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


class _LoopState:
    """The Redis client of one event loop and the checks waiting for their call, per project."""

    __slots__ = ("script", "tasks", "waiting")

    def __init__(self, client: Any) -> None:
        self.script = client.register_script(_LUA)
        self.waiting: dict[int, list[tuple[int, int, asyncio.Future[bool]]]] = {}
        self.tasks: set[asyncio.Task[None]] = set()


class RedisRateLimiter:
    """Redis (asyncio client, one per event loop), shared by every web process."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = prefix
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()

    def _state(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        state = self._loops.get(loop)
        if state is None:
            import redis.asyncio as redis  # noqa: PLC0415 - scale mode only: redis is in requirements/prod.in

            client = redis.Redis.from_url(
                self.url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
            )
            state = self._loops[loop] = _LoopState(client)
        return state

    async def allow(self, project_id: int, limit: int, events: int) -> bool:
        loop = asyncio.get_running_loop()
        state = self._state(loop)
        waiting = state.waiting.get(project_id)
        if waiting is not None:  # a call for this project is in flight: join the next one
            future: asyncio.Future[bool] = loop.create_future()
            waiting.append((limit, events, future))
            return await future
        state.waiting[project_id] = []  # a lone request makes its own call, with no task
        try:
            return (await self._check(state, project_id, [(limit, events)]))[0]
        finally:
            if state.waiting[project_id]:
                task = loop.create_task(self._serve(state, project_id))
                state.tasks.add(task)
                task.add_done_callback(state.tasks.discard)
            else:
                del state.waiting[project_id]

    async def _serve(self, state: _LoopState, project_id: int) -> None:
        """Answer the checks that queued during a call, one call per group, until none waits."""
        batch: list[tuple[int, int, asyncio.Future[bool]]] = []
        try:
            while batch := state.waiting[project_id]:
                state.waiting[project_id] = []  # checks arriving from now on go in the next call
                answers = await self._check(state, project_id, [(limit, events) for limit, events, _ in batch])
                for (_, _, future), allowed in zip(batch, answers, strict=True):
                    if not future.done():  # a request that went away is not answered
                        future.set_result(allowed)
            del state.waiting[project_id]
        except BaseException:  # cancelled (the loop is closing): nobody may wait forever
            for _, _, future in batch + state.waiting.pop(project_id, []):
                future.cancel()
            raise

    async def _check(self, state: _LoopState, project_id: int, checks: list[tuple[int, int]]) -> list[bool]:
        """One script call judging ``checks`` (limit, events) in order; fails open."""
        second, weight = _window(time.time())
        base = f"{self.prefix}ingest-rl:{{{project_id}}}:"
        args = [weight]
        for limit, events in checks:
            args += (limit, events)
        try:
            answers = await state.script(keys=[f"{base}{second}", f"{base}{second - 1}"], args=args)
        except Exception as error:  # Redis down: fail open (the bus still protects the store)
            metrics.RATE_LIMIT_ERRORS.inc(len(checks))  # one per request let through, as before
            log.warning("ingest.rate_limit.backend_error", error=type(error).__name__)
            return [True] * len(checks)
        if not isinstance(answers, list) or len(answers) != len(checks):
            # Not expected from our script; fail open like for an error rather than leave a request unanswered.
            metrics.RATE_LIMIT_ERRORS.inc(len(checks))
            log.warning("ingest.rate_limit.unexpected_answer", answer=str(answers)[:100])
            return [True] * len(checks)
        return [bool(answer) for answer in answers]


_limiter: LocalRateLimiter | RedisRateLimiter | None = None


def get_rate_limiter() -> LocalRateLimiter | RedisRateLimiter:
    global _limiter
    if _limiter is None:
        backend = settings.INGEST_RATE_LIMIT_BACKEND
        cache_backend = settings.CACHES["default"]["BACKEND"]
        assert isinstance(cache_backend, str)  # a dotted path; the settings leave CACHES unannotated
        if backend == "redis" or (backend == "auto" and "redis" in cache_backend.lower()):
            prefix = settings.CACHES["default"].get("KEY_PREFIX") or "analytics"
            _limiter = RedisRateLimiter(settings.REDIS_URL, f"{prefix}:")
        else:
            _limiter = LocalRateLimiter()
    return _limiter


def reset_rate_limiter() -> None:
    global _limiter
    _limiter = None
