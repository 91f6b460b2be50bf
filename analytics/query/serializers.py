"""DRF serializers that validate the JSON of a query and build the model (``model.py``).

Errors name the field: ``{"series": [{"filters": {"operator": [...]}}]}``, ``{"from": [...]}``.
The serializers need ``context={"time_zone": <IANA name>, "now": <aware datetime>}`` (see
:func:`project_context`, which adds the project's session rules) to
resolve relative dates.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.core.timeutils import utc_now
from analytics.query.formula import MAX_FORMULA_LENGTH, FormulaError, parse_formula
from analytics.query.limits import too_many_points
from analytics.query.model import (
    INTERVALS,
    MATHS,
    MAX_BREAKDOWN_LIMIT,
    MAX_SERIES,
    OPERATORS,
    PROPERTY_MATHS,
    SEGMENT_BREAKDOWN_VALUES,
    SEGMENT_OPERATORS,
    SESSION_KEYS,
    Breakdown,
    Condition,
    DateRange,
    Filter,
    Formula,
    Group,
    Series,
    TrendsQuery,
)
from analytics.query.timerange import RangeError, parse_moment

MAX_FILTER_DEPTH = 5
MAX_CONDITIONS = 100
MAX_IN_VALUES = 1000
MAX_REGEX_LENGTH = 1000
# Constructs Python's re accepts and RE2 (ClickHouse match) does not: look-around,
# back-references, atomic groups, possessive quantifiers, conditionals.
_RE2_UNSUPPORTED = re.compile(r"(?<!\\)(?:\\\\)*(?:\(\?<?[=!]|\(\?>|\(\?P=|\(\?\(|\\[1-9]|[*+?}]\+)")
_VALUELESS = frozenset({"is_set", "is_not_set"})
_NUMERIC = frozenset({"gt", "gte", "lt", "lte"})
_TEXT = frozenset({"contains", "not_contains", "regex", "not_regex"})


def _is_scalar(value: Any) -> bool:
    if isinstance(value, bool | str):
        return True
    return isinstance(value, int | float) and math.isfinite(value)


def _as_number(value: Any) -> float:
    if isinstance(value, bool) or not _is_scalar(value):
        raise serializers.ValidationError("must be a number")
    try:
        return float(value)
    except ValueError:
        raise serializers.ValidationError("must be a number") from None


def _check_regex(pattern: str) -> None:
    if len(pattern) > MAX_REGEX_LENGTH:
        raise serializers.ValidationError(f"regex longer than {MAX_REGEX_LENGTH} characters")
    try:
        re.compile(pattern)
    except re.error as error:
        raise serializers.ValidationError(f"regex does not compile: {error}") from None
    if _RE2_UNSUPPORTED.search(pattern):
        raise serializers.ValidationError(
            "regex uses a construct RE2 does not support (look-around, back-reference, atomic or possessive)"
        )


def _value_for(operator: str, value: Any) -> Any:  # noqa: C901 - one branch per operator family
    """The condition's value, checked for its operator (raises ValidationError)."""
    if operator in _VALUELESS:
        return None
    if value is None:
        raise serializers.ValidationError(f"{operator} needs a value")
    if operator in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise serializers.ValidationError(f"{operator} needs a list of 1 to {MAX_IN_VALUES} values")
        if not all(_is_scalar(item) for item in value):
            raise serializers.ValidationError("list items must be strings, numbers or booleans")
        return tuple(value)
    if operator == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise serializers.ValidationError("between needs [low, high]")
        low, high = (_as_number(bound) for bound in value)
        if low > high:
            raise serializers.ValidationError("between needs low <= high")
        return (low, high)
    if not _is_scalar(value):
        raise serializers.ValidationError("must be a string, a number or a boolean")
    if operator in _NUMERIC:
        return _as_number(value)
    if operator in _TEXT:
        if not isinstance(value, str):
            raise serializers.ValidationError(f"{operator} needs a string")
        if operator in ("regex", "not_regex"):
            _check_regex(value)
    return value


def _segment_condition(attrs: dict[str, Any]) -> dict[str, Any]:
    """``{"type": "segment", "key": "id", "operator": "in"|"not_in"|"eq"|"neq", "value": <id>}``."""
    if attrs["key"] != "id":
        raise serializers.ValidationError({"key": ['segment conditions use key "id"']})
    if attrs["operator"] not in SEGMENT_OPERATORS:
        raise serializers.ValidationError({"operator": ["segment conditions take in, not_in, eq or neq"]})
    value = attrs.get("value")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise serializers.ValidationError({"value": ["a segment id (a positive integer)"]})
    return attrs


