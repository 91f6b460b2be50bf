"""Settings shared by every mode and profile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from corsheaders.defaults import default_headers as default_cors_headers
from csp import constants as csp_constants

from config import variables as env

BASE_DIR = env.BASE_DIR

# ------------------------------------------------------------------------------
# Mode and profile (every variable below is declared, with its checks, in config/variables.py)
# ------------------------------------------------------------------------------
ANALYTICS_MODE = env.ANALYTICS_MODE.get()
ANALYTICS_PROFILE = env.ANALYTICS_PROFILE.get()
DATA_DIR = env.DATA_DIR.get()

SECRET_KEY = env.SECRET_KEY.get()
DEBUG = env.DEBUG.get()
ALLOWED_HOSTS = env.ALLOWED_HOSTS.get()
HOST = env.HOST.get()
PORT = env.PORT.get()
# The limits of the web server in front of Django (analytics/platform/server.py).
REQUEST_MAX_BODY_BYTES = env.REQUEST_MAX_BODY_BYTES.get()
SERVER_HEADER_TIMEOUT = env.SERVER_HEADER_TIMEOUT.get()
SERVER_BODY_TIMEOUT = env.SERVER_BODY_TIMEOUT.get()
SERVER_KEEPALIVE_TIMEOUT = env.SERVER_KEEPALIVE_TIMEOUT.get()
SERVER_MAX_CONNECTIONS_PER_ADDRESS = env.SERVER_MAX_CONNECTIONS_PER_ADDRESS.get()

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
    "analytics.dashboards",
    "analytics.loadgen",
    "analytics.reports",
    "analytics.funnels",
    "analytics.cohorts",
    "analytics.privacy",
    "analytics.telecom",
    "analytics.segments",
    "analytics.query",
    "analytics.aggregation",
    "analytics.ingestion",
    "analytics.streams",
    "analytics.audit",
    "analytics.accounts",
    "analytics.warehouse",
    "analytics.core",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "analytics.core.middleware.RequestIdMiddleware",
    # JSON instead of Django's HTML error pages (debug pages included) under /api/ and /v1/.
    "analytics.platform.middleware.ApiJsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Records every change by a person or a key (API and admin) with who, where and the diff.
    "analytics.audit.middleware.AuditMiddleware",
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
TRUSTED_PROXY_COUNT = env.TRUSTED_PROXY_COUNT.get()

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Personal keys first: JWT authentication would reject a "Bearer pak_..." header.
        "analytics.accounts.authentication.PersonalApiKeyAuthentication",
        "analytics.accounts.authentication.UserJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Personal API keys read only; JWT and session users may also write (roles decide what).
    "DEFAULT_PERMISSION_CLASSES": ["analytics.accounts.permissions.IsAuthenticatedApiKeysReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "analytics.core.schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON with a nesting limit (a 400, not a RecursionError); forms as DRF's defaults.
    "DEFAULT_PARSER_CLASSES": [
        "analytics.core.inputs.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "analytics.core.exception_handler.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "analytics.core.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
    # Client addresses for throttling: REMOTE_ADDR unless proxies are trusted, so a forged
    # X-Forwarded-For cannot reset a limit (the n-th address from the right is used).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    # Per user and per personal API key, reads and changes counted apart (analytics/accounts/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "analytics.accounts.throttling.ApiReadRateThrottle",
        "analytics.accounts.throttling.ApiWriteRateThrottle",
    ],
}
API_READ_RATE_LIMIT = env.API_READ_RATE_LIMIT.get()
API_WRITE_RATE_LIMIT = env.API_WRITE_RATE_LIMIT.get()
AUDIT_RETENTION_DAYS = env.AUDIT_RETENTION_DAYS.get()
# Self-service sign-up through POST /api/v1/auth/register; off: operators add users in the admin.
REGISTRATION_OPEN = env.REGISTRATION_OPEN.get()
# Login, register, refresh and logout share one per-address budget (in the cache: Redis in scale mode).
AUTH_RATE_LIMIT = env.AUTH_RATE_LIMIT.get()
AUTH_ACCOUNT_RATE_LIMIT = env.AUTH_ACCOUNT_RATE_LIMIT.get()
if env.API_BROWSABLE.get():
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.JWT_ACCESS_MINUTES.get()),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.JWT_REFRESH_DAYS.get()),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "ALGORITHM": "HS256",
    # A separate signing key lets operators invalidate every token without logging out sessions.
    "SIGNING_KEY": env.JWT_SIGNING_KEY.get(),
    "LEEWAY": 5,
    "CHECK_REVOKE_TOKEN": True,
    "REVOKE_TOKEN_CLAIM": "hash_password",
}

# Rotation: tokens signed with one of these still verify until they expire
# (analytics/accounts/tokens.py RotatingTokenBackend); new ones are signed with SIGNING_KEY.
JWT_PREVIOUS_SIGNING_KEYS = env.JWT_PREVIOUS_SIGNING_KEYS.get()

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
    "PREPROCESSING_HOOKS": [
        "analytics.ingestion.api.openapi.add_ingestion_endpoints",
        "analytics.ingestion.api.network_openapi.add_network_action_endpoints",
    ],
    # The prefix left out of operation ids and tags. Fixed, because drf-spectacular would
    # otherwise take the paths' common prefix, which the Segment paths (/v1/...) turn into "/".
    "SCHEMA_PATH_PREFIX": "/api",
    # Choice sets that share a field name with another set get their own component name.
    "ENUM_NAME_OVERRIDES": {
        "CalendarIntervalEnum": "analytics.query.presets.CALENDAR_INTERVALS",
        "QueryIntervalEnum": "analytics.query.model.INTERVALS",
        "AuditSourceEnum": "analytics.audit.models.AuditSource",
        # The trends answer's "source" keeps its name next to the audit log's.
        "SourceEnum": ["events", "rollup"],
    },
}

# CORS: the read/management API answers only the origins listed here. The ingestion paths
# (INGEST_CORS_PATH_REGEX) answer any origin, because any web page may embed the tracker;
# analytics.core.cors opens them per request. Cookies are never sent cross-origin.
CORS_ALLOWED_ORIGINS = env.CORS_ALLOWED_ORIGINS.get()
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
STATIC_ROOT = env.STATIC_ROOT.get()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on a missing root
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------------------
# Django database, event store (ClickHouse) and bus
# ------------------------------------------------------------------------------
# The Django database, parsed into DATABASES by embedded.py, scale.py or test.py. Read here, before
# the other services, so a bare scale mode names it first; the leading underscore keeps the URL
# (and its password) out of the settings, where debug pages would show it unmasked.
_DATABASE_URL = env.DATABASE_URL.get()

CLICKHOUSE_URL = env.CLICKHOUSE_URL.get()
CLICKHOUSE_CLUSTER = env.CLICKHOUSE_CLUSTER.get()
CLICKHOUSE_QUERY_TIMEOUT = env.CLICKHOUSE_QUERY_TIMEOUT.get()
CLICKHOUSE_CONNECT_TIMEOUT = env.CLICKHOUSE_CONNECT_TIMEOUT.get()
CLICKHOUSE_RETRIES = env.CLICKHOUSE_RETRIES.get()
# Result cache of query answers (analytics/query/cache.py).
QUERY_CACHE_TTL_SECONDS = env.QUERY_CACHE_TTL_SECONDS.get()

KAFKA_BOOTSTRAP_SERVERS = env.KAFKA_BOOTSTRAP_SERVERS.get()  # required in scale mode
KAFKA_EVENTS_TOPIC = env.KAFKA_EVENTS_TOPIC.get()
KAFKA_DEAD_LETTER_TOPIC = env.KAFKA_DEAD_LETTER_TOPIC.get()
KAFKA_PARTITIONS = env.KAFKA_PARTITIONS.get()
KAFKA_CONSUMER_GROUP = env.KAFKA_CONSUMER_GROUP.get()
KAFKA_PRODUCE_TIMEOUT = env.KAFKA_PRODUCE_TIMEOUT.get()

# Telecom providers (analytics/ingestion/network_stream.py, analytics/telecom, loadgen)
TELECOM_KAFKA_TOPIC = env.TELECOM_KAFKA_TOPIC.get()
TELECOM_KAFKA_PARTITIONS = env.TELECOM_KAFKA_PARTITIONS.get()
TELECOM_DEAD_LETTER_TOPIC = env.TELECOM_DEAD_LETTER_TOPIC.get()
TELECOM_CONSUMER_GROUP = env.TELECOM_CONSUMER_GROUP.get()
TELECOM_PROJECT_ID = env.TELECOM_PROJECT_ID.get()
GRPC_PORT = env.GRPC_PORT.get()
GRPC_ADDRESS = env.GRPC_ADDRESS.get()
GENERATOR_USER_COUNT = env.GENERATOR_USER_COUNT.get()
GENERATOR_EVENTS_PER_SEC = env.GENERATOR_EVENTS_PER_SEC.get()
GENERATOR_DURATION = env.GENERATOR_DURATION.get()
GENERATOR_BATCH_SIZE = env.GENERATOR_BATCH_SIZE.get()
GENERATOR_WORKERS = env.GENERATOR_WORKERS.get()
GENERATOR_VERIFY_INTERVAL = env.GENERATOR_VERIFY_INTERVAL.get()

# ------------------------------------------------------------------------------
# Ingestion limits
# ------------------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = env.INGEST_MAX_BODY_BYTES.get()
INGEST_MAX_EVENT_BYTES = env.INGEST_MAX_EVENT_BYTES.get()
INGEST_MAX_BATCH = env.INGEST_MAX_BATCH.get()
INGEST_RATE_LIMIT_PER_SECOND = env.INGEST_RATE_LIMIT_PER_SECOND.get()
# "auto": Redis when the cache is Redis (scale mode), else this process's memory (embedded).
INGEST_RATE_LIMIT_BACKEND = env.INGEST_RATE_LIMIT_BACKEND.get()
# Proxies (IPs or CIDRs) whose X-Forwarded-For is believed for the client IP of events.
TRUSTED_PROXIES = env.TRUSTED_PROXIES.get()
# Embedded batch writer: concurrent requests are coalesced into one insert (one part).
INGEST_FLUSH_INTERVAL_MS = env.INGEST_FLUSH_INTERVAL_MS.get()
INGEST_FLUSH_MAX_ROWS = env.INGEST_FLUSH_MAX_ROWS.get()
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES + 1024

# ------------------------------------------------------------------------------
# Demo data
# ------------------------------------------------------------------------------
DEMO_EVENTS = env.DEMO_EVENTS.get()

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
AGGREGATION_INSERT_VISIBILITY_SECONDS = env.AGGREGATION_INSERT_VISIBILITY_SECONDS.get()
# Seconds between scheduled aggregation dispatches (the PeriodicTask's initial interval).
AGGREGATION_INTERVAL_SECONDS = env.AGGREGATION_INTERVAL_SECONDS.get()
# Time limit of one rollup query in ClickHouse (a 1d/1mo bucket reads a whole day/month).
AGGREGATION_QUERY_TIMEOUT_SECONDS = env.AGGREGATION_QUERY_TIMEOUT_SECONDS.get()

# Segments (analytics/segments): materialise above this size; most rows of a CSV upload;
# how long retired versions and deleted segments' rows and sets outlive the queries naming them.
SEGMENT_MATERIALISE_THRESHOLD = env.SEGMENT_MATERIALISE_THRESHOLD.get()
SEGMENT_SET_GRACE_SECONDS = env.SEGMENT_SET_GRACE_SECONDS.get()
SEGMENT_IMPORT_MAX_ROWS = env.SEGMENT_IMPORT_MAX_ROWS.get()
SEGMENT_HISTORY_BUDGET_SECONDS = env.SEGMENT_HISTORY_BUDGET_SECONDS.get()

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
LOG_LEVEL = env.LOG_LEVEL.get()
LOG_FORMAT = env.LOG_FORMAT.get()
LOGGING_CONFIG = None  # configured by analytics.core.logging.configure_logging()

# When set, /metrics answers only requests with "Authorization: Bearer <METRICS_TOKEN>".
METRICS_TOKEN = env.METRICS_TOKEN.get()
METRICS_PROJECT_LABELS = env.METRICS_PROJECT_LABELS.get()

# ------------------------------------------------------------------------------
# Redis (always validated when given; required by scale mode)
# ------------------------------------------------------------------------------
REDIS_URL = env.REDIS_URL.get()
