"""Helpers for the page tests: storing events through the real ingestion code, logging in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.test import Client

from analytics.accounts.models import Project
from analytics.accounts.selectors import IngestionProject
from analytics.core.timeutils import to_epoch_ms
from analytics.ingestion.validation import RequestContext, native_rows
from analytics.streams.sink import store_event_batch

_batches = iter(range(10**9))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def store_events(project: Project, events: Iterable[dict[str, Any]]) -> int:
    """Validate, enrich and store events exactly as the native API would (no rejects allowed)."""
    context = RequestContext(
        project=IngestionProject.from_project(project), received_at_ms=to_epoch_ms(datetime.now(UTC)), lib="test"
    )
    result = native_rows(context, list(events))
    assert not result.rejected, result.rejected
    return store_event_batch(result.rows, dedup_token=f"pages-test:{project.id}:{next(_batches)}")


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client
