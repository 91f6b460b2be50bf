"""Test profile: real PostgreSQL and Redis, chDB in a temporary directory.

Each test process gets its own PostgreSQL test database name and Redis key prefix,
so two suites on one machine never share state.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import dj_database_url

from config.env import env_url

from .base import REDIS_URL

_RUN_ID = os.environ.setdefault("ANALYTICS_TEST_RUN_ID", str(os.getpid()))

DATABASES = {
    "default": dj_database_url.parse(
        env_url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres", schemes=("postgres", "postgresql")),
    )
}
DATABASES["default"]["TEST"] = {"NAME": f"test_analytics_{_RUN_ID}"}
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"test{_RUN_ID}",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
    }
}
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CLICKHOUSE_URL = os.environ.get("CLICKHOUSE_URL") or "chdb://" + os.path.join(
    tempfile.gettempdir(), f"analytics-test-chdb-{_RUN_ID}"
)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
LOG_LEVEL = "WARNING"
DEBUG = False
