"""Writes: create/update/delete segments, static imports, materialisation and refresh.

Materialisation never exposes a partial membership: a refresh allocates a new version
number in PostgreSQL, writes every member under it in ClickHouse (``INSERT ... SELECT``,
whose parts become visible one by one, but nobody reads that version yet), then sets the
segment's ``members_version`` to it in one UPDATE that only moves forward. Readers take the
version from the segment row, so they see the old version complete or the new one
complete. Each version's members are also loaded into a ``Set`` table before the flip
(``sets.py``).

A version that stops being current (a flip, a return to query time, a new definition),
and a deleted segment's whole membership, are *retired* (a ``RetiredMembership`` row), not
dropped: a query that named the version or its set just before still finds them. The
clean-up task (``retired_drop``) drops them ``SEGMENT_SET_GRACE_SECONDS`` later, longer
than any query can take, so no report ever reads a set that was dropped under it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa
from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from rest_framework import serializers
from rest_framework.exceptions import NotFound

from analytics.accounts.models import Project, User
from analytics.core.logging import get_logger
from analytics.core.timeutils import utc_now
from analytics.query.compiler.params import Params
from analytics.query.membership import SegmentMissing
from analytics.segments import queries
from analytics.segments.definition import referenced_segments, validate_definition
from analytics.segments.models import RetiredMembership, Segment, SegmentImport, SegmentSize
from analytics.segments.selectors import members_sql, segment_size_compute
from analytics.segments.sets import set_build, sets_drop, sets_enabled, sets_exist, sets_rebuild
from analytics.streams.queries.persons import current_person_ids
from analytics.warehouse.data_version import bump_segment_versions
from analytics.warehouse.identity import person_id_for
from analytics.warehouse.store import EventStore, get_store

log = get_logger(__name__)

MAX_DISTINCT_ID_LENGTH = 200
IMPORT_CHUNK = 50_000
REFRESH_LEASE = timedelta(minutes=30)
MAX_REPORTED_ERRORS = 1000
STATIC_SCHEMA = pa.schema(
    [
        ("project_id", pa.uint64()),
        ("segment_id", pa.uint64()),
        ("distinct_id", pa.string()),
        ("person_id", pa.string()),
    ]
)


def _members_changed(project_id: int) -> None:
    """Cached report answers may filter by this segment, and cached segment lookups name its
    version and set: new data and segments versions retire both (``analytics.query.cache``,
    ``lookup.py``). Called after the change it announces (see lookup.py); inside a
    transaction (the admin's) once more at its commit, or a lookup made in between could
    keep the uncommitted row's old state under the new token."""
    bump_segment_versions([project_id])
    if connection.in_atomic_block:
        transaction.on_commit(lambda: bump_segment_versions([project_id]))


def _retire(*, project_id: int, segment_id: int, below: int | None, is_static: bool = False) -> None:
    """Hand membership no reader takes any more to the clean-up (``retired_drop``): the
    versions below ``below`` (the current one never), or with None the deleted segment's
    every version, set and (static) imported row."""
    RetiredMembership.objects.create(
        project_id=project_id, segment_id=segment_id, below=below, is_static=is_static, retired_at=utc_now()
    )


# ---------------------------------------------------------------------- definitions
def definition_check(*, project: Project, definition: Any, segment_id: int | None = None) -> dict[str, Any]:
    """The normalised definition, or a ValidationError naming the bad node's path: shape,
    limits, segments missing from the project, and cycles through segment membership."""
    normalised, references = validate_definition(definition, time_zone=project.timezone)
    errors: dict[str, list[str]] = {}
    for other_id, path in references.items():
        if other_id == segment_id:
            errors.setdefault(path, []).append("a segment cannot contain itself")
        elif not Segment.objects.filter(project=project, id=other_id).exists():
            errors.setdefault(path, []).append(f"segment {other_id} does not exist in this project")
        elif segment_id is not None and _reaches(project, other_id, segment_id):
            errors.setdefault(path, []).append(f"segment {other_id} contains this segment: a cycle")
    if errors:
        raise serializers.ValidationError({"definition": errors})
    return normalised


def _reaches(project: Project, start: int, target: int) -> bool:
    """Whether ``target`` is among the segments ``start`` refers to, directly or not."""
    seen, stack = set(), [start]
    while stack:
        current = stack.pop()
        if current == target:
            return True
        if current in seen:
            continue
        seen.add(current)
        definition = Segment.objects.filter(project=project, id=current).values_list("definition", flat=True).first()
        stack.extend(referenced_segments(definition))
    return False


def segment_create(
    *,
    project: Project,
    name: str,
    definition: Any = None,
    is_static: bool = False,
    description: str = "",
    refresh_interval_minutes: int | None = None,
    created_by: User | None = None,
) -> Segment:
    if is_static and definition is not None:
        raise serializers.ValidationError({"definition": ["a static segment has no definition"]})
    if not is_static and definition is None:
        raise serializers.ValidationError({"definition": ['required unless "static": true']})
    segment = Segment(
        project=project,
        name=name,
        description=description,
        is_static=is_static,
        definition=None if is_static else definition_check(project=project, definition=definition),
        created_by=created_by,
    )
    if refresh_interval_minutes is not None:
        segment.refresh_interval_minutes = refresh_interval_minutes
    segment.full_clean()
    segment.save()
    _history_backfill_soon(segment)
    return segment


def segment_update(*, segment: Segment, **changes: Any) -> Segment:
    """Change name, description, refresh interval or (dynamic only) definition. A new
    definition puts the segment back to query time until the next refresh and retires
    its materialised versions (the admin's edit comes through here too)."""
    fields: list[str] = []
    for name in ("name", "description", "refresh_interval_minutes"):
        if name in changes and changes[name] is not None:
            setattr(segment, name, changes[name])
            fields.append(name)
    if changes.get("definition") is not None:
        if segment.is_static:
            raise serializers.ValidationError({"definition": ["a static segment has no definition"]})
        segment.definition = definition_check(
            project=segment.project, definition=changes["definition"], segment_id=segment.id
        )
        segment.members_version = None
        segment.materialised_at = None
        segment.size = None
        segment.refreshed_at = None
        fields += ["definition", "members_version", "materialised_at", "size", "refreshed_at"]
    segment.full_clean()
    with transaction.atomic():
        _lock_or_gone(segment)
        segment.save(update_fields=[*fields, "updated_at"])
        last = Segment.objects.filter(id=segment.id).values_list("last_version", flat=True).first()
        if "definition" in fields:
            # The sizes were the old definition's; the back-fill computes the new one's.
            SegmentSize.objects.filter(segment_id=segment.id).delete()
            if last:
                _retire(project_id=segment.project_id, segment_id=segment.id, below=last + 1)
    if "definition" in fields:
        _members_changed(segment.project_id)
        _history_backfill_soon(segment)
    return segment


def _history_backfill_soon(segment: Segment) -> None:
    """Scale mode: have a worker back-fill the new definition's size history now rather
    than at the beat's next run. Embedded mode leaves it to the beat (an inline task would
    hold the request for the whole back-fill). A broker that is down only delays it."""
    if settings.CELERY_TASK_ALWAYS_EAGER or segment.is_static:
        return

    def send() -> None:
        try:
            current_app.send_task("analytics.segments.tasks.segment_history_backfill", args=[segment.id])
        except Exception as error:  # the beat's next run back-fills it anyway
            log.warning("segments.history_backfill_not_sent", segment_id=segment.id, error=str(error)[:300])

    transaction.on_commit(send)


def _lock_or_gone(segment: Segment) -> None:
    """Lock the segment's row for the caller's transaction (a delete waits for it), or a
    404 when a delete came first: a request racing a delete answers "not found", not 500."""
    if not Segment.objects.select_for_update().filter(id=segment.id).exists():
        raise NotFound(f"segment {segment.id} not found")


def segment_delete(*, segment: Segment) -> None:
    """Delete the segment: new lookups of it raise SegmentMissing at once (reports answer
    400); its ClickHouse rows and sets are retired, dropped after the grace period (a
    report that looked it up just before still reads them)."""
    project_id, segment_id, is_static = segment.project_id, segment.id, segment.is_static
    with transaction.atomic():
        _retire(project_id=project_id, segment_id=segment_id, below=None, is_static=is_static)
        segment.delete()
    _members_changed(project_id)


def segment_deleted_elsewhere(*, segment: Segment) -> None:
    """A segment row deleted without ``segment_delete`` (its project deleted, so the
    cascade took it): retire its membership as ``segment_delete`` does, or its ClickHouse
    rows and loaded set would outlive it. Connected to ``post_delete`` (apps.py); nothing
    when ``segment_delete`` already retired it."""
    if RetiredMembership.objects.filter(segment_id=segment.id, below__isnull=True).exists():
        return
    _retire(project_id=segment.project_id, segment_id=segment.id, below=None, is_static=segment.is_static)
    _members_changed(segment.project_id)


# ---------------------------------------------------------------------- static segments
def static_members_add(*, segment: Segment, distinct_ids: Iterable[str], store: EventStore | None = None) -> int:
    """Add distinct ids to a static segment (each id once); returns the ids written."""
    store = store or get_store()
    written = 0
    for chunk in _chunks(distinct_ids, IMPORT_CHUNK):
        written += _write_static_chunk(store, segment, chunk)
    _members_changed(segment.project_id)
    return written


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write_static_chunk(store: EventStore, segment: Segment, distinct_ids: list[str]) -> int:
    unique = list(dict.fromkeys(distinct_ids))
    mapped = current_person_ids(store, project_id=segment.project_id, distinct_ids=unique)
    persons = [mapped.get(distinct_id) or person_id_for(segment.project_id, distinct_id) for distinct_id in unique]
    table = pa.table(
        {
            "project_id": pa.array([segment.project_id] * len(unique), pa.uint64()),
            "segment_id": pa.array([segment.id] * len(unique), pa.uint64()),
            "distinct_id": pa.array(unique, pa.string()),
            "person_id": pa.array(persons, pa.string()),
        },
        schema=STATIC_SCHEMA,
    )
    store.insert_arrow(queries.STATIC_TABLE, table)
    return len(unique)


def segment_create_static(
    *, project: Project, name: str, distinct_ids: Iterable[str], created_by: User | None = None
) -> Segment:
    """A static segment of these distinct ids ("save as segment" from a funnel step or a
    retention cell). Empty and over-long ids are skipped; a repeated id counts once."""
    segment = segment_create(project=project, name=name, is_static=True, created_by=created_by)
    clean = (
        str(distinct_id)
        for distinct_id in distinct_ids
        if distinct_id is not None and 0 < len(str(distinct_id)) <= MAX_DISTINCT_ID_LENGTH
    )
    static_members_add(segment=segment, distinct_ids=clean)
    _record_size(segment, segment_size_compute(segment=segment), utc_now())
    return segment


def import_create(*, segment: Segment, content: bytes, created_by: User | None = None) -> SegmentImport:
    if not segment.is_static:
        raise serializers.ValidationError({"file": ["only a static segment takes an upload"]})
    with transaction.atomic():
        _lock_or_gone(segment)
        return SegmentImport.objects.create(segment=segment, content=content, created_by=created_by)


def _parse_rows(text: str) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, distinct id or None, error or None) per data row of the CSV. The
    distinct id is the ``distinct_id`` column when the first row names one, else the first."""
    reader = csv.reader(io.StringIO(text))
    column = 0
    for index, row in enumerate(reader):
        line = reader.line_num
        if index == 0 and row and any(cell.strip().lower() == "distinct_id" for cell in row):
            column = [cell.strip().lower() for cell in row].index("distinct_id")
            continue
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines are not rows
        if len(row) <= column:
            yield line, None, "no distinct_id column"
            continue
        value = row[column].strip()
        if not value:
            yield line, None, "empty distinct id"
        elif len(value) > MAX_DISTINCT_ID_LENGTH:
            yield line, None, f"distinct id longer than {MAX_DISTINCT_ID_LENGTH} characters"
        elif any(ord(char) < 32 for char in value):
            yield line, None, "distinct id contains control characters"
        else:
            yield line, value, None


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise ValueError(f"line {line}: the file is not UTF-8 text") from None


def import_run(*, import_id: int, store: EventStore | None = None) -> SegmentImport:
    """Import an upload: good rows are written, bad ones reported with their line numbers;
    ``processed_rows`` grows as chunks are written so a client can poll the progress."""
    job = SegmentImport.objects.select_related("segment").get(id=import_id)
    if job.state in (SegmentImport.State.DONE, SegmentImport.State.FAILED):
        return job
    store = store or get_store()
    job.state = SegmentImport.State.RUNNING
    job.save(update_fields=["state"])
    try:
        text = _decode(bytes(job.content or b""))
        rows = list(_parse_rows(text))
        limit = settings.SEGMENT_IMPORT_MAX_ROWS
        if len(rows) > limit:
            raise ValueError(f"the file has {len(rows)} rows; at most {limit}")
        job.total_rows = len(rows)
        job.save(update_fields=["total_rows"])
        errors = [{"line": line, "error": error} for line, _, error in rows if error]
        good = [value for _, value, error in rows if error is None and value is not None]
        job.errors, job.error_count = errors[:MAX_REPORTED_ERRORS], len(errors)
        done = len(errors)
        for chunk in _chunks(good, IMPORT_CHUNK):
            _write_static_chunk(store, job.segment, chunk)
            done += len(chunk)
            job.imported_rows += len(chunk)
            SegmentImport.objects.filter(id=job.id).update(processed_rows=done, imported_rows=job.imported_rows)
        job.processed_rows = len(rows)
        job.state = SegmentImport.State.DONE
        job.message = f"{job.imported_rows} rows imported, {len(errors)} refused"
    except ValueError as error:
        job.state, job.message = SegmentImport.State.FAILED, str(error)
    job.content = None
    job.finished_at = utc_now()
    job.save()
    if job.imported_rows:
        _members_changed(job.segment.project_id)
    if job.state == SegmentImport.State.DONE:
        _record_size(job.segment, segment_size_compute(segment=job.segment, store=store), job.finished_at)
    return job


# ---------------------------------------------------------------------- privacy
class PersonScope(Protocol):
    """A forgotten person: their distinct ids and every person id they had."""

    @property
    def project_id(self) -> int: ...

    @property
    def distinct_ids(self) -> list[str]: ...

    @property
    def person_ids(self) -> list[str]: ...


def segment_memberships_forget(subject: PersonScope, *, store: EventStore | None = None) -> int:
    """Remove a forgotten person from every static and materialised membership of the
    project (waited for); returns the rows removed. The privacy app's eraser
    (``analytics.privacy.services.register_membership_eraser``). The loaded sets of the
    project's materialised versions are rebuilt without them (``sets.sets_rebuild``)."""
    store = store or get_store()
    removed = 0
    person_ids, distinct_ids = list(subject.person_ids), list(subject.distinct_ids)
    for table in (queries.STATIC_TABLE, queries.MEMBERS_TABLE):
        count = queries.person_rows_query(
            table=table, project_id=subject.project_id, person_ids=person_ids, distinct_ids=distinct_ids
        )
        rows = int(store.query(count).scalar() or 0)
        if rows:
            store.execute(
                queries.forget_person_statement(
                    table=table, project_id=subject.project_id, person_ids=person_ids, distinct_ids=distinct_ids
                )
            )
            removed += rows
    if sets_enabled(store):
        # A Set has no DELETE: the project's sets are rebuilt from the rows left, whether or
        # not rows were removed now (an earlier attempt may have deleted them and then failed).
        sets_rebuild(store, subject.project_id)
    if removed:
        _members_changed(subject.project_id)
    return removed


