"""Embedded mode end to end: SQLite + chDB in one process, the beat driven in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_mode_aggregates_into_sqlite_with_the_in_process_beat(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "CLICKHOUSE_URL", "ANALYTICS_", "DJANGO_SETTINGS"))
    }
    env.update(
        {
            "ANALYTICS_MODE": "embedded",
            "ANALYTICS_PROFILE": "dev",
            "DATA_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "WARNING",
            "AGGREGATION_INSERT_VISIBILITY_SECONDS": "0",
        }
    )
    completed = subprocess.run(
        [sys.executable, "-m", "tests.aggregation.embedded_child"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["vendor"] == "sqlite"
    assert "aggregation: all streams" in report["ran"]
    assert report["late_events"] == 20
    assert report["granularities"] == {"1m": "equal", "5m": "equal", "1h": "equal"}
