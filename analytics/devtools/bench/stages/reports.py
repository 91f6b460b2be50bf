"""Stage: report answers: trends computed and cached, DAU/WAU/MAU, sessions.

The events (10M of 1M users at scale 1) are spread evenly over 90 days from the data's
start. Four figures, each next to a baseline taken in the same run on the same data:

- a 30-day daily trend of ``page_view`` with a top-10 breakdown by browser, computed
  (``refresh``: the result cache bypassed), as ``run_trends`` answers it (validation, SQL
  through the store's tenant guard, shaping). Baseline: the hand-written SQL of the same
  question (top 10 by events, the rest as other, per day) straight on the chDB session;
  the answers are checked equal first. Target (issue 16): under 0.5 s.
- sessions over 30 days: the daily ``unique_sessions`` trend of every event, sessions cut
  at query time by the project's rules (``compiler/sessions.py``). The web events carry
  the generator's client session id; the network events (the telecom users', a fifth of
  them) are stored without one, so their sessions are cut by the 30-minute timeout and
  midnight. Baseline: a hand-written sessionisation of the same rules (client ids counted
  as read; gaps and islands for the rest: ``lagInFrame`` marks a session's first event, a
  running sum numbers a person's sessions), counted per day with ``uniqExact``; checked
  equal first. Target (issue 16): under 1 s. The details give ``uniqExact(session_id)``
  per day too, the cost of counting client ids alone.

- a cached trends answer: a 30-day daily trend with a top-10 breakdown by browser, asked
  again after a first computation filled the result cache; timed from the validation of
  the query JSON to the answer (what the view does, without HTTP). The Django cache of the
  bench's settings (local memory in embedded mode, Redis in scale mode) is named in the
  details. Baseline: the same answer computed (the cache miss). Target (issue 16): under
  10 ms.
- DAU/WAU/MAU over 90 days, as ``analytics.query.presets`` answers it (validation, SQL
  through the store's tenant guard, shaping). Baseline: the straightforward hand-written
  SQL (each distinct (person, day) counted with ``uniqExact`` in the 30 daily windows that
  hold it), run straight on the chDB session; the product instead sums per-person +1/-1
  steps (``compiler/active_users.py``). Target (issue 16): under 0.5 s. The details give
  the least process CPU time of the runs of each (chDB's threads included), steadier than
  wall time on a shared machine.
"""

from __future__ import annotations

import functools
import time
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings

from analytics.devtools.bench.data import iter_batches
from analytics.devtools.bench.helpers import best_of, best_of_with_cpu, chdb_session, migrated_store
from analytics.devtools.bench.registry import Metric, StageContext, at_most, stage
from analytics.query.cache import cached_answer
from analytics.query.presets import run_preset, validate_preset
from analytics.query.runner import run_trends
from analytics.query.serializers import TrendsQuerySerializer