def _unknown_session_key(key: str) -> str:
    return f"{key!r} is not a session attribute; one of {', '.join(SESSION_KEYS)}"


class ConditionSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200, trim_whitespace=False)
    type = serializers.ChoiceField(choices=["event", "person", "segment", "session"], default="event")
    operator = serializers.ChoiceField(choices=list(OPERATORS))
    value = serializers.JSONField(required=False, allow_null=True)

    def validate_type(self, value: str) -> str:
        if value == "session" and not self.context.get("session_filters"):
            raise serializers.ValidationError("session filters are supported in trends only")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == "segment":
            return _segment_condition(attrs)
        if attrs["type"] == "session" and attrs["key"] not in SESSION_KEYS:
            raise serializers.ValidationError({"key": [_unknown_session_key(attrs["key"])]})
        try:
            attrs["value"] = _value_for(attrs["operator"], attrs.get("value"))
        except serializers.ValidationError as error:
            raise serializers.ValidationError({"value": error.detail}) from None
        return attrs


@extend_schema_field(
    {
        "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
        "description": 'A condition {"key", "type": "event"|"person"|"segment"|"session", "operator", "value"}'
        ' (session: trends only), a group {"op": "and"|"or", "conditions": [...]} or a list of them (AND).',
    }
)
class FilterField(serializers.Field):
    """A condition, a group ``{"op", "conditions"}`` or a list (AND), nested to MAX_FILTER_DEPTH.

    ``session_filters`` admits ``session`` conditions (only the trends compiler joins the
    session attributes they read); elsewhere they are a 400.
    """

    def __init__(self, *, session_filters: bool = False, **kwargs: Any) -> None:
        self.session_filters = session_filters
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Filter:
        counter = [0]
        return self._parse(data, 1, counter)

    def to_representation(self, value: Any) -> Any:
        return value

    def _parse(self, data: Any, depth: int, counter: list[int]) -> Filter:
        if depth > MAX_FILTER_DEPTH:
            raise serializers.ValidationError(f"filters nest at most {MAX_FILTER_DEPTH} levels")
        if isinstance(data, list):
            return Group("and", self._children(data, depth, counter))
        if not isinstance(data, dict):
            raise serializers.ValidationError("a filter is a condition, a group or a list")
        if "op" in data or "conditions" in data:
            if data.get("op") not in ("and", "or"):
                raise serializers.ValidationError({"op": ['must be "and" or "or"']})
            if not isinstance(data.get("conditions"), list):
                raise serializers.ValidationError({"conditions": ["must be a list"]})
            try:
                return Group(data["op"], self._children(data["conditions"], depth, counter))
            except serializers.ValidationError as error:
                raise serializers.ValidationError({"conditions": error.detail}) from None
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise serializers.ValidationError(f"at most {MAX_CONDITIONS} conditions")
        condition = ConditionSerializer(data=data, context={"session_filters": self.session_filters})
        if not condition.is_valid():
            raise serializers.ValidationError(condition.errors)
        values = condition.validated_data
        return Condition(key=values["key"], operator=values["operator"], value=values["value"], type=values["type"])

    def _children(self, items: list[Any], depth: int, counter: list[int]) -> tuple[Filter, ...]:
        children, errors = [], {}
        for index, item in enumerate(items):
            try:
                children.append(self._parse(item, depth + 1, counter))
            except serializers.ValidationError as error:
                errors[str(index)] = error.detail
        if errors:
            raise serializers.ValidationError(errors)
        return tuple(children)