# ---------------------------------------------------------------------- materialisation
def _record_size(segment: Segment, size: int, moment: datetime) -> None:
    """Keep the size on the segment and in its history; nothing when the segment was
    deleted meanwhile (a refresh or an import racing a delete)."""
    segment.size, segment.size_computed_at = size, moment
    if not Segment.objects.filter(id=segment.id).update(size=size, size_computed_at=moment):
        return
    try:
        with transaction.atomic():
            SegmentSize.objects.update_or_create(
                segment_id=segment.id, day=moment.date(), defaults={"size": size, "computed_at": moment}
            )
    except IntegrityError:  # the segment went between the two statements
        if Segment.objects.filter(id=segment.id).exists():
            raise


def _allocate_version(segment: Segment) -> int:
    with transaction.atomic():
        if not Segment.objects.filter(id=segment.id).update(last_version=F("last_version") + 1):
            raise SegmentMissing(segment.id)
        segment.last_version = int(Segment.objects.filter(id=segment.id).values_list("last_version", flat=True).get())
    return segment.last_version


def segment_materialise(*, segment: Segment, store: EventStore | None = None, now: datetime | None = None) -> int:
    """Write the members under a new version, make it current, retire older versions.
    Returns the members written; raises SegmentMissing if the segment was deleted meanwhile."""
    store = store or get_store()
    moment = now or utc_now()
    version = _allocate_version(segment)
    params = Params(project_id=segment.project_id)
    sql = members_sql(
        project_id=segment.project_id, segment_id=segment.id, params=params, now=moment, force_query_time=True
    )
    store.execute(queries.materialise_statement(segment_id=segment.id, version=version, members_sql=sql, params=params))
    # Complete before the flip below: a reader that takes the new version finds its set whole.
    set_build(store, segment, version)
    size = int(
        store.query(
            queries.version_size_query(project_id=segment.project_id, segment_id=segment.id, version=version)
        ).scalar()
    )
    flipped = Segment.objects.filter(Q(members_version__isnull=True) | Q(members_version__lt=version), id=segment.id)
    with transaction.atomic():
        moved = flipped.update(members_version=version, materialised_at=moment, size=size, size_computed_at=moment)
        if moved:
            # Every older version, the one current until now included: readers that took
            # it just before the flip keep reading it until the grace period has passed.
            _retire(project_id=segment.project_id, segment_id=segment.id, below=version)
    if not moved:
        # Deleted meanwhile, or overtaken by a newer version: this one never became current,
        # so no reader can have taken it.
        store.execute(
            queries.delete_version_statement(project_id=segment.project_id, segment_id=segment.id, version=version)
        )
        if sets_enabled(store):
            store.command(
                queries.drop_set_statement(
                    queries.set_name(project_id=segment.project_id, segment_id=segment.id, version=version)
                )
            )
        if not Segment.objects.filter(id=segment.id).exists():
            raise SegmentMissing(segment.id)
        return size
    segment.members_version, segment.materialised_at = version, moment
    _members_changed(segment.project_id)
    _record_size(segment, size, moment)
    return size


