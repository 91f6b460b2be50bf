"""Settings shared by every mode and profile."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from corsheaders.defaults import default_headers as default_cors_headers
from csp import constants as csp_constants

from config.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_optional,
    env_parsed,
    env_str,
    env_url,
)


def _rate(value: str) -> str:
    """Validate a DRF-style rate such as ``30/min``."""
    count, _, period = value.partition("/")
    if not count.isdigit() or int(count) < 1 or period[:1] not in {"s", "m", "h", "d"}:
        raise ValueError(value)
    return value


BASE_DIR = Path(__file__).resolve().parent.parent.parent

# ------------------------------------------------------------------------------
# Mode and profile
# ------------------------------------------------------------------------------
ANALYTICS_MODE = env_choice("ANALYTICS_MODE", ("embedded", "scale"), "embedded")
ANALYTICS_PROFILE = env_choice("ANALYTICS_PROFILE", ("dev", "test", "prod"), "dev")

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()


def _dev_secret_key() -> str:
    """A random key kept under DATA_DIR so sessions survive restarts in dev."""
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        path.chmod(0o600)
        return key


SECRET_KEY = env_optional("SECRET_KEY") or (
    "test-only-secret-key-not-for-production" if ANALYTICS_PROFILE == "test" else ""
)
if not SECRET_KEY and ANALYTICS_PROFILE == "dev":
    SECRET_KEY = _dev_secret_key()
if ANALYTICS_PROFILE == "prod":
    SECRET_KEY = env_str("SECRET_KEY", expected="a long random string (50+ characters)")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-"):
        from config.env import SettingError

        # Never echo the key itself; describe it.
        raise SettingError(
            "SECRET_KEY",
            "at least 50 random characters (5+ distinct, not django-insecure-)",
            f"{len(SECRET_KEY)} characters, {len(set(SECRET_KEY))} distinct",
        )

DEBUG = env_bool("DEBUG", ANALYTICS_PROFILE == "dev")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
HOST = env_str("HOST", "127.0.0.1")
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)

# ------------------------------------------------------------------------------
# Apps
# ------------------------------------------------------------------------------
DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
THIRD_PARTY_APPS = [
    "channels",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "csp",
    "django_prometheus",
    "django_celery_beat",
]
# Top of the layers first (docs/architecture.md); analytics.devtools is added by the dev
# and test profiles only (config/settings/__init__.py).
LOCAL_APPS = [
    "analytics.platform",
    "analytics.loadgen",
    "analytics.aggregation",
    "analytics.ingestion",
    "analytics.streams",
    "analytics.accounts",
    "analytics.warehouse",
    "analytics.core",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "analytics.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# ------------------------------------------------------------------------------
# Accounts and auth
# ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# How many reverse proxies in front of the web process append to X-Forwarded-For.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Personal keys first: JWT authentication would reject a "Bearer pak_..." header.
        "analytics.accounts.authentication.PersonalApiKeyAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Personal API keys read only; JWT and session users may also write (roles decide what).
    "DEFAULT_PERMISSION_CLASSES": ["analytics.accounts.permissions.IsAuthenticatedApiKeysReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "analytics.core.schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "analytics.core.exception_handler.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "analytics.core.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
    # Client addresses for throttling: REMOTE_ADDR unless proxies are trusted, so a forged
    # X-Forwarded-For cannot reset a limit (the n-th address from the right is used).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
# Self-service sign-up through POST /api/v1/auth/register; off: operators add users in the admin.
REGISTRATION_OPEN = env_bool("REGISTRATION_OPEN", True)
# Login, register, refresh and logout share one per-address budget (in the cache: Redis in scale mode).
AUTH_RATE_LIMIT = env_parsed("AUTH_RATE_LIMIT", "30/min", _rate, expected="a rate such as 30/min (per s|min|hour|day)")
if env_bool("API_BROWSABLE", ANALYTICS_PROFILE == "dev"):
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 14, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "ALGORITHM": "HS256",
    # A separate signing key lets operators invalidate every token without logging out sessions.
    "SIGNING_KEY": env_optional("JWT_SIGNING_KEY") or SECRET_KEY,
    "LEEWAY": 5,
    "CHECK_REVOKE_TOKEN": True,
    "REVOKE_TOKEN_CLAIM": "hash_password",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Analytics API",
    "DESCRIPTION": "Event collection, read-back, aggregates and project management.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets are served from the package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The ingestion endpoints are plain Django views (the hot path); this hook adds their
    # documentation-only DRF descriptions. Nothing on the request path changes.
    "PREPROCESSING_HOOKS": ["analytics.ingestion.api.openapi.add_ingestion_endpoints"],
    # The prefix left out of operation ids and tags. Fixed, because drf-spectacular would
    # otherwise take the paths' common prefix, which the Segment paths (/v1/...) turn into "/".
    "SCHEMA_PATH_PREFIX": "/api",
}

# CORS: the read/management API answers only the origins listed here. The ingestion paths
# (INGEST_CORS_PATH_REGEX) answer any origin, because any web page may embed the tracker;
# analytics.core.cors opens them per request. Cookies are never sent cross-origin.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/(api/|v1/).*$"
INGEST_CORS_PATH_REGEX = r"^/(api/v1/events|v1/)"
CORS_ALLOW_ALL_ORIGINS = False
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (*default_cors_headers, "content-encoding", "x-api-key", "x-request-id")
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]
CORS_PREFLIGHT_MAX_AGE = 86400

# ------------------------------------------------------------------------------
# Internationalisation, static files
# ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
# collectstatic's target; the Docker image collects into the image at build time.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static"))).resolve()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on a missing root
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------------------
# Event store (ClickHouse) and bus
# ------------------------------------------------------------------------------
CLICKHOUSE_URL = env_url(
    "CLICKHOUSE_URL", f"chdb://{DATA_DIR / 'chdb'}", schemes=("chdb", "clickhouse", "clickhouses")
)
CLICKHOUSE_CLUSTER = env_optional("CLICKHOUSE_CLUSTER")
CLICKHOUSE_QUERY_TIMEOUT = env_int("CLICKHOUSE_QUERY_TIMEOUT", 30, minimum=1)
CLICKHOUSE_CONNECT_TIMEOUT = env_int("CLICKHOUSE_CONNECT_TIMEOUT", 5, minimum=1)
CLICKHOUSE_RETRIES = env_int("CLICKHOUSE_RETRIES", 3, minimum=0)

KAFKA_BOOTSTRAP_SERVERS = env_optional("KAFKA_BOOTSTRAP_SERVERS")
KAFKA_EVENTS_TOPIC = env_str("KAFKA_EVENTS_TOPIC", "events")
KAFKA_DEAD_LETTER_TOPIC = env_str("KAFKA_DEAD_LETTER_TOPIC", "events_dead_letter")
KAFKA_PARTITIONS = env_int("KAFKA_PARTITIONS", 6, minimum=1)
KAFKA_CONSUMER_GROUP = env_str("KAFKA_CONSUMER_GROUP", "analytics-events")
KAFKA_PRODUCE_TIMEOUT = env_int("KAFKA_PRODUCE_TIMEOUT", 10, minimum=1)

# ------------------------------------------------------------------------------
# Ingestion limits
# ------------------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)
INGEST_MAX_EVENT_BYTES = env_int("INGEST_MAX_EVENT_BYTES", 32 * 1024, minimum=256)
INGEST_MAX_BATCH = env_int("INGEST_MAX_BATCH", 1000, minimum=1)
INGEST_RATE_LIMIT_PER_SECOND = env_int("INGEST_RATE_LIMIT_PER_SECOND", 20_000, minimum=1)
# "auto": Redis when the cache is Redis (scale mode), else this process's memory (embedded).
INGEST_RATE_LIMIT_BACKEND = env_choice("INGEST_RATE_LIMIT_BACKEND", ("auto", "redis", "local"), "auto")
# Proxies (IPs or CIDRs) whose X-Forwarded-For is believed for the client IP of events.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# Embedded batch writer: concurrent requests are coalesced into one insert (one part).
INGEST_FLUSH_INTERVAL_MS = env_int("INGEST_FLUSH_INTERVAL_MS", 50, minimum=0, maximum=5000)
INGEST_FLUSH_MAX_ROWS = env_int("INGEST_FLUSH_MAX_ROWS", 20_000, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES + 1024

# ------------------------------------------------------------------------------
# Demo data
# ------------------------------------------------------------------------------
DEMO_EVENTS = env_int("DEMO_EVENTS", 300_000, minimum=0)

# ------------------------------------------------------------------------------
# Celery (the app lives in config/celery_app.py)
# ------------------------------------------------------------------------------
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"

# Aggregation (analytics/aggregation): how long an insert may take to become visible in
# ClickHouse; the inserted-at watermark stays this far behind ClickHouse's clock.
AGGREGATION_INSERT_VISIBILITY_SECONDS = env_int("AGGREGATION_INSERT_VISIBILITY_SECONDS", 5, minimum=0)
# Seconds between scheduled aggregation dispatches (the PeriodicTask's initial interval).
AGGREGATION_INTERVAL_SECONDS = env_int("AGGREGATION_INTERVAL_SECONDS", 5, minimum=1)
# Time limit of one rollup query in ClickHouse (a 1d/1mo bucket reads a whole day/month).
AGGREGATION_QUERY_TIMEOUT_SECONDS = env_int("AGGREGATION_QUERY_TIMEOUT_SECONDS", 600, minimum=1)

# ------------------------------------------------------------------------------
# Security headers that hold in every profile
# ------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
# Content-Security-Policy (django-csp): pages load only our own scripts, styles and images;
# the one inline <style> (templates/base.html) carries the per-response nonce. The Swagger
# UI page is the split view, whose script is a separate same-origin request.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF],
        "style-src": [csp_constants.SELF, csp_constants.NONCE],
        "img-src": [csp_constants.SELF, "data:"],
        "connect-src": [csp_constants.SELF],
        "font-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.SELF],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    }
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# ------------------------------------------------------------------------------
# Logging: JSON lines through structlog (see analytics/core/logging.py)
# ------------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
LOG_FORMAT = env_choice("LOG_FORMAT", ("json", "console"), "json")
LOGGING_CONFIG = None  # configured by analytics.core.logging.configure_logging()

# When set, /metrics answers only requests with "Authorization: Bearer <METRICS_TOKEN>".
METRICS_TOKEN = env_optional("METRICS_TOKEN")

# ------------------------------------------------------------------------------
# Redis (always validated when given; required by scale mode)
# ------------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss", "unix"))
