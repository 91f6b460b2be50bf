"""Reads of the privacy app: requests, suppression, settings, a person's identity and export."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet

from analytics.accounts.models import Project
from analytics.core.errors import NotFound
from analytics.core.timeutils import from_epoch_ms, utc_now
from analytics.privacy.hashing import id_hash
from analytics.privacy.models import DeletionRequest, PrivacySettings, SuppressedId
from analytics.privacy.policy import IngestionPolicy
from analytics.privacy.queries import persons as queries
from analytics.query.compiler.sessions import SessionRules
from analytics.streams.queries.persons import current_person_ids
from analytics.warehouse.identity import person_id_for
from analytics.warehouse.store import EventStore

EXPORT_MAX_EVENTS = 100_000


def deletion_get(*, project: Project, deletion_id: str) -> DeletionRequest:
    """A deletion request of this project; 404 for another project's or a malformed id."""
    try:
        return DeletionRequest.objects.get(project=project, pk=deletion_id)
    except (DeletionRequest.DoesNotExist, DjangoValidationError, ValueError, TypeError):
        raise NotFound("deletion request not found") from None


def deletions_for_project(*, project: Project) -> QuerySet[DeletionRequest]:
    return DeletionRequest.objects.filter(project=project).order_by("-created_at")


def suppressed_ids_for_project(*, project: Project) -> QuerySet[SuppressedId]:
    return SuppressedId.objects.filter(project=project).order_by("-created_at")


def privacy_settings_find(*, project_id: int) -> PrivacySettings | None:
    return PrivacySettings.objects.filter(project_id=project_id).first()


def is_suppressed(*, project: Project, distinct_id: str) -> bool:
    settings = privacy_settings_find(project_id=project.id)
    if settings is None:
        return False
    return SuppressedId.objects.filter(project=project, id_hash=id_hash(settings.salt, distinct_id)).exists()


def ingestion_policy_read(project_id: int) -> IngestionPolicy | None:
    """The project's ingestion rules from the database; None when it has none."""
    settings = privacy_settings_find(project_id=project_id)
    if settings is None:
        return None
    suppressed = frozenset(SuppressedId.objects.filter(project_id=project_id).values_list("id_hash", flat=True))
    policy = IngestionPolicy(
        salt=settings.salt,
        suppressed=suppressed,
        drop=frozenset(settings.drop_properties or ()),
        hash=frozenset(settings.hash_properties or ()),
    )
    return None if policy.empty else policy


Subject = queries.PersonScope


def subject_resolve(*, store: EventStore, project_id: int, distinct_id: str) -> Subject:
    """The person of ``distinct_id`` now, with all the ids merged into them (and the person
    ids those ids had before a merge: their events still carry them)."""
    current = current_person_ids(store, project_id=project_id, distinct_ids=[distinct_id])
    distinct_ids = {distinct_id}
    person_ids = {
        current.get(distinct_id) or person_id_for(project_id, distinct_id),
        person_id_for(project_id, distinct_id),
    }
    for _ in range(3):  # a merge chain closes in one or two rounds; bounded regardless
        scope = Subject(project_id, sorted(distinct_ids), sorted(person_ids))
        rows = store.query(queries.identity_rows(scope)).rows()
        found_ids = distinct_ids | {str(row[0]) for row in rows}
        found_persons = person_ids | {str(row[1]) for row in rows} | {person_id_for(project_id, d) for d in found_ids}
        if found_ids == distinct_ids and found_persons == person_ids:
            break
        distinct_ids, person_ids = found_ids, found_persons
    return Subject(project_id=project_id, distinct_ids=sorted(distinct_ids), person_ids=sorted(person_ids))


def remaining_rows(*, store: EventStore, subject: Subject) -> dict[str, int]:
    """Rows of the subject still stored: {"events", "network_actions", "persons", "identities"}."""
    rows = store.query(queries.remaining_rows(subject)).dicts()
    first = rows[0] if rows else {}
    keys = ("events", "network_actions", "persons", "identities")
    return {key: int(first.get(f"{key}_left") or 0) for key in keys}


def _iso(epoch_ms: Any) -> str | None:
    return from_epoch_ms(int(epoch_ms)).isoformat() if epoch_ms is not None else None


def _event_json(row: dict[str, Any]) -> dict[str, Any]:
    event = {key.removeprefix("export_"): value for key, value in row.items()}
    event["timestamp"] = _iso(event["timestamp"])
    event["received_at"] = _iso(event["received_at"])
    try:
        event["properties"] = orjson.loads(row["properties"] or "{}")
    except orjson.JSONDecodeError:
        event["properties"] = row["properties"]
    return event


def _session_json(row: dict[str, Any]) -> dict[str, Any]:
    session = {key: value for key, value in row.items() if key not in ("start_ms", "end_ms")}
    session["started_at"] = _iso(row["start_ms"])
    session["ended_at"] = _iso(row["end_ms"])
    session["duration_seconds"] = float(row["duration_seconds"])
    return session


def person_export(
    *, store: EventStore, project: Project, distinct_id: str, max_events: int = EXPORT_MAX_EVENTS
) -> dict[str, Any]:
    """Everything stored about the person of ``distinct_id`` as JSON-able data: identities,
    person properties, sessions and events (oldest first; ``events_complete`` is false when
    more than ``max_events`` exist)."""
    subject = subject_resolve(store=store, project_id=project.id, distinct_id=distinct_id)
    events = store.query(queries.export_events(subject, limit=max_events + 1)).dicts()
    persons = store.query(queries.export_persons(subject)).dicts()
    sessions = store.query(queries.export_sessions(subject, SessionRules.for_project(project))).dicts()
    return {
        "project_id": project.id,
        "distinct_id": distinct_id,
        "exported_at": utc_now().isoformat(),
        "distinct_ids": subject.distinct_ids,
        "persons": [
            {
                "person_id": row["person"],
                "properties": orjson.loads(row["latest_properties"] or "{}"),
                "created_at": _iso(row["created_at_ms"]),
                "merged_into_another": bool(row["merged"]),
            }
            for row in persons
        ],
        "sessions": [_session_json(row) for row in sessions],
        "events": [_event_json(row) for row in events[:max_events]],
        "events_complete": len(events) <= max_events,
    }


def suppressed_entry_get(*, project: Project, entry_id: int) -> SuppressedId:
    try:
        return SuppressedId.objects.get(project=project, pk=entry_id)
    except SuppressedId.DoesNotExist:
        raise NotFound("suppression entry not found") from None
