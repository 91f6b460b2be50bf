"""JSON-lines logging through structlog, for both structlog and stdlib loggers.

Log calls use event-style names and keyword context, never f-strings:
``logger.info("ingest.batch.accepted", extra={"accepted": 100})`` or
``log.info("ingest.batch.accepted", accepted=100)``. The request middleware binds
``request_id``, ``project_id`` and ``user_id`` into contextvars, so every line
logged while serving a request carries them.
"""

from __future__ import annotations

import logging
import logging.config
import re
from typing import Any

import structlog
from django.conf import settings

# Values under these keys are replaced before a line is written (RELIABILITY 17).
_SECRET_KEY_PATTERN = re.compile(r"(pass(word)?|secret|token|api_?key|write_?key|authorization|cookie)", re.I)
# uvicorn adds color_message (the message with terminal colours) to its records.
_STANDARD_RECORD_KEYS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


# Secrets that can turn up inside a value (an exception message, a header dump): personal
# API keys, JWTs, and credentials in URLs.
_SECRET_VALUE_PATTERNS = (
    (re.compile(r"pak_[A-Za-z0-9_-]{8,}"), "pak_[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (re.compile(r"(://[^/\s:@]*):[^/\s@]+@"), r"\1:[redacted]@"),
)
# dedup_token names a batch (topic/partition/offsets); it is not a credential.
_NOT_SECRET_KEYS = frozenset({"event", "dedup_token", "tokens"})


def redact_text(text: str) -> str:
    """Replace secrets that appear inside free text."""
    for pattern, replacement in _SECRET_VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_secrets(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event_dict.items()):
        if key not in _NOT_SECRET_KEYS and _SECRET_KEY_PATTERN.search(key):
            event_dict[key] = "[redacted]"
        elif isinstance(value, str):
            event_dict[key] = redact_text(value)
    return event_dict


def _merge_stdlib_extra(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Lift ``extra={...}`` of stdlib log calls into the JSON object."""
    record = event_dict.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _STANDARD_RECORD_KEYS and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


_configured = False


def configure_logging() -> None:
    """Route stdlib and structlog records through one JSON-lines formatter (idempotent)."""
    global _configured
    if _configured:
        return
    _configured = True
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.LOG_FORMAT == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structured": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "foreign_pre_chain": [*shared, _merge_stdlib_extra],
                    "processors": [
                        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                        structlog.processors.format_exc_info,
                        _redact_secrets,
                        renderer,
                    ],
                }
            },
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
            "root": {"handlers": ["console"], "level": settings.LOG_LEVEL},
            "loggers": {
                "django.db.backends": {"level": "WARNING"},
                "uvicorn.access": {"level": "WARNING"},
                "kafka": {"level": "WARNING"},
            },
        }
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger: ``log.info("event.name", key=value)``."""
    return structlog.stdlib.get_logger(name)
