"""The benchmark runner: metrics, the table, and `manage.py bench --only scan` end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from analytics.devtools.bench.readme import BEGIN, END, publish
from analytics.devtools.bench.registry import Metric, at_least, at_most, load_stages
from analytics.devtools.bench.runner import STAGE_TIMEOUT_SECONDS, format_table, stage_timeout

EXPECTED_STAGES = {"http", "consumer", "insert", "e2e", "aggregation", "watermark", "scan", "memory", "segments"}


def test_stages_are_registered_in_suite_order():
    stages = load_stages()
    assert set(stages) >= EXPECTED_STAGES
    orders = [stage.order for stage in stages.values()]
    assert orders == sorted(orders)


def test_stage_time_limit_grows_with_the_scale_and_never_shrinks():
    assert stage_timeout(1.0) == STAGE_TIMEOUT_SECONDS
    assert stage_timeout(0.1) == STAGE_TIMEOUT_SECONDS
    assert stage_timeout(10.0) == 10 * STAGE_TIMEOUT_SECONDS


def test_metric_ratio_and_verdict():
    rate = Metric(name="r", figure=80.0, unit="rows/s", baseline=100.0)
    rate.checks.append(at_least(rate.ratio, 0.7, "ratio >= 0.7"))
    assert rate.ratio == pytest.approx(0.8)
    assert rate.passed is True
    cost = Metric(name="c", figure=4.0, unit="s", baseline=2.0, higher_is_better=False)
    cost.checks.append(at_most(cost.figure, 5.0, "< 5 s"))
    assert cost.ratio == pytest.approx(0.5)
    assert cost.passed is True
    failing = Metric(name="f", figure=None, unit="rows/s", baseline=1.0)
    failing.checks.append(at_least(failing.figure, 1.0, "x"))
    assert failing.ratio is None
    assert failing.passed is False
    missing = Metric(name="m", figure=None, unit="rows/s", unavailable="not built yet")
    missing.checks.append(at_least(None, 1.0, "x"))
    assert missing.passed is None
    assert missing.as_dict()["unavailable"] == "not built yet"
    assert Metric(name="i", figure=1.0, unit="x").passed is None


def test_table_shows_figures_and_unavailable_stages():
    metric = Metric(
        name="scan count()", figure=1_234_567.0, unit="rows/s", baseline=2_000_000.0, baseline_label="plain", target="-"
    )
    report = {
        "stages": {
            "scan": {"status": "ok", "metrics": [metric.as_dict()]},
            "consumer": {"status": "unavailable", "reason": "consume_events has not landed", "metrics": []},
        }
    }
    table = format_table(report)
    assert "1,234,567" in table
    assert "2,000,000 (plain)" in table
    assert "0.62" in table
    assert "unavailable: consume_events has not landed" in table


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "CLICKHOUSE_URL", "DATABASE_URL", "ANALYTICS_PROFILE")
    }
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env.update(
        TMPDIR=str(tmp_path / "tmp"),
        BENCH_SCALE="0.001",
        BENCH_OUTPUT_DIR=str(tmp_path / "out"),
        DATA_DIR=str(tmp_path / "data"),
        LOG_LEVEL="WARNING",
    )
    return subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "bench", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_bench_only_scan_end_to_end(tmp_path):
    completed = _bench(tmp_path, "--only", "scan")
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = completed.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert "| scan" in completed.stdout
    assert "rows/s" in completed.stdout
    assert report["scale"] == 0.001
    assert set(report["stages"]) == {"scan"}
    scan = report["stages"]["scan"]
    assert scan["status"] == "ok", scan
    metrics = {metric["name"]: metric for metric in scan["metrics"]}
    scans = [f"scan {label}, {phase}" for phase in ("unmerged", "merged") for label in ("count()", "group by event")]
    assert set(metrics) == {*scans, "scan last minute of a merged day"}
    for metric in metrics.values():
        assert metric["figure"] > 0
        assert metric["baseline"] > 0
        assert metric["ratio"] > 0
        assert {"unit", "target", "passed", "checks", "baseline_label"} <= metric.keys()
    for name in scans:
        details = metrics[name]["details"]
        assert details["rows"] == 10_000
        assert details["baseline_seconds"] > 0
        assert metrics[name]["target"] == ">= 50% of plain"
        assert [check["check"] for check in metrics[name]["checks"]] == ["ratio >= 0.50"]
        assert metrics[name]["passed"] is not None  # a pass/fail figure, not "reported"
    # OPTIMIZE ... FINAL merged the day's events into one part (one month, one partition).
    assert metrics["scan count(), merged"]["details"]["events_parts"] == 1
    last_minute = metrics["scan last minute of a merged day"]
    assert last_minute["unit"] == "s"
    assert last_minute["details"]["rows_in_day"] == 10_000
    assert report["machine"]["nproc"] >= 1
    assert report["machine"]["cpu"]
    assert report["summary"]["errors"] == []
    assert json.loads((tmp_path / "out" / "latest.json").read_text()) == report
    # The stage's scratch directory is gone.
    assert list((tmp_path / "tmp").glob("analytics-bench-*")) == []
    # The table of a saved report prints again without running anything.
    again = _bench(tmp_path, "--table-from", str(tmp_path / "out" / "latest.json"))
    assert again.returncode == 0
    assert "| scan" in again.stdout
    assert "machine: " in again.stdout


def test_bench_only_segments_end_to_end(tmp_path):
    """The segments stage at 10,000 events: its figures, each checked equal to its
    hand-written SQL inside the stage, the filter read through the version's loaded set,
    the size history's back-fill and the segment breakdown."""
    completed = _bench(tmp_path, "--only", "segments")
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    stage = report["stages"]["segments"]
    assert stage["status"] == "ok", stage
    metrics = {metric["name"]: metric for metric in stage["metrics"]}
    size, history, materialise, trend = metrics.values()
    assert size["name"].startswith("size of purchase >= 2 in 30 days AND plan = pro")
    assert history["details"]["days"] == 89
    assert history["passed"] is None  # reported: the issue sets no target for it
    assert materialise["details"]["members"] > 0
    assert trend["details"]["members"] == materialise["details"]["members"]
    for path in ("set", "unfiltered", "subquery", "breakdown"):
        assert len(trend["details"][path]["wall_runs"]) == 7
        assert trend["details"][path]["cpu_min"] >= 0
    assert trend["figure"] == trend["details"]["set"]["wall_min"]
    for metric in (size, materialise, trend):
        assert metric["passed"] is not None
    for metric in metrics.values():
        assert metric["figure"] > 0
        assert metric["baseline"] > 0


