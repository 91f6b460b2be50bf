"""Writes of the privacy app: forgetting a person, the suppression list, the anonymisation settings.

Forgetting (``deletion_request`` then, in a Celery task, ``deletion_execute``):

1. resolve the person: the distinct id, every id merged with it, every person id they had;
2. note the minutes in which they have events (the rollup buckets they touched);
3. delete their events, person rows and identities (mutations, waited for);
4. remove them from segment memberships (the erasers registered here);
5. recompute the touched final rollup buckets and invalidate cached query answers;
6. state ``done``; then verify that no row of them is left: ``verified`` (else ``failed``).

The request keeps a salted hash of the id, never the id: the id travels only in the task's
arguments. Every step is idempotent, so re-submitting a failed id redoes what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import IntegrityError, transaction

from analytics.accounts.models import Project, User
from analytics.accounts.services import project_require_manager
from analytics.core.errors import ApplicationError
from analytics.core.logging import get_logger
from analytics.core.timeutils import from_epoch_ms, utc_now
from analytics.ingestion.validation import EventRejected, check_name
from analytics.privacy.hashing import id_hash
from analytics.privacy.models import DeletionRequest, DeletionSource, DeletionState, PrivacySettings, SuppressedId
from analytics.privacy.policy import privacy_changed
from analytics.privacy.queries import persons as queries
from analytics.privacy.rollups import rollups_recompute
from analytics.privacy.selectors import Subject, remaining_rows, subject_resolve
from analytics.warehouse.data_version import bump_data_versions
from analytics.warehouse.guard import IDENTIFIER_PATTERN
from analytics.warehouse.services import network_action_tables_rebuild
from analytics.warehouse.store import EventStore, get_store

log = get_logger(__name__)

MAX_PROPERTIES = 100
# Called with the subject after its events are deleted; returns how many memberships it
# removed. The segments app's eraser is registered in PrivacyConfig.ready once it exists.
MembershipEraser = Callable[[Subject], int]
_membership_erasers: dict[str, MembershipEraser] = {}


def register_membership_eraser(name: str, eraser: MembershipEraser) -> None:
    """Add a step that removes a forgotten person from memberships kept outside ClickHouse."""
    _membership_erasers[name] = eraser


def valid_distinct_id(value: Any, field: str = "distinct_id") -> str:
    """The id as ingestion accepts it (1 to 200 printable characters), else a 400 naming ``field``."""
    try:
        return check_name(value, "distinct_id")
    except EventRejected as error:
        raise ApplicationError(error.message, extra={"fields": {field: [error.message]}}) from None


# ------------------------------------------------------------------ forgetting a person
def deletion_request(
    *,
    project: Project,
    distinct_id: str,
    user: User | None,
    source: str = DeletionSource.API,
    suppress: bool = False,
    check_role: bool = True,
    run: bool = True,
) -> DeletionRequest:
    """Record a request to forget ``distinct_id`` and queue its work (after the commit).

    ``check_role``: API callers must be owners or admins of the project (the admin and the
    command are for staff and operators). ``run=False`` records it without queueing
    (the caller runs :func:`deletion_execute` itself).
    """
    if check_role and user is not None:
        project_require_manager(project=project, user=user)
    distinct_id = valid_distinct_id(distinct_id)
    with transaction.atomic():
        deletion = DeletionRequest(project=project, source=source, suppress=suppress, requested_by=user)
        deletion.subject_hash = id_hash(deletion.subject_salt, distinct_id)
        deletion.save()
        if suppress:
            suppression_add(project=project, distinct_id=distinct_id, user=user, note=f"deletion {deletion.id}")
    log.info("privacy.deletion.requested", project_id=project.id, deletion_id=str(deletion.id), source=source)
    if run:
        deletion_id = str(deletion.id)
        transaction.on_commit(lambda: _queue(deletion_id, distinct_id))
    return deletion


def _queue(deletion_id: str, distinct_id: str) -> None:
    """Hand the work to Celery. Eager (embedded) mode runs it here: a failure is already on
    the request, so the caller still gets its 202; a broker that refuses the task marks the
    request failed instead of leaving it pending for ever."""
    from analytics.privacy.tasks import person_forget  # noqa: PLC0415 - tasks import this module

    try:
        person_forget.delay(deletion_id, distinct_id)
    except Exception as error:
        log.exception("privacy.deletion.queue_failed", deletion_id=deletion_id)
        DeletionRequest.objects.filter(pk=deletion_id, state=DeletionState.PENDING).update(
            state=DeletionState.FAILED, error=f"could not be queued: {type(error).__name__}"
        )


def _set_state(deletion: DeletionRequest, state: str, **fields: Any) -> None:
    deletion.state = state
    for name, value in fields.items():
        setattr(deletion, name, value)
    deletion.save(update_fields=["state", *fields])


def deletion_execute(*, deletion_id: str, distinct_id: str, store: EventStore | None = None) -> DeletionRequest:
    """Do the work of a request (steps 1-5 of the module docstring), then verify it."""
    store = store or get_store()
    deletion = DeletionRequest.objects.select_related("project").get(pk=deletion_id)
    if id_hash(deletion.subject_salt, distinct_id) != deletion.subject_hash:
        raise ApplicationError("the distinct id does not match this deletion request")
    if deletion.state == DeletionState.VERIFIED:
        return deletion
    _set_state(deletion, DeletionState.RUNNING, error="")
    try:
        counts = _forget(store, deletion.project, distinct_id)
    except Exception as error:
        _set_state(deletion, DeletionState.FAILED, error=f"{type(error).__name__}: {str(error)[:500]}")
        log.exception("privacy.deletion.failed", project_id=deletion.project_id, deletion_id=deletion_id)
        raise
    _set_state(deletion, DeletionState.DONE, counts=counts, done_at=utc_now())
    log.info("privacy.deletion.done", project_id=deletion.project_id, deletion_id=deletion_id, **counts)
    return deletion_verify(deletion=deletion, distinct_id=distinct_id, store=store)


def _forget(store: EventStore, project: Project, distinct_id: str) -> dict[str, int]:
    subject = subject_resolve(store=store, project_id=project.id, distinct_id=distinct_id)
    before = remaining_rows(store=store, subject=subject)
    minutes = [from_epoch_ms(int(minute) * 1000) for (minute,) in store.query(queries.touched_minutes(subject)).rows()]
    event_users = {row[0] for row in store.query(queries.event_distinct_ids(subject)).rows()}
    for table in ("events", "persons", "person_distinct_ids"):
        store.execute(queries.delete_rows(subject, table=table, cluster=store.cluster))
    # The unique-user days of ragged ranges and the actions by user (migrations 0008, 0011)
    # see inserts only.
    network_action_tables_rebuild(
        project_id=project.id, distinct_ids=sorted({*subject.distinct_ids, *event_users}), store=store
    )
    memberships = sum(eraser(subject) for eraser in _membership_erasers.values())
    buckets = rollups_recompute(store=store, project_id=project.id, minutes=minutes)
    bump_data_versions([project.id])  # cached query answers counted the person
    return {
        "distinct_ids": len(subject.distinct_ids),
        "events_deleted": before["events"],
        "person_rows_deleted": before["persons"],
        "identity_rows_deleted": before["identities"],
        "memberships_removed": memberships,
        "rollup_buckets_recomputed": buckets,
    }


def deletion_verify(*, deletion: DeletionRequest, distinct_id: str, store: EventStore | None = None) -> DeletionRequest:
    """``done`` -> ``verified`` when no event, person row or identity of the person is left."""
    store = store or get_store()
    subject = subject_resolve(store=store, project_id=deletion.project_id, distinct_id=distinct_id)
    left = remaining_rows(store=store, subject=subject)
    if any(left.values()):
        _set_state(deletion, DeletionState.FAILED, error=f"rows left after the delete: {left}")
        log.error("privacy.deletion.unverified", project_id=deletion.project_id, deletion_id=str(deletion.id), **left)
        return deletion
    _set_state(deletion, DeletionState.VERIFIED, verified_at=utc_now())
    return deletion


# ------------------------------------------------------------------ suppression list
def _settings_for(project: Project) -> PrivacySettings:
    settings, _ = PrivacySettings.objects.get_or_create(project=project)
    return settings


def suppression_add(*, project: Project, distinct_id: str, user: User | None, note: str = "") -> SuppressedId:
    """Put an id on the project's suppression list (idempotent): ingestion drops its events."""
    distinct_id = valid_distinct_id(distinct_id)
    settings = _settings_for(project)
    digest = id_hash(settings.salt, distinct_id)
    try:
        with transaction.atomic():
            entry, _ = SuppressedId.objects.get_or_create(
                project=project, id_hash=digest, defaults={"note": note[:200], "created_by": user}
            )
    except IntegrityError:  # a concurrent add of the same id
        entry = SuppressedId.objects.get(project=project, id_hash=digest)
    transaction.on_commit(privacy_changed)
    return entry


