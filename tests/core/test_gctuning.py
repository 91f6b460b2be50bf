"""Web processes run with the garbage-collector settings of analytics/core/gctuning.py."""

from __future__ import annotations

import gc

from analytics.core.gctuning import GC_THRESHOLDS


def test_the_asgi_entry_point_tunes_the_collector():
    import config.asgi  # noqa: F401 - importing it is what every web process does

    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0  # the start-up objects are out of the collector's reach