def test_bench_rejects_an_unknown_stage(tmp_path):
    completed = _bench(tmp_path, "--only", "nope")
    assert completed.returncode != 0
    assert "unknown stage" in completed.stderr


def test_publish_puts_one_run_into_the_readme_block_and_the_history(tmp_path):
    metric = Metric(name="scan count()", figure=5_000.0, unit="rows/s", baseline=10_000.0, target="reported")
    report = {
        "started_at": "2026-12-02T20:15:00+00:00",
        "commit": "abc1234",
        "seconds": 480.0,
        "scale": 1.0,
        "machine": {"nproc": 2, "cpu": "test cpu", "ram_gb": 23.5, "load_avg_1m": 1.5},
        "stages": {"scan": {"status": "ok", "metrics": [metric.as_dict()]}},
        "summary": {"metrics": 1, "passed": 0, "failed": 0, "errors": []},
    }
    (tmp_path / "README.md").write_text(f"# Product\n\n{BEGIN}\nold table\n{END}\n\nAfter.\n")
    readme, history = publish(report, tmp_path)
    text = readme.read_text()
    assert "old table" not in text
    assert "After." in text
    assert "commit `abc1234`" in text
    assert "5,000" in text
    assert "every target passed" in text
    assert history == tmp_path / "docs" / "benchmarks" / "2026-12-02-full-run.md"
    assert "5,000" in history.read_text()
    # A second run of the day is appended to the same history file; README shows only the latest.
    report["started_at"] = "2026-12-02T22:00:00+00:00"
    publish(report, tmp_path)
    assert history.read_text().count("## 2026-12-02") == 2
    assert readme.read_text().count(BEGIN) == 1


def test_publish_refuses_a_partial_run(tmp_path):
    completed = _bench(tmp_path, "--only", "scan", "--publish")
    assert completed.returncode != 0
    assert "--publish needs a full run" in completed.stderr
