"""``manage.py e2e`` on a small load: the whole scale-mode path, nothing lost or doubled."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

from tests.streams.conftest import ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_e2e_runs_the_pipeline_and_verifies_every_event() -> None:
    database = f"test_e2e_{os.getpid()}"
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "e2e",
            "--events",
            "3000",
            "--workers",
            "1",
            "--threads",
            "2",
            "--partitions",
            "3",
            "--database",
            database,
            "--rate",
            "1500",
            "--window-seconds",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=280,
        check=False,
        env={key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"},
    )
    output = result.stdout.decode()
    assert result.returncode == 0, output[-2000:] + result.stderr.decode(errors="replace")[-3000:]
    summary = orjson.loads(output.strip().splitlines()[-1])

    assert summary["sent"] == 3000
    assert summary["failed"] == 0
    assert summary["verified"] == 3000
    assert summary["lost"] == 0
    assert summary["duplicates"] == 0
    assert summary["consumer_clean_exit"] is True
    assert summary["web_processes"] == 2
    assert summary["latency_ms"]["p50"] is not None
    # About 2 s of load in 1 s windows: every event in one window, each window with its
    # percentiles, and the memory of the pipeline's processes sampled from the first one.
    windows = summary["windows"]
    sending = [window for window in windows if window["events"]]
    assert len(sending) >= 2
    assert sum(window["events"] for window in windows) == 3000
    assert [window["from_s"] for window in windows] == list(range(len(windows)))
    assert all(window["latency_ms"]["p95"] is not None for window in sending)
    assert {"consumer", "web0", "web1", "broker"} <= set(windows[0]["rss_mb"])


def test_e2e_refuses_a_window_under_one_second() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "e2e", "--window-seconds", "0"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
        env={key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"},
    )
    assert result.returncode == 2
    assert b"--window-seconds: must be at least 1 second, not 0" in result.stderr
