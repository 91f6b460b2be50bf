"""The stored times of a provider message do not depend on the form the provider sent."""

from __future__ import annotations

import pytest

from analytics.ingestion.enrichment import parse_timestamp_ms
from analytics.ingestion.network_actions import _iso, network_action_properties


@pytest.mark.parametrize(
    "started",
    [
        "2025-10-20T12:34:56Z",
        "2025-10-20T12:34:56.789Z",
        "2025-10-20T12:34:56.7Z",
        "2025-10-20T14:34:56+02:00",
        "2025-10-20T12:34:56",
        "2025-10-20 12:34:56Z",
        1760963696789,
    ],
)
def test_started_and_ended_are_stored_as_utc_text_with_milliseconds(started):
    message = {"type": "SMS_SENT", "user_id": "u", "source_id": "s", "started_at": started, "ended_at": started}
    *_, started_ms, properties = network_action_properties(message)
    assert started_ms == parse_timestamp_ms(started)
    assert properties["started_at"] == properties["ended_at"] == _iso(started_ms)
    assert properties["started_at"].endswith("Z")
    assert len(properties["started_at"]) == 24
