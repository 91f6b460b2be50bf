"""Lifecycle: per interval (local day, ISO week or month), the persons who are new, returning,
resurrecting or went dormant (PostHog-like).

Over the events that match (event name and filters, when given), a person is *active* in a
bucket when they have at least one such event in it. For each bucket ``b`` of the range:

- **new**: active in ``b``, and ``b`` holds their first matching event ever (all history);
- **returning**: active in ``b`` and in the bucket before, not new;
- **resurrecting**: active in ``b``, not in the bucket before, not new (they were active
  at some earlier time);
- **dormant**: active in the bucket before ``b`` but not in ``b``. Reported as a positive count
  (PostHog draws it below the axis).

Each active person is in exactly one of new/returning/resurrecting per bucket. The range
covers whole buckets: from the bucket holding ``from`` to the bucket holding the last
moment before ``to``; the bucket before the first one is read to classify it.

One query: per person, the local bucket of their first matching event (all history before
the range's end) and the set of buckets they were active in (from the bucket before the
first); arrays then give each (bucket, status) pair, counted per bucket and status.
"""

from __future__ import annotations

from datetime import date, datetime

from analytics.query.compiler.params import Params
from analytics.query.compiler.preset_scope import DATE_BUCKETS, query_settings, scope_where
from analytics.query.model import Filter
from analytics.warehouse.guard import Query

# The bucket after / before a bucket ``b`` (a Date), per interval.
_NEXT = {"day": "addDays(b, 1)", "week": "addDays(b, 7)", "month": "addMonths(b, 1)"}
_PREVIOUS = {"day": "subtractDays(b, 1)", "week": "subtractDays(b, 7)", "month": "subtractMonths(b, 1)"}
STATUSES = ("new", "returning", "resurrecting", "dormant")


def compile_lifecycle(
    *,
    project_id: int,
    time_zone: str,
    interval: str,
    scan_start: datetime,
    scan_end: datetime,
    first_bucket: date,
    last_bucket: date,
    event: str | None,
    filters: Filter | None,
) -> Query:
    """Rows ``(bucket: Date, status, person_count)``.

    ``scan_start`` is the start of the bucket before ``first_bucket``; ``scan_end`` the end of
    ``last_bucket`` (both aware UTC).
    """
    params = Params(project_id=project_id, tz=time_zone, first_bucket=first_bucket, last_bucket=last_bucket)
    where = scope_where(params, start=None, end=scan_end, event=event, filters=filters)
    params.values["scan_start"] = scan_start
    bucket = DATE_BUCKETS[interval]
    following, previous = _NEXT[interval], _PREVIOUS[interval]
    statuses = (
        "arrayConcat("
        "arrayMap(b -> (b, multiIf(b = first_bucket, 'new',"
        f" has(active, {previous}), 'returning', 'resurrecting')),"
        " arrayFilter(b -> b >= {first_bucket:Date}, active)),"
        f" arrayMap(b -> ({following}, 'dormant'),"
        f" arrayFilter(b -> {following} <= {{last_bucket:Date}} AND NOT has(active, {following}), active)))"
    )
    sql = (
        "SELECT pair.1 AS bucket, pair.2 AS status, count() AS person_count FROM ("
        f"SELECT person_id, min({bucket}) AS first_bucket,"
        f" groupUniqArrayIf({bucket}, timestamp >= {{scan_start:DateTime64(3, 'UTC')}}) AS active"
        f" FROM events WHERE {where} GROUP BY person_id HAVING length(active) > 0)"
        f" ARRAY JOIN {statuses} AS pair"
        " GROUP BY bucket, status ORDER BY bucket, status"
    )
    return Query(name="presets.lifecycle", sql=sql, params=params.values, settings=query_settings())
