"""Ready definitions a user copies and edits (``GET .../segments/templates``).

Each is a valid definition (``definition.py``); "any event" is ``"event": null``.
"""

from __future__ import annotations

from typing import Any

POWER_USER_DAYS = 10
REVENUE_FILTER = {"key": "$revenue", "type": "event", "operator": "gt", "value": 0}


def _active(days: int) -> dict[str, Any]:
    return {
        "kind": "behavioral",
        "behavior": "performed",
        "event": None,
        "filters": [],
        "count_operator": "gte",
        "count": 1,
        "within_days": days,
    }


PRESETS: list[dict[str, Any]] = [
    {
        "key": "new_users",
        "name": "New users",
        "description": "First seen in the last 7 days.",
        "definition": {"op": "and", "conditions": [{"kind": "behavioral", "behavior": "first_seen", "within_days": 7}]},
    },
    {
        "key": "active_daily",
        "name": "Daily active users",
        "description": "Performed any event in the last 24 hours.",
        "definition": {"op": "and", "conditions": [_active(1)]},
    },
    {
        "key": "active_weekly",
        "name": "Weekly active users",
        "description": "Performed any event in the last 7 days.",
        "definition": {"op": "and", "conditions": [_active(7)]},
    },
    {
        "key": "active_monthly",
        "name": "Monthly active users",
        "description": "Performed any event in the last 30 days.",
        "definition": {"op": "and", "conditions": [_active(30)]},
    },
    {
        "key": "returning",
        "name": "Returning users",
        "description": "Active in the last 7 days and first seen before that.",
        "definition": {
            "op": "and",
            "conditions": [
                _active(7),
                {"kind": "behavioral", "behavior": "first_seen", "within_days": 7, "negate": True},
            ],
        },
    },
    {
        "key": "dormant",
        "name": "Dormant users",
        "description": "Active before, but not in the last 30 days.",
        "definition": {
            "op": "and",
            "conditions": [{"kind": "behavioral", "behavior": "last_seen", "more_than_days": 30}],
        },
    },
    {
        "key": "power_users",
        "name": "Power users",
        "description": f"Active on at least {POWER_USER_DAYS} of the last 30 days (edit the count).",
        "definition": {
            "op": "and",
            "conditions": [
                {**_active(30), "count_unit": "days", "count": POWER_USER_DAYS},
            ],
        },
    },
    {
        "key": "paying_customers",
        "name": "Paying customers",
        "description": "Performed an event with revenue ($revenue > 0), ever.",
        "definition": {
            "op": "and",
            "conditions": [
                {
                    "kind": "behavioral",
                    "behavior": "performed",
                    "event": None,
                    "filters": [REVENUE_FILTER],
                    "count_operator": "gte",
                    "count": 1,
                }
            ],
        },
    },
]
