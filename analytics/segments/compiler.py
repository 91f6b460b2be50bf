"""A segment definition (``definition.py``) to ClickHouse SQL selecting its members' ``person_id``.

The universe is the project's persons that have at least one event (``events.person_id``);
person properties come from ``persons FINAL`` (deleted persons and persons without a row
have no properties: "is not set"). Behavioural conditions' ``filters`` are the query
model's (event and person filters). The query::

    SELECT e.person_id FROM (
        SELECT person_id, <one UInt8 column per behavioural condition> FROM events
        WHERE project_id = {project_id:UInt64} GROUP BY person_id
    ) AS e
    WHERE <the definition's boolean expression>

Semantics, with ``now`` fixed when the query is compiled:

- times: ``within_days`` D is ``[now - D days, now)``; ``from``/``to`` are resolved in the
  project's zone (``analytics.query.timerange``) into ``[from, to)``; no time is all time;
- ``performed``: ``countIf(...)`` (``count_unit: events``) or the number of distinct days
  of the project's zone with such an event (``days``), compared with ``count``;
- ``not_performed``: no such event in the time;
- ``sequence``: an E event, then an F event strictly later (milliseconds) and at most W
  seconds after it, both within the time (one event may be both an E and an F);
- ``first_seen``: the person's first event (ever) is at or after ``now - D days``;
- ``last_seen``: the person's last event (ever) is before ``now - D days``;
- person properties: the query layer's person filter (``analytics.query.compiler.filters``):
  ``person_id IN`` the persons whose latest properties match (``NOT IN`` for a negative
  operator, so a person without a row matches it as "not set");
- ``segment``: ``person_id IN (<that segment's members>)`` through the registered
  resolver (``analytics.query.membership``), so a materialised segment reads its table;
- ``negate`` wraps a node in NOT; an empty group is true.

Only the events a condition can count are grouped when that is enough: if a person
without any such event can never be a member (the definition is false for them whatever
their properties, evaluated in three-valued logic), the events read are limited to the
conditions' event names and the span of their times. So "purchase >= 2 times in 30 days
AND plan = pro" reads 30 days of purchases, not the project's whole history.

Every user value is a parameter (``Params``); the only SQL text pasted is ours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.query.compiler.filters import condition_sql, filter_sql
from analytics.query.compiler.params import Params
from analytics.query.model import Condition
from analytics.query.serializers import FilterField
from analytics.query.timerange import parse_moment

SegmentSql = Callable[[int, Params], str]  # (segment id, params) -> SQL selecting person_id
_COMPARISONS = {"gte": ">=", "gt": ">", "eq": "=", "lte": "<=", "lt": "<"}
_TS = "DateTime64(3, 'UTC')"


@dataclass
class _Compilation:
    params: Params
    now: datetime
    zone: ZoneInfo
    segment_sql: SegmentSql
    columns: list[str] = field(default_factory=list)

    def column(self, expression: str) -> str:
        name = f"c{len(self.columns)}"
        self.columns.append(f"{expression} AS {name}")
        return f"e.{name}"

    def moment(self, value: datetime) -> str:
        return self.params.add(value, _TS)


def _time_test(node: dict[str, Any], comp: _Compilation) -> str:
    if node.get("within_days") is not None:
        start = comp.now - timedelta(days=int(node["within_days"]))
        return f"timestamp >= {comp.moment(start)} AND timestamp < {comp.moment(comp.now)}"
    if node.get("from") is not None:
        start = parse_moment(node["from"], comp.zone, comp.now, is_end=False)
        end = parse_moment(node["to"], comp.zone, comp.now, is_end=True)
        return f"timestamp >= {comp.moment(start)} AND timestamp < {comp.moment(end)}"
    return "1"


def _event_test(event: str | None, filters: Any, comp: _Compilation) -> str:
    parts = []
    if event is not None:
        parts.append(f"event = {comp.params.add(event, 'String')}")
    if filters:
        parts.append(filter_sql(FilterField().to_internal_value(filters), comp.params))
    return " AND ".join(parts) or "1"


def _behavioral(node: dict[str, Any], comp: _Compilation) -> str:
    behavior = node["behavior"]
    if behavior == "first_seen":
        start = comp.now - timedelta(days=int(node["within_days"]))
        return comp.column(f"min(timestamp) >= {comp.moment(start)}")
    if behavior == "last_seen":
        start = comp.now - timedelta(days=int(node["more_than_days"]))
        return comp.column(f"max(timestamp) < {comp.moment(start)}")
    when = _time_test(node, comp)
    first = f"({_event_test(node.get('event'), node.get('filters'), comp)}) AND {when}"
    if behavior == "not_performed":
        return comp.column(f"countIf({first}) = 0")
    if behavior == "sequence":
        then = f"({_event_test(node.get('then_event'), node.get('then_filters'), comp)}) AND {when}"
        # Not windowFunnel: it restarts its chain at every E event, so an event that is
        # both an E and an F hides an earlier E from itself.
        window = comp.params.add(int(node["window_seconds"]) * 1000, "Int64")
        ms = "toUnixTimestamp64Milli(timestamp)"
        return comp.column(
            f"arrayExists(f -> arrayExists(s -> s < f AND f - s <= {window}, groupArrayIf({ms}, {first})),"
            f" groupArrayIf({ms}, {then}))"
        )
    count = comp.params.add(int(node["count"]), "UInt64")
    comparison = _COMPARISONS[node["count_operator"]]
    if node.get("count_unit") == "days":
        day = f"toDate(timestamp, {comp.params.add(comp.zone.key, 'String')})"
        return comp.column(f"uniqExactIf({day}, {first}) {comparison} {count}")
    return comp.column(f"countIf({first}) {comparison} {count}")


def _person(node: dict[str, Any], comp: _Compilation) -> str:
    """The query layer's person filter (``person_id [NOT] IN`` the persons matching it), so
    a person property means the same in a segment as in a report's filter."""
    value = node.get("value")
    condition = Condition(
        key=node["key"],
        operator=node["operator"],
        value=tuple(value) if isinstance(value, list) else value,
        type="person",
    )
    return condition_sql(condition, comp.params)


