"""Test profile: real PostgreSQL and Redis, chDB in a temporary directory.

Each test process gets its own PostgreSQL test database name and Redis key prefix,
so two suites on one machine never share state.
"""

from __future__ import annotations

import os
from typing import Any

import dj_database_url

from config import variables as env

from .base import _DATABASE_URL, REDIS_URL

_RUN_ID = env.ANALYTICS_TEST_RUN_ID.get()
os.environ["ANALYTICS_TEST_RUN_ID"] = _RUN_ID  # a write: child processes share the run

# DATABASE_URL and CLICKHOUSE_URL (base.py) default to local PostgreSQL and a temporary chDB
# directory in this profile (config/variables.py).
DATABASES = {"default": dj_database_url.parse(_DATABASE_URL)}
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

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
LOG_LEVEL = "WARNING"
DEBUG = False
