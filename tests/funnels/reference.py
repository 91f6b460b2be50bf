"""An independent, plain-Python statement of the funnel and paths semantics.

It re-states ``analytics/funnels/__init__.py`` over the same rows the store holds: events
grouped per person, one attempt per entry event, the best attempt per person. It shares no
code with the engine beyond the filter reference of ``tests.query.helpers``.
"""

from __future__ import annotations

import random
import statistics
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from tests.query.helpers import matches, moment_of, percentile, text_view
from tests.warehouse.helpers import event_row

NAMES = ["a", "b", "c", "d", "x", "noise"]
PLANS = ["pro", "free", "team", None]


def generate(project_id: int, *, start: datetime, persons: int, seed: int) -> list[dict[str, Any]]:
    """Events of ``persons`` persons, close in time (seconds to hours apart), some at equal moments."""
    rng = random.Random(seed)
    rows = []
    for number in range(persons):
        person_id = str(uuid.UUID(int=rng.getrandbits(128)))
        distinct_id = f"p{number}"
        moment = start + timedelta(seconds=rng.randrange(-3 * 3600, 3 * 24 * 3600))
        for _ in range(rng.randrange(1, 14)):
            moment += timedelta(seconds=rng.choice([0, 0, 1, 30, 60, 600, 3600, 5 * 3600]))
            plan = rng.choice(PLANS)
            properties = {"plan": plan} if plan is not None else {}
            if rng.random() < 0.3:
                properties["amount"] = rng.choice([1, 5, 20])
            rows.append(
                event_row(
                    project_id,
                    event=rng.choice(NAMES),
                    distinct_id=distinct_id,
                    person_id=person_id,
                    timestamp=moment,
                    received_at=moment,
                    properties=properties,
                    url=rng.choice(["/", "/pricing", "/docs", "/signup"]),
                )
            )
    return rows


def _ms(row: dict[str, Any]) -> int:
    return int(moment_of(row).timestamp() * 1000)


def _names(spec: dict[str, Any]) -> list[str]:
    return spec["event"] if isinstance(spec["event"], list) else [spec["event"]]


def filter_matches(row: dict[str, Any], node: Any) -> bool:
    """The filter tree on one event; person conditions read ``row["person"]`` (latest live properties)."""
    if isinstance(node, list):
        return all(filter_matches(row, child) for child in node)
    if "op" in node:
        results = [filter_matches(row, child) for child in node["conditions"]]
        return all(results) if node["op"] == "and" else any(results)
    if node.get("type") == "person":
        return matches({"properties": row.get("person", {})}, node)
    return matches(row, node)


def _matches(row: dict[str, Any], spec: dict[str, Any], common: Any) -> bool:
    if row["event"] not in _names(spec):
        return False
    if spec.get("properties") and not filter_matches(row, spec["properties"]):
        return False
    return not (common and not filter_matches(row, common))


@dataclass
class Moment:
    ms: int
    steps: set[int]
    exclusions: set[int]
    value: str  # breakdown text of the step events at this moment ('' when not set)


@dataclass
class Attempt:
    times: list[int]
    values: list[str]


def _moments(rows: list[dict[str, Any]], body: dict[str, Any]) -> list[Moment]:
    steps, exclusions = body["steps"], body.get("exclusions", [])
    key = (body.get("breakdown") or {}).get("key")
    by_ms: dict[int, Moment] = {}
    values: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        ms = _ms(row)
        moment = by_ms.setdefault(ms, Moment(ms, set(), set(), ""))
        matched = {k for k, spec in enumerate(steps) if _matches(row, spec, body.get("filters"))}
        moment.steps |= matched
        moment.exclusions |= {j for j, spec in enumerate(exclusions) if _matches(row, spec, body.get("filters"))}
        if matched and key:
            values[ms].append(text_view(row, key) or "")
    for ms, found in values.items():
        by_ms[ms].value = min(found)
    return sorted(by_ms.values(), key=lambda moment: moment.ms)


def _ordered(moments: list[Moment], index: int, n: int, window: int, strict: bool) -> Attempt:
    start = moments[index]
    attempt = Attempt([start.ms], [start.value])
    for moment in moments[index + 1 :]:
        if moment.ms > start.ms + window or len(attempt.times) == n:
            break
        if len(attempt.times) in moment.steps:
            attempt.times.append(moment.ms)
            attempt.values.append(moment.value)
        elif strict:  # any other event of the person ends a strict attempt
            break
    return attempt


def _unordered(moments: list[Moment], index: int, n: int, window: int) -> Attempt:
    start = moments[index]
    firsts = []
    for step in range(n):
        for moment in moments[index:]:
            if moment.ms > start.ms + window:
                break
            if step in moment.steps:
                firsts.append((moment.ms, moment.value))
                break
    firsts.sort()
    return Attempt([ms for ms, _ in firsts], [value for _, value in firsts])


def _void(attempt: Attempt, moments: list[Moment], body: dict[str, Any], window: int) -> bool:
    last = len(body["steps"]) - 1
    for j, exclusion in enumerate(body.get("exclusions", [])):
        low, high = exclusion.get("from_step", 0), exclusion.get("to_step", last)
        if len(attempt.times) <= low:
            continue
        upper = attempt.times[high] if len(attempt.times) > high else attempt.times[0] + window + 1
        if any(j in m.exclusions and attempt.times[low] < m.ms < upper for m in moments):
            return True
    return False