def segment_dematerialise(*, segment: Segment) -> None:
    """Back to query time (the segment shrank below the threshold); its versions are
    retired (a reader that took the current one just before still finds it)."""
    with transaction.atomic():
        if not Segment.objects.filter(id=segment.id).update(members_version=None, materialised_at=None):
            raise SegmentMissing(segment.id)
        last = Segment.objects.filter(id=segment.id).values_list("last_version", flat=True).get()
        _retire(project_id=segment.project_id, segment_id=segment.id, below=last + 1)
    segment.members_version = None
    segment.materialised_at = None
    _members_changed(segment.project_id)


def _has_leftovers(store: EventStore, segment: Segment) -> bool:
    """Rows or sets of a segment at query time that no retirement covers (left before
    retirements existed, or by a crash between a write and its retirement)."""
    if not segment.last_version or RetiredMembership.objects.filter(segment_id=segment.id).exists():
        return False
    query = queries.version_size_query(project_id=segment.project_id, segment_id=segment.id, version=None)
    if store.query(query).scalar():
        return True
    return sets_enabled(store) and sets_exist(store, segment.project_id, segment.id)


def _claim(segment: Segment, moment: datetime) -> bool:
    """Take the segment's refresh lease (one refresh of a segment at a time, so a version
    being written is never deleted by another refresh's clean-up); a lease older than
    REFRESH_LEASE is taken over (its holder died)."""
    free = Q(refreshing_since__isnull=True) | Q(refreshing_since__lt=moment - REFRESH_LEASE)
    return bool(Segment.objects.filter(free, id=segment.id).update(refreshing_since=utc_now()))


