"""Every environment variable the settings read, declared once.

A declaration carries the type, default (with readable text where it is computed),
validation, the modes/profiles where it matters (``scope``) and the description. The
settings read each one through its declaration (``PORT = env.PORT.get()``) and
``manage.py settings_doc`` prints README.md's table from this list, in this order.
``variants`` change a default, the accepted schemes or the checks in one mode or profile
(a profile's variant wins over a mode's).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from config.env import REQUIRED, Registry, Required, variant

BASE_DIR = Path(__file__).resolve().parent.parent

registry = Registry(mode="ANALYTICS_MODE", profile="ANALYTICS_PROFILE")


def _rate(value: str) -> str:
    """Validate a DRF-style rate such as ``30/min``."""
    count, _, period = value.partition("/")
    if not count.isdigit() or int(count) < 1 or period[:1] not in {"s", "m", "h", "d"}:
        raise ValueError(value)
    return value


def _dev_secret_key() -> str:
    """A random key kept under DATA_DIR so sessions survive restarts in dev."""
    data_dir = DATA_DIR.get()
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        path.chmod(0o600)
        return key


def _strong_secret_key(key: str) -> tuple[str, str] | None:
    # Never echo the key itself; describe it.
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-"):
        return (
            "at least 50 random characters (5+ distinct, not django-insecure-)",
            f"{len(key)} characters, {len(set(key))} distinct",
        )
    return None


# ------------------------------------------------------------------------------
# Mode and profile
# ------------------------------------------------------------------------------
ANALYTICS_MODE = registry.choice(
    "ANALYTICS_MODE",
    choices=("embedded", "scale"),
    default="embedded",
    doc="Which components run: `embedded` (SQLite, chDB, one process) or `scale` (PostgreSQL, ClickHouse server, Kafka, Redis).",
)
ANALYTICS_PROFILE = registry.choice(
    "ANALYTICS_PROFILE",
    choices=("dev", "test", "prod"),
    default="dev",
    doc="Safety level: `dev` (DEBUG, browsable API), `test`, `prod` (secure cookies, HSTS, required hosts and key).",
)
DATA_DIR = registry.path(
    "DATA_DIR",
    default=BASE_DIR / "var",
    default_doc="`./var`",
    doc="Where embedded mode keeps its data (SQLite, chDB, secret key, admin credentials).",
)

# ------------------------------------------------------------------------------
# Django: key, debug, hosts, server
# ------------------------------------------------------------------------------
SECRET_KEY = registry.text(
    "SECRET_KEY",
    default=_dev_secret_key,
    default_doc="random, kept in `$DATA_DIR/secret_key`",
    variants={
        "test": variant(default="test-only-secret-key-not-for-production"),
        "prod": variant(default=REQUIRED, expected="a long random string (50+ characters)", check=_strong_secret_key),
    },
    doc="Django's signing key; 50+ random characters in prod.",
)
DEBUG = registry.boolean(
    "DEBUG",
    default=False,
    variants={"dev": variant(default=True)},
    doc="Django debug pages; never in prod or test (forced off there).",
)
ALLOWED_HOSTS = registry.comma_list(
    "ALLOWED_HOSTS",
    default=("127.0.0.1", "localhost", "[::1]"),
    variants={"prod": variant(default=Required("required in prod"), expected="a comma-separated list of host names")},
    doc="Host names this server answers to (comma-separated); required in prod.",
)
HOST = registry.text("HOST", default="127.0.0.1", doc="Address `manage.py serve` binds to.")
PORT = registry.integer("PORT", default=8000, minimum=1, maximum=65535, doc="Port `manage.py serve` listens on.")
REQUEST_MAX_BODY_BYTES = registry.integer(
    "REQUEST_MAX_BODY_BYTES",
    default=1024 * 1024,
    minimum=1024,
    doc="Largest request body on every path but the event POSTs (those use `INGEST_MAX_BODY_BYTES`); "
    "a larger declared length gets 413 before a byte is read, a longer chunked body is cut off at the limit.",
)
SERVER_HEADER_TIMEOUT = registry.integer(
    "SERVER_HEADER_TIMEOUT",
    default=10,
    minimum=1,
    doc="Seconds `manage.py serve` gives a connection to send a request's line and headers, then closes it.",
)
SERVER_BODY_TIMEOUT = registry.integer(
    "SERVER_BODY_TIMEOUT",
    default=30,
    minimum=1,
    doc="Seconds a client has to send a whole request body once its headers are in; then 408 and the connection closes.",
)
SERVER_KEEPALIVE_TIMEOUT = registry.integer(
    "SERVER_KEEPALIVE_TIMEOUT",
    default=5,
    minimum=1,
    doc="Seconds an idle keep-alive connection stays open between requests.",
)
SERVER_MAX_CONNECTIONS_PER_ADDRESS = registry.integer(
    "SERVER_MAX_CONNECTIONS_PER_ADDRESS",
    default=128,
    minimum=0,
    doc="Open connections one client address may hold in one server process (more get 503 and are closed); "
    "0: no limit (behind a proxy every client shares its address: raise it or use 0 there).",
)

# ------------------------------------------------------------------------------
# Accounts and auth
# ------------------------------------------------------------------------------
TRUSTED_PROXY_COUNT = registry.integer(
    "TRUSTED_PROXY_COUNT",
    default=0,
    minimum=0,
    doc="How many proxies in front append to X-Forwarded-For (0: use the peer address; forged headers are ignored); "
    "in prod, X-Forwarded-Proto is believed only when it is above 0.",
)
REGISTRATION_OPEN = registry.boolean(
    "REGISTRATION_OPEN",
    default=True,
    doc="Self-service sign-up through POST /api/v1/auth/register; off: operators add users in the admin.",
)
AUTH_RATE_LIMIT = registry.parsed(
    "AUTH_RATE_LIMIT",
    default="30/min",
    parse=_rate,
    expected="a rate such as 30/min (per s|min|hour|day)",
    doc="Requests per client address to the auth endpoints (the login page, register, token, refresh, verify, "
    "logout), one shared budget.",
)
AUTH_ACCOUNT_RATE_LIMIT = registry.parsed(
    "AUTH_ACCOUNT_RATE_LIMIT",
    default="10/min",
    parse=_rate,
    expected="a rate such as 10/min (per s|min|hour|day)",
    doc="Log-in attempts per account (the email given), from any address: POST /api/v1/auth/token, the login page "
    "and the admin login, one shared budget (on top of `AUTH_RATE_LIMIT`).",
)
API_BROWSABLE = registry.boolean(
    "API_BROWSABLE",
    default=False,
    variants={"dev": variant(default=True)},
    doc="DRF's browsable HTML API (on in dev).",
)
JWT_ACCESS_MINUTES = registry.integer(
    "JWT_ACCESS_MINUTES", default=15, minimum=1, doc="Lifetime of a JWT access token, in minutes."
)
JWT_REFRESH_DAYS = registry.integer(
    "JWT_REFRESH_DAYS",
    default=14,
    minimum=1,
    doc="Lifetime of a JWT refresh token, in days (each refresh rotates it and blacklists the old one).",
)
JWT_SIGNING_KEY = registry.text(
    "JWT_SIGNING_KEY",
    default=lambda: SECRET_KEY.get(),
    default_doc="`$SECRET_KEY`",
    doc="Separate key for JWTs; changing it logs every API client out.",
)
JWT_PREVIOUS_SIGNING_KEYS = registry.comma_list(
    "JWT_PREVIOUS_SIGNING_KEYS",
    doc="Former JWT signing keys (comma-separated) still accepted for verification during a rotation; "
    "new tokens are signed with JWT_SIGNING_KEY only (docs/operations.md).",
)
API_READ_RATE_LIMIT = registry.parsed(
    "API_READ_RATE_LIMIT",
    default="1200/min",
    # The test profile: suites make many requests as one user; the limit's own tests set it.
    variants={"test": variant(default="100000/min")},
    parse=_rate,
    expected="a rate such as 1200/min (per s|min|hour|day)",
    doc="Read requests (GET/HEAD/OPTIONS) to the API per user, and separately per personal API key.",
)
API_WRITE_RATE_LIMIT = registry.parsed(
    "API_WRITE_RATE_LIMIT",
    default="120/min",
    # The test profile: suites make many requests as one user; the limit's own tests set it.
    variants={"test": variant(default="100000/min")},
    parse=_rate,
    expected="a rate such as 120/min (per s|min|hour|day)",
    doc="Changes (POST/PUT/PATCH/DELETE) through the management API per user, and separately per personal API key.",
)
AUDIT_RETENTION_DAYS = registry.integer(
    "AUDIT_RETENTION_DAYS",
    default=365,
    minimum=1,
    doc="Days the audit log keeps an entry; a daily task deletes older ones.",
)
CORS_ALLOWED_ORIGINS = registry.comma_list(
    "CORS_ALLOWED_ORIGINS",
    doc="Origins allowed to call the read/management API from a browser (ingestion accepts any origin).",
)
STATIC_ROOT = registry.path(
    "STATIC_ROOT",
    default=lambda: DATA_DIR.get() / "static",
    default_doc="`$DATA_DIR/static`",
    doc="Where `collectstatic` puts the static files (the Docker image bakes them in).",
)

# ------------------------------------------------------------------------------
# Django database, event store (ClickHouse) and bus
# ------------------------------------------------------------------------------
DATABASE_URL = registry.url(
    "DATABASE_URL",
    schemes=("sqlite", "postgres", "postgresql"),
    default=lambda: f"sqlite:///{DATA_DIR.get() / 'analytics.sqlite3'}",
    default_doc="`sqlite:///$DATA_DIR/analytics.sqlite3`",
    variants={
        "scale": variant(default=REQUIRED, schemes=("postgres", "postgresql")),
        "test": variant(default="postgres://postgres@127.0.0.1:5432/postgres", schemes=("postgres", "postgresql")),
    },
    doc="The Django database (`sqlite:///...` or `postgres://...`).",
)
CLICKHOUSE_URL = registry.url(
    "CLICKHOUSE_URL",
    schemes=("chdb", "clickhouse", "clickhouses"),
    default=lambda: f"chdb://{DATA_DIR.get() / 'chdb'}",
    default_doc="`chdb://$DATA_DIR/chdb`",
    variants={
        "test": variant(
            default=lambda: "chdb://" + os.path.join(tempfile.gettempdir(), f"analytics-test-chdb-{_test_run_id()}"),
            default_doc="`chdb://$TMPDIR/analytics-test-chdb-$ANALYTICS_TEST_RUN_ID`",
        )
    },
    doc="Event store: `chdb://<dir>` (in process) or `clickhouse[s]://user:password@host:port/database`.",
)
CLICKHOUSE_CLUSTER = registry.optional_text(
    "CLICKHOUSE_CLUSTER", doc="ClickHouse cluster name for `ON CLUSTER` DDL (replicated tables)."
)
CLICKHOUSE_QUERY_TIMEOUT = registry.integer(
    "CLICKHOUSE_QUERY_TIMEOUT", default=30, minimum=1, doc="Seconds a ClickHouse query may run."
)
CLICKHOUSE_CONNECT_TIMEOUT = registry.integer(
    "CLICKHOUSE_CONNECT_TIMEOUT", default=5, minimum=1, doc="Seconds to connect to ClickHouse."
)
CLICKHOUSE_RETRIES = registry.integer(
    "CLICKHOUSE_RETRIES", default=3, minimum=0, doc="Retries of a failed idempotent store operation."
)

KAFKA_BOOTSTRAP_SERVERS = registry.optional_text(
    "KAFKA_BOOTSTRAP_SERVERS",
    variants={
        "scale": variant(
            default=Required("required in scale mode"), expected="host:port[,host:port] of the Kafka brokers"
        )
    },
    doc="Kafka brokers `host:port[,host:port]`; required in scale mode.",
)
KAFKA_EVENTS_TOPIC = registry.text(
    "KAFKA_EVENTS_TOPIC", default="events", doc="Topic of accepted events (keyed by user id)."
)
KAFKA_DEAD_LETTER_TOPIC = registry.text(
    "KAFKA_DEAD_LETTER_TOPIC",
    default="events_dead_letter",
    doc="Topic of events that can never be stored, with the reason.",
)
KAFKA_PARTITIONS = registry.integer("KAFKA_PARTITIONS", default=6, minimum=1, doc="Partitions of the events topic.")
KAFKA_CONSUMER_GROUP = registry.text(
    "KAFKA_CONSUMER_GROUP", default="analytics-events", doc="Consumer group of `consume_events`."
)
KAFKA_PRODUCE_TIMEOUT = registry.integer(
    "KAFKA_PRODUCE_TIMEOUT",
    default=10,
    minimum=1,
    doc="Seconds the API waits for the broker's acknowledgement before answering 503.",
)

# ------------------------------------------------------------------------------
# Telecom providers: the network-actions source topic, gRPC, the load generator
# ------------------------------------------------------------------------------
TELECOM_KAFKA_TOPIC = registry.text(
    "TELECOM_KAFKA_TOPIC",
    default="events.telecom",
    doc="Source topic of the providers' network actions (their own shape, keyed by `user_id`), "
    "read by `consume_events --stream network-actions`.",
)
TELECOM_KAFKA_PARTITIONS = registry.integer(
    "TELECOM_KAFKA_PARTITIONS", default=8, minimum=1, doc="Partitions of the network-actions topic when it is created."
)
TELECOM_DEAD_LETTER_TOPIC = registry.text(
    "TELECOM_DEAD_LETTER_TOPIC",
    default="events.telecom_dead_letter",
    doc="Topic of network actions that were refused (invalid) or can never be stored, with the reason.",
)
TELECOM_CONSUMER_GROUP = registry.text(
    "TELECOM_CONSUMER_GROUP", default="analytics-telecom", doc="Consumer group of the network-actions stream."
)
TELECOM_PROJECT_ID = registry.integer(
    "TELECOM_PROJECT_ID",
    default=0,
    minimum=0,
    doc="The project the network-actions topic is bound to (0: unbound; the stream refuses to start).",
)
GRPC_PORT = registry.integer(
    "GRPC_PORT", default=9090, minimum=1, doc="Port of `manage.py serve_grpc` (the providers' read API over gRPC)."
)
GRPC_ADDRESS = registry.text(
    "GRPC_ADDRESS", default="127.0.0.1", doc="Address `manage.py serve_grpc` listens on (`0.0.0.0` for all)."
)
GENERATOR_USER_COUNT = registry.integer(
    "GENERATOR_USER_COUNT", default=10_000, minimum=1, doc="`loadgen`: distinct users to draw from (`--users`)."
)
GENERATOR_EVENTS_PER_SEC = registry.integer(
    "GENERATOR_EVENTS_PER_SEC",
    default=0,
    minimum=0,
    doc="`loadgen`: events per second over all workers, 0 = as fast as possible (`--rate`).",
)
GENERATOR_DURATION = registry.integer(
    "GENERATOR_DURATION",
    default=0,
    minimum=0,
    doc="`loadgen`: seconds to run, 0 = until stopped (`--duration`; `--events` counts instead).",
)
GENERATOR_BATCH_SIZE = registry.integer(
    "GENERATOR_BATCH_SIZE", default=100, minimum=1, doc="`loadgen`: events per request or Kafka flush (`--batch-size`)."
)
GENERATOR_WORKERS = registry.integer(
    "GENERATOR_WORKERS", default=2, minimum=1, doc="`loadgen`: worker processes (`--workers`)."
)
GENERATOR_VERIFY_INTERVAL = registry.integer(
    "GENERATOR_VERIFY_INTERVAL",
    default=10,
    minimum=1,
    doc="`loadgen --mode kafka --verify`: seconds between checks of the store while it runs.",
)

# ------------------------------------------------------------------------------
# Ingestion limits
# ------------------------------------------------------------------------------
INGEST_MAX_BODY_BYTES = registry.integer(
    "INGEST_MAX_BODY_BYTES", default=5 * 1024 * 1024, minimum=1024, doc="Largest request body; larger gets 413."
)
INGEST_MAX_EVENT_BYTES = registry.integer(
    "INGEST_MAX_EVENT_BYTES",
    default=32 * 1024,
    minimum=256,
    doc="Largest single event; a larger one is rejected by index, the rest of the batch is kept.",
)
INGEST_MAX_BATCH = registry.integer("INGEST_MAX_BATCH", default=1000, minimum=1, doc="Most events in one request.")
INGEST_RATE_LIMIT_PER_SECOND = registry.integer(
    "INGEST_RATE_LIMIT_PER_SECOND",
    default=20_000,
    minimum=1,
    doc="Default events per second per project key (a project can override it).",
)
INGEST_RATE_LIMIT_BACKEND = registry.choice(
    "INGEST_RATE_LIMIT_BACKEND",
    choices=("auto", "redis", "local"),
    default="auto",
    doc="Where ingestion rate limits are counted; `auto`: Redis when the cache is Redis (scale mode), "
    "else this process's memory (embedded).",
)
TRUSTED_PROXIES = registry.comma_list(
    "TRUSTED_PROXIES",
    doc="Proxies (IPs or CIDRs) whose X-Forwarded-For is believed for the client IP of events.",
)
INGEST_FLUSH_INTERVAL_MS = registry.integer(
    "INGEST_FLUSH_INTERVAL_MS",
    default=50,
    minimum=0,
    maximum=5000,
    doc="Embedded batch writer: milliseconds between inserts while requests keep arriving; concurrent requests "
    "are coalesced into one insert (one part).",
)
INGEST_FLUSH_MAX_ROWS = registry.integer(
    "INGEST_FLUSH_MAX_ROWS",
    default=20_000,
    minimum=1,
    doc="Embedded batch writer: queued rows that start an insert at once, and the most rows in one insert.",
)

# ------------------------------------------------------------------------------
# Demo data, aggregation
# ------------------------------------------------------------------------------
DEMO_EVENTS = registry.integer(
    "DEMO_EVENTS",
    default=300_000,
    minimum=0,
    doc="Demo events `make run` loads into an empty store on first start (0: none).",
)
AGGREGATION_INSERT_VISIBILITY_SECONDS = registry.integer(
    "AGGREGATION_INSERT_VISIBILITY_SECONDS",
    default=5,
    minimum=0,
    doc="How long an insert may take to become visible in ClickHouse; the aggregation's inserted-at watermark "
    "stays this far behind ClickHouse's clock.",
)
AGGREGATION_INTERVAL_SECONDS = registry.integer(
    "AGGREGATION_INTERVAL_SECONDS",
    default=5,
    minimum=1,
    doc="Seconds between scheduled aggregation dispatches (the PeriodicTask's initial interval).",
)
AGGREGATION_QUERY_TIMEOUT_SECONDS = registry.integer(
    "AGGREGATION_QUERY_TIMEOUT_SECONDS",
    default=600,
    minimum=1,
    doc="Time limit of one rollup query in ClickHouse (a 1d/1mo bucket reads a whole day/month).",
)
QUERY_CACHE_TTL_SECONDS = registry.integer(
    "QUERY_CACHE_TTL_SECONDS",
    default=900,
    minimum=0,
    doc="How long a query answer (trends, presets, saved reports) stays in the result cache; new events "
    "invalidate it at once (0: no cache).",
)
SEGMENT_MATERIALISE_THRESHOLD = registry.integer(
    "SEGMENT_MATERIALISE_THRESHOLD",
    default=10_000,
    minimum=0,
    doc="Members above which the refresh task materialises a segment into ClickHouse; smaller segments are "
    "computed at query time.",
)
SEGMENT_SET_GRACE_SECONDS = registry.integer(
    "SEGMENT_SET_GRACE_SECONDS",
    default=lambda: 4 * CLICKHOUSE_QUERY_TIMEOUT.get(),
    default_doc="4 times `$CLICKHOUSE_QUERY_TIMEOUT`",
    minimum=0,
    doc="How long a segment's retired membership (a version flipped away from, a deleted segment's rows and "
    "sets) is kept for queries that named it just before; longer than any query can take.",
)
SEGMENT_HISTORY_BUDGET_SECONDS = registry.integer(
    "SEGMENT_HISTORY_BUDGET_SECONDS",
    default=120,
    minimum=0,
    doc="Time one run of the segments' history back-fill task may spend computing past days' sizes (it resumes "
    "where it stopped at the next run; 0: no back-fill).",
)
SEGMENT_IMPORT_MAX_ROWS = registry.integer(
    "SEGMENT_IMPORT_MAX_ROWS",
    default=1_000_000,
    minimum=1,
    doc="Most rows of one CSV upload of distinct ids into a static segment.",
)

# ------------------------------------------------------------------------------
# Logging, metrics, Redis
# ------------------------------------------------------------------------------
LOG_LEVEL = registry.choice(
    "LOG_LEVEL",
    choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    default="INFO",
    doc="Least severe level written (the test profile always uses `WARNING`).",
)
LOG_FORMAT = registry.choice(
    "LOG_FORMAT",
    choices=("json", "console"),
    default="json",
    doc="`json` lines (default) or `console` for reading by eye.",
)
METRICS_TOKEN = registry.optional_text(
    "METRICS_TOKEN",
    doc="When set, /metrics answers only requests with `Authorization: Bearer <METRICS_TOKEN>`.",
)
METRICS_PROJECT_LABELS = registry.boolean(
    "METRICS_PROJECT_LABELS",
    default=False,
    doc="Show per-project series (which name project ids) on /metrics without `METRICS_TOKEN`; "
    "with the token set they are always shown.",
)
REDIS_URL = registry.url(
    "REDIS_URL",
    schemes=("redis", "rediss", "unix"),
    default="redis://127.0.0.1:6379/0",
    doc="Redis for cache, rate limits, live counters and the Channels layer (scale and test); "
    "always validated when given.",
)

# ------------------------------------------------------------------------------
# Scale mode
# ------------------------------------------------------------------------------
DATABASE_CONN_MAX_AGE = registry.integer(
    "DATABASE_CONN_MAX_AGE",
    scope="scale",
    default=60,
    minimum=0,
    doc="Seconds a PostgreSQL connection is reused.",
)
CELERY_BROKER_URL = registry.text(
    "CELERY_BROKER_URL",
    scope="scale",
    default=lambda: REDIS_URL.get(),
    default_doc="`$REDIS_URL`",
    doc="Celery's broker in scale mode.",
)

# ------------------------------------------------------------------------------
# Prod profile
# ------------------------------------------------------------------------------
CSRF_TRUSTED_ORIGINS = registry.comma_list(
    "CSRF_TRUSTED_ORIGINS",
    scope="prod",
    doc="Origins trusted for form posts over HTTPS (`https://analytics.example.com`).",
)
SECURE_COOKIES = registry.boolean(
    "SECURE_COOKIES",
    scope="prod",
    default=True,
    doc="Session and CSRF cookies only over HTTPS; turn off only for a plain-HTTP trial.",
)
SECURE_SSL_REDIRECT = registry.boolean(
    "SECURE_SSL_REDIRECT",
    scope="prod",
    default=True,
    doc="Redirect HTTP to HTTPS (probes `/healthz`, `/readyz`, `/metrics` are exempt).",
)
SECURE_HSTS_SECONDS = registry.integer(
    "SECURE_HSTS_SECONDS",
    scope="prod",
    default=31_536_000,
    minimum=0,
    doc="HSTS max-age sent with HTTPS responses.",
)


# ------------------------------------------------------------------------------
# Test profile
# ------------------------------------------------------------------------------
def _test_run_id() -> str:
    # Declared further down (in README order); resolved only when a default is computed.
    return ANALYTICS_TEST_RUN_ID.get()


ANALYTICS_TEST_RUN_ID = registry.text(
    "ANALYTICS_TEST_RUN_ID",
    scope="test",
    default=lambda: str(os.getpid()),
    default_doc="the process id",
    doc="Names this test run's PostgreSQL test database, Redis key prefix and chDB directory, so two suites on "
    "one machine never share state; set by the settings for child processes to inherit.",
)