EVENTS_AT_SCALE_ONE = 10_000_000
DAYS = 90
CACHED_TARGET_SECONDS = 0.010
ACTIVE_USERS_TARGET_SECONDS = 0.5
TREND_TARGET_SECONDS = 0.5
SESSIONS_TARGET_SECONDS = 1.0
SESSION_TIMEOUT_MS = 30 * 60_000
_RANGE_SQL = (
    "project_id = {project_id:UInt64} AND timestamp >= toDateTime64({start:String}, 3, 'UTC')"
    " AND timestamp < toDateTime64({end:String}, 3, 'UTC')"
)
# Hand-written: the 10 browsers with the most page views, the rest as other, per day.
HAND_WRITTEN_TREND_SQL = (
    "SELECT toString(toDate(timestamp, 'UTC')) AS day, if(browser IN (SELECT browser FROM events"
    f" WHERE {_RANGE_SQL} AND event = 'page_view' GROUP BY browser ORDER BY count() DESC, browser LIMIT 10),"
    " browser, '$other') AS value, count() AS n"
    f" FROM events WHERE {_RANGE_SQL} AND event = 'page_view' GROUP BY day, value"
)
# Hand-written sessions per day: a client session id is a session (whoever sent it), counted
# as read; a person's other events start a session after more than the timeout or across a
# UTC midnight (gaps and islands: lagInFrame marks a start, a running sum numbers them).
HAND_WRITTEN_SESSIONS_SQL = (
    "SELECT day, uniqExact(owner, session_id, number) AS sessions FROM ("
    " SELECT toDate(timestamp, 'UTC') AS day, toUUID('00000000-0000-0000-0000-000000000000') AS owner,"
    f" session_id, toUInt64(0) AS number FROM events WHERE {_RANGE_SQL} AND session_id != ''"
    " UNION ALL SELECT day, person_id AS owner, '' AS session_id, sum(is_start) OVER (PARTITION BY person_id"
    " ORDER BY timestamp, event_id ROWS UNBOUNDED PRECEDING) AS number FROM ("
    " SELECT person_id, timestamp, event_id, toDate(timestamp, 'UTC') AS day,"
    " lagInFrame(timestamp, 1, toDateTime64(0, 3, 'UTC')) OVER w AS previous,"
    " row_number() OVER w = 1 OR dateDiff('millisecond', previous, timestamp) > {timeout:Int64}"
    " OR toDate(previous, 'UTC') != day AS is_start"
    f" FROM events WHERE {_RANGE_SQL} AND session_id = ''"
    " WINDOW w AS (PARTITION BY person_id ORDER BY timestamp, event_id"
    " ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)))"
    " GROUP BY day ORDER BY day"
)

# Hand-written DAU/WAU/MAU: each distinct (person, day) counted in the 30 windows that hold it.
HAND_WRITTEN_SQL = (
    "SELECT addDays(day, offset) AS target, uniqExactIf(person_id, offset = 0) AS dau,"
    " uniqExactIf(person_id, offset < 7) AS wau, uniqExact(person_id) AS mau"
    " FROM (SELECT person_id, toDate(timestamp, 'UTC') AS day FROM events"
    " WHERE project_id = {project_id:UInt64} AND timestamp >= toDateTime64({scan:String}, 3, 'UTC')"
    " AND timestamp < toDateTime64({end:String}, 3, 'UTC') GROUP BY person_id, day)"
    " ARRAY JOIN range(30) AS offset WHERE target >= toDate({first:String}) AND target <= toDate({last:String})"
    " GROUP BY target ORDER BY target"
    # The baseline is slow by nature: give it more than the product's query timeout.
    " SETTINGS max_execution_time = 600"
)


def _without_network_session_ids(batch: pa.Table) -> pa.Table:
    """Network events (the telecom users') carry no client session id, as a network element
    sends none: their sessions are cut by the timeout and midnight rules."""
    index = batch.schema.get_field_index("session_id")
    network = pc.equal(batch["source_id"], "network")
    return batch.set_column(index, "session_id", pc.if_else(network, "", batch["session_id"]))


@stage("reports", "Reports: trends computed and cached, DAU/WAU/MAU, sessions vs hand-written SQL", order=65)
def run(ctx: StageContext) -> list[Metric]:
    events = ctx.rows(EVENTS_AT_SCALE_ONE)
    spec = ctx.spec(EVENTS_AT_SCALE_ONE, events_per_second=events / (DAYS * 86_400), confine=True)
    store = migrated_store()
    session = chdb_session(store)
    ctx.log("filling", events=spec.events, days=DAYS)
    for index, batch in enumerate(iter_batches(spec)):
        store.insert_events(_without_network_session_ids(batch), dedup_token=f"bench-reports-{index}")
    start = spec.start
    return [
        _computed_trend(ctx, session, spec.project_id, start),
        _cached_trend(ctx, spec.project_id, start),
        _active_users(ctx, session, spec.project_id, start),
        _sessions(ctx, session, spec.project_id, start),
    ]


def _last_30_days(start: Any) -> tuple[Any, Any, dict[str, Any]]:
    """The last 30 days of the data: (first day, end), and the range as SQL parameters."""
    end = start + timedelta(days=DAYS)
    first = end - timedelta(days=30)
    range_params = {"start": first.strftime("%Y-%m-%d %H:%M:%S"), "end": end.strftime("%Y-%m-%d %H:%M:%S")}
    return first, end, range_params


