"""Reads about the event store itself (not tenant data)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from analytics.warehouse.queries import action_user_days
from analytics.warehouse.store import EventStore, get_store


def merged_user_day_months(months: Iterable[date], *, store: EventStore | None = None) -> set[date]:
    """The UTC ``months`` whose ``action_user_days`` partition is one part: a ``FINAL`` read
    of them merges nothing. Empty in cluster mode: there the parts are the shards' (each
    node's ``system.parts``), so the caller takes the way that does not depend on them."""
    wanted = {month.replace(day=1) for month in months}
    store = store or get_store()
    if not wanted or store.cluster:
        return set()
    rows = store.query_unscoped_admin(
        "action_user_days.single_part_months",
        action_user_days.single_part_months_sql(),
        {"partitions": [month.strftime("%Y%m") for month in sorted(wanted)]},
    ).rows()
    found = {str(row[0]) for row in rows}
    return {month for month in wanted if month.strftime("%Y%m") in found}
