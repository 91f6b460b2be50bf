"""Ready-made saved-report templates: ``GET /api/v1/projects/{id}/reports/templates``.

Each template is ``{"key", "name", "description", "kind", "query"}``: POSTing its name,
kind and query to ``/reports/`` saves it as is. Every query here validates for its kind
(a test runs each one).
"""

from __future__ import annotations

from typing import Any

TEMPLATES: list[dict[str, Any]] = [
    {
        "key": "pageviews-daily",
        "name": "Pageviews per day",
        "description": "Every $pageview of the last 30 days, per day.",
        "kind": "trends",
        "query": {"series": [{"event": "$pageview"}], "interval": "day", "from": "-30d"},
    },
    {
        "key": "unique-visitors-daily",
        "name": "Unique visitors per day",
        "description": "Distinct persons with a $pageview, per day, compared with the previous 30 days.",
        "kind": "trends",
        "query": {
            "series": [{"event": "$pageview", "math": "unique_users"}],
            "interval": "day",
            "from": "-30d",
            "compare": True,
        },
    },
    {
        "key": "pageviews-by-browser",
        "name": "Pageviews by browser",
        "description": "$pageview per day for the 5 most used browsers and the rest.",
        "kind": "trends",
        "query": {
            "series": [{"event": "$pageview"}],
            "interval": "day",
            "from": "-30d",
            "breakdown": {"key": "$browser", "limit": 5},
        },
    },
    {
        "key": "active-users",
        "name": "Active users (DAU, WAU, MAU)",
        "description": "Daily, weekly and monthly active persons and the DAU/MAU ratio, per day of the last 90 days.",
        "kind": "active_users",
        "query": {"from": "-90d"},
    },
    {
        "key": "revenue",
        "name": "Revenue",
        "description": "Sum of $revenue per day, paying persons and revenue per paying person, by country.",
        "kind": "revenue",
        "query": {
            "from": "-30d",
            "interval": "day",
            "property": "$revenue",
            "breakdown": {"key": "$country", "limit": 10},
        },
    },
    {
        "key": "stickiness",
        "name": "Stickiness",
        "description": "Persons by the number of days they were active in the last 30 days.",
        "kind": "stickiness",
        "query": {"from": "-30d", "interval": "day"},
    },
    {
        "key": "lifecycle-weekly",
        "name": "Lifecycle (weekly)",
        "description": "New, returning, resurrecting and dormant persons per ISO week of the last 12 weeks.",
        "kind": "lifecycle",
        "query": {"from": "-12w", "interval": "week"},
    },
    {
        "key": "top-events",
        "name": "Top events",
        "description": "The 20 most frequent events of the last 7 days.",
        "kind": "top_events",
        "query": {"from": "-7d", "limit": 20},
    },
    {
        "key": "top-pages",
        "name": "Top pages",
        "description": "The 20 most viewed page paths ($pageview $current_url) of the last 7 days.",
        "kind": "top_pages",
        "query": {"from": "-7d", "limit": 20},
    },
    {
        "key": "top-referrers",
        "name": "Top referrers",
        "description": "The 20 referring domains with the most $pageview in the last 7 days ($direct: none).",
        "kind": "top_referrers",
        "query": {"from": "-7d", "limit": 20},
    },
]
