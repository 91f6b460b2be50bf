"""Fixtures of the aggregation tests: the chDB store, and no insert-visibility margin
(tests insert and aggregate within milliseconds; the margin is for concurrent inserts)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _no_insert_visibility_margin(settings: Any) -> None:
    settings.AGGREGATION_INSERT_VISIBILITY_SECONDS = 0
