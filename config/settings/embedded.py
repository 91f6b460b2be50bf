"""Embedded mode: one process, no services. SQLite, chDB, local-memory cache."""

from __future__ import annotations

from typing import Any

import dj_database_url

from .base import _DATABASE_URL, DATA_DIR

DATA_DIR.mkdir(parents=True, exist_ok=True)

DATABASES = {"default": dj_database_url.parse(_DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the web server read while the aggregation writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        "transaction_mode": "IMMEDIATE",
    }

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "analytics",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

EVENT_BUS = "direct"

# Tasks run in the calling process; `manage.py serve` drives the beat schedule itself.
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