def _trends_now(project_id: int, body: dict[str, Any], now: Any) -> dict[str, Any]:
    """A trends answer computed afresh (validation, compilation, the store, shaping)."""
    serializer = TrendsQuerySerializer(data=body, context={"time_zone": "UTC", "now": now})
    serializer.is_valid(raise_exception=True)
    return run_trends(project_id=project_id, query=serializer.validated_data["query"])


def _computed_trend(ctx: StageContext, session: Any, project_id: int, start: Any) -> Metric:
    first, end, range_params = _last_30_days(start)
    body = {
        "series": [{"event": "page_view"}],
        "interval": "day",
        "from": first.date().isoformat(),
        "to": (end - timedelta(days=1)).date().isoformat(),
        "breakdown": {"key": "$browser", "limit": 10},
    }
    params = {"project_id": project_id, **range_params}

    def product() -> dict[str, Any]:
        return _trends_now(project_id, body, end)

    def hand_written() -> Any:
        return session.query(HAND_WRITTEN_TREND_SQL, "ArrowTable", params=params)

    began = time.perf_counter()
    answer = product()
    first_run = time.perf_counter() - began
    ours = {
        (point["bucket"][:10], line["breakdown_value"]): point["value"]
        for line in answer["series"]
        for point in line["points"]
        if point["value"]
    }
    theirs = {(row["day"], row["value"]): row["n"] for row in hand_written().to_pylist()}
    if ours != theirs:
        raise RuntimeError(f"the trend differs from the hand-written SQL's: {len(ours)} vs {len(theirs)} points")
    figure = best_of(product)
    baseline = best_of(hand_written)
    ctx.log("computed trend", seconds=round(figure, 4), baseline_seconds=round(baseline, 4))
    metric = Metric(
        name="30-day daily trend, top-10 breakdown, computed (no result cache)",
        figure=figure,
        unit="s",
        higher_is_better=False,
        baseline=baseline,
        baseline_label="hand-written top-10-and-other SQL, straight on chDB",
        target="< 0.5 s",
        details={"first_run_seconds": round(first_run, 4), "lines": len(answer["series"]), "points": len(ours)},
    )
    metric.checks.append(at_most(figure, TREND_TARGET_SECONDS, "computed trend < 0.5 s"))
    return metric


def _sessions(ctx: StageContext, session: Any, project_id: int, start: Any) -> Metric:
    first, end, range_params = _last_30_days(start)
    body = {
        "series": [{"event": None, "math": "unique_sessions"}],
        "interval": "day",
        "from": first.date().isoformat(),
        "to": (end - timedelta(days=1)).date().isoformat(),
    }
    params = {"project_id": project_id, "timeout": SESSION_TIMEOUT_MS, **range_params}

    def product() -> dict[str, Any]:
        return _trends_now(project_id, body, end)

    def hand_written() -> Any:
        return session.query(HAND_WRITTEN_SESSIONS_SQL, "ArrowTable", params=params)

    began = time.perf_counter()
    answer = product()
    first_run = time.perf_counter() - began
    (line,) = answer["series"]
    ours = [point["value"] for point in line["points"]]
    theirs = [row["sessions"] for row in hand_written().to_pylist()]
    if ours != theirs:
        raise RuntimeError(f"sessions per day differ from the hand-written SQL's: {ours[:3]} vs {theirs[:3]}")
    figure = best_of(product)
    baseline = best_of(hand_written)
    client_ids_only = best_of(
        lambda: session.query(
            f"SELECT toStartOfDay(timestamp, 'UTC') AS day, uniqExact(session_id) FROM events WHERE {_RANGE_SQL}"
            " GROUP BY day",
            "ArrowTable",
            params=params,
        )
    )
    ctx.log("sessions", seconds=round(figure, 4), baseline_seconds=round(baseline, 4))
    metric = Metric(
        name="sessions per day over 30 days (unique_sessions trend)",
        figure=figure,
        unit="s",
        higher_is_better=False,
        baseline=baseline,
        baseline_label="hand-written gaps-and-islands sessionisation, straight on chDB",
        target="< 1 s",
        details={
            "first_run_seconds": round(first_run, 4),
            "sessions": line["total"],
            "uniq_client_session_id_seconds": round(client_ids_only, 4),
        },
    )
    metric.checks.append(at_most(figure, SESSIONS_TARGET_SECONDS, "sessions over 30 days < 1 s"))
    return metric


