"""Runs the suite: one child process per stage, a table, ``var/bench/latest.json``, one JSON line.

Used by ``manage.py bench``. The parent never opens chDB itself; each stage runs in
:mod:`analytics.devtools.bench.child` with its own scratch DATA_DIR, removed afterwards, and the
whole process group of a stage is killed if it overruns its time limit.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings

from analytics.devtools.bench.registry import load_stages

STAGE_TIMEOUT_SECONDS = 900
# Variables a stage must not inherit: it gets its own store, database and bus.
_SCRUBBED_ENV = (
    "DATABASE_URL",
    "CLICKHOUSE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "DJANGO_SETTINGS_MODULE",
    "ANALYTICS_MODE",
    "ANALYTICS_PROFILE",
    "DATA_DIR",
    "ANALYTICS_TEST_RUN_ID",
)


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, load: printed with every result, since figures depend on them."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        chdb_version = importlib.metadata.version("chdb")  # not `import chdb`: that maps ~200 MB
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - chdb is a base requirement
        chdb_version = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "chdb": chdb_version,
        "platform": platform.platform(),
    }


def stage_env(workdir: Path, scale: float) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED_ENV}
    env.update(
        BENCH_SCALE=repr(scale),
        BENCH_WORKDIR=str(workdir),
        DATA_DIR=str(workdir / "data"),
        CLICKHOUSE_URL=f"chdb://{workdir / 'data' / 'chdb'}",
        ANALYTICS_MODE="embedded",
        ANALYTICS_PROFILE="dev",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def stage_timeout(scale: float) -> float:
    """A stage's time limit: fills and queries grow with the data, so the limit does too
    (a documented 100M-event run, scale 10, fills for longer than the default limit)."""
    return STAGE_TIMEOUT_SECONDS * max(1.0, scale)


def run_stage(
    name: str,
    scale: float,
    *,
    timeout: float = STAGE_TIMEOUT_SECONDS,
    log: TextIO = sys.stderr,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one stage in a child process and return its result dict (status ok/unavailable/error).

    ``previous`` (the results of the stages already run) is handed over as a JSON file, so a
    stage such as ``memory`` can reuse what earlier stages measured instead of measuring twice.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"analytics-bench-{name}-"))
    result_path = workdir / "result.json"
    (workdir / "previous.json").write_text(json.dumps(previous or {}))
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "analytics.devtools.bench.child", name, str(result_path)],
            cwd=settings.BASE_DIR,
            env=stage_env(workdir, scale),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return {
                "stage": name,
                "status": "error",
                "reason": f"timed out after {timeout:.0f}s",
                "metrics": [],
                "seconds": round(time.monotonic() - started, 2),
            }
        finally:
            # Anything the stage left behind (a server, a broker) goes with its process group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if not result_path.exists():
            return {
                "stage": name,
                "status": "error",
                "reason": f"stage process exited {process.returncode} without a result",
                "metrics": [],
                "seconds": round(time.monotonic() - started, 2),
            }
        return json.loads(result_path.read_text())
    finally:
        if os.environ.get("BENCH_KEEP_WORKDIR") != "1":  # kept only to debug a stage
            shutil.rmtree(workdir, ignore_errors=True)


def code_version(root: Path) -> str:
    """The commit a run measured, with ``+changes`` when tracked files had uncommitted edits."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+changes" if dirty else "")


def run_suite(only: list[str] | None, scale: float, *, log: TextIO = sys.stderr) -> dict[str, Any]:
    stages = load_stages()
    unknown = [name for name in only or [] if name not in stages]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(stages)}")
    names = only or list(stages)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    facts = machine()  # before the first stage: its load is what the stages start from
    # Read before the stages too: a run takes up to hours, and a commit made meanwhile is
    # not the code the stages imported.
    commit = code_version(Path(settings.BASE_DIR))
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"[bench] stage {name}: {stages[name].title}", file=log, flush=True)
        load_at_start = round(os.getloadavg()[0], 2)
        results[name] = run_stage(name, scale, timeout=stage_timeout(scale), log=log, previous=results)
        results[name]["load_avg_1m_at_start"] = load_at_start
        print(
            f"[bench] stage {name}: {results[name]['status']} in {results[name].get('seconds')}s"
            f" (load {load_at_start} at its start)",
            file=log,
            flush=True,
        )
    metrics = [metric for result in results.values() for metric in result["metrics"]]
    verdicts = [metric["passed"] for metric in metrics if metric["passed"] is not None]
    return {
        "suite": "analytics-bench",
        "version": 1,
        "started_at": started_at.isoformat(),
        "commit": commit,
        "seconds": round(time.monotonic() - started, 1),
        "scale": scale,
        "machine": facts,
        "stages": results,
        "summary": {
            "metrics": len(metrics),
            "passed": sum(1 for verdict in verdicts if verdict),
            "failed": sum(1 for verdict in verdicts if not verdict),
            "unavailable": [name for name, result in results.items() if result["status"] == "unavailable"],
            "errors": [name for name, result in results.items() if result["status"] == "error"],
        },
    }


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def format_table(report: dict[str, Any]) -> str:
    """A fixed-width table (also valid Markdown) of every figure, baseline, ratio, target and verdict."""
    header = ("stage", "figure", "value", "unit", "baseline", "ratio", "target", "result")
    lines = [header]
    for name, result in report["stages"].items():
        if result["status"] != "ok":
            lines.append((name, "-", "-", "-", "-", "-", "-", f"{result['status']}: {result.get('reason', '')}"))
            continue
        for metric in result["metrics"]:
            verdict = {True: "PASS", False: "FAIL", None: "info"}[metric["passed"]]
            if metric.get("unavailable"):
                verdict = f"unavailable: {metric['unavailable']}"
            baseline = _number(metric["baseline"])
            if metric["baseline_label"]:
                baseline = f"{baseline} ({metric['baseline_label']})"
            ratio = "-" if metric["ratio"] is None else f"{metric['ratio']:.2f}"
            lines.append(
                (
                    name,
                    metric["name"],
                    _number(metric["figure"]),
                    metric["unit"],
                    baseline,
                    ratio,
                    metric["target"] or "-",
                    verdict,
                )
            )
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
    rendered = [
        "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"
        for row in lines
    ]
    rendered.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(rendered)


def write_latest(report: dict[str, Any], directory: Path | None = None) -> Path:
    """Write the report as JSON to BENCH_OUTPUT_DIR (default var/bench)/latest.json."""
    directory = directory or Path(os.environ.get("BENCH_OUTPUT_DIR") or Path(settings.BASE_DIR) / "var" / "bench")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "latest.json"
    path.write_text(json.dumps(report, indent=2))
    return path