def person_attempts(rows: list[dict[str, Any]], body: dict[str, Any], start_ms: int, end_ms: int) -> Attempt | None:
    """The counted attempt of one person: furthest step, ties the earliest entry; None if none."""
    window = body["window_seconds"] * 1000
    order, n = body.get("order", "ordered"), len(body["steps"])
    rows = [row for row in rows if start_ms <= _ms(row) <= end_ms + window]
    if order != "strict":
        rows = [row for row in rows if _relevant(row, body)]
    moments = _moments(rows, body)
    best: Attempt | None = None
    for index, moment in enumerate(moments):
        entry = bool(moment.steps) if order == "unordered" else 0 in moment.steps
        if not entry or not start_ms <= moment.ms < end_ms:
            continue
        if order == "unordered":
            attempt = _unordered(moments, index, n, window)
        else:
            attempt = _ordered(moments, index, n, window, order == "strict")
        if _void(attempt, moments, body, window):
            continue
        if best is None or len(attempt.times) > len(best.times):
            best = attempt
    return best


def _relevant(row: dict[str, Any], body: dict[str, Any]) -> bool:
    names = {name for spec in body["steps"] + body.get("exclusions", []) for name in _names(spec)}
    return row["event"] in names


def counted_persons(
    rows: list[dict[str, Any]], body: dict[str, Any], start: datetime, end: datetime
) -> dict[str, tuple[str, Attempt]]:
    """person_id -> (distinct id, counted attempt)."""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_person[row["person_id"]].append(row)
    out = {}
    for person, own in by_person.items():
        attempt = person_attempts(own, body, start_ms, end_ms)
        if attempt is not None:
            out[person] = (own[0]["distinct_id"], attempt)
    return out


def attributed(attempt: Attempt, breakdown: dict[str, Any], person: dict[str, Any] | None = None) -> str:
    if breakdown.get("type") == "person":
        return text_view({"properties": person or {}}, breakdown["key"]) or ""
    attribution = breakdown.get("attribution", "first_touch")
    if attribution == "first_touch":
        return attempt.values[0]
    if attribution == "last_touch":
        return attempt.values[-1]
    step = breakdown["step"]
    return attempt.values[step] if len(attempt.times) > step else ""


def step_table(attempts: list[Attempt], n: int) -> list[dict[str, Any]]:
    """count, dropped, rates and conversion seconds per step, as the API states them."""
    out = []
    counts = [sum(1 for a in attempts if len(a.times) > s) for s in range(n)]
    for s in range(n):
        previous = counts[s - 1] if s else counts[0]
        seconds = [(a.times[s] - a.times[s - 1]) / 1000 for a in attempts if s and len(a.times) > s]
        out.append(
            {
                "count": counts[s],
                "conversion_from_start": counts[s] / counts[0] if counts[0] else 0.0,
                "conversion_from_previous": counts[s] / previous if previous else 0.0,
                "dropped": previous - counts[s] if s else 0,
                "median_seconds_to_convert": percentile(seconds, 0.5) if seconds else None,
                "avg_seconds_to_convert": statistics.fmean(seconds) if seconds else None,
            }
        )
    return out


def _label(row: dict[str, Any], path_type: str) -> str | None:
    if path_type == "event":
        return row["event"]
    if row["event"] == "$pageview" and row.get("url"):
        return row["url"].split("?")[0].split("#")[0]
    return None


def _person_path(own: list[dict[str, Any]], body: dict[str, Any], start_ms: int, end_ms: int) -> list[str] | None:
    """One person's path (anchor first; backwards before ``end``), or None without an anchor."""
    anchor_spec = body.get("start") or body.get("end")
    window = body.get("window_seconds", 86400) * 1000
    events = []
    for row in own:
        is_anchor = _matches(row, anchor_spec, None)
        if row["event"] in body.get("exclude_events", []) and not is_anchor:
            continue
        label = _label(row, body.get("path_type", "event")) or (row["event"] if is_anchor else None)
        if label is not None:
            events.append((_ms(row), label, is_anchor))
    events.sort(key=lambda item: (item[0], item[1]))
    anchors = [i for i, (ms, _, flag) in enumerate(events) if flag and start_ms <= ms < end_ms]
    if not anchors:
        return None
    if "end" in body:
        at = anchors[-1]
        names = [name for ms, name, _ in reversed(events[: at + 1]) if ms >= events[at][0] - window]
    else:
        at = anchors[0]
        names = [name for ms, name, _ in events[at:] if ms <= events[at][0] + window]
    collapsed = [name for i, name in enumerate(names) if i == 0 or name != names[i - 1]]
    return collapsed[: body.get("depth", 5)]


def reference_paths(rows: list[dict[str, Any]], body: dict[str, Any], start_ms: int, end_ms: int) -> dict[str, Any]:
    """Sankey nodes and edges as paths.py states them, over plain rows."""
    backwards = "end" in body
    depth, limit = body.get("depth", 5), body.get("edges_per_step", 10)
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_person[row["person_id"]].append(row)
    paths = [path for own in by_person.values() if (path := _person_path(own, body, start_ms, end_ms)) is not None]
    for step in range(1, depth):
        counts = Counter((p[step - 1], p[step]) for p in paths if len(p) > step)
        kept = {edge for edge, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]}
        for p in paths:
            if len(p) > step and (p[step - 1], p[step]) not in kept:
                p[step] = "$other"
    nodes: Counter[str] = Counter()
    edges: Counter[tuple[str, str]] = Counter()
    for p in paths:
        ids = [f"{depth - 1 - i if backwards else i}_{name}" for i, name in enumerate(p)]
        nodes.update(ids)
        for near, far in pairwise(ids):
            edges[(far, near) if backwards else (near, far)] += 1
    return {"nodes": dict(nodes), "edges": dict(edges), "persons": len(paths)}