def suppression_remove(*, project: Project, entry_id: int) -> None:
    """Take an entry off the list (idempotent): the id's events are stored again."""
    SuppressedId.objects.filter(project=project, pk=entry_id).delete()
    transaction.on_commit(privacy_changed)


# ------------------------------------------------------------------ anonymisation settings
def property_names(values: Iterable[Any], field: str) -> list[str]:
    names: list[str] = []
    for value in values:
        if not isinstance(value, str) or not IDENTIFIER_PATTERN.match(value):
            message = f"{value!r} is not a property name (letters, digits, _ $ . -; at most 200)"
            raise ApplicationError(message, extra={"fields": {field: [message]}})
        if value not in names:
            names.append(value)
    if len(names) > MAX_PROPERTIES:
        message = f"at most {MAX_PROPERTIES} properties"
        raise ApplicationError(message, extra={"fields": {field: [message]}})
    return names


def privacy_settings_get(*, project: Project) -> PrivacySettings:
    """The project's settings (created empty on first use, with a new salt)."""
    return _settings_for(project)


def privacy_settings_update(
    *,
    project: Project,
    user: User | None,
    drop_properties: list[Any] | None = None,
    hash_properties: list[Any] | None = None,
    check_role: bool = True,
) -> PrivacySettings:
    """Change which properties ingestion drops or hashes; takes effect within a second everywhere."""
    if check_role and user is not None:
        project_require_manager(project=project, user=user)
    settings = _settings_for(project)
    if drop_properties is not None:
        settings.drop_properties = property_names(drop_properties, "drop_properties")
    if hash_properties is not None:
        settings.hash_properties = property_names(hash_properties, "hash_properties")
    both = set(settings.drop_properties) & set(settings.hash_properties)
    if both:
        message = f"a property is either dropped or hashed, not both: {sorted(both)}"
        raise ApplicationError(message, extra={"fields": {"hash_properties": [message]}})
    settings.save()
    transaction.on_commit(privacy_changed)
    return settings
