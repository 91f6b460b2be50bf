"""Validation of a segment definition: the JSON shape, limits and paths of bad nodes.

A definition is a group ``{"op": "and"|"or", "conditions": [...], "negate"?: bool}``;
each item of ``conditions`` is a group (groups nest at most :data:`MAX_DEPTH` levels,
the top group being level 1) or a condition (at most :data:`MAX_CONDITIONS` in all):

- person property: ``{"kind": "person", "key", "operator", "value"?}``, every operator of
  the query model with its value rules (``analytics.query.serializers``);
- behavioural, by ``behavior`` (default ``performed``):

  - ``performed``: ``{"event", "filters"?, "count_operator": gte|gt|eq|lte|lt, "count",
    "count_unit"?: "events"|"days", <time>}``: the person performed ``event`` (null: any
    event) matching the event ``filters`` so many times (or on so many distinct days of
    the project's zone) within the time;
  - ``not_performed``: ``{"event", "filters"?, <time>}``: not once within the time;
  - ``sequence``: ``{"event", "filters"?, "then_event", "then_filters"?, "window_seconds",
    <time>}``: ``event`` then ``then_event`` strictly later, at most ``window_seconds``
    after it, both within the time;
  - ``first_seen``: ``{"within_days"}``: the person's first event is in the last D days;
  - ``last_seen``: ``{"more_than_days"}``: the person's last event is more than D days ago;

  ``<time>`` is ``"within_days": D`` (the last D * 24 hours before now), or ``"from"`` and
  ``"to"`` (ISO 8601 or relative like ``-30d``, resolved when the segment is computed), or
  nothing (all time);
- membership of another segment: ``{"kind": "segment", "segment": id}``.

Every condition and group takes ``"negate": true``. Errors name the path of the bad node:
``{"definition": {"conditions[2].conditions[0].operator": ["..."]}}``.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from rest_framework import serializers

from analytics.core.timeutils import utc_now
from analytics.query.model import Filter, Group
from analytics.query.serializers import ConditionSerializer, FilterField
from analytics.query.timerange import RangeError, parse_moment

MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_DAYS = 3650
MAX_WINDOW_SECONDS = 365 * 24 * 3600
COUNT_OPERATORS = ("gte", "gt", "eq", "lte", "lt")
BEHAVIORS = ("performed", "not_performed", "sequence", "first_seen", "last_seen")
KINDS = ("person", "behavioral", "segment")

Errors = dict[str, list[str]]


def flatten_errors(detail: Any, path: str, into: Errors) -> None:
    """DRF's nested error detail as ``{"a[0].b": [messages]}`` (list indexes in brackets)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            key = str(key)
            if key == "non_field_errors":
                flatten_errors(value, path, into)
            elif key.isdigit():
                flatten_errors(value, f"{path}[{key}]", into)
            else:
                flatten_errors(value, f"{path}.{key}" if path else key, into)
    elif isinstance(detail, list) and detail and all(isinstance(item, dict | list) for item in detail):
        for index, value in enumerate(detail):
            if value:
                flatten_errors(value, f"{path}[{index}]", into)
    else:
        messages = detail if isinstance(detail, list) else [detail]
        into.setdefault(path or "definition", []).extend(str(message) for message in messages)