def segment_refresh(*, segment: Segment, store: EventStore | None = None, now: datetime | None = None) -> Segment:
    """Recompute the size; materialise when above SEGMENT_MATERIALISE_THRESHOLD (refresh
    the membership if it already is), return to query time when not. Errors are kept on
    the segment (``last_error``) for the admin. A segment another refresh is working on is
    left to it (returned as it is)."""
    store = store or get_store()
    moment = now or utc_now()
    if not _claim(segment, utc_now()):
        if not Segment.objects.filter(id=segment.id).exists():
            raise SegmentMissing(segment.id)
        log.info("segments.refresh_skipped", segment_id=segment.id, reason="another refresh holds the lease")
        return segment
    try:
        return _refresh(segment, store, moment)
    finally:
        Segment.objects.filter(id=segment.id).update(refreshing_since=None)


def _refresh(segment: Segment, store: EventStore, moment: datetime) -> Segment:
    try:
        segment.refresh_from_db()
    except Segment.DoesNotExist:  # deleted since the caller read it
        raise SegmentMissing(segment.id) from None
    try:
        size = segment_size_compute(segment=segment, store=store, now=moment, force_query_time=True)
        threshold = settings.SEGMENT_MATERIALISE_THRESHOLD
        if not segment.is_static and size > threshold:
            segment_materialise(segment=segment, store=store, now=moment)
        else:
            if segment.is_materialised:
                segment_dematerialise(segment=segment)
            elif _has_leftovers(store, segment):
                _retire(project_id=segment.project_id, segment_id=segment.id, below=segment.last_version + 1)
            _record_size(segment, size, moment)
        segment.last_error = ""
    except Exception as error:
        segment.last_error = f"{type(error).__name__}: {error}"[:2000]
        segment.refreshed_at = moment
        Segment.objects.filter(id=segment.id).update(last_error=segment.last_error, refreshed_at=moment)
        log.warning("segments.refresh_failed", segment_id=segment.id, error=segment.last_error[:300])
        raise
    segment.refreshed_at = moment
    Segment.objects.filter(id=segment.id).update(last_error="", refreshed_at=moment)
    return segment


