"""Stage 8: a 4-step ordered funnel and 5-deep paths over the stored events.

The events are the suite's synthetic web and telecom sessions (10 million events of 1
million users at scale 1) spread over seven days. The funnel ``page_view -> click ->
signup -> purchase`` (ordered, 7-day window, entry over the whole range) runs as the
product runs it: ``run_funnel`` through the store and the tenant guard. Baseline: ClickHouse's
built-in ``windowFunnel`` over the same rows (one pass per person, no attempt choice, no
conversion times), on the raw chDB session. Paths: ``run_paths`` after ``page_view``, 5
deep, 10 edges per step; baseline a raw query that takes each person's first 5 event names
after their first page view and counts the distinct paths. Targets (issue 18): funnel under
1 s, paths under 2 s, at scale 1.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from analytics.devtools.bench.data import iter_batches
from analytics.devtools.bench.helpers import best_of, chdb_session, migrated_store
from analytics.devtools.bench.registry import Metric, StageContext, at_most, stage
from analytics.funnels.model import FunnelQuery, PathsQuery, Step
from analytics.funnels.paths import run_paths
from analytics.funnels.runner import run_funnel

EVENTS_AT_SCALE_ONE = 10_000_000
DAYS = 7
WINDOW_SECONDS = 7 * 86_400
STEPS = ("page_view", "click", "signup", "purchase")
FUNNEL_TARGET_SECONDS = 1.0
PATHS_TARGET_SECONDS = 2.0
WINDOW_FUNNEL_SQL = (
    "SELECT level, count() AS persons FROM (SELECT person_id,"
    " windowFunnel({window:UInt64})(toDateTime(timestamp), event = 'page_view', event = 'click',"
    " event = 'signup', event = 'purchase') AS level"
    " FROM events WHERE project_id = {project_id:UInt64} AND event IN ('page_view', 'click', 'signup', 'purchase')"
    " GROUP BY person_id) GROUP BY level ORDER BY level"
)
RAW_PATHS_SQL = (
    "SELECT path, count() AS persons FROM (SELECT arraySlice(arrayMap(x -> x.2,"
    " arraySort(x -> x.1, groupArray((timestamp, event)))), 1, 5) AS path"
    " FROM events WHERE project_id = {project_id:UInt64} GROUP BY person_id) GROUP BY path ORDER BY persons DESC"
)


@stage("funnels", "Funnels: a 4-step ordered funnel (7-day window) and 5-deep paths vs raw ClickHouse", order=80)
def run(ctx: StageContext) -> list[Metric]:
    events = ctx.rows(EVENTS_AT_SCALE_ONE)
    spec = ctx.spec(EVENTS_AT_SCALE_ONE, events_per_second=events / (DAYS * 86_400), confine=True)
    store = migrated_store()
    session = chdb_session(store)
    ctx.log("filling", events=spec.events, users=spec.users)
    for index, batch in enumerate(iter_batches(spec)):
        store.insert_events(batch, dedup_token=f"bench-funnels-{index}")
    start = spec.start
    end = start + timedelta(days=DAYS)
    funnel = FunnelQuery(
        steps=tuple(Step(events=(name,)) for name in STEPS),
        window_seconds=WINDOW_SECONDS,
        order="ordered",
        date_from=start,
        date_to=end,
        time_zone="UTC",
    )
    paths = PathsQuery(date_from=start, date_to=end, time_zone="UTC", start=Step(events=("page_view",)), depth=5)
    params: dict[str, Any] = {"project_id": spec.project_id, "window": WINDOW_SECONDS}
    answer = run_funnel(project_id=spec.project_id, query=funnel, store=store)
    ctx.log("funnel", counts=[step["count"] for step in answer["steps"]])
    funnel_seconds = best_of(lambda: run_funnel(project_id=spec.project_id, query=funnel, store=store))
    window_funnel = best_of(lambda: session.query(WINDOW_FUNNEL_SQL, "ArrowTable", params=params))
    paths_seconds = best_of(lambda: run_paths(project_id=spec.project_id, query=paths, store=store))
    raw_paths = best_of(lambda: session.query(RAW_PATHS_SQL, "ArrowTable", params=params))
    details = {"events": spec.events, "users": spec.users, "days": DAYS, "scale": ctx.scale}
    funnel_metric = Metric(
        name="funnel 4 steps ordered, 7-day window",
        figure=funnel_seconds,
        unit="s",
        baseline=window_funnel,
        baseline_label="ClickHouse windowFunnel, same rows",
        higher_is_better=False,
        target="< 1 s at scale 1",
        details={**details, "counts": [step["count"] for step in answer["steps"]]},
    )
    funnel_metric.checks.append(at_most(funnel_seconds, FUNNEL_TARGET_SECONDS, "< 1 s"))
    paths_metric = Metric(
        name="paths 5 deep after page_view",
        figure=paths_seconds,
        unit="s",
        baseline=raw_paths,
        baseline_label="raw first-5-events paths, same rows",
        higher_is_better=False,
        target="< 2 s at scale 1",
        details=details,
    )
    paths_metric.checks.append(at_most(paths_seconds, PATHS_TARGET_SECONDS, "< 2 s"))
    return [funnel_metric, paths_metric]
