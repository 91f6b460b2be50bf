"""Rate limit, forged X-Forwarded-For, and write keys across projects."""

from __future__ import annotations

import asyncio
import time
import uuid

import redis
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import override_settings
from prometheus_client import REGISTRY

from analytics.accounts.models import User
from analytics.accounts.services import project_rotate_write_key, project_update
from analytics.ingestion.enrichment import client_ip
from analytics.ingestion.ratelimit import LocalRateLimiter, RedisRateLimiter
from analytics.ingestion.selectors import forget_local
from tests.factories import member_with_project
from tests.ingestion.conftest import event, stored


def test_rate_limit_answers_429_with_retry_after(owner_and_project, post):
    owner, project = owner_and_project
    project_update(project=project, user=owner, ingest_rate_limit=5)

    first = post({"batch": [event()] * 5}, key=project.write_key)
    second = post({"batch": [event()] * 5}, key=project.write_key)

    assert first.status_code == 202
    assert second.status_code == 429
    assert int(second["Retry-After"]) >= 1
    assert second.json()["error"]["code"] == "rate_limited"


def test_forged_forwarded_for_does_not_reset_the_rate_limit(owner_and_project, post):
    owner, project = owner_and_project
    project_update(project=project, user=owner, ingest_rate_limit=3)
    statuses = [
        post({"batch": [event()] * 3}, key=project.write_key, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
        for i in range(4)
    ]

    assert statuses[0] == 202
    assert statuses[1:] == [429, 429, 429]


def test_rate_limit_is_per_project(owner_and_project, post):
    owner, project = owner_and_project
    project_update(project=project, user=owner, ingest_rate_limit=2)
    _, other = member_with_project()

    post({"batch": [event()] * 2}, key=project.write_key)

    assert post({"batch": [event()] * 2}, key=project.write_key).status_code == 429
    assert post({"batch": [event()] * 2}, key=other.write_key).status_code == 202


def test_write_key_of_project_a_writes_only_to_project_a(project, post, store):
    _, other = member_with_project()

    post(event(project_id=other.id), key=project.write_key)

    assert len(stored(store, project.id)) == 1
    assert stored(store, other.id) == []


def test_write_key_cannot_read(project, client):
    for header in ({"X-Api-Key": project.write_key}, {"Authorization": f"Bearer {project.write_key}"}):
        response = client.get(f"/api/v1/projects/{project.id}/events/count", headers=header)
        assert response.status_code == 401


def test_rotated_write_key_stops_working(project, post):
    old_key = project.write_key
    assert post(event(), key=old_key).status_code == 202

    project_rotate_write_key(project=project)
    forget_local(write_key=old_key)  # another process would see it within PROJECT_TTL_SECONDS

    assert post(event(), key=old_key).status_code == 401
    assert post(event(), key=project.write_key).status_code == 202


def test_local_rate_limiter_of_the_embedded_mode():
    limiter = LocalRateLimiter()
    allow = async_to_sync(limiter.allow)

    assert allow(1, 10, 6) is True
    assert allow(1, 10, 4) is True
    assert allow(1, 10, 1) is False
    assert allow(2, 10, 10) is True
    assert allow(3, 5, 50) is True  # one request over the whole limit passes when the window is empty


def test_trusted_proxy_count_applies_without_a_proxy_list():
    with override_settings(TRUSTED_PROXIES=[], REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}):
        assert client_ip("10.0.0.1", "6.6.6.6, 203.0.113.5") == "203.0.113.5"
    assert client_ip("10.0.0.1", "6.6.6.6, 203.0.113.5") == "10.0.0.1"


def test_admin_refuses_a_bad_schema_with_a_form_error(owner_and_project, client):
    _, project = owner_and_project
    admin = User.objects.create_superuser(email="root@example.com", password="x-long-password-1")
    client.force_login(admin)

    response = client.post(
        "/admin/ingestion/eventschema/add/",
        {"project": project.id, "event_name": "x", "properties": '{"a": {"type": "colour"}}', "description": ""},
    )

    assert response.status_code == 200
    assert "the type of" in response.content.decode()


def test_concurrent_checks_are_judged_in_arrival_order_against_redis():
    """Checks of one project that wait for the same Redis call get what one call each would give."""
    prefix = f"test-{uuid.uuid4().hex}:"
    limiter = RedisRateLimiter(settings.REDIS_URL, prefix)

    async def burst() -> list[bool]:
        return await asyncio.gather(*(limiter.allow(7, 10, 3) for _ in range(5)), limiter.allow(8, 10, 3))

    def script_calls() -> int:  # every check runs our Lua script (EVALSHA, or EVAL when it is not loaded)
        stats = redis.Redis.from_url(settings.REDIS_URL).info("commandstats")
        return sum(stats.get(name, {}).get("calls", 0) for name in ("cmdstat_evalsha", "cmdstat_eval"))

    if time.time() % 1 > 0.7:  # keep the burst inside one second of the sliding window
        time.sleep(0.4)
    calls_before = script_calls()
    answers = asyncio.run(burst())
    calls = script_calls() - calls_before
    counted = sum(
        int(redis.Redis.from_url(settings.REDIS_URL).get(key) or 0)
        for key in redis.Redis.from_url(settings.REDIS_URL).keys(f"{prefix}ingest-rl:{{7}}:*")
    )

    assert answers == [True, True, True, False, False, True]  # 3 + 3 + 3 fit in 10, the fourth would not
    assert counted == 9
    # Project 7's five checks went together into fewer calls than one each (project 8: one call).
    assert calls < 6


def test_redis_limiter_lets_requests_through_when_redis_is_down():
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", "test-down:")
    errors = REGISTRY.get_sample_value("ingest_rate_limit_backend_errors_total") or 0

    async def burst() -> list[bool]:
        return await asyncio.gather(*(limiter.allow(1, 1, 5) for _ in range(3)))

    assert asyncio.run(burst()) == [True, True, True]
    assert (REGISTRY.get_sample_value("ingest_rate_limit_backend_errors_total") or 0) == errors + 3