def segments_due(*, now: datetime) -> list[Segment]:
    """Segments never refreshed, or last refreshed at least their interval ago."""
    candidates = Segment.objects.select_related("project").filter(
        Q(refreshed_at__isnull=True) | Q(refreshed_at__lte=now - timedelta(minutes=5))
    )
    return [
        segment
        for segment in candidates.order_by("refreshed_at", "id")
        if segment.refreshed_at is None
        or segment.refreshed_at <= now - timedelta(minutes=segment.refresh_interval_minutes)
    ]


def segments_refresh_due(*, store: EventStore | None = None, now: datetime | None = None) -> dict[str, int]:
    """Refresh every due segment; one failing does not stop the others."""
    moment = now or utc_now()
    refreshed = failed = 0
    for segment in segments_due(now=moment):
        try:
            segment_refresh(segment=segment, store=store, now=moment)
            refreshed += 1
        except Exception:
            failed += 1
    return {"refreshed": refreshed, "failed": failed}


# ---------------------------------------------------------------------- retired memberships
def retired_drop(*, store: EventStore | None = None, now: datetime | None = None) -> dict[str, int]:
    """Drop the rows and sets of memberships retired at least SEGMENT_SET_GRACE_SECONDS ago
    (the beat task ``segments_retired_drop``). A segment being refreshed is left for the
    next run (a version it is writing may lie below a retirement made by an edit); one
    failing does not stop the others, its retirements stay for the next run."""
    store = store or get_store()
    cutoff = (now or utc_now()) - timedelta(seconds=settings.SEGMENT_SET_GRACE_SECONDS)
    due: dict[tuple[int, int], list[RetiredMembership]] = {}
    for retired in RetiredMembership.objects.filter(retired_at__lte=cutoff).order_by("id"):
        due.setdefault((retired.project_id, retired.segment_id), []).append(retired)
    dropped = failed = skipped = 0
    for (project_id, segment_id), retirements in due.items():
        try:
            if _drop_retired(store, project_id, segment_id, retirements, now or utc_now()):
                RetiredMembership.objects.filter(id__in=[retired.id for retired in retirements]).delete()
                dropped += 1
            else:
                skipped += 1
        except Exception as error:
            failed += 1
            log.warning("segments.retired_drop_failed", segment_id=segment_id, error=str(error)[:300])
    return {"dropped": dropped, "failed": failed, "skipped": skipped}


