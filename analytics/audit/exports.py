"""The audit log as JSON or CSV text, streamed entry by entry (the API and `audit_export`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from analytics.audit.models import AuditEntry

CSV_COLUMNS = [
    "id",
    "created_at",
    "source",
    "actor_id",
    "actor_email",
    "api_key_id",
    "api_key_prefix",
    "organisation_id",
    "project_id",
    "method",
    "path",
    "view",
    "status_code",
    "ip",
    "user_agent",
    "changes",
]
CHUNK = 500


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = CSV_COLUMNS


def _rows(entries: QuerySet[AuditEntry], on_row: Callable[[], None] | None) -> Iterator[dict[str, Any]]:
    for entry in entries.iterator(chunk_size=CHUNK):
        yield dict(AuditEntrySerializer(entry).data)
        if on_row is not None:
            on_row()


def json_stream(entries: QuerySet[AuditEntry], on_row: Callable[[], None] | None = None) -> Iterator[str]:
    """A JSON array of the entries, in pieces."""
    yield "["
    for index, row in enumerate(_rows(entries, on_row)):
        yield ("," if index else "") + json.dumps(row)
    yield "]"


def csv_stream(entries: QuerySet[AuditEntry], on_row: Callable[[], None] | None = None) -> Iterator[str]:
    """CSV with a header line; ``changes`` as JSON text in its column."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in _rows(entries, on_row):
        writer.writerow({**row, "changes": json.dumps(row["changes"])})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
