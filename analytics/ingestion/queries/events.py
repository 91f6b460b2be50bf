"""The read-back time series' intervals (UTC buckets) and their lengths.

The read-back endpoints themselves run on the query engine
(``analytics.reports.api.readback``); these names stay here because the documented
``interval=`` values are checked against them.
"""

from __future__ import annotations

INTERVALS = {"minute": "toStartOfMinute", "hour": "toStartOfHour", "day": "toStartOfDay"}
INTERVAL_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
