"""Writes for ingestion metadata: event schemas, including the ready telecom schema."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from analytics.accounts.models import Project
from analytics.core.errors import ApplicationError
from analytics.ingestion.models import EventSchema
from analytics.ingestion.schema_checks import validate_spec
from analytics.ingestion.selectors import forget_local

_TELECOM_TYPES = {
    "duration_sec": "number",
    "bytes_up": "integer",
    "bytes_down": "integer",
    "started_at": "datetime",
    "ended_at": "datetime",
    "meta": "object",
}


def _telecom(*required: str) -> dict[str, dict[str, Any]]:
    return {name: {"type": type_name, "required": name in required} for name, type_name in _TELECOM_TYPES.items()}


_CALL = _telecom("duration_sec", "started_at", "ended_at")
_SMS = _telecom("started_at")
_DATA = _telecom("duration_sec", "bytes_up", "bytes_down", "started_at", "ended_at")
# The telecom example domain: a subscriber's network actions.
TELECOM_SCHEMAS: dict[str, dict[str, dict[str, Any]]] = {
    "CALL_OUT": _CALL,
    "CALL_IN": _CALL,
    "SMS_SENT": _SMS,
    "SMS_RECEIVED": _SMS,
    "DATA": _DATA,
}


def event_schema_register(*, project: Project, event_name: str, properties: Any, description: str = "") -> EventSchema:
    """Create or replace the schema of ``event_name`` in ``project``."""
    if not isinstance(event_name, str) or not 1 <= len(event_name) <= 200:
        raise ApplicationError("event_name must be 1 to 200 characters")
    try:
        clean = validate_spec(properties)
    except ValueError as error:
        raise ApplicationError(str(error)) from None
    schema, _ = EventSchema.objects.update_or_create(
        project=project, event_name=event_name, defaults={"properties": clean, "description": description[:500]}
    )
    forget_local(project_id=project.id)
    return schema


def event_schema_delete(*, schema: EventSchema) -> None:
    project_id = schema.project_id
    schema.delete()
    forget_local(project_id=project_id)


@transaction.atomic
def telecom_schema_install(*, project: Project) -> list[EventSchema]:
    """Install (or refresh) the telecom network-action schemas on ``project``."""
    return [
        event_schema_register(
            project=project, event_name=name, properties=spec, description="Telecom network action (ready schema)"
        )
        for name, spec in TELECOM_SCHEMAS.items()
    ]
