"""``loadgen --mode kafka`` as providers run it: GENERATOR_* defaults, progress, 0 lost."""

from __future__ import annotations

import io
import time

import numpy as np
import orjson
import pytest
from django.core.management import call_command

from analytics.ingestion.network_actions import network_action_properties
from analytics.loadgen.kafka_mode import provider_messages
from tests.telecom.conftest import running_stream, stored_actions, where_lost

pytestmark = [pytest.mark.kafka]


def test_generated_messages_are_valid_provider_messages():
    for _key, value, _event_id in provider_messages(np.random.default_rng(1), 500, users=50, source_id="gen"):
        kind, user_id, source_id, _started, properties = network_action_properties(orjson.loads(value))
        assert source_id == "gen"
        assert user_id.startswith("47")
        assert (kind in ("SMS_SENT", "SMS_RECEIVED")) == ("duration_sec" not in properties)


def test_kafka_mode_with_verify_reports_zero_lost_and_prints_progress(
    telecom_topics, old_project, store, settings, capsys
):
    settings.GENERATOR_DURATION = 6  # no --events/--duration: the variable decides
    settings.GENERATOR_EVENTS_PER_SEC = 150
    settings.GENERATOR_WORKERS = 2
    settings.GENERATOR_BATCH_SIZE = 25
    settings.GENERATOR_VERIFY_INTERVAL = 1
    out = io.StringIO()
    started = time.monotonic()
    with running_stream():
        try:
            call_command(
                "loadgen",
                "--mode",
                "kafka",
                "--users",
                "40",
                "--verify",
                "--verify-timeout",
                "90",
                "--json",
                stdout=out,
            )
        except (
            SystemExit
        ):  # --verify found lost or doubled actions: show the summary that says which, and where they are
            report = orjson.loads(out.getvalue().strip().splitlines()[-1])
            where = where_lost(telecom_topics, report.get("lost_sample") or [])
            pytest.fail(f"loadgen --verify failed: {out.getvalue()}\n{where}")
    elapsed = time.monotonic() - started

    summary = orjson.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["mode"] == "kafka"
    assert summary["topic"] == telecom_topics["topic"]
    assert summary["lost"] == 0
    assert summary["duplicates"] == 0
    assert summary["events_failed"] == 0
    assert summary["success_rate"] == 1.0
    assert 600 <= summary["events_sent"] <= 1000  # 150/s for 6 s, the first batches at once
    assert summary["events_verified"] == summary["events_sent"]
    assert summary["avg_latency"] is not None
    assert summary["avg_latency"] > 0
    assert 5 <= summary["seconds"] < elapsed
    assert len(stored_actions(store, old_project.id)) == summary["events_sent"]
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("loadgen: events_sent=")]
    assert progress, "a progress line every 5 s"
    fields = dict(item.split("=", 1) for item in progress[0].removeprefix("loadgen: ").split())
    assert set(fields) == {
        "events_sent",
        "events_verified",
        "events_failed",
        "events_per_sec",
        "success_rate",
        "avg_latency",
    }
    assert int(fields["events_verified"]) > 0  # verified while running
