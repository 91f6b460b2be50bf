"""The table of environment variables, read from the settings source itself.

Every setting is read through a ``config.env`` helper (``env_int("PORT", 8000, ...)``), so
the source is the single list of variables: name, type, default, and the comment above the
line. ``manage.py settings_doc`` prints it as the Markdown table that README.md carries;
a test keeps the two in step.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

# Where a variable is read decides when it matters.
_SCOPE = {"base.py": "all", "embedded.py": "embedded", "scale.py": "scale", "prod.py": "prod", "test.py": "test"}
# Defaults whose source expression is not meant for readers.
_READABLE_DEFAULTS = {
    "DATA_DIR": "`./var`",
    "CLICKHOUSE_URL": "`chdb://$DATA_DIR/chdb`",
    "STATIC_ROOT": "`$DATA_DIR/static`",
    "DATABASE_URL": "embedded: `sqlite:///$DATA_DIR/analytics.sqlite3`; scale: required; test: local PostgreSQL",
    "CELERY_BROKER_URL": "`$REDIS_URL`",
    "JWT_SIGNING_KEY": "`$SECRET_KEY`",
    "SECRET_KEY": "dev: random, kept in `$DATA_DIR/secret_key`; prod: required",
    "DEBUG": "`true` in dev, else `false`",
    "API_BROWSABLE": "`true` in dev, else `false`",
}
# Descriptions for variables whose source line has no comment above it.
_DESCRIPTIONS = {
    "ANALYTICS_MODE": "Which components run: `embedded` (SQLite, chDB, one process) or `scale` (PostgreSQL, ClickHouse server, Kafka, Redis).",
    "ANALYTICS_PROFILE": "Safety level: `dev` (DEBUG, browsable API), `test`, `prod` (secure cookies, HSTS, required hosts and key).",
    "DATA_DIR": "Where embedded mode keeps its data (SQLite, chDB, secret key, admin credentials).",
    "SECRET_KEY": "Django's signing key; 50+ random characters in prod.",
    "DEBUG": "Django debug pages; never in prod (forced off there).",
    "ALLOWED_HOSTS": "Host names this server answers to (comma-separated); required in prod.",
    "HOST": "Address `manage.py serve` binds to.",
    "PORT": "Port `manage.py serve` listens on.",
    "API_BROWSABLE": "DRF's browsable HTML API (on in dev).",
    "JWT_ACCESS_MINUTES": "Lifetime of a JWT access token.",
    "JWT_REFRESH_DAYS": "Lifetime of a JWT refresh token (each refresh rotates it and blacklists the old one).",
    "JWT_SIGNING_KEY": "Separate key for JWTs; changing it logs every API client out.",
    "TRUSTED_PROXY_COUNT": "How many proxies in front append to X-Forwarded-For (0: use the peer address; forged headers are ignored).",
    "AUTH_RATE_LIMIT": "Requests per client address to the auth endpoints (register, token, refresh, verify, logout).",
    "CORS_ALLOWED_ORIGINS": "Origins allowed to call the read/management API from a browser (ingestion accepts any origin).",
    "CLICKHOUSE_URL": "Event store: `chdb://<dir>` (in process) or `clickhouse[s]://user:password@host:port/database`.",
    "CLICKHOUSE_CLUSTER": "ClickHouse cluster name for `ON CLUSTER` DDL (replicated tables).",
    "CLICKHOUSE_QUERY_TIMEOUT": "Seconds a ClickHouse query may run.",
    "CLICKHOUSE_CONNECT_TIMEOUT": "Seconds to connect to ClickHouse.",
    "CLICKHOUSE_RETRIES": "Retries of a failed idempotent store operation.",
    "KAFKA_BOOTSTRAP_SERVERS": "Kafka brokers `host:port[,host:port]`; required in scale mode.",
    "KAFKA_EVENTS_TOPIC": "Topic of accepted events (keyed by user id).",
    "KAFKA_DEAD_LETTER_TOPIC": "Topic of events that can never be stored, with the reason.",
    "KAFKA_PARTITIONS": "Partitions of the events topic.",
    "KAFKA_CONSUMER_GROUP": "Consumer group of `consume_events`.",
    "KAFKA_PRODUCE_TIMEOUT": "Seconds the API waits for the broker's acknowledgement before answering 503.",
    "INGEST_MAX_BODY_BYTES": "Largest request body; larger gets 413.",
    "INGEST_MAX_EVENT_BYTES": "Largest single event; a larger one is rejected by index, the rest of the batch is kept.",
    "INGEST_MAX_BATCH": "Most events in one request.",
    "INGEST_RATE_LIMIT_PER_SECOND": "Default events per second per project key (a project can override it).",
    "DEMO_EVENTS": "Demo events `make run` loads into an empty store on first start (0: none).",
    "LOG_LEVEL": "Least severe level written.",
    "LOG_FORMAT": "`json` lines (default) or `console` for reading by eye.",
    "REDIS_URL": "Redis for cache, rate limits, live counters and the Channels layer (scale and test).",
    "DATABASE_URL": "The Django database (`sqlite:///...` or `postgres://...`).",
    "DATABASE_CONN_MAX_AGE": "Seconds a PostgreSQL connection is reused.",
    "CELERY_BROKER_URL": "Celery's broker in scale mode.",
    "CSRF_TRUSTED_ORIGINS": "Origins trusted for form posts over HTTPS (`https://analytics.example.com`).",
    "SECURE_SSL_REDIRECT": "Redirect HTTP to HTTPS (probes `/healthz`, `/readyz`, `/metrics` are exempt).",
    "SECURE_COOKIES": "Session and CSRF cookies only over HTTPS; turn off only for a plain-HTTP trial.",
    "SECURE_HSTS_SECONDS": "HSTS max-age sent with HTTPS responses.",
    "STATIC_ROOT": "Where `collectstatic` puts the static files (the Docker image bakes them in).",
}


@dataclass(frozen=True)
class EnvVariable:
    name: str
    kind: str
    default: str
    scope: str
    description: str


def _kind(call: ast.Call) -> str:
    helper = call.func.id if isinstance(call.func, ast.Name) else ""
    keywords = {keyword.arg: keyword.value for keyword in call.keywords}
    if helper == "env_choice" and len(call.args) > 1 and isinstance(call.args[1], ast.Tuple | ast.List):
        return " \\| ".join(f"`{element.value!s}`" for element in call.args[1].elts if isinstance(element, ast.Constant))
    if helper == "env_int":
        bounds = [f"{label} {ast.unparse(keywords[key])}" for key, label in (("minimum", "≥"), ("maximum", "≤")) if key in keywords]
        return "integer" + (f" ({', '.join(bounds)})" if bounds else "")
    if helper == "env_url" and "schemes" in keywords:
        schemes = ast.literal_eval(keywords["schemes"])
        return "URL (" + ", ".join(f"`{scheme}://`" for scheme in schemes) + ")"
    if helper == "env_parsed" and "expected" in keywords:
        return str(ast.literal_eval(keywords["expected"]))
    return {
        "env_bool": "boolean",
        "env_list": "comma-separated list",
        "env_float": "number",
        "env_optional": "text (optional)",
        "env_str": "text",
    }.get(helper, "text")


def _default(call: ast.Call, name: str) -> str:
    if name in _READABLE_DEFAULTS:
        return _READABLE_DEFAULTS[name]
    helper = call.func.id if isinstance(call.func, ast.Name) else ""
    position = 2 if helper == "env_choice" else 1
    if helper == "env_optional":
        return "unset"
    if len(call.args) <= position:
        return "required" if helper in ("env_str", "env_url") else "empty"
    node = call.args[position]
    try:
        value = _constant(node)
    except ValueError:
        return f"`{ast.unparse(node)}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int):
        return f"`{value:,}`" if value >= 10_000 else f"`{value}`"
    if isinstance(value, list | tuple):
        return "`" + ",".join(map(str, value)) + "`" if value else "empty"
    return f"`{value}`"


def _constant(node: ast.expr) -> object:
    """A literal, or integer arithmetic on literals (``5 * 1024 * 1024``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Add):
        left, right = _constant(node.left), _constant(node.right)
        if isinstance(left, int) and isinstance(right, int):
            return left * right if isinstance(node.op, ast.Mult) else left + right
        raise ValueError(ast.unparse(node))
    return ast.literal_eval(node)