def _cached_trend(ctx: StageContext, project_id: int, start: Any) -> Metric:
    end = start + timedelta(days=DAYS)
    body = {
        "series": [{"event": "page_view"}],
        "interval": "day",
        "from": (end - timedelta(days=30)).date().isoformat(),
        "to": (end - timedelta(days=1)).date().isoformat(),
        "breakdown": {"key": "$browser", "limit": 10},
    }

    def answer(refresh: bool) -> dict[str, Any]:
        serializer = TrendsQuerySerializer(data=body, context={"time_zone": "UTC", "now": end})
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data["query"]
        return cached_answer(
            kind="trends",
            query_json=body,
            project_id=project_id,
            time_zone="UTC",
            compute=lambda: run_trends(project_id=project_id, query=query),
            refresh=refresh,
        )

    miss = best_of(functools.partial(answer, True))  # each run recomputes and rewrites the entry
    ctx.log("cached trend", miss_seconds=round(miss, 4))
    hits = []
    for _ in range(20):
        began = time.perf_counter()
        cached = answer(False)
        hits.append(time.perf_counter() - began)
        if not cached["cached"]:
            raise RuntimeError("the repeated trends query was not answered from the cache")
    figure = min(hits)
    metric = Metric(
        name="cached trends answer (30 days, top-10 breakdown)",
        figure=figure,
        unit="s",
        higher_is_better=False,
        baseline=miss,
        baseline_label="the same answer computed (cache miss)",
        target="< 10 ms",
        details={
            "cache_backend": settings.CACHES["default"]["BACKEND"],
            "median_hit_seconds": round(sorted(hits)[len(hits) // 2], 5),
            "lines": len(cached["series"]),
        },
    )
    metric.checks.append(at_most(figure, CACHED_TARGET_SECONDS, "cached answer < 10 ms"))
    return metric


def _active_users(ctx: StageContext, session: Any, project_id: int, start: Any) -> Metric:
    end = start + timedelta(days=DAYS)
    body = {"from": start.date().isoformat(), "to": (end - timedelta(days=1)).date().isoformat()}

    def product() -> dict[str, Any]:
        return run_preset(project_id=project_id, query=validate_preset("active_users", body, time_zone="UTC", now=end))

    params = {
        "project_id": project_id,
        "scan": (start - timedelta(days=29)).strftime("%Y-%m-%d %H:%M:%S"),
        "end": end.strftime("%Y-%m-%d %H:%M:%S"),
        "first": start.date().isoformat(),
        "last": (end - timedelta(days=1)).date().isoformat(),
    }

    def hand_written() -> Any:
        return session.query(HAND_WRITTEN_SQL, "ArrowTable", params=params)

    answer = product()
    ours = [(point["dau"], point["wau"], point["mau"]) for point in answer["points"]]
    theirs = [(row["dau"], row["wau"], row["mau"]) for row in hand_written().to_pylist()]
    if len(ours) != DAYS or ours != theirs:
        raise RuntimeError(f"DAU/WAU/MAU differ from the hand-written SQL's: {ours[:3]} vs {theirs[:3]}")
    figure, cpu = best_of_with_cpu(product)
    baseline, baseline_cpu = best_of_with_cpu(hand_written)
    ctx.log("active users", seconds=round(figure, 4), baseline_seconds=round(baseline, 4), cpu_seconds=round(cpu, 4))
    metric = Metric(
        name="DAU/WAU/MAU over 90 days",
        figure=figure,
        unit="s",
        higher_is_better=False,
        baseline=baseline,
        baseline_label="hand-written uniqExact SQL, straight on chDB",
        target="< 0.5 s",
        details={
            "days": DAYS,
            "last_day": answer["points"][-1],
            "cpu_seconds": round(cpu, 4),
            "baseline_cpu_seconds": round(baseline_cpu, 4),
        },
    )
    metric.checks.append(at_most(figure, ACTIVE_USERS_TARGET_SECONDS, "DAU/WAU/MAU < 0.5 s"))
    return metric
