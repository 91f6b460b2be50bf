"""Latency per window of send time (``manage.py e2e --window-seconds``): what an hour-long run reports."""

from __future__ import annotations

import numpy as np

from analytics.loadgen.verify import latency_windows


def test_each_event_lands_in_the_window_of_its_send_time_from_the_origin() -> None:
    origin = 1_700_000_000_000.0
    sent = np.array([origin + 10, origin + 999, origin + 1_000, origin + 3_500, origin + 3_600])
    latency = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
    windows = latency_windows(sent, latency, origin_ms=origin, window_seconds=1)
    assert [window["from_s"] for window in windows] == [0, 1, 2, 3]
    assert [window["events"] for window in windows] == [2, 1, 0, 2]
    assert windows[0]["latency_ms"]["p50"] == 150.0
    assert windows[1]["latency_ms"] == {"p50": 300.0, "p95": 300.0, "p99": 300.0}
    assert windows[2]["latency_ms"] == {"p50": None, "p95": None, "p99": None}  # nothing sent then
    assert windows[3]["latency_ms"]["p99"] == 499.0


def test_fractional_windows_keep_distinct_starts_and_no_events_means_no_windows() -> None:
    sent = np.array([0.0, 600.0, 1_300.0])
    windows = latency_windows(sent, np.array([1.0, 2.0, 3.0]), origin_ms=0.0, window_seconds=0.5)
    assert [window["from_s"] for window in windows] == [0, 0.5, 1.0]
    assert [window["events"] for window in windows] == [1, 1, 1]
    assert latency_windows(np.array([]), np.array([]), origin_ms=0.0, window_seconds=60) == []