def _comment_above(lines: list[str], line_number: int) -> str:
    """The comment block above the line, or above the block of code the line belongs to."""
    index = line_number - 2
    while index >= 0 and lines[index].strip() and not lines[index].strip().startswith("#"):
        index -= 1  # a comment may describe a few related lines at once
    comments: list[str] = []
    while index >= 0 and lines[index].strip().startswith("#"):
        comments.insert(0, lines[index].strip().lstrip("#").strip())
        index -= 1
    if (index >= 0 and lines[index].strip().startswith("# ---")) or any(c.startswith("---") for c in comments):
        return ""  # a section heading, not a description
    return " ".join(comments)


def environment_variables(config_dir: Path = CONFIG_DIR) -> list[EnvVariable]:
    """Every variable the settings read, once (the first place it is read wins)."""
    found: dict[str, EnvVariable] = {}
    order = ["base.py", "embedded.py", "scale.py", "prod.py", "test.py"]
    paths = sorted((config_dir / "settings").glob("*.py"), key=lambda p: order.index(p.name) if p.name in order else 99)
    for path in paths:
        source = path.read_text()
        lines = source.splitlines()
        statements = {node.lineno: node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt)}
        calls = sorted(
            (node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)), key=lambda node: node.lineno
        )
        for node in calls:
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.startswith("env_")):
                continue
            if not node.args or not isinstance(node.args[0], ast.Constant) or not isinstance(node.args[0].value, str):
                continue
            name = node.args[0].value
            statement_line = max((line for line in statements if line <= node.lineno), default=node.lineno)
            description = _DESCRIPTIONS.get(name) or _comment_above(lines, statement_line)
            scope = _SCOPE.get(path.name, "all")
            if name in found:
                if found[name].scope != scope and scope not in found[name].scope:
                    existing = found[name]
                    found[name] = EnvVariable(name, existing.kind, existing.default, f"{existing.scope}, {scope}", existing.description)
                continue
            found[name] = EnvVariable(name, _kind(node), _default(node, name), scope, description)
    return list(found.values())


def markdown_table(variables: list[EnvVariable] | None = None) -> str:
    """The README table of environment variables."""
    rows = ["| Variable | Type | Default | Used in | What it does |", "|---|---|---|---|---|"]
    for variable in variables or environment_variables():
        description = variable.description.replace("|", "\\|") or "—"
        kind = variable.kind if "\\|" in variable.kind else variable.kind.replace("|", "\\|")
        rows.append(f"| `{variable.name}` | {kind} | {variable.default} | {variable.scope} | {description} |")
    return "\n".join(rows)