def _expression(node: dict[str, Any], comp: _Compilation) -> str:
    if "conditions" in node:
        parts = [_expression(child, comp) for child in node["conditions"]]
        joiner = " AND " if node.get("op") == "and" else " OR "
        sql = "(" + joiner.join(parts) + ")" if parts else "1"
    elif node["kind"] == "behavioral":
        sql = _behavioral(node, comp)
    elif node["kind"] == "person":
        sql = _person(node, comp)
    else:
        sql = f"e.person_id IN ({comp.segment_sql(int(node['segment']), comp.params)})"
    return f"NOT ({sql})" if node.get("negate") else sql


@dataclass(frozen=True)
class _Scan:
    """The events a behavioural condition reads: event name (None: any) and time bounds."""

    event: str | None
    start: datetime | None
    end: datetime | None


def _scan_of(node: dict[str, Any], now: datetime, zone: ZoneInfo) -> list[_Scan] | None:
    """What a performed/not_performed/sequence condition reads (None: every event, ever)."""
    if node["behavior"] in ("first_seen", "last_seen"):
        return None
    start: datetime | None
    end: datetime | None
    if node.get("within_days") is not None:
        start, end = now - timedelta(days=int(node["within_days"])), now
    elif node.get("from") is not None:
        start = parse_moment(node["from"], zone, now, is_end=False)
        end = parse_moment(node["to"], zone, now, is_end=True)
    else:
        start = end = None
    events = [node.get("event")] + ([node.get("then_event")] if node["behavior"] == "sequence" else [])
    return [_Scan(event, start, end) for event in events]


def _without_events(node: dict[str, Any]) -> bool | None:
    """The node's value for a person with no event in any condition's scan (Kleene logic:
    None when it depends on person properties or other segments)."""
    if "conditions" in node:
        values = [_without_events(child) for child in node["conditions"]]
        if node.get("op") == "and":
            value = False if False in values else (None if None in values else True)
        else:
            value = True if True in values else (None if None in values else False)
    elif node["kind"] == "behavioral":
        behavior = node["behavior"]
        if behavior == "performed":
            # a count of zero against the condition's comparison
            value = {
                "gte": node["count"] <= 0,
                "gt": False,
                "eq": node["count"] == 0,
                "lte": True,
                "lt": node["count"] > 0,
            }[node["count_operator"]]
        else:
            value = behavior == "not_performed"
    else:
        value = None
    if value is None or not node.get("negate"):
        return value
    return not value


def _behavioral_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "conditions" in node:
        return [found for child in node["conditions"] for found in _behavioral_nodes(child)]
    return [node] if node.get("kind") == "behavioral" else []


def _prefilter(definition: dict[str, Any], comp: _Compilation) -> str:
    """A WHERE on events that keeps every row a condition reads, when a person without such
    rows can never be a member (then only the persons with such rows need grouping).
    Empty when the definition needs every event (first/last seen, or a person without
    events may match)."""
    nodes = _behavioral_nodes(definition)
    if not nodes or _without_events(definition) is not False:
        return ""
    scans: list[_Scan] = []
    for node in nodes:
        scan = _scan_of(node, comp.now, comp.zone)
        if scan is None:
            return ""
        scans += scan
    parts = []
    if all(scan.event is not None for scan in scans):
        parts.append(f"event IN {comp.params.add(sorted({str(scan.event) for scan in scans}), 'Array(String)')}")
    if all(scan.start is not None for scan in scans):
        parts.append(f"timestamp >= {comp.moment(min(scan.start for scan in scans if scan.start))}")
        parts.append(f"timestamp < {comp.moment(max(scan.end for scan in scans if scan.end))}")
    return "".join(f" AND {part}" for part in parts)


def compile_members(
    definition: dict[str, Any],
    *,
    params: Params,
    now: datetime,
    time_zone: str,
    segment_sql: SegmentSql,
    as_of: bool = False,
) -> str:
    """SQL selecting the members' ``person_id`` (each once); ``params`` must carry ``project_id``.

    ``as_of``: the members as they were at ``now`` in the past (the size history's
    back-fill): events at or after ``now`` are not read, so neither the universe nor first
    and last seen include them. Person properties are still today's (``persons`` keeps no
    history).
    """
    comp = _Compilation(params=params, now=now, zone=ZoneInfo(time_zone), segment_sql=segment_sql)
    where = _expression(definition, comp)
    columns = "".join(f", {column}" for column in comp.columns)
    until = f" AND timestamp < {comp.moment(now)}" if as_of else ""
    sql = (
        f"SELECT e.person_id AS person_id FROM (SELECT person_id{columns} FROM events"
        f" WHERE project_id = {{project_id:UInt64}}{_prefilter(definition, comp)}{until} GROUP BY person_id) AS e"
    )
    return f"{sql} WHERE {where}"
