"""Saved reports: services (writes), selectors (reads) and running a report by its kind.

Who may do what (roles of the project's organisation):

- every member (viewers and read-only personal API keys included) lists, reads and runs
  the project's reports;
- owners, admins and members create reports; a report is changed or deleted by its
  owner, or by an owner or admin of the organisation (viewers never write).

A report's ``query`` is validated by its kind (``analytics.query.kinds``) when it is saved
and again each time it runs (a relative date resolves against the moment of the run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from rest_framework import serializers

from analytics.accounts.models import EDITING_ROLES, MANAGING_ROLES, Project, User
from analytics.accounts.selectors import role_for
from analytics.core.errors import ApplicationError, NotFound
from analytics.query.cache import cached_answer, project_rules
from analytics.query.kinds import get_kind
from analytics.query.models import SavedReport

MAX_TAGS = 20
MAX_TAG_LENGTH = 50


class ReportPermissionDenied(ApplicationError):
    status_code = 403
    code = "permission_denied"


class InvalidReportQuery(ApplicationError):
    """The stored or sent query does not validate for its kind: 400 naming ``query.<field>``."""

    def __init__(self, detail: Any) -> None:
        super().__init__("the query is not valid for its kind", extra={"fields": {"query": detail}})


def validate_report_query(*, project: Project, kind: str, query: Any) -> Any:
    """The kind's validated query object (raises UnknownReportKind / InvalidReportQuery)."""
    report_kind = get_kind(kind)
    if not isinstance(query, Mapping):
        raise InvalidReportQuery(["must be a JSON object"])
    try:
        return report_kind.validate(project, query)
    except serializers.ValidationError as error:
        raise InvalidReportQuery(error.detail) from None


def clean_tags(tags: Sequence[Any]) -> list[str]:
    """Tags trimmed, without duplicates, in their first order; raises ApplicationError on bad ones."""
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > MAX_TAG_LENGTH:
            raise ApplicationError(
                "bad tag", extra={"fields": {"tags": [f"tags are non-empty strings of at most {MAX_TAG_LENGTH}"]}}
            )
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    if len(cleaned) > MAX_TAGS:
        raise ApplicationError("too many tags", extra={"fields": {"tags": [f"at most {MAX_TAGS} tags"]}})
    return cleaned


def _require_role(*, user: User, project: Project, roles: Sequence[str], action: str) -> str:
    role = role_for(user=user, project=project)
    if role is None:
        raise NotFound("project not found")
    if role not in roles:
        raise ReportPermissionDenied(f"your role ({role}) cannot {action}")
    return role


def saved_report_create(
    *, user: User, project: Project, name: str, kind: str, query: Any, description: str = "", tags: Sequence[Any] = ()
) -> SavedReport:
    _require_role(user=user, project=project, roles=EDITING_ROLES, action="create reports")
    validate_report_query(project=project, kind=kind, query=query)
    return SavedReport.objects.create(
        project=project, owner=user, name=name, description=description, kind=kind, query=query, tags=clean_tags(tags)
    )


def saved_report_update(*, user: User, report: SavedReport, changes: Mapping[str, Any]) -> SavedReport:
    """Change some of name, description, kind, query, tags (the query revalidated for the kind)."""
    role = _require_role(user=user, project=report.project, roles=EDITING_ROLES, action="change reports")
    if report.owner_id != user.pk and role not in MANAGING_ROLES:
        raise ReportPermissionDenied("only the report's owner or an organisation admin can change it")
    kind, query = changes.get("kind", report.kind), changes.get("query", report.query)
    if "kind" in changes or "query" in changes:
        validate_report_query(project=report.project, kind=kind, query=query)
    with transaction.atomic():
        for field in ("name", "description"):
            if field in changes:
                setattr(report, field, changes[field])
        report.kind, report.query = kind, query
        if "tags" in changes:
            report.tags = clean_tags(changes["tags"])
        report.save()
    return report


def saved_report_delete(*, user: User, report: SavedReport) -> None:
    role = _require_role(user=user, project=report.project, roles=EDITING_ROLES, action="delete reports")
    if report.owner_id != user.pk and role not in MANAGING_ROLES:
        raise ReportPermissionDenied("only the report's owner or an organisation admin can delete it")
    report.delete()


def saved_reports_for_project(*, project: Project, kind: str | None = None, tag: str | None = None) -> QuerySet:
    """The project's reports, optionally of one kind and/or carrying one tag."""
    reports = SavedReport.objects.filter(project=project).select_related("owner")
    if kind:
        reports = reports.filter(kind=kind)
    if tag:
        if connection.features.supports_json_field_contains:
            reports = reports.filter(tags__contains=[tag])
        else:  # SQLite (embedded): a project's reports are few; match the lists in Python
            ids = [report_id for report_id, tags in reports.values_list("id", "tags") if tag in (tags or [])]
            reports = reports.filter(id__in=ids)
    return reports


def saved_report_get(*, project: Project, report_id: int | str) -> SavedReport:
    """A report of this project, or 404 (another project's report is not found either)."""
    try:
        return SavedReport.objects.select_related("owner", "project").get(project=project, pk=int(report_id))
    except (SavedReport.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound("report not found") from None


def run_report_query(*, project: Project, kind: str, query: Any, refresh: bool = False) -> dict[str, Any]:
    """Validate ``query`` for ``kind`` and answer it through the result cache."""
    report_kind = get_kind(kind)
    validated = validate_report_query(project=project, kind=kind, query=query)
    return cached_answer(
        kind=kind,
        query_json=query,
        project_id=project.id,
        time_zone=project.timezone,
        rules=project_rules(project),
        compute=lambda: report_kind.run(project, validated, refresh),
        refresh=refresh,
    )


def saved_report_results(*, report: SavedReport, refresh: bool = False) -> dict[str, Any]:
    answer = run_report_query(project=report.project, kind=report.kind, query=report.query, refresh=refresh)
    return {**answer, "report": {"id": report.id, "name": report.name, "kind": report.kind}}