class SeriesSerializer(serializers.Serializer):
    event = serializers.CharField(max_length=200, allow_null=True, trim_whitespace=False)
    math = serializers.ChoiceField(choices=list(MATHS), default="total")
    property = serializers.CharField(max_length=200, required=False, allow_null=True, trim_whitespace=False)
    filters = FilterField(session_filters=True, required=False, allow_null=True)
    name = serializers.CharField(max_length=200, required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["math"] in PROPERTY_MATHS and not attrs.get("property"):
            raise serializers.ValidationError({"property": [f"math {attrs['math']} needs a numeric property"]})
        if attrs["math"] not in PROPERTY_MATHS and attrs.get("property"):
            raise serializers.ValidationError({"property": [f"math {attrs['math']} takes no property"]})
        return attrs


class BreakdownSerializer(serializers.Serializer):
    """``{"key", "type": "event"|"person"|"session"|"segment", "limit"?}``; a segment breakdown
    (``{"type": "segment", "key": 12}``) splits the events into those of the segment's
    members and the rest, so it always has two values and no limit."""

    key = serializers.CharField(max_length=200, trim_whitespace=False)
    type = serializers.ChoiceField(choices=["event", "person", "session", "segment"], default="event")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_BREAKDOWN_LIMIT, default=10)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("type") == "session" and attrs["key"] not in SESSION_KEYS:
            raise serializers.ValidationError({"key": [_unknown_session_key(attrs["key"])]})
        if attrs.get("type") == "segment":
            key = attrs["key"]
            if not key.isascii() or not key.isdigit() or not 0 < int(key) < 2**63:
                raise serializers.ValidationError({"key": ["a segment id (a positive integer)"]})
            attrs["key"], attrs["limit"] = str(int(key)), len(SEGMENT_BREAKDOWN_VALUES)
        return attrs


class TrendsQuerySerializer(serializers.Serializer):
    """``{"series", "interval", "from", "to"?, "filters"?, "breakdown"?, "compare"?, "formula"?}``."""

    series = serializers.ListField(child=SeriesSerializer(), min_length=1, max_length=MAX_SERIES)
    interval = serializers.ChoiceField(choices=list(INTERVALS), default="day")
    date_from = serializers.CharField(max_length=64, default="-7d")
    date_to = serializers.CharField(max_length=64, required=False, allow_null=True)
    filters = FilterField(session_filters=True, required=False, allow_null=True)
    breakdown = BreakdownSerializer(required=False, allow_null=True)
    compare = serializers.BooleanField(default=False)
    formula = serializers.CharField(
        max_length=MAX_FORMULA_LENGTH,
        required=False,
        allow_null=True,
        trim_whitespace=False,
        help_text="arithmetic over series letters (A = first series): + - * / ( ) and numbers, e.g. A / B * 100",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword, so the fields are declared as date_from/date_to and renamed here.
        fields = super().get_fields()
        fields["from"] = fields.pop("date_from")
        fields["to"] = fields.pop("date_to")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        zone = ZoneInfo(self.context["time_zone"])
        now: datetime = self.context["now"]
        date_from, date_to = attrs["from"].strip(), attrs.get("to")
        try:
            end = parse_moment(date_to, zone, now, is_end=True) if date_to else now
        except RangeError as error:
            raise serializers.ValidationError({"to": [str(error)]}) from None
        start = None
        if date_from != "all":
            try:
                start = parse_moment(date_from, zone, now, is_end=False)
            except RangeError as error:
                raise serializers.ValidationError({"from": [str(error)]}) from None
            if start >= end:
                raise serializers.ValidationError({"from": ["from must be before to"]})
        formula = None
        if attrs.get("formula") is not None:
            try:
                formula = Formula(attrs["formula"], parse_formula(attrs["formula"], len(attrs["series"])))
            except FormulaError as error:
                raise serializers.ValidationError({"formula": [str(error)]}) from None
        query = TrendsQuery(
            series=tuple(Series(**series) for series in attrs["series"]),
            interval=attrs["interval"],
            date_from=start,
            date_to=end,
            time_zone=self.context["time_zone"],
            filters=attrs.get("filters"),
            breakdown=Breakdown(**attrs["breakdown"]) if attrs.get("breakdown") else None,
            compare=attrs["compare"],
            formula=formula,
            session_timeout_minutes=self.context.get("session_timeout_minutes", 30),
            session_split_at_midnight=self.context.get("session_split_at_midnight", True),
        )
        problem = too_many_points(query, DateRange(start, end)) if start is not None else None
        if problem:
            raise serializers.ValidationError({"interval": [problem]})
        return {"query": query}


def project_context(project: Any, now: datetime | None = None) -> dict[str, Any]:
    """The serializer context for one project's queries: its zone, session rules and "now"."""
    return {
        "time_zone": project.timezone,
        "now": now or utc_now(),
        "session_timeout_minutes": project.session_timeout_minutes,
        "session_split_at_midnight": project.session_split_at_midnight,
    }
