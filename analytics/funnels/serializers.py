"""DRF serializers that validate funnel and paths queries and build the model.

Errors name the field (``{"steps": ["at least 2 steps"]}``, ``{"window_seconds": [...]}``,
``{"steps": {"1": {"properties": {"0": {"operator": [...]}}}}}``). They need
``context={"time_zone": <IANA name>, "now": <aware datetime>}`` to resolve relative dates
(the forms of ``analytics.query.timerange``; ``from: "all"`` is not accepted: a funnel needs
an explicit entry period).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.funnels.model import (
    ATTRIBUTIONS,
    MAX_BREAKDOWN_LIMIT,
    MAX_EVENTS_PER_STEP,
    MAX_PATH_DEPTH,
    MAX_PATH_EDGES,
    MAX_STEPS,
    MAX_WINDOW_SECONDS,
    MIN_STEPS,
    ORDERS,
    Exclusion,
    FunnelBreakdown,
    FunnelQuery,
    PathsQuery,
    SegmentFilter,
    Step,
)
from analytics.query.serializers import FilterField
from analytics.query.timerange import RangeError, parse_moment


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "an event name, or a list of names (any of them)",
    }
)
class EventsField(serializers.Field):
    def to_internal_value(self, data: Any) -> tuple[str, ...]:
        names = data if isinstance(data, list) else [data]
        if not names or len(names) > MAX_EVENTS_PER_STEP:
            raise serializers.ValidationError(f"one to {MAX_EVENTS_PER_STEP} event names")
        if not all(isinstance(name, str) and 0 < len(name) <= 200 for name in names):
            raise serializers.ValidationError("event names are non-empty strings of at most 200 characters")
        return tuple(dict.fromkeys(names))

    def to_representation(self, value: Any) -> Any:
        return list(value)


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "object"}],
        "description": 'a segment id, or a condition {"type": "segment", "key": "id", "operator":'
        ' "in"|"not_in", "value": <segment id>}',
    }
)
class SegmentField(serializers.Field):
    def to_internal_value(self, data: Any) -> SegmentFilter:
        if isinstance(data, int) and not isinstance(data, bool) and data > 0:
            return SegmentFilter(data)
        if not isinstance(data, dict) or data.get("type") != "segment":
            raise serializers.ValidationError('a segment id or a condition of type "segment"')
        operator, value = data.get("operator", "in"), data.get("value")
        if operator not in ("in", "eq", "not_in", "neq"):
            raise serializers.ValidationError({"operator": ['must be "in" or "not_in"']})
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise serializers.ValidationError({"value": ["must be a segment id"]})
        return SegmentFilter(value, negate=operator in ("not_in", "neq"))

    def to_representation(self, value: Any) -> Any:
        return value


class StepSerializer(serializers.Serializer):
    event = EventsField()
    properties = FilterField(required=False, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_null=True)


class ExclusionSerializer(serializers.Serializer):
    event = EventsField()
    properties = FilterField(required=False, allow_null=True)
    from_step = serializers.IntegerField(min_value=0, default=0, help_text="0-based step index")
    to_step = serializers.IntegerField(min_value=1, required=False, help_text="0-based; default the last step")


class FunnelBreakdownSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200, trim_whitespace=False)
    type = serializers.ChoiceField(
        choices=["event", "person"], default="event", help_text="person: the person's latest properties"
    )
    attribution = serializers.ChoiceField(choices=list(ATTRIBUTIONS), default="first_touch")
    step = serializers.IntegerField(min_value=0, required=False, help_text="0-based, with attribution step")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_BREAKDOWN_LIMIT, default=10)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["attribution"] == "step" and attrs.get("step") is None:
            raise serializers.ValidationError({"step": ["attribution step needs a step index"]})
        return attrs


def _date_range(attrs: dict[str, Any], context: Mapping[str, Any]) -> tuple[datetime, datetime]:
    zone = ZoneInfo(context["time_zone"])
    now: datetime = context["now"]
    date_from, date_to = attrs["from"].strip(), attrs.get("to")
    try:
        end = parse_moment(date_to, zone, now, is_end=True) if date_to else now
    except RangeError as error:
        raise serializers.ValidationError({"to": [str(error)]}) from None
    if date_from == "all":
        raise serializers.ValidationError({"from": ["a funnel needs an explicit start, not all"]})
    try:
        start = parse_moment(date_from, zone, now, is_end=False)
    except RangeError as error:
        raise serializers.ValidationError({"from": [str(error)]}) from None
    if start >= end:
        raise serializers.ValidationError({"from": ["from must be before to"]})
    return start, end


class _RangeSerializer(serializers.Serializer):
    date_from = serializers.CharField(max_length=64, default="-7d")
    date_to = serializers.CharField(max_length=64, required=False, allow_null=True)
    filters = FilterField(required=False, allow_null=True, help_text="applied to every step's events")
    segment = SegmentField(required=False, allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword: declared as date_from/date_to and renamed here.
        fields = super().get_fields()
        fields["from"] = fields.pop("date_from")
        fields["to"] = fields.pop("date_to")
        return fields


def _step(data: dict[str, Any]) -> Step:
    return Step(events=data["event"], filters=data.get("properties"), name=data.get("name"))


class FunnelQuerySerializer(_RangeSerializer):
    """``{"steps", "window_seconds", "order", "from", "to"?, "breakdown"?, "exclusions"?, "segment"?}``."""

    steps = serializers.ListField(child=StepSerializer(), min_length=MIN_STEPS, max_length=MAX_STEPS)
    window_seconds = serializers.IntegerField(min_value=1, max_value=MAX_WINDOW_SECONDS, default=14 * 24 * 3600)
    order = serializers.ChoiceField(choices=list(ORDERS), default="ordered")
    exclusions = serializers.ListField(child=ExclusionSerializer(), required=False, max_length=MAX_STEPS)
    breakdown = FunnelBreakdownSerializer(required=False, allow_null=True)

    def _exclusions(self, attrs: dict[str, Any]) -> tuple[Exclusion, ...]:
        items, last = attrs.get("exclusions") or [], len(attrs["steps"]) - 1
        if items and attrs["order"] == "unordered":
            raise serializers.ValidationError({"exclusions": ["exclusions need order ordered or strict"]})
        out, errors = [], {}
        for index, item in enumerate(items):
            to_step = item.get("to_step", last)
            if not item["from_step"] < to_step <= last:
                errors[str(index)] = {"to_step": [f"need 0 <= from_step < to_step <= {last}"]}
                continue
            out.append(Exclusion(item["event"], item["from_step"], to_step, item.get("properties")))
        if errors:
            raise serializers.ValidationError({"exclusions": errors})
        return tuple(out)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = _date_range(attrs, self.context)
        breakdown = attrs.get("breakdown")
        if breakdown and breakdown["attribution"] == "step" and breakdown["step"] >= len(attrs["steps"]):
            raise serializers.ValidationError({"breakdown": {"step": [f"at most {len(attrs['steps']) - 1}"]}})
        query = FunnelQuery(
            steps=tuple(_step(step) for step in attrs["steps"]),
            window_seconds=attrs["window_seconds"],
            order=attrs["order"],
            date_from=start,
            date_to=end,
            time_zone=self.context["time_zone"],
            exclusions=self._exclusions(attrs),
            breakdown=FunnelBreakdown(
                key=breakdown["key"],
                type=breakdown["type"],
                attribution=breakdown["attribution"],
                step=breakdown.get("step") if breakdown["attribution"] == "step" else None,
                limit=breakdown["limit"],
            )
            if breakdown
            else None,
            segment=attrs.get("segment"),
            filters=attrs.get("filters"),
        )
        return {"query": query}


class PathsQuerySerializer(_RangeSerializer):
    """``{"start"?: step, "end"?: step, "depth", "edges_per_step", "path_type", "window_seconds",
    "exclude_events"?, "from", "to"?}``."""

    start = StepSerializer(required=False, allow_null=True)
    end = StepSerializer(required=False, allow_null=True)
    depth = serializers.IntegerField(min_value=2, max_value=MAX_PATH_DEPTH, default=5)
    edges_per_step = serializers.IntegerField(min_value=1, max_value=MAX_PATH_EDGES, default=10)
    path_type = serializers.ChoiceField(choices=["event", "url"], default="event")
    window_seconds = serializers.IntegerField(min_value=1, max_value=MAX_WINDOW_SECONDS, default=24 * 3600)
    exclude_events = serializers.ListField(
        child=serializers.CharField(max_length=200, trim_whitespace=False),
        required=False,
        max_length=100,
        help_text="event names left out of the paths (events matching the anchor step stay)",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = _date_range(attrs, self.context)
        if bool(attrs.get("start")) == bool(attrs.get("end")):
            raise serializers.ValidationError({"start": ["give exactly one of start and end"]})
        query = PathsQuery(
            date_from=start,
            date_to=end,
            time_zone=self.context["time_zone"],
            start=_step(attrs["start"]) if attrs.get("start") else None,
            end=_step(attrs["end"]) if attrs.get("end") else None,
            depth=attrs["depth"],
            edges_per_step=attrs["edges_per_step"],
            path_type=attrs["path_type"],
            window_seconds=attrs["window_seconds"],
            filters=attrs.get("filters"),
            segment=attrs.get("segment"),
            exclude_events=tuple(attrs.get("exclude_events") or ()),
        )
        return {"query": query}


class ActorsSerializer(serializers.Serializer):
    """Who converted or dropped at a step, a page at a time."""

    funnel = serializers.JSONField(help_text="the funnel query, as for funnels/query")
    step = serializers.IntegerField(min_value=0, max_value=MAX_STEPS - 1, help_text="0-based")
    status = serializers.ChoiceField(choices=["converted", "dropped"])
    breakdown_value = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text='one breakdown group: "" for not set, "$other" for the values outside the top',
    )
    cursor = serializers.CharField(required=False, allow_blank=True, max_length=200)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)


class HistogramSerializer(serializers.Serializer):
    funnel = serializers.JSONField()
    from_step = serializers.IntegerField(min_value=0, default=0)
    to_step = serializers.IntegerField(min_value=1, required=False)
    bins = serializers.IntegerField(min_value=1, max_value=100, default=10)


class TrendSerializer(serializers.Serializer):
    funnel = serializers.JSONField()
    interval = serializers.ChoiceField(choices=["day", "week"], default="day")
    to_step = serializers.IntegerField(min_value=1, required=False, help_text="0-based; default the last step")