class _Validator:
    def __init__(self, *, time_zone: str) -> None:
        self.errors: Errors = {}
        self.conditions = 0
        self.segment_paths: dict[int, str] = {}
        self.zone = ZoneInfo(time_zone)

    def error(self, path: str, message: str) -> None:
        self.errors.setdefault(path or "definition", []).append(message)

    def group(self, node: Any, path: str, depth: int) -> dict[str, Any] | None:
        if depth > MAX_DEPTH:
            self.error(path, f"groups nest at most {MAX_DEPTH} levels")
            return None
        if node.get("op") not in ("and", "or"):
            self.error(_join(path, "op"), 'must be "and" or "or"')
        items = node.get("conditions")
        if not isinstance(items, list):
            self.error(_join(path, "conditions"), "must be a list")
            return None
        children = []
        for index, item in enumerate(items):
            child = self.node(item, f"{_join(path, 'conditions')}[{index}]", depth)
            if child is not None:
                children.append(child)
        return {"op": node.get("op"), "conditions": children, "negate": self.negate(node, path)}

    def node(self, node: Any, path: str, depth: int) -> dict[str, Any] | None:
        if not isinstance(node, dict):
            self.error(path, "must be a condition or a group (an object)")
            return None
        if "kind" not in node:
            if "op" in node or "conditions" in node:
                return self.group(node, path, depth + 1)
            self.error(_join(path, "kind"), f"must be one of {', '.join(KINDS)} (or the node a group with op)")
            return None
        self.conditions += 1
        if self.conditions == MAX_CONDITIONS + 1:
            self.error(path, f"a definition has at most {MAX_CONDITIONS} conditions")
        kind = node["kind"]
        if kind == "person":
            return self.person(node, path)
        if kind == "behavioral":
            return self.behavioral(node, path)
        if kind == "segment":
            return self.segment(node, path)
        self.error(_join(path, "kind"), f"must be one of {', '.join(KINDS)}")
        return None

    def negate(self, node: dict[str, Any], path: str) -> bool:
        value = node.get("negate", False)
        if not isinstance(value, bool):
            self.error(_join(path, "negate"), "must be true or false")
            return False
        return value

    def person(self, node: dict[str, Any], path: str) -> dict[str, Any] | None:
        data = {name: node[name] for name in ("key", "operator", "value") if name in node}
        serializer = ConditionSerializer(data=data)
        if not serializer.is_valid():
            flatten_errors(serializer.errors, path, self.errors)
            return None
        values = serializer.validated_data
        value = values["value"]
        return {
            "kind": "person",
            "key": values["key"],
            "operator": values["operator"],
            "value": list(value) if isinstance(value, tuple) else value,
            "negate": self.negate(node, path),
        }

    def segment(self, node: dict[str, Any], path: str) -> dict[str, Any] | None:
        segment_id = node.get("segment")
        if isinstance(segment_id, bool) or not isinstance(segment_id, int) or segment_id < 1:
            self.error(_join(path, "segment"), "must be a segment id (a positive integer)")
            return None
        self.segment_paths.setdefault(segment_id, _join(path, "segment"))
        return {"kind": "segment", "segment": segment_id, "negate": self.negate(node, path)}

    def behavioral(self, node: dict[str, Any], path: str) -> dict[str, Any] | None:
        behavior = node.get("behavior", "performed")
        if behavior not in BEHAVIORS:
            self.error(_join(path, "behavior"), f"must be one of {', '.join(BEHAVIORS)}")
            return None
        out: dict[str, Any] = {"kind": "behavioral", "behavior": behavior, "negate": self.negate(node, path)}
        if behavior == "first_seen":
            out["within_days"] = self.days(node, "within_days", path, required=True)
        elif behavior == "last_seen":
            out["more_than_days"] = self.days(node, "more_than_days", path, required=True)
        else:
            out["event"] = self.event_name(node, "event", path)
            out["filters"] = self.filters(node, "filters", path)
            out.update(self.time(node, path))
            if behavior == "performed":
                out.update(self.count(node, path))
            elif behavior == "sequence":
                out["then_event"] = self.event_name(node, "then_event", path)
                out["then_filters"] = self.filters(node, "then_filters", path)
                out["window_seconds"] = self.integer(node, "window_seconds", path, 1, MAX_WINDOW_SECONDS)
        return out

    def event_name(self, node: dict[str, Any], name: str, path: str) -> str | None:
        value = node.get(name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
            self.error(_join(path, name), "must be an event name (1 to 200 characters) or null for any event")
        return value

    def filters(self, node: dict[str, Any], name: str, path: str) -> Any:
        raw = node.get(name)
        if raw in (None, []):
            return []
        try:
            parsed = FilterField().to_internal_value(raw)
        except serializers.ValidationError as error:
            flatten_errors(error.detail, _join(path, name), self.errors)
            return raw
        if _has_segment_filter(parsed):
            # Membership is a condition of its own, where references are checked for cycles.
            self.error(_join(path, name), 'use a {"kind": "segment"} condition for segment membership')
        return raw

    def integer(self, node: dict[str, Any], name: str, path: str, low: int, high: int) -> int | None:
        value = node.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(_join(path, name), f"must be an integer from {low} to {high}")
            return None
        return value

    def days(self, node: dict[str, Any], name: str, path: str, *, required: bool) -> int | None:
        if not required and node.get(name) is None:
            return None
        return self.integer(node, name, path, 1, MAX_DAYS)

    def time(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        within, start, end = node.get("within_days"), node.get("from"), node.get("to")
        if within is not None and (start is not None or end is not None):
            self.error(_join(path, "within_days"), "give within_days or from/to, not both")
            return {}
        if within is not None:
            return {"within_days": self.days(node, "within_days", path, required=True)}
        if start is None and end is None:
            return {}
        now = utc_now()
        moments = {}
        for name, value, is_end in (("from", start, False), ("to", end, True)):
            if not isinstance(value, str):
                self.error(_join(path, name), "from and to go together: ISO 8601 or relative (-30d)")
                continue
            try:
                moments[name] = parse_moment(value, self.zone, now, is_end=is_end)
            except RangeError as error:
                self.error(_join(path, name), str(error))
        if len(moments) == 2 and moments["from"] >= moments["to"]:
            self.error(_join(path, "from"), "from must be before to")
        return {"from": start, "to": end}

    def count(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        operator = node.get("count_operator", "gte")
        if operator not in COUNT_OPERATORS:
            self.error(_join(path, "count_operator"), f"must be one of {', '.join(COUNT_OPERATORS)}")
        unit = node.get("count_unit", "events")
        if unit not in ("events", "days"):
            self.error(_join(path, "count_unit"), 'must be "events" or "days"')
        count = node.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1_000_000_000:
            self.error(_join(path, "count"), "must be an integer from 0 to 1000000000")
        return {"count_operator": operator, "count": count, "count_unit": unit}


def _has_segment_filter(node: Filter) -> bool:
    if isinstance(node, Group):
        return any(_has_segment_filter(child) for child in node.conditions)
    return node.type == "segment"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate_definition(definition: Any, *, time_zone: str = "UTC") -> tuple[dict[str, Any], dict[int, str]]:
    """The normalised definition and the segment ids it refers to (id -> path of its first
    reference); raises ValidationError
    ``{"definition": {path: [messages]}}``."""
    validator = _Validator(time_zone=time_zone)
    if not isinstance(definition, dict) or "kind" in definition:
        raise serializers.ValidationError(
            {"definition": {"definition": ['must be a group {"op": "and"|"or", "conditions": [...]}']}}
        )
    normalised = validator.group(definition, "", 1)
    if validator.errors or normalised is None:
        raise serializers.ValidationError({"definition": validator.errors or {"definition": ["invalid"]}})
    return normalised, validator.segment_paths


def referenced_segments(definition: dict[str, Any] | None) -> set[int]:
    """The ids of the segments a (valid, stored) definition refers to."""
    found: set[int] = set()
    if not definition:
        return found
    for child in definition.get("conditions", []):
        if child.get("kind") == "segment":
            found.add(int(child["segment"]))
        elif "conditions" in child:
            found |= referenced_segments(child)
    return found
