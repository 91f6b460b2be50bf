"""Scale mode: PostgreSQL, ClickHouse server, Kafka, Redis, separate processes."""

from __future__ import annotations

from typing import Any

import dj_database_url

from config import variables as env

from .base import _DATABASE_URL, REDIS_URL

DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL,  # required in scale mode (config/variables.py)
        conn_max_age=env.DATABASE_CONN_MAX_AGE.get(),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "analytics",
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
            "RETRY_ON_TIMEOUT": True,
        },
    }
}
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
}

EVENT_BUS = "kafka"

CELERY_BROKER_URL = env.CELERY_BROKER_URL.get()
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_TIMEOUT = 5