def _drop_retired(
    store: EventStore, project_id: int, segment_id: int, retirements: list[RetiredMembership], moment: datetime
) -> bool:
    """Drop what these retirements of one segment cover; False when it must wait."""
    row = (
        Segment.objects.filter(project_id=project_id, id=segment_id)
        .values_list("members_version", "refreshing_since")
        .first()
    )
    if row is None:  # deleted: everything it had (no version of it can become current again)
        store.execute(queries.delete_versions_statement(project_id=project_id, segment_id=segment_id))
        if sets_enabled(store):
            sets_drop(store, segment_id, project_id)
        if any(retired.is_static for retired in retirements):
            store.execute(queries.delete_static_statement(project_id=project_id, segment_id=segment_id))
        return True
    current, refreshing_since = row
    if refreshing_since is not None and refreshing_since >= moment - REFRESH_LEASE:
        return False
    # A deletion's retirement (below None) of a segment that still exists is dropped
    # unused: that delete was rolled back.
    bounds = [retired.below for retired in retirements if retired.below is not None]
    if bounds:
        below = max(bounds)
        store.execute(
            queries.delete_versions_statement(project_id=project_id, segment_id=segment_id, below=below, keep=current)
        )
        if sets_enabled(store):
            sets_drop(store, segment_id, project_id, below=below, keep=current)
    return True
