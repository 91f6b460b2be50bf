"""Scale mode: PostgreSQL, ClickHouse server, Kafka, Redis, separate processes."""

from __future__ import annotations

from typing import Any

import dj_database_url

from config.env import SettingError, env_int, env_str, env_url

from .base import KAFKA_BOOTSTRAP_SERVERS, REDIS_URL

DATABASES = {
    "default": dj_database_url.parse(
        env_url("DATABASE_URL", schemes=("postgres", "postgresql")),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)

if not KAFKA_BOOTSTRAP_SERVERS:
    raise SettingError("KAFKA_BOOTSTRAP_SERVERS", "host:port[,host:port] of the Kafka brokers (required in scale mode)")

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

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_TIMEOUT = 5
