"""Writes of the cohorts app: a retention cell's users saved as a static segment."""

from __future__ import annotations

from typing import Any

from analytics.cohorts.model import Cell, RetentionQuery
from analytics.cohorts.runner import all_cell_users
from analytics.core.errors import ApplicationError
from analytics.segments.models import Segment
from analytics.segments.services import segment_create_static

MAX_SEGMENT_USERS = 1_000_000
# Each page re-runs the retention query, so the pages are large.
SEGMENT_PAGE = 100_000


class CellTooLarge(ApplicationError):
    def __init__(self) -> None:
        message = f"the cell has more than {MAX_SEGMENT_USERS} users; narrow the query (from/to, filters)"
        super().__init__(message, extra={"fields": {"cell": [message]}})


def retention_cell_segment_create(
    *, project: Any, query: RetentionQuery, cell: Cell, name: str, created_by: Any
) -> tuple[Segment, int]:
    """A static segment of the cell's users (their distinct id on the cohort event) and its user count.

    The users are read from ClickHouse before anything is written, so a failed read writes nothing.
    """
    distinct_ids: list[str] = []
    for user in all_cell_users(project_id=project.id, query=query, cell=cell, page=SEGMENT_PAGE):
        distinct_ids.append(user["distinct_id"])
        if len(distinct_ids) > MAX_SEGMENT_USERS:
            raise CellTooLarge()
    segment = segment_create_static(project=project, name=name, distinct_ids=distinct_ids, created_by=created_by)
    return segment, len(distinct_ids)
