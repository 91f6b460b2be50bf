"""Query-parameter serializers shared by the session and web-statistics endpoints.

``from``/``to`` take the forms of ``analytics.query.timerange`` (ISO 8601, dates, relative
``-7d``...) in the project's time zone (``context={"time_zone", "now"}``); ``from``
defaults to ``-7d`` (local midnight seven days ago), ``to`` to now. ``filters`` is the
query model's event filter as JSON text. Validated data holds ``date_from``/``date_to``
(aware UTC) and ``filters`` (the parsed model or None).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from rest_framework import serializers

from analytics.query.serializers import FilterField
from analytics.query.timerange import RangeError, parse_moment

MAX_FILTERS_LENGTH = 20_000


class RangeSerializer(serializers.Serializer):
    date_from = serializers.CharField(max_length=64, default="-7d", help_text="start (inclusive); default -7d")
    date_to = serializers.CharField(max_length=64, required=False, help_text="end (exclusive); default now")

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword: declared as date_from/date_to, renamed here.
        fields = super().get_fields()
        fields["from"] = fields.pop("date_from")
        fields["to"] = fields.pop("date_to")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        zone = ZoneInfo(self.context["time_zone"])
        now: datetime = self.context["now"]
        try:
            end = parse_moment(attrs["to"], zone, now, is_end=True) if attrs.get("to") else now
        except RangeError as error:
            raise serializers.ValidationError({"to": [str(error)]}) from None
        try:
            start = parse_moment(attrs.pop("from"), zone, now, is_end=False)
        except RangeError as error:
            raise serializers.ValidationError({"from": [str(error)]}) from None
        if start >= end:
            raise serializers.ValidationError({"from": ["from must be before to"]})
        attrs.pop("to", None)
        attrs.update(date_from=start, date_to=end)
        return attrs


class FilteredRangeSerializer(RangeSerializer):
    filters = serializers.CharField(
        max_length=MAX_FILTERS_LENGTH,
        required=False,
        help_text='event filter as JSON, e.g. [{"key": "$browser", "operator": "eq", "value": "Chrome"}]',
    )

    def validate_filters(self, value: str) -> Any:
        try:
            data = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise serializers.ValidationError("must be JSON") from None
        if data in ([], {}, None):
            return None
        return FilterField().to_internal_value(data)
