"""DRF serializers that validate a retention query's JSON and build the model (``model.py``).

Errors name the field (``{"periods": [...]}``, ``{"cohort_event": {"properties": ...}}``).
The serializers need ``context={"time_zone": <IANA name>, "now": <aware datetime>}`` to
resolve relative dates (the forms of ``analytics.query.timerange``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.cohorts.model import (
    MAX_BREAKDOWN_LIMIT,
    MAX_COHORTS,
    MAX_PERIODS,
    MAX_USERS_PAGE,
    MODES,
    PERIODS,
    RETURNINGS,
    Cell,
    EventSpec,
    RetentionBreakdown,
    RetentionQuery,
    SegmentCondition,
)
from analytics.query.model import DateRange
from analytics.query.serializers import FilterField
from analytics.query.timerange import RangeError, count_buckets, parse_moment


class EventSpecSerializer(serializers.Serializer):
    event = serializers.CharField(max_length=200, trim_whitespace=False)
    properties = FilterField(required=False, allow_null=True)


class RetentionBreakdownSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200, trim_whitespace=False)
    # A CharField, not a ChoiceField: the OpenAPI enum named "type" is already taken by other choices.
    type = serializers.CharField(default="event", max_length=20, help_text='"event" or "person"')
    limit = serializers.IntegerField(min_value=1, max_value=MAX_BREAKDOWN_LIMIT, default=10)

    def validate_type(self, value: str) -> str:
        if value not in ("event", "person"):
            raise serializers.ValidationError('must be "event" or "person"')
        return value


@extend_schema_field(
    {
        "oneOf": [{"type": "integer"}, {"type": "object"}],
        "description": 'A segment id, or {"type": "segment", "key": "id", "operator": "in"|"not_in"|"eq"|"neq",'
        ' "value": <segment id>}',
    }
)
class SegmentField(serializers.Field):
    def to_internal_value(self, data: Any) -> SegmentCondition:
        if isinstance(data, int) and not isinstance(data, bool):
            return SegmentCondition(segment_id=self._id(data))
        if not isinstance(data, dict):
            raise serializers.ValidationError("a segment id or a segment condition")
        if data.get("type", "segment") != "segment":
            raise serializers.ValidationError({"type": ['must be "segment"']})
        if data.get("key", "id") != "id":
            raise serializers.ValidationError({"key": ['must be "id"']})
        operator = data.get("operator", "in")
        if operator not in ("in", "not_in", "eq", "neq"):
            raise serializers.ValidationError({"operator": ["must be in, not_in, eq or neq"]})
        value = data.get("value")
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, int) or isinstance(value, bool):
            raise serializers.ValidationError({"value": ["must be a segment id (an integer)"]})
        return SegmentCondition(segment_id=self._id(value), negated=operator in ("not_in", "neq"))

    def to_representation(self, value: Any) -> Any:
        return value

    @staticmethod
    def _id(value: int) -> int:
        if value < 1 or value >= 2**63:
            raise serializers.ValidationError("must be a segment id (a positive integer)")
        return value


class RetentionQuerySerializer(serializers.Serializer):
    """``{"cohort_event", "return_event"?, "period", "periods", "from", "to"?, "mode", "returning",
    "breakdown"?, "segment"?}``."""

    cohort_event = EventSpecSerializer()
    return_event = EventSpecSerializer(required=False, allow_null=True, help_text="default: the cohort event")
    period = serializers.ChoiceField(choices=list(PERIODS), default="week")
    periods = serializers.IntegerField(
        min_value=1, max_value=MAX_PERIODS, default=8, help_text="periods followed after period 0"
    )
    date_from = serializers.CharField(max_length=64, default="-8w")
    date_to = serializers.CharField(max_length=64, required=False, allow_null=True)
    mode = serializers.ChoiceField(choices=list(MODES), default="first_time")
    returning = serializers.ChoiceField(choices=list(RETURNINGS), default="on")
    breakdown = RetentionBreakdownSerializer(required=False, allow_null=True)
    segment = SegmentField(required=False, allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword, so the fields are declared as date_from/date_to and renamed here.
        fields = super().get_fields()
        fields["from"] = fields.pop("date_from")
        fields["to"] = fields.pop("date_to")
        return fields

    def _range(self, attrs: dict[str, Any]) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.context["time_zone"])
        now: datetime = self.context["now"]
        date_from, date_to = attrs["from"].strip(), attrs.get("to")
        try:
            end = parse_moment(date_to, zone, now, is_end=True) if date_to else now
        except RangeError as error:
            raise serializers.ValidationError({"to": [str(error)]}) from None
        try:
            start = parse_moment(date_from, zone, now, is_end=False)
        except RangeError as error:
            raise serializers.ValidationError({"from": [str(error)]}) from None
        if start >= end:
            raise serializers.ValidationError({"from": ["from must be before to"]})
        return start, end

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = self._range(attrs)
        zone = ZoneInfo(self.context["time_zone"])
        if count_buckets(DateRange(start, end), attrs["period"], zone, stop_after=MAX_COHORTS) > MAX_COHORTS:
            raise serializers.ValidationError(
                {"from": [f"at most {MAX_COHORTS} cohorts: use a larger period or a shorter range"]}
            )
        cohort_event = EventSpec(attrs["cohort_event"]["event"], attrs["cohort_event"].get("properties"))
        returns = attrs.get("return_event")
        query = RetentionQuery(
            cohort_event=cohort_event,
            return_event=EventSpec(returns["event"], returns.get("properties")) if returns else cohort_event,
            period=attrs["period"],
            periods=attrs["periods"],
            date_from=start,
            date_to=end,
            time_zone=self.context["time_zone"],
            mode=attrs["mode"],
            returning=attrs["returning"],
            breakdown=RetentionBreakdown(**attrs["breakdown"]) if attrs.get("breakdown") else None,
            segment=attrs.get("segment"),
        )
        return {"query": query}


class RetentionCellSerializer(serializers.Serializer):
    cohort = serializers.CharField(
        max_length=64,
        help_text="the cohort's start as the answer gives it, or any moment of that period; without an offset"
        " it is the project's local time",
    )
    k = serializers.IntegerField(min_value=0, max_value=MAX_PERIODS, help_text="the period index, 0 = the cohort")
    breakdown_value = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, trim_whitespace=False, max_length=10_000
    )


class RetentionCellQuerySerializer(RetentionQuerySerializer):
    """A retention query plus one cell of its table."""

    cell = RetentionCellSerializer()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        validated = super().validate(attrs)
        query: RetentionQuery = validated["query"]
        cell = attrs["cell"]
        if cell["k"] > query.periods:
            raise serializers.ValidationError({"cell": {"k": [f"at most periods ({query.periods})"]}})
        if query.breakdown is None and cell.get("breakdown_value") is not None:
            raise serializers.ValidationError({"cell": {"breakdown_value": ["the query has no breakdown"]}})
        try:
            cohort_start = parse_moment(
                cell["cohort"], ZoneInfo(self.context["time_zone"]), self.context["now"], is_end=False
            )
        except RangeError as error:
            raise serializers.ValidationError({"cell": {"cohort": [str(error)]}}) from None
        validated["cell"] = Cell(cohort_start=cohort_start, k=cell["k"], breakdown_value=cell.get("breakdown_value"))
        return validated


class RetentionUsersSerializer(RetentionCellQuerySerializer):
    """A retention query, the cell whose users to list, and a page."""

    limit = serializers.IntegerField(min_value=1, max_value=MAX_USERS_PAGE, default=100)
    cursor = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=64)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        validated = super().validate(attrs)
        after = None
        if attrs.get("cursor"):
            try:
                after = str(UUID(attrs["cursor"]))
            except ValueError:
                raise serializers.ValidationError({"cursor": ["not a cursor of this list"]}) from None
        validated.update(limit=attrs["limit"], after=after)
        return validated


class RetentionCellSegmentSerializer(RetentionCellQuerySerializer):
    """A retention query, one cell, and the name of the segment its users are saved as."""

    name = serializers.CharField(max_length=200, help_text="the new segment's name")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {**super().validate(attrs), "name": attrs["name"]}
